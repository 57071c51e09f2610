"""Upload page ("/"): bundled samples in one click, drag-and-drop of WFDB or CSV files."""
from __future__ import annotations

import base64
import binascii
import logging
import time

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from app.components import a11y as A11y
from app.components.ids import KEY_STORE, NAV_LOCATION
from app.components.samples import SAMPLES, sample_path
from app.config import get_settings

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/", name="Upload", title="ECG Anomaly Explorer - upload", order=0)

BASE64_OVERHEAD = 4 / 3
UPLOAD_LABEL = "Choose ECG files to upload: a WFDB record (.hea, .dat, optional .atr) or one CSV file"


def current_settings():
    """The app's settings (create_app overrides included), or the environment's outside a request."""
    try:
        from flask import current_app

        return current_app.config.get("ECG_SETTINGS") or get_settings()
    except RuntimeError:  # no application context
        return get_settings()


def upload_limits() -> tuple[int, int]:
    """(bytes per file, bytes per upload) the page accepts; the request limit covers base64."""
    s = current_settings()
    per_file = int(s.max_file_mb * 1024 * 1024)
    total = int(s.max_request_mb * 1024 * 1024 / BASE64_OVERHEAD) - 64 * 1024
    return min(per_file, total), total


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def sample_card(rec: str, description: str) -> dbc.Col:
    return dbc.Col(dbc.Card(dbc.CardBody([
        html.H3(f"Record {rec}", className="h5 card-title mb-1"),
        html.P(description, className="card-text small text-muted sample-desc"),
        # mt-auto: every card's button on the same line, however long its description
        # the hidden words tell a screen reader which of the five "Analyze" buttons this is
        html.Div(dbc.Button(["Analyze", html.Span(f" record {rec}", className="visually-hidden")],
                            id={"type": "sample-btn", "record": rec}, color="primary", size="sm"),
                 className="mt-auto", **{"data-testid": f"sample-{rec}"}),
    ], className="d-flex flex-column"), className="h-100 sample-card"), xs=12, sm=6, lg=True, className="mb-3")


def layout(**_):
    per_file, total = upload_limits()
    return html.Div([
        html.H1("Find abnormal heartbeats", className="h2 mt-2"),
        html.P(["Pick a bundled MIT-BIH record or upload your own ECG. Every beat is scored by a "
                "convolutional VAE trained on normal beats only; anomalies are marked on the trace "
                "with the reason (the beat against its reconstruction)."], className="lead"),
        html.H2("Bundled samples", className="h4 mt-4"),
        dbc.Row([sample_card(r, d) for r, d in SAMPLES.items()], className="g-3"),
        html.H2("Upload a recording", className="h4 mt-4"),
        dbc.Row([
            dbc.Col([
                A11y.named_control(dcc.Upload(
                    id="upload", multiple=True, max_size=-1,
                    children=html.Div([
                        html.Div("Drag and drop files here, or click to choose", className="fw-semibold"),
                        html.Div("A WFDB record: .hea + .dat (+ .atr for reference labels), all at once; "
                                 "or one CSV file (one column per lead, optional time column).",
                                 className="small text-muted"),
                        html.Div(f"Limit: {_mb(per_file)} per file, {_mb(total)} per upload.",
                                 className="small text-muted", id="upload-limit-text"),
                    ]),
                    className="upload-zone"), UPLOAD_LABEL),  # dcc.Upload takes no aria-label
                html.Div([
                    html.Span(id="upload-files", className="small text-muted me-2"),
                    dbc.Button("Analyze again with these settings", id="reanalyze", size="sm", color="link",
                               className="p-0 align-baseline", style={"display": "none"}),
                ], className="mt-1"),
            ], lg=7),
            dbc.Col([
                dbc.Row([
                    dbc.Col([dbc.Label("Sampling rate (CSV)", html_for="csv-fs"),
                             dbc.InputGroup([dbc.Input(id="csv-fs", type="number", min=1, step="any",
                                                       placeholder="if no time column"),
                                             dbc.InputGroupText("Hz")])], md=6),
                    dbc.Col([dbc.Label("Units (CSV)", html_for="csv-units"),
                             dbc.Select(id="csv-units", value="mV",
                                        options=[{"label": u, "value": u} for u in ("mV", "uV", "V")])], md=6),
                ], className="mb-2"),
                dbc.Row([
                    dbc.Col([dbc.Label("Lead", html_for="lead-choice"),
                             dbc.Select(id="lead-choice", value="auto", options=[
                                 {"label": "Automatic (MLII / II)", "value": "auto"},
                                 {"label": "1st lead", "value": "0"}, {"label": "2nd lead", "value": "1"},
                                 {"label": "3rd lead", "value": "2"}]),
                             dbc.FormText("Any other lead (a 12-lead file's V5): pick it from the signal "
                                          "page's Lead list after the analysis.", id="lead-choice-help")],
                            md=6),
                    dbc.Col([dbc.Label("Beat positions", html_for="beats-choice"),
                             dbc.Select(id="beats-choice", value="detect", options=[
                                 {"label": "Detect R-peaks", "value": "detect"},
                                 {"label": "Reference annotations (.atr)", "value": "reference"}])], md=6),
                ]),
            ], lg=5),
        ]),
        dcc.Store(id="upload-gate"),
        dcc.Store(id="upload-result"),  # the analysis callback's answer {"key", "n"}, copied on in the browser
        dcc.Store(id="upload-limits", data={"perFile": per_file, "total": total}),
        # loads plotly.js while the user picks, so the signal page draws sooner
        html.Div(dcc.Graph(id="upload-plotly-preload", figure={"data": [], "layout": {"height": 10}},
                           config={"staticPlot": True}), style={"display": "none"}),
        html.Div(dbc.Alert(id="upload-limit-alert", color="danger", is_open=False, className="mt-3"),
                 **{"data-testid": "upload-limit-alert"}),
        analysis_running_panel(),
        dcc.Loading(html.Div(id="upload-status", className="mt-3", **{"data-testid": "upload-status"}),
                    type="circle", delay_show=150, overlay_style={"visibility": "visible", "opacity": 0.5}),
    ])


