"""Signal viewer ("/signal"): summary, score timeline, ECG strip, threshold, inspector, table, export.

Every callback reads the analysis key from the shell's store and the precomputed View of it;
zoom, pan and threshold changes send ``dash.Patch`` payloads (downsampled strip data, marker
colours), never a whole lead and never a model run.
"""
from __future__ import annotations

import logging
import math
import time

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, Patch, State, callback, clientside_callback, ctx, dash_table, dcc, html, no_update

from app.analysis import missing_note, reference_note, scored_label, scored_window
from app.components import a11y as A11y
from app.components import figures as F
from app.components.ids import KEY_STORE
from app.components.navigation import WINDOW_S, adjacent_anomaly, initial_window, parse_relayout, window_around
from app.components.viewdata import (CUSTOM, View, agreement, beat_gaps, flags_at, gap_note, matching_method,
                                     method_parameter, noise_note, ordered_methods, per_class_items,
                                     slider_grid, sorted_order, threshold_text, timing_note, view_for)
from app.ecg.aami import AAMI_CLASSES

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/signal", name="Signal", title="ECG Anomaly Explorer - signal", order=1)

TABLE_PAGE = 12
ALL_CLASSES = "all"  # the table's reference-class filter: no filter
TABLE_COLUMNS = ["beat", "time_s", "score", "anomaly", "raised_by", "recon_error", "latent_distance", "kl", "rr_score",
                 "rr_prev_s", "rr_next_s", "quality", "low_quality", "ref_symbol", "ref_class"]
GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"]}
# a double-click always asks for autorange, which the page answers with a 10 s window
STRIP_CONFIG = {**GRAPH_CONFIG, "doubleClick": "autosize"}
THR_STORE = "thr-store"  # the threshold: {"key", "value"}; the one source of truth
NEAR_METHOD = 0.5 * 10 ** -3  # a value typed or slid this close to a method's threshold is that threshold
# what each graph shows, for screen readers (plotly's SVG has no text alternative)
TIMELINE_LABEL = ("Anomaly score of every beat against time; beats above the dashed threshold line are flagged "
                  "(red); grey bands mark stretches where the analysed lead is noisy. The beat table below "
                  "lists the same scores.")
STRIP_LABEL = ("ECG strip of the current window: the leads, a dot on every beat (blue normal, red flagged) and "
               "crosses on low-quality beats. Previous and Next anomaly move the window.")
BEAT_LABEL = "The inspected beat, its VAE reconstruction and the residual between them."
BREAKDOWN_LABEL = "The inspected beat's scores as percentiles within this record."


# --------------------------------------------------------------------------- layout

