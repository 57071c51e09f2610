"""Evaluation ("/evaluation"): how far to trust the model, read only from its saved evaluation.

Everything here comes from ``model_store/<id>/evaluation.json``, the per-beat DS2 scores saved
beside it (``ds2_scores.csv.gz``), ``history.json`` and ``MODEL_CARD.md``: no model run.
Metrics at a threshold the user picks are recomputed from the saved scores with
``app.model.metrics``, the same code that wrote evaluation.json.
"""
from __future__ import annotations

import logging
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, callback, clientside_callback, dash_table, dcc, html, no_update

from app.components import a11y as A11y
from app.components import evaluation_figures as EF

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/evaluation", name="Evaluation", title="ECG Anomaly Explorer - evaluation",
                   order=3)

GRAPH_CONFIG = {"displaylogo": False}
MODE_LABELS = {"detect": "Detected beats (primary)", "reference": "Reference beat positions (secondary)"}
EVALUATION_FILE, SCORES_FILE = EF.EVALUATION_FILE, EF.SCORES_FILE
HISTORY_FILE, MODEL_CARD_FILE = EF.HISTORY_FILE, EF.MODEL_CARD_FILE
load_evaluation, load_history, load_model_card = EF.load_evaluation, EF.load_history, EF.load_model_card
labelled_scores, default_threshold = EF.labelled_scores, EF.default_threshold


# --------------------------------------------------------------------------- where the model is

def model_dir() -> Path:
    """The configured model directory (the app's settings inside a request, else the env)."""
    try:
        from flask import current_app

        settings = current_app.config.get("ECG_SETTINGS")
        if settings is not None:
            return Path(settings.model_dir)
    except RuntimeError:
        pass
    from app.config import Settings

    return Path(Settings().model_dir)


def scores_file(ev: dict | None) -> str:
    """The per-beat scores file named by evaluation.json (beside it)."""
    name = ((ev or {}).get("files") or {}).get("scores") or SCORES_FILE
    return Path(name).name  # a bare name: never read outside the model directory


# --------------------------------------------------------------------------- layout pieces

def _kv_table(rows: list[tuple[str, str]]) -> dbc.Table:
    return dbc.Table(html.Tbody([html.Tr([html.Th(k, className="fw-normal text-muted"), html.Td(v)])
                                 for k, v in rows]), size="sm", className="mb-0 small")


def protocol_card(ev: dict) -> dbc.Card:
    p = ev.get("protocol") or {}
    det = p.get("detection") or {}
    thr = p.get("threshold") or {}
    classes = p.get("classes") or {}
    rows = [
        ("Protocol", p.get("name", "")),
        ("Train (fit) set", f"{p.get('train_set', '')}: " + " ".join(map(str, p.get("train_records", [])))),
        ("Validation (thresholds, weights)", " ".join(map(str, p.get("validation_records", [])))),
        ("Test set", f"{p.get('test_set', '')}: " + " ".join(map(str, p.get("test_records", [])))),
        ("Excluded (paced)", " ".join(map(str, p.get("excluded_paced_records", [])))),
        ("Classes (AAMI EC57)", "; ".join(f"{c} = {v}" for c, v in classes.items())),
        ("Normal / anomalous", f"{p.get('normal_class', 'N')} / {' '.join(p.get('anomalous_classes', []))}"),
        ("Lead", p.get("lead", "")),
        ("Beats (primary)", det.get("primary", "")),
        ("Beats (secondary)", det.get("secondary", "")),
        ("Matching window", f"{det.get('match_window_s', '')} s; {det.get('unmatched_detections', '')}"),
        ("Threshold (ensemble)", thr.get("ensemble", "")),
        ("Threshold (others)", thr.get("others", "")),
        ("Flag rule", thr.get("flag_rule", "")),
        ("Baselines fit", p.get("baselines_fit", "")),
        ("Use of DS2", p.get("ds2_use", "")),
    ]
    return html.Div(dbc.Card([dbc.CardHeader("Protocol"),
                              dbc.CardBody(_kv_table([r for r in rows if r[1]]), className="p-2")], className="mb-3"),
                    **{"data-testid": "eval-protocol"})


def detection_card(ev: dict) -> dbc.Card | None:
    d = ev.get("detection")
    if not d:
        return None
    rows = [("Reference beats", EF.fmt(d.get("n_reference"))), ("Detected", EF.fmt(d.get("n_detected"))),
            ("Matched", EF.fmt(d.get("matched"))), ("Missed", EF.fmt(d.get("missed"))),
            ("False detections", EF.fmt(d.get("false_detections"))),
            ("Sensitivity (Se)", EF.fmt(d.get("se"), 4)), ("Positive predictivity (+P)", EF.fmt(d.get("ppv"), 4)),
            ("False detections flagged by the ensemble", EF.fmt(d.get("false_detections_flagged_by_ensemble")))]
    return dbc.Card([dbc.CardHeader(f"Beat detection on the test records ({d.get('match_window_s', 0.15)} s window)"),
                     dbc.CardBody(_kv_table(rows), className="p-2")], className="mb-3")