# Refuse oversized uploads in the browser, before they are sent (dcc.Upload would otherwise
# send them and the server would answer 413 to a callback, which shows nothing).
clientside_callback(
    """
    function(contents, filenames, limitText, limits) {
        const C = window.dash_clientside;
        if (!contents || contents.length === 0) { return [C.no_update, false, ""]; }
        const perFile = limits.perFile, total = limits.total;
        let sum = 0;
        for (let i = 0; i < contents.length; i++) {
            const n = Math.floor(contents[i].length * 3 / 4);
            sum += n;
            if (n > perFile) {
                return [C.no_update, true, filenames[i] + ": file too large, not sent. " + limitText];
            }
        }
        if (sum > total) {
            return [C.no_update, true, "Upload too large in all, not sent. " + limitText];
        }
        return [{n: Date.now(), files: filenames.length}, false, ""];
    }
    """,
    Output("upload-gate", "data"),
    Output("upload-limit-alert", "is_open"),
    Output("upload-limit-alert", "children"),
    Input("upload", "contents"),
    State("upload", "filename"),
    State("upload-limit-text", "children"),
    State("upload-limits", "data"),
    prevent_initial_call=True,
)


def decode_upload(contents: list[str], names: list[str]) -> dict[str, bytes]:
    """{file name: bytes} from dcc.Upload's data URLs."""
    from app.ecg.errors import InvalidRecordError

    per_file, _ = upload_limits()
    files: dict[str, bytes] = {}
    for c, name in zip(contents or [], names or []):
        try:
            files[name] = base64.b64decode(c.split(",", 1)[1], validate=False)
        except (IndexError, binascii.Error, ValueError):
            raise InvalidRecordError(name, "could not read the uploaded file") from None
        if len(files[name]) > per_file:  # the browser checks first; this is for other clients
            raise InvalidRecordError(name, f"file larger than the limit of {_mb(per_file)}")
    return files


def parse_lead(value):
    return None if value in (None, "", "auto") else int(value)


def parse_fs(value):
    from app.ecg.errors import InvalidRecordError

    if value in (None, ""):
        return None
    try:
        fs = float(value)
    except (TypeError, ValueError):
        raise InvalidRecordError("sampling rate", f"not a number: {value!r}") from None
    if not fs > 0:
        raise InvalidRecordError("sampling rate", "must be a positive number of Hz")
    return fs


def error_alert(message: str) -> dbc.Alert:
    return html.Div(dbc.Alert([html.Strong("Could not analyze this input. "), html.Span(message)],
                              color="danger", dismissable=True), **{"data-testid": "upload-error"})


# the running panel between runs and until the job reports its first stage: (value, label, Cancel
# disabled, bar colour); a full grey bar, so "starting" can be read (on a 0 % bar it was not shown)
PROGRESS_IDLE = [100, "starting", True, "secondary"]


def analysis_running_panel() -> html.Div:
    """Progress bar and Cancel button, shown while a background analysis runs (app.jobs).

    Cancel is enabled by the job's first stage, not before: until the first answer the browser
    holds no job to cancel (it is still preparing or sending the request; a large upload takes
    seconds), and a click then would be ignored while the analysis went on."""
    value, label, disabled, color = PROGRESS_IDLE
    return html.Div([
        html.Div(dbc.Progress(id="analysis-progress", value=value, label=label, color=color, striped=True,
                              animated=True, style={"height": "1.5rem"}, className="mb-2"),
                 **{"data-testid": "analysis-progress"}),
        dbc.Button("Cancel", id="cancel-analysis", color="secondary", size="sm", outline=True, disabled=disabled),
    ], id="analysis-running", className="mt-3", style={"display": "none"})