def layout(**_):
    return html.Div([
        html.Div(id="signal-empty"),
        html.Div(id="signal-body", style={"display": "none"}, children=[
            html.Div([
                html.H1(id="signal-title", className="h4 mb-0"),
                dbc.ButtonGroup([
                    dbc.Button("Export CSV", id="export-csv", color="primary", size="sm"),
                    dbc.Button("HTML report", id="export-report", color="primary", outline=True, size="sm"),
                ], className="ms-auto"),
            ], className="d-flex align-items-center mb-2"),
            dbc.Row(id="summary-cards", className="g-2 mb-2"),
            html.Div(id="short-record-notice"),
            dbc.Card(dbc.CardBody(dbc.Row([
                dbc.Col([dbc.Label("Threshold method", html_for="thr-method", className="small mb-0"),
                         dbc.Select(id="thr-method", size="sm")], xs=12, md=6, xl=3),
                dbc.Col([dbc.Label(["Threshold: ", html.Span(id="thr-value", className="fw-semibold")],
                                   html_for="thr-box", className="small mb-0 text-nowrap"),
                         html.Div([
                             A11y.named_control(dcc.Slider(id="thr-slider", min=0, max=1, value=0.5, step=0.01,
                                                           allow_direct_input=False, updatemode="mouseup"),
                                                "Threshold", className="flex-grow-1", style={"minWidth": "8rem"}),
                             dbc.Input(id="thr-box", type="number", debounce=True, step="any", size="sm",
                                       inputmode="decimal", style={"width": "6.5rem"}),
                         ], className="d-flex align-items-center gap-2")], xs=12, md=6, xl=4),
                dbc.Col(html.Div([html.Div("Anomalies", className="small text-muted text-nowrap"),
                                  html.Div(id="anomaly-count", className="fs-4 fw-bold text-danger text-nowrap",
                                           **{"data-testid": "anomaly-count", "aria-live": "polite"})]),
                        xs="auto"),
                dbc.Col(dbc.ButtonGroup([
                    dbc.Button("\u25c0 Previous anomaly", id="prev-anomaly", color="secondary", outline=True,
                               size="sm", className="text-nowrap"),
                    dbc.Button("Next anomaly \u25b6", id="next-anomaly", color="secondary", outline=True, size="sm",
                               className="text-nowrap"),
                ]), xs="auto", className="align-self-center"),
                dbc.Col([dbc.Label("Lead", html_for="lead-switch", className="small mb-0"),
                         dbc.Select(id="lead-switch", size="sm", style={"minWidth": "6.5rem"})], xs="auto"),
            ], className="g-3 align-items-end")), className="mb-2 controls-card"),
            dcc.Download(id="download-csv"),
            dcc.Download(id="download-report"),
            dcc.Loading(html.Div(id="lead-status"), type="dot"),
            dbc.Card([dbc.CardHeader("Anomaly score of every beat (click to jump; dashed line = threshold; "
                                     "grey band = noisy lead: extra detections and false alarms likely)"),
                      dbc.CardBody(A11y.figure(dcc.Graph(id="timeline", config=GRAPH_CONFIG), TIMELINE_LABEL),
                                   className="p-1")],
                     className="mb-2"),
            dbc.Card([dbc.CardHeader([html.Div([
                html.Span("ECG strip (drag to zoom, double-click for a 10 s window; click a beat to inspect)",
                          className="me-auto"),
                html.Span([html.Span("\u25cf", style={"color": F.NORMAL}), " normal ",
                           html.Span("\u25cf", style={"color": F.ANOMALY}), " anomaly ",
                           html.Span("\u2716", style={"color": F.LOW_QUALITY}), " low quality (",
                           html.Span("\u2716", style={"color": F.ANOMALY}), " flagged)"],
                          className="small text-nowrap", **{"data-testid": "strip-legend"})],
                className="d-flex flex-wrap align-items-center column-gap-3"),
                # records with more than three leads: the analysed lead and up to two others are drawn
                html.Div([html.Span(f"Other leads shown (up to {F.MAX_OTHER_LEADS}):", id="strip-others-label",
                                    className="small text-muted me-2 text-nowrap"),
                          dbc.Checklist(id="strip-others", inline=True, options=[], value=[],
                                        className="small d-inline-block")],
                         id="strip-others-box", className="mt-1", style={"display": "none"}, role="group",
                         **{"data-testid": "strip-others-box", "aria-labelledby": "strip-others-label"})]),
                dbc.CardBody(A11y.figure(dcc.Graph(id="strip", config=STRIP_CONFIG), STRIP_LABEL),
                             className="p-1")], className="mb-2"),
            dbc.Row([
                dbc.Col(dbc.Card([dbc.CardHeader(html.Span(id="inspector-title", children="Beat inspector")),
                                  dbc.CardBody([A11y.figure(dcc.Graph(id="beat-figure", config=GRAPH_CONFIG),
                                                            BEAT_LABEL, described_by="inspector-title"),
                                                A11y.figure(dcc.Graph(id="breakdown-figure", config=GRAPH_CONFIG),
                                                            BREAKDOWN_LABEL, described_by="inspector-title")],
                                               className="p-1")]), lg=7),
                dbc.Col([dbc.Card([dbc.CardHeader("Agreement with reference annotations"),
                                   dbc.CardBody(html.Div(id="agreement", **{"data-testid": "agreement"}))], className="mb-2"),
                         dbc.Card([dbc.CardHeader("How to read this"),
                                   dbc.CardBody(html.Ul([
                                       html.Li("Strip: dots are beats (blue normal, red flagged), crosses "
                                               "low-quality beats; the letters above the trace are the "
                                               "reference annotation of each beat, when the record has one."),
                                       html.Li("Score: log-odds that a beat is not normal, from its latent "
                                               "distance to this record's own normal beats and its rhythm (RR), "
                                               "counted from the record's typical beat (0 = as usual as its "
                                               "25th-percentile beat). Records under 60 s also use the "
                                               "reconstruction error and KL."),
                                       html.Li("A beat is flagged when its score is above the threshold "
                                               "(score > threshold). Beats of low signal quality (noise, "
                                               "artefacts) are crosses: grey, or red when flagged; their "
                                               "scores are not to be trusted. The threshold method shows "
                                               "'custom' when the threshold was set by hand."),
                                       html.Li("raised_by: what lifts the beat's score above the record's "
                                               "typical beat by at least 1 log-odds: its shape (latent "
                                               "distance), its timing (rhythm), or both."),
                                       html.Li("Inspector: the beat (black) against what the VAE, trained only on "
                                               "normal beats, can rebuild (orange). A large residual means an "
                                               "unusual shape; a high rhythm score means unusual timing. A "
                                               "dashed line marks a neighbouring beat inside the window: the "
                                               "VAE sees its QRS too, which alone can flag a normal beat. A "
                                               "beat of quality below 0.8 (noise, or a shape unlike the "
                                               "record's usual beats) is scored after denoising, i.e. averaged "
                                               "with its most similar neighbouring beats, and every beat is "
                                               "scored with the slow baseline drift left in its window taken "
                                               "out: where that changes the beat visibly, the grey line is the "
                                               "beat as recorded, the black one what the VAE scored. "
                                               "Where a noisy (denoised) detection splits the rhythm into two "
                                               "short intervals, it may be noise: the neighbouring beats' "
                                               "timing is then scored across it, and the title says so. "
                                               "Where the analysed lead is noisy, the record's other lead's "
                                               "view of the same beat counts too (more, the cleaner it is); "
                                               "the title then names it and its weight."),
                                       html.Li(f"Grey bands on the score timeline: {F.NOISY_MIN_BEATS} beats or "
                                               "more in a row where the analysed lead's noise floor is above "
                                               f"{F.NOISY_RATIO:g} of its beat level. In such noise the detector "
                                               "finds extra 'beats' that often score as anomalies: check the "
                                               "strip before trusting a flag there (the title says so)."),
                                   ], className="small mb-0"))])], lg=5),
            ], className="mb-2"),
            dbc.Card([dbc.CardHeader(html.Div([
                html.Span("Beats (click a row to show it; sort by any column)", className="me-auto"),
                html.Div([dbc.Label("Reference class", html_for="table-class", className="visually-hidden"),
                          dbc.Select(id="table-class", size="sm", value=ALL_CLASSES,
                                     options=[{"label": "all reference classes", "value": ALL_CLASSES}])],
                         id="table-class-box", style={"display": "none"}),
                dbc.Switch(id="table-flagged-only", label="flagged only", value=False, className="small mb-0"),
            ], className="d-flex align-items-center gap-3")),
                dbc.CardBody(dash_table.DataTable(
                    id="beat-table", page_action="custom", sort_action="custom", sort_mode="single",
                    page_current=0, page_size=TABLE_PAGE, sort_by=[{"column_id": "score", "direction": "desc"}],
                    style_table={"overflowX": "auto"}, style_cell={"fontSize": 13, "padding": "3px 6px"},
                    style_header={"fontWeight": "600", "whiteSpace": "normal", "height": "auto",
                                  "verticalAlign": "bottom"},
                    style_data_conditional=[{"if": {"filter_query": "{anomaly} = 1"},
                                             "backgroundColor": "#fdecea"}]), className="p-1")]),
            dcc.Store(id="view-range"),
            dcc.Store(id="strip-zoom"),
            dcc.Store(id="strip-leads"),  # {"key", "leads"}: the lead indices the strip draws
            dcc.Store(id="selected-beat"),
            dcc.Store(id=THR_STORE),
            dcc.Store(id="loaded-key"),  # the key whose page is drawn: the threshold is set after it
        ]),
    ])


