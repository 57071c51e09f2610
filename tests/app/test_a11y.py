"""Accessibility helpers and choices that need no browser: the figure / control / group wrappers,
the page language, and the contrast of the beat colours (WCAG 2.1 relative luminance)."""
from __future__ import annotations

import dash
from dash import dcc, html

from app.components import a11y as A11y
from app.components import figures as F
from app.components import latent_figures as LF
from app.ui import page_language


def contrast(c1: str, c2: str = "#ffffff") -> float:
    """WCAG contrast ratio of two #rrggbb colours."""
    def lum(c):
        rgb = [int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    a, b = lum(c1), lum(c2)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def test_contrast_formula_known_values():
    assert round(contrast("#000000"), 1) == 21.0
    assert round(contrast("#767676"), 2) == 4.54  # the usual "darkest light grey" reference value


def test_beat_colours_meet_non_text_contrast_on_white():
    # WCAG 1.4.11: graphical objects needed to understand the content at 3:1; the low-quality
    # crosses were #9e9e9e (2.68:1)
    for colour in (F.NORMAL, F.ANOMALY, F.LOW_QUALITY, LF.NORMAL, LF.ANOMALY):
        assert contrast(colour) >= 3.0, colour
    assert contrast(F.LOW_QUALITY) >= 4.5  # also used as the text colour of the strip legend's cross


def test_figure_wrapper_names_the_graph_and_keeps_it_inside():
    div = A11y.figure(dcc.Graph(id="g"), "What the graph shows", described_by="caption")
    props = div.to_plotly_json()["props"]
    assert props["role"] == "figure"  # not "img": the graph's toolbar stays reachable
    assert props["aria-label"] == "What the graph shows"
    assert props["aria-describedby"] == "caption"
    assert props["children"].id == "g"
    assert "style" not in props and "className" not in props  # adds nothing visible


def test_named_control_and_group_carry_their_labels():
    ctl = A11y.named_control(dcc.Slider(id="s", min=0, max=1), "Threshold", className="flex-grow-1")
    props = ctl.to_plotly_json()["props"]
    assert props[A11y.A11Y_LABEL] == "Threshold" and props["className"] == "flex-grow-1"
    grp = A11y.group(html.Div(id="r"), "r-label", role="radiogroup").to_plotly_json()["props"]
    assert grp["role"] == "radiogroup" and grp["aria-labelledby"] == "r-label"


def test_page_language_declared_once():
    page = page_language(dash.Dash(__name__).index_string)
    assert page.count('<html lang="en">') == 1
    assert "<html>" not in page