# Every output of the analysis callback is on this page: dash-renderer honours prevent_initial_call
# for inputs in a newly shown page only when all the callback's outputs are in that page too. With
# the app shell's key store and location as outputs, each visit to this page called the server and,
# as a background callback, started a job that found nothing to do.
ANALYSIS_OUTPUTS = [Output("upload-result", "data"), Output("upload-status", "children")]
ANALYSIS_INPUTS = [
    Input({"type": "sample-btn", "record": ALL}, "n_clicks"),
    Input("upload-gate", "data"),
    Input("reanalyze", "n_clicks"),
    State("upload", "contents"),
    State("upload", "filename"),
    State("csv-fs", "value"),
    State("csv-units", "value"),
    State("lead-choice", "value"),
    State("beats-choice", "value"),
]


def analysis_outcome(set_progress, _clicks, gate, _again, contents, names, fs, units, lead, beats):
    """Read the chosen input, analyze it (or find it in the cache), go to the signal page."""
    from app import cache, jobs
    from app.ecg.errors import InvalidRecordError
    from app.ecg.readers import read_record, read_upload

    def stage(name: str):
        if set_progress is not None:
            set_progress((jobs.STAGES.get(name, 0), name, False, "primary"))  # False: Cancel enabled

    trig = ctx.triggered_id
    try:
        if isinstance(trig, dict) and trig.get("type") == "sample-btn":
            if not any(_clicks or []):
                return no_update, no_update
            stage("reading")
            recording = read_record(str(sample_path(trig["record"])))
        elif trig in ("upload-gate", "reanalyze") and gate and contents:
            stage("reading")
            recording = read_upload(decode_upload(contents, names), fs=parse_fs(fs), units=units or "mV")
        else:
            return no_update, no_update
        key, _cached = jobs.run_ui_analysis(recording, lead=parse_lead(lead), beats=beats or "detect",
                                            progress=stage)
        stage("done")
    except InvalidRecordError as exc:
        return no_update, error_alert(str(exc))
    except (cache.BusyError, jobs.JobFailed) as exc:
        return no_update, error_alert(str(exc))
    except Exception as exc:  # noqa: BLE001 - never a traceback in the UI
        log.exception("analysis failed")
        return no_update, error_alert(f"analysis failed ({type(exc).__name__}); see the server log")
    done = html.Div(dbc.Alert(f"Analyzed {recording.name}; opening the signal viewer...", color="success"),
                    **{"data-testid": "upload-ok"})
    return {"key": key, "n": time.time_ns()}, done  # n: a new value even when the key is the same


# the analysis's key to the app's key store, and on to the signal page: in the browser, so the
# page's first showing (when this fires with no result) costs no request
clientside_callback(
    """
    function(result) {
        const C = window.dash_clientside;
        if (!result || !result.key) { return [C.no_update, C.no_update]; }
        return [result.key, "/signal"];
    }
    """,
    Output(KEY_STORE, "data"),
    Output(NAV_LOCATION, "pathname"),
    Input("upload-result", "data"),
    prevent_initial_call=True,
)


def _register_analysis_callback():
    """In-process callback, or a background one with progress and cancel (rule: app.jobs docstring)."""
    from app.jobs import current_ui_mode

    busy = [(Output({"type": "sample-btn", "record": ALL}, "disabled"), True, False),
            (Output("reanalyze", "disabled"), True, False)]  # no second analysis while one runs
    if current_ui_mode() is None:
        @callback(*ANALYSIS_OUTPUTS, *ANALYSIS_INPUTS, running=busy, prevent_initial_call=True)
        def analyze_input(*args):
            return analysis_outcome(None, *args)
        return analyze_input

    @callback(
        *ANALYSIS_OUTPUTS, *ANALYSIS_INPUTS,
        background=True,
        progress=[Output("analysis-progress", "value"), Output("analysis-progress", "label"),
                  Output("cancel-analysis", "disabled"), Output("analysis-progress", "color")],
        progress_default=PROGRESS_IDLE,
        running=[*busy, (Output("analysis-running", "style"), {"display": "block"}, {"display": "none"})],
        cancel=[Input("cancel-analysis", "n_clicks")],
        interval=500,
        prevent_initial_call=True,
    )
    def analyze_input_background(set_progress, *args):  # forked: sockets already let go (app.forked_job)
        return analysis_outcome(set_progress, *args)
    return analyze_input_background


analyze_input = _register_analysis_callback()


@callback(Output("upload-files", "children"), Output("reanalyze", "style"),
          Input("upload-gate", "data"), State("upload", "filename"), prevent_initial_call=True)
def show_files(gate, names):
    """The files received, and a way to analyze them again (say, after setting the sampling rate:
    a file picker does not fire again for the same file)."""
    if not gate or not names:
        return "", {"display": "none"}
    return f"Received: {', '.join(names)}.", {"display": "inline"}