# --------------------------------------------------------------------------- helpers

def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    h, m, s = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def card(title: str, value, testid: str, value_id: str | None = None, wrap: bool = False) -> dbc.Col:
    """A summary card: 2 a row on phones, 3 on small screens, 4 from md, all 8 in one row from xl."""
    body = html.Div(value, className="fs-5 fw-semibold " + ("text-break" if wrap else "text-nowrap"),
                    id=value_id or f"card-{testid}", **{"data-testid": f"card-{testid}"})
    return dbc.Col(dbc.Card(dbc.CardBody([html.Div(title, className="small text-muted text-nowrap"), body],
                                         className="py-2 px-3"), className="summary-card h-100"),
                   xs=6, sm=4, md=3, xl=True)


def summary_cards(view: View, n_anomalies: int) -> list:
    s = view.summary
    hr = s.get("heart_rate_bpm")
    return [
        card("Record", str(view.analysis.record), "record", wrap=True),
        card("Duration", fmt_duration(view.duration_s), "duration"),
        card("Leads", ", ".join(view.leads), "leads"),
        card("Sampling rate", f"{view.fs:g} Hz", "fs"),
        card("Beats", f"{view.n_beats:,}", "beats"),
        card("Anomalies", f"{n_anomalies:,}", "anomalies", value_id="card-anomalies"),
        card("Heart rate", f"{hr:.0f} bpm" if hr is not None and math.isfinite(hr) else "n/a", "hr"),
        card("Model", str(s.get("model_id", "")), "model"),
    ]


def nowrap_items(items: list[str]) -> list:
    """Items joined by " · ", each kept on one line."""
    out = []
    for i, item in enumerate(items):
        out += ([" · "] if i else []) + [html.Span(item, className="text-nowrap")]
    return out


def agreement_body(view: View, flags: np.ndarray):
    a = agreement(flags, view.ref_class)
    if a is None:
        return html.Div("No reference annotations with this recording (upload a .atr file to compare).",
                        className="text-muted small")

    def pct(x):
        return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"

    return html.Div([
        dbc.Row([
            dbc.Col([html.Div("Sensitivity", className="small text-muted"),
                     html.Div(pct(a["sensitivity"]), className="fs-5", **{"data-testid": "agree-sens"})]),
            dbc.Col([html.Div("Specificity", className="small text-muted"),
                     html.Div(pct(a["specificity"]), className="fs-5", **{"data-testid": "agree-spec"})]),
            dbc.Col([html.Div("Precision", className="small text-muted"), html.Div(pct(a["ppv"]), className="fs-5")]),
        ], className="mb-2"),
        dbc.Table([
            html.Thead(html.Tr([html.Th(""), html.Th("reference abnormal"), html.Th("reference normal")])),
            html.Tbody([html.Tr([html.Th("flagged"), html.Td(a["tp"]), html.Td(a["fp"])]),
                        html.Tr([html.Th("not flagged"), html.Td(a["fn"]), html.Td(a["tn"])])]),
        ], bordered=True, size="sm", className="mb-1 text-center"),
        html.Div(["Flagged by reference class: ",
                  html.Span(nowrap_items(per_class_items(a["per_class"])),
                            **{"data-testid": "agree-per-class"})],
                 className="small mb-1"),
        html.Div(f"{a['matched']:,} beats matched a reference beat within 150 ms; {a['unmatched']:,} did not. "
                 "Abnormal = AAMI class S, V, F or Q.", className="small text-muted"),
    ])