def metrics_table(bs: dict, testid: str = "auroc") -> html.Div:
    rows = EF.metrics_rows(bs)
    head = html.Thead(html.Tr([html.Th("Scorer")] + [html.Th(lbl) for _, lbl in EF.METRIC_COLUMNS]
                              + [html.Th("Threshold")]))
    body = html.Tbody([
        html.Tr([html.Td(r["scorer"], className="fw-semibold" if r["key"] == "score" else
                         ("text-muted" if r["kind"] == "baseline" else ""))]
                + [html.Td(r[k], **({"data-testid": f"{testid}-{r['key']}"} if k == "auroc" else {}))
                   for k, _ in EF.METRIC_COLUMNS] + [html.Td(r["threshold"], className="text-muted")],
                className="table-primary" if r["key"] == "score" else "")
        for r in rows])
    return html.Div(dbc.Table([head, body], size="sm", hover=True, responsive=True, className="small mb-0"),
                    **{"data-testid": "eval-metrics-table"})


def per_class_table(bs: dict) -> dbc.Table:
    rows = EF.per_class_rows(bs)
    head = html.Thead(html.Tr([html.Th("Scorer")] + [html.Th(f"{c} detection") for c in EF.CLASSES]
                              + [html.Th("N false alarms")]))
    body = html.Tbody([html.Tr([html.Td(r["scorer"])] + [html.Td(r[c]) for c in EF.CLASSES + ("N",)])
                       for r in rows])
    return dbc.Table([head, body], size="sm", hover=True, responsive=True, className="small mb-0")


def counts_line(bs: dict) -> str:
    cc = bs.get("class_counts") or {}
    parts = ", ".join(f"{c} {int(cc.get(c, 0)):,}" for c in ("N",) + EF.CLASSES)
    return (f"{int(bs.get('n_labelled', 0) or 0):,} labelled beats ({parts}); "
            f"{int(bs.get('n_unlabelled', 0) or 0):,} unmatched detections left out.")


def intra_patient_card(ev: dict) -> html.Div:
    ip = ev.get("intra_patient") or {"status": "not run"}
    label = ip.get("label") or ("SECONDARY result, intra-patient protocol (BeatGAN): beats pooled across "
                                "patients, so the same patients appear in training and test.")
    label = label.rstrip() + ("" if label.rstrip().endswith(".") else ".")
    body = [dbc.Alert([html.Strong("Not the headline result. "), label,
                       " It is easier than the inter-patient test above and is shown only to compare with "
                       "that literature."], color="warning", className="py-2 small")]
    if ip.get("status") in ("not run", "skipped", "failed"):
        body.append(html.P(f"Not run: {ip.get('reason', ip.get('status'))}", className="small text-muted"))
    else:
        if isinstance(ip.get("scorers"), dict):
            body.append(metrics_table(ip, testid="intra-auroc"))
        body.append(html.Details([
            html.Summary("How it was run", className="small"),
            _kv_table(EF.scalar_rows({k: v for k, v in ip.items()
                                      if k not in ("scorers", "baselines", "per_record", "label")}))]))
    return html.Div(dbc.Card([dbc.CardHeader("Secondary: intra-patient protocol (BeatGAN), not comparable"),
                              dbc.CardBody(body, className="p-2")], className="mb-3"), **{"data-testid": "eval-intra"})


def _missing(directory: Path) -> html.Div:
    return html.Div(dbc.Alert([
        html.Strong("No evaluation found. "),
        f"model_store/{directory.name}/{EVALUATION_FILE} does not exist. Run ",
        html.Code(f"python -m training.evaluate --model model_store/{directory.name}"),
        " to write it (DS2 is read once, to report)."], color="warning", className="mt-3"),
        **{"data-testid": "eval-missing"})


def layout(**_):
    directory = model_dir()
    ev = load_evaluation(directory)
    if ev is None:
        return _missing(directory)
    try:
        return evaluation_layout(ev, directory)
    except Exception:  # noqa: BLE001 - a message, never a traceback
        log.exception("cannot render %s", directory / EVALUATION_FILE)
        return dbc.Alert(f"model_store/{directory.name}/{EVALUATION_FILE} could not be read as an evaluation "
                         "(written by another version?). Re-run python -m training.evaluate.", color="danger")


