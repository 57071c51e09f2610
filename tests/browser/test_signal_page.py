"""Signal viewer in real Chromium: threshold, navigation, zoom payloads, inspector, exports.

Each test opens one bundled sample (cached after the session's first analysis) and checks
several things on it, to keep the browser suite short.
"""
from __future__ import annotations

import csv
import io

import pytest

from tests.browser.ui_helpers import anomaly_count, graph_data, open_sample

pytestmark = pytest.mark.browser

ANOMALY_COLOUR = "#d62728"
CLI_COLUMNS = ["record", "beat", "sample", "time_s", "rr_prev_s", "rr_next_s", "recon_error",
               "latent_distance", "kl", "rr_score", "score", "anomaly", "quality"]


def _wait_count_change(page, before: int) -> int:
    page.wait_for_function(
        "b => { const e = document.querySelector('[data-testid=anomaly-count]');"
        " return e && Number(e.innerText.replace(/,/g, '')) !== b; }", arg=before, timeout=20_000)
    return anomaly_count(page)


def _download(page, button: str) -> tuple[str, str]:
    with page.expect_download() as dl:
        page.click(button)
    return open(dl.value.path(), encoding="utf-8").read(), dl.value.suggested_filename


def _red_markers(page) -> int:
    markers = [t for t in graph_data(page, "strip") if t["name"] == "beats"][0]
    return markers["colors"].count(ANOMALY_COLOUR)