def shown_leads(store, view: View) -> list[int]:
    """The lead indices the strip of ``view`` draws (the store's, else the default choice)."""
    asked = store.get("leads") if store and store.get("key") == view.key else None
    return F.strip_leads(view.signals.shape[1], view.lead_index, asked)


def strip_others(view: View, shown: list[int]) -> tuple[list[dict], list[str], dict]:
    """The 'other leads shown' checklist: (options, value, style); shown for more than three leads."""
    options = [{"label": name, "value": str(j)} for j, name in enumerate(view.leads) if j != view.lead_index]
    value = [str(j) for j in shown if j != view.lead_index]
    many = view.signals.shape[1] > 1 + F.MAX_OTHER_LEADS
    return options, value, {"display": "block" if many else "none"}


def strip_patch(view: View, flags: np.ndarray, t0: float, t1: float, set_range: bool,
                shown: list[int]) -> Patch:
    """Downsampled leads and the markers of [t0, t1] as a Patch of the strip figure."""
    p = Patch()
    for k, d in enumerate(F.lead_payloads(view.signals, view.fs, t0, t1, shown=shown)):
        p["data"][k]["x"] = d["x"]
        p["data"][k]["y"] = d["y"]
    apply_markers(p, view, flags, t0, t1, shown=shown)
    lab = F.label_payload(view.time_s, view.ref_symbol, t0, t1)
    for k, v in lab.items():
        p["data"][len(shown) + 1][k] = v
    if set_range:
        for j in range(len(shown)):
            axis = f"xaxis{'' if j == 0 else j + 1}"
            p["layout"][axis]["range"] = [t0, t1]
            p["layout"][axis]["autorange"] = False
        # A new uirevision makes plotly take this range even where it equals the range from
        # before the user's last zoom or double-click (which it would otherwise keep).
        # dcc.Graph copies the user's layout changes (e.g. pan mode) into the figure, so they stay.
        p["layout"]["uirevision"] = f"strip-{time.time_ns()}"
    return p


def apply_markers(p: Patch, view: View, flags: np.ndarray, t0: float, t1: float,
                  colours_only: bool = False, shown: list[int] | None = None) -> None:
    """Patch the beat markers of [t0, t1]. With ``colours_only`` (a threshold change) and every
    beat of the window drawn, only colours and hover texts change: the positions stay as sent."""
    idx = F.visible_beats(view.time_s, flags, view.low_quality, t0, t1)
    y = view.signals[np.clip(view.sample[idx], 0, len(view.signals) - 1), view.lead_index]
    m = F.marker_payload(idx, view.time_s, y, flags, view.low_quality)
    n = len(shown) if shown is not None else view.signals.shape[1]  # the markers follow the lead traces
    a, b = np.searchsorted(view.time_s, [t0, t1])
    same = colours_only and len(idx) == b - a
    for k in ("hovertext",) if same else ("x", "y", "customdata", "hovertext"):
        p["data"][n][k] = m[k]
    p["data"][n]["marker"]["color"] = m["marker.color"]
    if not same:
        p["data"][n]["marker"]["symbol"] = m["marker.symbol"]


def threshold_of(store, view: View) -> float:
    """The page's threshold for this view (the analysis default until one is set)."""
    if store and store.get("key") == view.key and store.get("value") is not None:
        return float(store["value"])
    return view.threshold


def method_label(method: str, thresholds: dict) -> str:
    """The method dropdown's entry: 'Statistical (mean + 2.25 sd): 5.296', 'Percentile (99th): 8.182'."""
    param = method_parameter(method, thresholds)
    name = method.capitalize() + (f" ({param})" if param else "")
    return f"{name}: {threshold_text(float(thresholds[method]['value']))}"


def method_options(thresholds: dict, threshold: float, method: str) -> list[dict]:
    """Every method with its threshold, and 'Custom' while the threshold is no method's value
    (picking a method then puts its threshold back)."""
    options = [{"label": method_label(m, thresholds), "value": m} for m in ordered_methods(thresholds)]
    if method == CUSTOM:
        options.append({"label": f"Custom (set by hand): {threshold_text(threshold)}", "value": CUSTOM})
    return options


def window_shape_patch(p: Patch, t0: float, t1: float) -> None:
    p["layout"]["shapes"][1]["x0"] = t0
    p["layout"]["shapes"][1]["x1"] = t1


# --------------------------------------------------------------------------- callbacks