def evaluation_layout(ev: dict, directory: Path) -> html.Div:
    header = html.Div([
        html.H1(f"Evaluation of model {ev.get('model_id', directory.name)}", className="h4 mb-0"),
        html.Div(f"written {ev.get('created_utc', '?')} from commit {str(ev.get('git_commit', '?'))[:12]}; "
                 "everything on this page is read from the saved evaluation, the model is not run.",
                 className="small text-muted"),
    ], className="mb-2")
    warn = None
    if ev.get("quick") or not (ev.get("protocol") or {}).get("valid", True):
        warn = dbc.Alert("This evaluation is a quick smoke test on the bundled samples, not the DS2 protocol: "
                         "its numbers mean nothing about the model's accuracy.", color="danger")
    history = load_history(directory)
    card_md = load_model_card(directory)
    scorer_options = [{"label": label, "value": key} for key, label, _, _ in EF.all_summaries(ev)]
    return html.Div([
        header, warn,
        dbc.Row([dbc.Col(protocol_card(ev), lg=7), dbc.Col(detection_card(ev), lg=5)]),
        dbc.Card([
            dbc.CardHeader(dbc.Row([
                dbc.Col(html.Span("Results on the test set", className="fw-semibold"), md=5),
                dbc.Col([html.Span("Beat positions", id="eval-mode-label", className="visually-hidden"),
                         A11y.group(dbc.RadioItems(id="eval-mode", value="detect", inline=True,
                                                   options=[{"label": v, "value": k} for k, v in MODE_LABELS.items()
                                                            if k == "detect" or ev.get("reference_beats")]),
                                    "eval-mode-label", role="radiogroup")], md=7),
            ])),
            dbc.CardBody([
                html.Div(id="eval-counts", className="small text-muted mb-2"),
                html.H6("Every scorer and baseline (metrics at each one's DS1-chosen threshold)"),
                html.Div(id="eval-metrics", className="mb-3"),
                dbc.Row([dbc.Col(A11y.figure(dcc.Graph(id="eval-roc", config=GRAPH_CONFIG),
                                             "ROC curves (sensitivity against false-positive rate) of every scorer "
                                             "and baseline on the test set; the table above gives their AUROC."), lg=6),
                         dbc.Col(A11y.figure(dcc.Graph(id="eval-pr", config=GRAPH_CONFIG),
                                             "Precision-recall curves of every scorer and baseline on the test set; "
                                             "the table above gives their average precision (AP)."), lg=6)]),
                html.H6("Per-class detection rates (at each scorer's DS1 threshold)", className="mt-3"),
                html.Div(id="eval-per-class"),
            ], className="p-2"),
        ], className="mb-3"),
        dbc.Card([
            dbc.CardHeader("Pick a threshold: confusion matrix and metrics recomputed from the saved per-beat scores"),
            dbc.CardBody([
                dbc.Row([
                    dbc.Col([dbc.Label("Scorer", html_for="eval-scorer", className="small mb-0"),
                             dbc.Select(id="eval-scorer", value="score", options=scorer_options, size="sm")], md=3),
                    dbc.Col([dbc.Label(["Threshold ", html.Span(id="eval-thr-value", className="fw-semibold")],
                                       className="small mb-0"),
                             A11y.named_control(dcc.Slider(id="eval-thr", min=0, max=1, value=0.5, step=0.001,
                                                           updatemode="mouseup", allow_direct_input=False),
                                                "Threshold")], md=9),
                ]),
                dbc.Row([dbc.Col(A11y.figure(dcc.Graph(id="eval-confusion", config=GRAPH_CONFIG),
                                             "Confusion matrix (flagged or not against reference normal or "
                                             "abnormal) at the picked threshold; the counts are also listed "
                                             "beside it."), lg=5),
                         dbc.Col(html.Div(id="eval-at-threshold", **{"data-testid": "eval-at-threshold"}), lg=7)]),
            ], className="p-2"),
        ], className="mb-3"),
        dbc.Card([dbc.CardHeader(dbc.Row([
            dbc.Col("Per record (test set)", md=6),
            dbc.Col(html.Span("scorer: as picked above", className="small text-muted"), md=6)])),
            dbc.CardBody(dash_table.DataTable(
                id="eval-records", sort_action="native", page_size=25,
                style_table={"overflowX": "auto"}, style_cell={"fontSize": 13, "padding": "3px 8px"},
                style_header={"fontWeight": "600"}), className="p-1")], className="mb-3"),
        dbc.Card([dbc.CardHeader("Training"), dbc.CardBody(
            A11y.figure(dcc.Graph(figure=EF.history_figure(history), config=GRAPH_CONFIG),
                        "Training curves: each logged loss and validation value by epoch.") if history else
            html.P(f"No {HISTORY_FILE} in model_store/{directory.name}.", className="small text-muted"), className="p-2")],
            className="mb-3"),
        intra_patient_card(ev),
        model_card(card_md, directory),
    ])


