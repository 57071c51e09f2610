"""Accessibility wrappers for components that take no aria-* props (dcc.Graph, dcc.Slider, dbc inputs).

A wrapper ``html.Div`` carries the name; it adds no style, so the page looks the same.
"""
from __future__ import annotations

from dash import html

A11Y_LABEL = "data-a11y-label"  # assets/a11y.js copies it onto the slider thumb / file input inside


def figure(graph, label: str, described_by: str | None = None) -> html.Div:
    """A plotly graph as a named figure (a screen reader says what it shows; the graph stays
    operable: role=figure does not hide its toolbar, unlike role=img)."""
    attrs = {"aria-label": label}
    if described_by:
        attrs["aria-describedby"] = described_by
    return html.Div(graph, role="figure", **attrs)


def named_control(control, label: str, **div_kwargs) -> html.Div:
    """A dcc.Slider or dcc.Upload whose focusable element gets ``label`` as its accessible name."""
    return html.Div(control, **div_kwargs, **{A11Y_LABEL: label})


def group(children, labelled_by: str, role: str = "group", **div_kwargs) -> html.Div:
    """Radio items or a checklist as one named group (role=radiogroup for radios)."""
    return html.Div(children, role=role, **div_kwargs, **{"aria-labelledby": labelled_by})