@callback(
    Output("signal-empty", "children"),
    Output("signal-body", "style"),
    Output("signal-title", "children"),
    Output("summary-cards", "children"),
    Output("short-record-notice", "children"),
    Output("thr-slider", "min"),
    Output("thr-slider", "max"),
    Output("thr-slider", "marks"),
    Output("thr-slider", "step"),
    Output("timeline", "figure"),
    Output("strip", "figure"),
    Output("view-range", "data"),
    Output("lead-switch", "options"),
    Output("lead-switch", "value"),
    Output("selected-beat", "data"),
    Output("anomaly-count", "children"),
    Output("loaded-key", "data"),
    Output("strip-others", "options"),
    Output("strip-others", "value"),
    Output("strip-others-box", "style"),
    Output("strip-leads", "data"),
    Input(KEY_STORE, "data"),
)
def load_analysis(key):
    """Build the page for the analysis in the store (or say there is none)."""
    view = view_for(key)
    if view is None:
        empty = html.Div(dbc.Alert(["No analysis loaded (or it expired). ",
                                    dcc.Link("Pick a sample or upload a recording.", href="/")],
                                   color="info", className="mt-3"), **{"data-testid": "signal-empty"})
        return (empty, {"display": "none"}) + (no_update,) * 19
    grid = slider_grid(view.score, view.thresholds)
    lo, hi = grid.min, grid.max
    thr = view.threshold  # what set_threshold puts in the store for a new key
    flags = flags_at(view, thr)
    t0, t1 = initial_window(view.time_s, flags, view.duration_s)
    marks = {lo: {"label": f"{lo:.3g}"}, hi: {"label": f"{hi:.3g}"}}
    step = grid.step
    notices = []
    if view.summary.get("short_record_fallback"):
        notice = dbc.Alert("Short recording (under a minute): there is no reliable dominant rhythm, so scores "
                           "are compared with the training calibration instead of this record's own beats. "
                           "Treat the flags with more caution.", color="warning", className="py-2")
        notices.append(html.Div(notice, **{"data-testid": "short-record-notice"}))
    gaps = gap_note(beat_gaps(view.time_s, view.signals[:, view.lead_index], view.fs), view.leads[view.lead_index])
    for text, testid in ((missing_note(view.summary), "missing-samples-notice"),
                         (reference_note(view.summary), "reference-outside-notice"), (gaps, "gap-notice")):
        if text:
            notices.append(html.Div(dbc.Alert(text, color="warning", className="py-2"), **{"data-testid": testid}))
    notice = notices or None
    timeline = F.timeline_figure(view.time_s, view.score, view.low_quality, thr, (t0, t1), view.noisy_spans)
    shown = F.strip_leads(view.signals.shape[1], view.lead_index)
    strip = F.strip_figure(view.signals, view.fs, view.leads, view.lead_index, view.time_s, view.sample,
                           flags, view.low_quality, view.ref_symbol, t0, t1, shown=shown)
    leads = [{"label": name, "value": str(i)} for i, name in enumerate(view.leads)]
    first = int(np.flatnonzero(flags)[0]) if flags.any() else 0
    title = f"Record {view.analysis.record}: lead {view.leads[view.lead_index]}"
    return (None, {"display": "block"}, title, summary_cards(view, int(flags.sum())), notice,
            lo, hi, marks, step, timeline, strip, [t0, t1], leads, str(view.lead_index), first,
            f"{int(flags.sum()):,}", key, *strip_others(view, shown), {"key": view.key, "leads": shown})


@callback(
    Output(THR_STORE, "data"),
    Output("thr-method", "value"),
    Output("thr-method", "options"),
    Output("thr-slider", "value"),
    Output("thr-box", "value"),
    Output("thr-value", "children"),
    Input("loaded-key", "data"),
    Input("thr-method", "value"),
    Input("thr-slider", "value"),
    Input("thr-box", "value"),
    State(THR_STORE, "data"),
)
def set_threshold(key, method, slider, box, store):
    """The one place the threshold is set: from a newly drawn analysis (its default), the method
    dropdown, the slider or the box (Enter or leaving it). Every control is then rewritten from
    the stored value, so none goes stale; the method shows 'custom' when it is no method's value.
    (Controls that are Inputs and Outputs of this one callback: Dash's documented way to keep
    components in sync without a circular chain of callbacks.)"""
    view = view_for(key)
    if view is None:
        return (no_update,) * 6
    grid = slider_grid(view.score, view.thresholds)
    trig = ctx.triggered_id
    known = bool(store) and store.get("key") == view.key
    current = threshold_of(store, view)
    if not known or trig in (None, "loaded-key"):
        thr = view.threshold
    elif trig == "thr-method":
        thr = float(view.thresholds[method]["value"]) if method in view.thresholds else current
    elif trig == "thr-slider":
        thr = grid.clip(slider) if slider is not None else current
    elif trig == "thr-box":
        if box is None or not math.isfinite(float(box)) or round(float(box), 3) == round(current, 3):
            thr = current  # emptied, not a number, or the value shown: keep the exact threshold
        else:
            thr = grid.clip(float(box))
    else:
        thr = current
    near = matching_method(thr, view.thresholds, tol=NEAR_METHOD)
    if near != CUSTOM:
        thr = float(view.thresholds[near]["value"])  # e.g. 5.296 typed: the statistical 5.29586
    chosen = matching_method(thr, view.thresholds, preferred=method)
    new_store = {"key": view.key, "value": thr}
    unchanged = known and trig not in (None, "loaded-key") and thr == current
    # The control the user is moving keeps its own value (writing it back while further key presses
    # are on their way would undo them), unless the threshold differs from it (clipped, a method's).
    slider_out = no_update if trig == "thr-slider" and slider is not None and thr == float(slider) else thr
    box_out = no_update if trig == "thr-box" and box is not None and round(thr, 3) == float(box) else round(thr, 3)
    return (no_update if unchanged else new_store, chosen, method_options(view.thresholds, thr, chosen),
            slider_out, box_out, threshold_text(thr))