def model_card(card_md: str | None, directory: Path) -> html.Div:
    """The model card: its lead shown, the full text (data, model, results, logs) collapsed."""
    if not card_md:
        body = html.P(f"No {MODEL_CARD_FILE} in model_store/{directory.name}.", className="small text-muted")
    else:
        lead, rest = EF.card_parts(card_md)
        body = [dcc.Markdown(EF.escaped_markdown(lead), className="model-card"),
                dbc.Accordion(dbc.AccordionItem(
                    dcc.Markdown(EF.escaped_markdown(rest), className="model-card"),
                    title="Model card (full text)", item_id="full"),
                    start_collapsed=True, id="eval-card-accordion") if rest else None]
    return html.Div(dbc.Card([dbc.CardHeader("Model card"), dbc.CardBody(body)], className="mb-3"),
                    **{"data-testid": "eval-model-card"})


# --------------------------------------------------------------------------- callbacks

@callback(
    Output("eval-counts", "children"),
    Output("eval-metrics", "children"),
    Output("eval-roc", "figure"),
    Output("eval-pr", "figure"),
    Output("eval-per-class", "children"),
    Input("eval-mode", "value"),
)
def show_beat_set(mode):
    """Metrics table, curves and per-class rates of one beat set."""
    ev = load_evaluation(model_dir())
    if ev is None:
        return no_update, no_update, no_update, no_update, no_update
    bs = EF.beat_set(ev, mode or "detect")
    return (counts_line(bs), metrics_table(bs), EF.curves_figure(bs, "roc"), EF.curves_figure(bs, "pr"),
            per_class_table(bs))


@callback(
    Output("eval-thr", "min"),
    Output("eval-thr", "max"),
    Output("eval-thr", "step"),
    Output("eval-thr", "marks"),
    Output("eval-thr", "value"),
    Input("eval-mode", "value"),
    Input("eval-scorer", "value"),
)
def threshold_range(mode, key):
    """Slider range of the scorer's saved scores (1,000 steps, one on the DS1 threshold), set to it."""
    directory = model_dir()
    ev = load_evaluation(directory)
    data = labelled_scores(directory, mode or "detect", key or "score", scores_file(ev)) if ev else None
    if data is None:
        return 0, 1, 0.001, {}, 0.5
    default = default_threshold(ev, mode or "detect", key)
    lo, hi, step = EF.anchored_slider_grid(*EF.threshold_bounds(data[1], default), default)
    return lo, hi, step, EF.slider_marks(lo, hi, default), default if default is not None else float(np.median(data[1]))


# the threshold as it is dragged (4 significant digits), in the browser
clientside_callback(
    """v => (v === null || v === undefined || isNaN(v)) ? '' :
         Number(Number(v).toPrecision(4)).toString()""",
    Output("eval-thr-value", "children"),
    Input("eval-thr", "drag_value"),
)


@callback(
    Output("eval-confusion", "figure"),
    Output("eval-at-threshold", "children"),
    Output("eval-records", "data"),
    Output("eval-records", "columns"),
    Input("eval-thr", "value"),
    Input("eval-mode", "value"),
    Input("eval-scorer", "value"),
)
def at_threshold(threshold, mode, key):
    """Confusion matrix, metrics and per-class rates at the picked threshold (saved scores only)."""
    directory = model_dir()
    ev = load_evaluation(directory)
    mode, key = mode or "detect", key or "score"
    records = EF.per_record_rows(EF.beat_set(ev, mode), key) if ev else []
    columns = [{"name": EF.PER_RECORD_NAMES.get(c, c), "id": c} for c in (records[0].keys() if records else [])]
    data = labelled_scores(directory, mode, key, scores_file(ev))
    if data is None or threshold is None:
        msg = html.P(f"No saved per-beat scores ({SCORES_FILE}) for this scorer.", className="small text-muted")
        return EF.confusion_figure({}), msg, records, columns
    y, s, cls = data
    report = EF.threshold_report(y, s, cls, float(threshold))
    default = default_threshold(ev, mode, key)
    rows = EF.threshold_rows(report)
    body = html.Div([
        html.Div(f"{len(y):,} labelled beats; flag = score > {float(threshold):.4g}"
                 + (f" (DS1 threshold {default:.4g})" if default is not None else ""), className="small text-muted"),
        _kv_table(rows),
    ])
    return EF.confusion_figure(report["confusion"]), body, records, columns