def test_threshold_slider_method_and_csv_export(page, app_url):
    open_sample(page, app_url, "233")
    beats = int(page.inner_text("[data-testid=card-beats]").replace(",", ""))
    before = anomaly_count(page)
    red_before = _red_markers(page)
    thumb = page.locator("#thr-slider [role=slider]")
    thumb.focus()
    thumb.press("End")  # highest threshold: fewer flags
    high = _wait_count_change(page, before)
    assert high < before
    assert page.inner_text("#card-anomalies").replace(",", "") == str(high)
    assert _red_markers(page) <= red_before  # strip markers re-coloured, not re-drawn
    thumb.press("Home")  # lowest threshold: more flags
    low = _wait_count_change(page, high)
    assert low > before

    # CSV export: one row per beat, the CLI's columns, the flags at the current threshold
    text, name = _download(page, "#export-csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert name == "233_beats.csv"
    assert len(rows) == beats
    assert all(c in rows[0] for c in CLI_COLUMNS + ["ref_symbol", "ref_class"])
    assert sum(r["anomaly"] == "True" for r in rows) == low

    # the method selector puts that method's threshold back on the slider
    methods = [o for o in page.eval_on_selector_all("#thr-method option", "os => os.map(o => o.value)") if o]
    assert set(methods) >= {"statistical", "percentile", "fixed"}
    current = page.input_value("#thr-method")
    other = [m for m in methods if m != current][0]
    page.select_option("#thr-method", other)
    _wait_count_change(page, low)
    page.select_option("#thr-method", current)
    page.wait_for_function(
        "b => Number(document.querySelector('[data-testid=anomaly-count]').innerText.replace(/,/g, '')) === b",
        arg=before, timeout=20_000)


def test_next_anomaly_moves_strip_and_inspects_flagged_beat(page, app_url):
    open_sample(page, app_url, "213")
    x0 = page.evaluate("document.querySelector('#strip .js-plotly-plot').layout.xaxis.range[0]")
    page.click("#next-anomaly")
    page.wait_for_function(
        "x => document.querySelector('#strip .js-plotly-plot').layout.xaxis.range[0] > x", arg=x0, timeout=20_000)
    page.wait_for_function("document.querySelector('#inspector-title').innerText.includes('ANOMALY')",
                           timeout=20_000)
    beat_traces = graph_data(page, "beat-figure")
    assert [t["name"] for t in beat_traces] == ["beat", "VAE reconstruction", "residual"]
    assert beat_traces[0]["n"] == 256
    # a click on a table row moves the strip to that beat
    first_row_beat = int(page.inner_text("#beat-table td[data-dash-column=beat] >> nth=0"))
    page.click("#beat-table td[data-dash-column=time_s] >> nth=0")
    page.wait_for_function(
        "b => document.querySelector('#inspector-title').innerText.startsWith('Beat ' + b + ' ')",
        arg=first_row_beat, timeout=20_000)
    # its neighbouring beats are marked where they fall inside the window (-250 .. +458 ms)
    rr_prev, rr_next = (float(page.inner_text(f"#beat-table td[data-dash-column={c}] >> nth=0"))
                        for c in ("rr_prev_s", "rr_next_s"))
    expected = {label for label, inside in (("previous beat", rr_prev <= 0.25), ("next beat", rr_next <= 0.458))
                if inside}
    labels = page.evaluate("(document.querySelector('#beat-figure .js-plotly-plot').layout.annotations || [])"
                           ".map(a => a.text)")
    assert set(labels) == expected


def test_zoom_sends_downsampled_strip_and_html_report(page, app_url):
    open_sample(page, app_url, "100")
    with page.expect_response(lambda r: "_dash-update-component" in r.url
                              and "strip-zoom" in (r.request.post_data or ""), timeout=30_000) as resp:
        page.evaluate("Plotly.relayout(document.querySelector('#strip .js-plotly-plot'),"
                      " {'xaxis.range[0]': 0, 'xaxis.range[1]': 1800})")
    assert resp.value.status == 200
    assert len(resp.value.body()) < 500_000  # one viewer update, well under 500 KB
    page.wait_for_function("(() => { const d = document.querySelector('#strip .js-plotly-plot')._fullData[0].x;"
                           " return d.length > 3000 && d[d.length - 1] > 1500; })()", timeout=30_000)
    lead = graph_data(page, "strip")[0]
    assert lead["n"] <= 4002  # min-max bins, not 648,000 samples

    text, name = _download(page, "#export-report")
    assert name == "100_report.html"
    assert text.startswith("<!DOCTYPE html>") and "record 100" in text
    assert "<script src=" not in text  # plotly.js is inlined: the report opens offline
    assert "Plotly.newPlot" in text


def _table_column(page, column: str) -> list[str]:
    return page.locator(f"#beat-table td[data-dash-column={column}]").all_inner_texts()


def test_table_filters_by_reference_class_and_flag(page, app_url):
    """Record 100 (N, S and one V in its annotations): the reference-class filter, alone and with
    "flagged only" (the false alarms among the normal beats, as many as the agreement card says)."""
    open_sample(page, app_url, "100")
    page.wait_for_selector("#table-class", state="visible")
    options = [o for o in page.locator("#table-class option").all_inner_texts() if o]  # (dbc's blank placeholder)
    assert options == ["all reference classes", "reference N (2,239 beats)", "reference S (33 beats)",
                       "reference V (1 beat)"]
    page.select_option("#table-class", "S")
    page.wait_for_function("() => [...document.querySelectorAll('#beat-table td[data-dash-column=ref_class]')]"
                           ".every(td => td.innerText === 'S')", timeout=20_000)
    assert len(_table_column(page, "beat")) == 12  # a full page of S beats
    page.select_option("#table-class", "N")
    page.check("#table-flagged-only")
    flagged_n = int(page.inner_text("[data-testid=agree-per-class]").split("N ")[1].split(" of")[0])
    page.wait_for_function(
        "n => { const c = [...document.querySelectorAll('#beat-table td[data-dash-column=ref_class]')];"
        " return c.length === Math.min(n, 12) && c.every(td => td.innerText === 'N'); }",
        arg=flagged_n, timeout=20_000)
    assert set(_table_column(page, "anomaly")) == {"1"}


def test_signal_page_without_analysis_points_to_upload(browser, app_url):
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.goto(app_url + "/signal")
    pg.wait_for_selector("[data-testid=signal-empty]")
    assert "upload" in pg.inner_text("[data-testid=signal-empty]").lower()
    ctx.close()