@callback(
    Output("timeline", "figure", allow_duplicate=True),
    Output("strip", "figure", allow_duplicate=True),
    Output("anomaly-count", "children", allow_duplicate=True),
    Output("card-anomalies", "children"),
    Output("agreement", "children"),
    Input(THR_STORE, "data"),
    State("view-range", "data"),
    State("strip-leads", "data"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def rethreshold(store, view_range, strip_store, key):
    """Re-flag from cached scores; patch colours, markers, counts and the agreement only."""
    view = view_for(key)
    if view is None or not store or store.get("key") != view.key or view_range is None:
        return (no_update,) * 5
    threshold = threshold_of(store, view)
    flags = flags_at(view, threshold)
    tl = Patch()
    cmin, cmax = float(view.sorted_parts["score"][0]), float(view.sorted_parts["score"][-1])
    tl["data"][0]["marker"]["colorscale"] = F.threshold_colorscale(threshold, cmin, cmax)
    tl["data"][1]["marker"]["colorscale"] = F.threshold_colorscale(threshold, cmin, cmax, below=F.LOW_QUALITY)
    tl["layout"]["shapes"][0]["y0"] = threshold
    tl["layout"]["shapes"][0]["y1"] = threshold
    st = Patch()
    apply_markers(st, view, flags, float(view_range[0]), float(view_range[1]), colours_only=True,
                  shown=shown_leads(strip_store, view))
    n = f"{int(flags.sum()):,}"
    return tl, st, n, n, agreement_body(view, flags)


# Only zoom/pan events reach the server: plotly also emits relayoutData on resizes
# ({"autosize": true}), and such an event arriving while a zoom is being answered would make
# Dash drop that answer as stale. relayoutData is cleared once passed on: Dash ignores a prop
# set to the value it already has, so a second double-click (the same autorange event) would
# otherwise go unanswered.
clientside_callback(
    """
    function(r) {
        if (!r) { return window.dash_clientside.no_update; }
        for (const k in r) {
            if (/^xaxis[0-9]*\\.(range(\\[[01]\\])?|autorange)$/.test(k)) {
                window.dash_clientside.set_props('strip', {relayoutData: null});
                return r;
            }
        }
        return window.dash_clientside.no_update;
    }
    """,
    Output("strip-zoom", "data"),
    Input("strip", "relayoutData"),
    prevent_initial_call=True,
)


@callback(
    Output("strip", "figure", allow_duplicate=True),
    Output("timeline", "figure", allow_duplicate=True),
    Output("view-range", "data", allow_duplicate=True),
    Output("selected-beat", "data", allow_duplicate=True),
    Input("strip-zoom", "data"),
    Input("prev-anomaly", "n_clicks"),
    Input("next-anomaly", "n_clicks"),
    Input("timeline", "clickData"),
    Input("beat-table", "active_cell"),
    State("view-range", "data"),
    State(THR_STORE, "data"),
    State("strip-leads", "data"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def navigate(relayout, _prev, _next, tl_click, cell, view_range, thr_store, strip_store, key):
    """Zoom/pan, previous/next anomaly, timeline and table clicks: move the strip's window."""
    view = view_for(key)
    if view is None or view_range is None:
        return (no_update,) * 4
    trig = ctx.triggered_id
    t0, t1 = float(view_range[0]), float(view_range[1])
    width = max(t1 - t0, 0.5)
    flags = flags_at(view, threshold_of(thr_store, view))
    selected, set_range = no_update, True
    if trig in ("strip-zoom", "strip") and is_autorange(relayout):
        # a double-click: a 10 s window around where the user was, not the whole record (a solid
        # block on a 30-minute record)
        t0, t1 = window_around((t0 + t1) / 2, WINDOW_S, view.duration_s)
    elif trig in ("strip-zoom", "strip"):
        rng = parse_relayout(relayout, view.duration_s)
        if rng is None:
            return (no_update,) * 4
        t0, t1 = rng
        set_range = False
    elif trig in ("prev-anomaly", "next-anomaly"):
        beat = adjacent_anomaly(view.time_s, flags, (t0 + t1) / 2, forward=trig == "next-anomaly")
        if beat is None:
            return (no_update,) * 4
        selected = beat
        t0, t1 = window_around(float(view.time_s[beat]), width, view.duration_s)
    elif trig == "timeline" and tl_click:
        t0, t1 = window_around(float(tl_click["points"][0]["x"]), width, view.duration_s)
        cd = tl_click["points"][0].get("customdata")
        selected = int(cd) if cd is not None else no_update
    elif trig == "beat-table" and cell and cell.get("row_id") is not None:
        selected = int(cell["row_id"])
        t0, t1 = window_around(float(view.time_s[selected]), width, view.duration_s)
    else:
        return (no_update,) * 4
    tl = Patch()
    window_shape_patch(tl, t0, t1)
    return strip_patch(view, flags, t0, t1, set_range, shown_leads(strip_store, view)), tl, [t0, t1], selected


@callback(
    Output("strip", "figure", allow_duplicate=True),
    Output("strip-leads", "data", allow_duplicate=True),
    Output("strip-others", "value", allow_duplicate=True),
    Input("strip-others", "value"),
    State("strip-leads", "data"),
    State("view-range", "data"),
    State(THR_STORE, "data"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def choose_strip_leads(others, strip_store, view_range, thr_store, key):
    """Draw the other leads ticked (the last ones ticked, at most MAX_OTHER_LEADS) beside the analysed
    one: a new strip figure of the current window, as small as the first one."""
    view = view_for(key)
    if view is None or view_range is None or others is None:
        return (no_update,) * 3
    shown = F.strip_leads(view.signals.shape[1], view.lead_index, others)
    kept = [str(j) for j in shown if j != view.lead_index]
    value = kept if sorted(map(str, others)) != sorted(kept) else no_update  # a third tick unticks the oldest
    if strip_store and strip_store.get("key") == view.key and strip_store.get("leads") == shown:
        return no_update, no_update, value  # what is drawn (a new analysis sets both)
    t0, t1 = float(view_range[0]), float(view_range[1])
    flags = flags_at(view, threshold_of(thr_store, view))
    fig = F.strip_figure(view.signals, view.fs, view.leads, view.lead_index, view.time_s, view.sample,
                         flags, view.low_quality, view.ref_symbol, t0, t1, shown=shown)
    return fig, {"key": view.key, "leads": shown}, value


def is_autorange(relayout) -> bool:
    """Whether a strip relayout event asks for autorange (what a double-click sends)."""
    return bool(relayout) and any(k.startswith("xaxis") and k.endswith(".autorange") and v
                                  for k, v in relayout.items())


@callback(
    Output("selected-beat", "data", allow_duplicate=True),
    Input("strip", "clickData"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def click_beat(click, key):
    """A click on the strip selects the beat under (or nearest to) the cursor."""
    view = view_for(key)
    if view is None or not click:
        return no_update
    pt = click["points"][0]
    if pt.get("customdata") is not None:
        return int(pt["customdata"])
    i = int(np.clip(np.searchsorted(view.time_s, float(pt["x"])), 0, view.n_beats - 1))
    if i > 0 and abs(view.time_s[i - 1] - pt["x"]) < abs(view.time_s[i] - pt["x"]):
        i -= 1
    return i


def inspector_title(view: View, beat: int, threshold: float) -> str:
    """'Beat 0 at 0.12 s: ANOMALY (shape) (low quality) (scored after denoising) (timing measured
    across the noisy detection at 0.45 s), reference V' at ``threshold``."""
    row = view.analysis.table.iloc[beat]
    flagged = bool(flags_at(view, threshold)[beat])
    ref = f", reference {row['ref_symbol']}" if view.ref_symbol is not None and row["ref_symbol"] else ""
    status = "ANOMALY" if flagged else "normal"
    if flagged and row.get("raised_by", ""):
        status += f" ({row['raised_by'].replace('+', ' and ')})"
    if row["low_quality"]:
        status += " (low quality)"
    denoised = getattr(view.analysis.beats, "denoised", None)
    if denoised is not None and beat < len(denoised) and denoised[beat]:
        status += " (scored after denoising)"
    status += timing_note(view, beat)
    status += noise_note(view, beat)
    return f"Beat {beat} at {row['time_s']:.2f} s: {status}{ref}"


def selected_in(view: View | None, beat) -> int | None:
    if view is None or beat is None or not (0 <= int(beat) < view.n_beats):
        return None
    return int(beat)


@callback(
    Output("beat-figure", "figure"),
    Output("breakdown-figure", "figure"),
    Output("inspector-title", "children"),
    Input("selected-beat", "data"),
    Input(THR_STORE, "data"),
    State(KEY_STORE, "data"),
)
def inspect_beat(beat, thr_store, key):
    """The beat against its reconstruction, the residual, and where its scores rank; the title's
    verdict follows the threshold (a threshold change re-sends the title only)."""
    view = view_for(key)
    b = selected_in(view, beat)
    if b is None:
        return F.empty_figure("Click a beat to inspect it", 340), F.empty_figure("", 220), "Beat inspector"
    title = inspector_title(view, b, threshold_of(thr_store, view))
    if list(ctx.triggered_prop_ids) == [f"{THR_STORE}.data"]:  # the threshold alone moved
        return no_update, no_update, title
    an = view.analysis
    row = an.table.iloc[b]
    fig = F.beat_figure(np.asarray(an.windows[b]), np.asarray(an.recon[b]),
                        neighbours=F.neighbour_beats_ms(view.time_s, b),
                        scored=scored_window(an, b), scored_name=scored_label(an, b))
    names, ranks, values = [], [], []
    for col, label in F.SCORE_PARTS:
        if col in view.sorted_parts:
            v = float(row[col])
            names.append(f"{label}: {v:.3g}")
            values.append(v)
            ranks.append(float(F.percentile_ranks(np.array([v]), view.sorted_parts[col])[0]))
    return fig, F.breakdown_figure(names, ranks, values), title


def table_rows(view: View, flags: np.ndarray, order: np.ndarray, start: int, size: int) -> list[dict]:
    cols = [c for c in TABLE_COLUMNS if c in view.analysis.table.columns and c != "anomaly"]
    sub = view.analysis.table.iloc[order[start:start + size]][cols].copy()
    sub.insert(3 if "score" in cols else 0, "anomaly", flags[order[start:start + size]].astype(int))
    for c in sub.columns:
        if sub[c].dtype.kind == "f":
            sub[c] = sub[c].astype(np.float64).round(4)
        elif sub[c].dtype.kind == "b":
            sub[c] = sub[c].astype(int)
    rows = sub.to_dict("records")
    for r in rows:
        r["id"] = int(r["beat"]) if "beat" in r else None
    return rows


def class_options(ref_class: np.ndarray | None) -> list[dict]:
    """The table's reference-class filter: every AAMI class present, with its beat count."""
    present = [] if ref_class is None else [(c, int(np.sum(ref_class == c))) for c in AAMI_CLASSES]
    return [{"label": "all reference classes", "value": ALL_CLASSES}] + \
        [{"label": f"reference {c} ({n:,} beat{'s' if n != 1 else ''})", "value": c} for c, n in present if n]


@callback(
    Output("table-class", "options"),
    Output("table-class", "value"),
    Output("table-class-box", "style"),
    Output("beat-table", "active_cell"),
    Output("beat-table", "selected_cells"),
    Input(KEY_STORE, "data"),
)
def table_class_filter(key):
    """Offer the reference-class filter when the record came with reference annotations; a new
    analysis (another lead) starts with no highlighted cell."""
    view = view_for(key)
    options = class_options(None if view is None else view.ref_class)
    return options, ALL_CLASSES, {"display": "block" if len(options) > 1 else "none"}, None, []


@callback(
    Output("beat-table", "data"),
    Output("beat-table", "columns"),
    Output("beat-table", "page_count"),
    Input("beat-table", "page_current"),
    Input("beat-table", "sort_by"),
    Input(THR_STORE, "data"),
    Input("table-flagged-only", "value"),
    Input("table-class", "value"),
    State(KEY_STORE, "data"),
)
def beat_table(page, sort_by, thr_store, flagged_only, ref_class, key):
    """One page of the beat table, sorted and filtered on the server (flagged only; one reference
    class: with both, e.g. the false alarms among the normal beats)."""
    view = view_for(key)
    if view is None:
        return [], [], 0
    flags = flags_at(view, threshold_of(thr_store, view))
    col, asc = "score", False
    if sort_by:
        col, asc = sort_by[0]["column_id"], sort_by[0]["direction"] == "asc"
    if col == "anomaly":
        order = np.argsort(flags if asc else ~flags, kind="stable")
    elif col in view.analysis.table.columns:
        order = sorted_order(view, col, asc)
    else:
        order = np.arange(view.n_beats)
    if flagged_only:
        order = order[flags[order]]
    if ref_class in AAMI_CLASSES and view.ref_class is not None:
        order = order[view.ref_class[order] == ref_class]
    n_pages = max(1, math.ceil(len(order) / TABLE_PAGE))
    page = min(int(page or 0), n_pages - 1)
    rows = table_rows(view, flags, order, page * TABLE_PAGE, TABLE_PAGE)
    names = [c for c in TABLE_COLUMNS if c in view.analysis.table.columns or c == "anomaly"]
    columns = [{"name": c.replace("_", " "), "id": c} for c in names]  # headers may wrap at the spaces
    return rows, columns, n_pages


@callback(
    Output("download-csv", "data"),
    Input("export-csv", "n_clicks"),
    State(THR_STORE, "data"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def export_csv(_n, thr_store, key):
    """The per-beat table (the CLI's columns) with the flags at the current threshold."""
    from app.analysis import beats_csv

    view = view_for(key)
    if view is None:
        return no_update
    thr = threshold_of(thr_store, view)
    return dcc.send_string(beats_csv(view.analysis, thr), f"{safe_name(view.analysis.record)}_beats.csv")


@callback(
    Output("download-report", "data"),
    Input("export-report", "n_clicks"),
    State(THR_STORE, "data"),
    State("thr-method", "value"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def export_report(_n, thr_store, method, key):
    """A self-contained HTML report (figures and plotly.js inlined)."""
    from app.report import build_report

    view = view_for(key)
    if view is None:
        return no_update
    thr = threshold_of(thr_store, view)
    html_text = build_report(view, flags_at(view, thr), thr, method)  # it names the method only if it is thr's
    return dcc.send_string(html_text, f"{safe_name(view.analysis.record)}_report.html")


@callback(
    Output(KEY_STORE, "data", allow_duplicate=True),
    Output("lead-status", "children"),
    Input("lead-switch", "value"),
    State(KEY_STORE, "data"),
    prevent_initial_call=True,
)
def switch_lead(lead, key):
    """Analyze the same recording on another lead (a new cache entry and key)."""
    from app import cache

    view = view_for(key)
    if view is None or lead is None or int(lead) == view.lead_index:
        return no_update, None
    try:
        new_key, _ = cache.submit(view.entry.recording, lead=int(lead),
                                  beats=str(view.summary.get("beats", "detect")))
    except Exception as exc:  # noqa: BLE001 - never a traceback in the UI
        log.exception("lead switch failed")
        return no_update, dbc.Alert(str(exc), color="danger", dismissable=True)
    return new_key, None


def safe_name(name) -> str:
    return "".join(c for c in str(name) if c.isalnum() or c in "-_.") or "record"
