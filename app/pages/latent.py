"""Latent space ("/latent"): the record's latent means in 2-D beside the training normals.

PCA, t-SNE or UMAP (``app.projections``, cached per analysis key and method); colour by
ensemble score, flag or reference class; click or lasso points to overlay those beats.
"""
from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from app.components import a11y as A11y
from app.components import latent_figures as LF
from app.components.ids import KEY_STORE
from app.projections import METHOD_LABELS, METHODS, projection_for_key

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/latent", name="Latent space", title="ECG Anomaly Explorer - latent space",
                   order=2)

GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["autoScale2d"]}
METHOD_HELP = {
    "pca": "PCA: linear, fast; distances along the axes are meaningful.",
    "tsne": "t-SNE: local neighbourhoods only (cluster sizes and gaps are not meaningful); a few "
            "seconds the first time.",
    "umap": "UMAP: neighbourhoods plus some global structure.",
}
SCATTER_LABEL = ("This record's beats as points in a 2-D projection of the model's latent space, beside the "
                 "training normal beats (grey), coloured as chosen above.")


def layout(**_):
    return html.Div([
        html.Div(id="latent-empty"),
        html.Div(id="latent-body", style={"display": "none"}, children=[
            html.H1("Latent space", className="visually-hidden"),
            dbc.Row([
                dbc.Col([dbc.Label("Projection", id="latent-method-label", className="small mb-0"),
                         A11y.group(dbc.RadioItems(id="latent-method", value="pca", inline=True,
                                                   options=[{"label": METHOD_LABELS[m], "value": m}
                                                            for m in METHODS]),
                                    "latent-method-label", role="radiogroup")],
                        md=4),
                dbc.Col([dbc.Label("Colour by", id="latent-colour-label", className="small mb-0"),
                         A11y.group(dbc.RadioItems(id="latent-colour", value="score", inline=True,
                                                   options=[{"label": v, "value": k}
                                                            for k, v in LF.COLOUR_MODES.items()]),
                                    "latent-colour-label", role="radiogroup")],
                        md=5),
                dbc.Col(html.Div(id="latent-record", className="small text-muted"), md=3),
            ], className="g-2 mb-2"),
            dbc.Card([
                dbc.CardBody([
                    A11y.figure(dcc.Loading(dcc.Graph(id="latent-scatter", config=GRAPH_CONFIG,
                                                      figure=LF.message_figure("computing the projection...")),
                                            type="default"), SCATTER_LABEL, described_by="latent-note"),
                    html.Div(id="latent-note", className="small text-muted mt-1",
                             **{"data-testid": "latent-note"}),
                ], className="p-2"),
            ], className="mb-2"),
            dbc.Card([
                dbc.CardHeader("Chosen beats (click a point, or use the lasso in the figure's toolbar)"),
                dbc.CardBody(A11y.figure(dcc.Graph(id="latent-beats", config=GRAPH_CONFIG,
                                                   figure=LF.beats_overlay(np.zeros((0, 256)), [])),
                                         "Waveforms of the beats chosen in the latent-space figure, overlaid."),
                             className="p-1"),
            ]),
        ]),
    ])


def _entry(key):
    if not key:
        return None
    from app.cache import get_entry

    try:
        return get_entry(key)
    except RuntimeError:  # cache not initialised (should not happen inside the app)
        return None


def _empty_message():
    return html.Div(dbc.Alert(["No analysis loaded yet (or it expired). ",
                               dcc.Link("Pick a sample or upload a recording", href="/"),
                               " first; its beats then appear here in the model's latent space."],
                              color="info", className="mt-3"), **{"data-testid": "latent-empty"})


@callback(
    Output("latent-empty", "children"),
    Output("latent-body", "style"),
    Output("latent-scatter", "figure"),
    Output("latent-note", "children"),
    Output("latent-record", "children"),
    Input(KEY_STORE, "data"),
    Input("latent-method", "value"),
    Input("latent-colour", "value"),
)
def draw_projection(key, method, colour_by):
    """The projection of the current analysis (computed once per key and method)."""
    entry = _entry(key)
    if entry is None:
        return _empty_message(), {"display": "none"}, no_update, no_update, no_update
    try:
        proj = projection_for_key(key, method)
    except Exception:  # noqa: BLE001 - show a message, never a traceback
        log.exception("projection %s failed", method)
        fig = LF.message_figure(f"The {METHOD_LABELS.get(method, method)} projection failed; try PCA.")
        return None, {"display": "block"}, fig, "", no_update
    if proj is None:
        return _empty_message(), {"display": "none"}, no_update, no_update, no_update
    a = entry.analysis
    t = a.table
    idx = proj.beat_idx
    ref_class = t["ref_class"].to_numpy().astype(str)[idx] if "ref_class" in t else None
    colour = colour_by if (colour_by != "ref_class" or ref_class is not None) else "score"
    fig = LF.latent_scatter(proj.xy, idx, proj.ref_xy, METHOD_LABELS[proj.method], colour,
                            t["score"].to_numpy()[idx], t["anomaly"].to_numpy(bool)[idx],
                            t["time_s"].to_numpy()[idx], ref_class)
    note = [proj.note, " ", METHOD_HELP[proj.method],
            " Flags are at the model's default threshold." if colour == "flag" else "",
            " This record has no reference annotations: coloured by score." if colour != colour_by else ""]
    record = f"record {a.record}, lead {a.lead}, {proj.n_total:,} beats, model {a.model_id}"
    return None, {"display": "block"}, fig, note, record


@callback(
    Output("latent-beats", "figure"),
    Input("latent-scatter", "selectedData"),
    Input("latent-scatter", "clickData"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def show_chosen_beats(selected, clicked, key):
    """The beats chosen by lasso/box or click, overlaid."""
    entry = _entry(key)
    if entry is None:
        return no_update
    a = entry.analysis
    t = a.table
    beats = [b for b in LF.selected_beats(selected, clicked) if 0 <= b < len(a.windows)]
    return LF.beats_overlay(a.windows, beats, t["anomaly"].to_numpy(bool), time_s=t["time_s"].to_numpy(),
                            score=t["score"].to_numpy(),
                            ref_class=t["ref_class"].to_numpy().astype(str) if "ref_class" in t else None)
