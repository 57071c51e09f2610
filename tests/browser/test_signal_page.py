"""Signal viewer in real Chromium: threshold, navigation, zoom payloads, inspector, exports.

Each test opens one bundled sample (cached after the session's first analysis) and checks
several things on it, to keep the browser suite short.
"""
from __future__ import annotations

import csv
import io
import re

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
    default = page.input_value("#thr-method")
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
    assert all(re.fullmatch(r"\d+\.\d{3}", r["time_s"]) for r in rows)  # ms at 360 Hz, not float noise
    assert max(len(r["score"].split("e")[0].lstrip("-").replace(".", "").lstrip("0")) for r in rows) <= 6
    # a 2-lead record draws both leads, with no choice of other leads to offer
    lines = [t["name"] for t in graph_data(page, "strip") if t["name"] not in ("beats", "reference labels")]
    assert lines == ["MLII", "V1"] and not page.is_visible("[data-testid=strip-others-box]")

    # the method selector puts that method's threshold back on the slider
    methods = [o for o in page.eval_on_selector_all("#thr-method option", "os => os.map(o => o.value)") if o]
    assert set(methods) >= {"statistical", "percentile", "fixed", "custom"}  # the slider moved: custom
    assert page.input_value("#thr-method") == "custom"
    other = [m for m in methods if m not in (default, "custom")][0]
    page.select_option("#thr-method", other)
    _wait_count_change(page, low)
    page.select_option("#thr-method", default)
    page.wait_for_function(
        "b => Number(document.querySelector('[data-testid=anomaly-count]')?.innerText.replace(/,/g, '')) === b",
        arg=before, timeout=20_000)


def test_next_anomaly_moves_strip_and_inspects_flagged_beat(page, app_url):
    open_sample(page, app_url, "213")
    x0 = page.evaluate("document.querySelector('#strip .js-plotly-plot').layout.xaxis.range[0]")
    page.click("#next-anomaly")
    page.wait_for_function(
        "x => document.querySelector('#strip .js-plotly-plot')?.layout?.xaxis?.range?.[0] > x", arg=x0, timeout=20_000)
    page.wait_for_function("document.querySelector('#inspector-title')?.innerText.includes('ANOMALY')",
                           timeout=20_000)
    beat_traces = graph_data(page, "beat-figure")
    names = [t["name"] for t in beat_traces]
    # the beat, or (where the model scored it visibly changed: drift taken out) it as recorded and as scored
    assert names in (["beat", "VAE reconstruction", "residual"],
                     ["beat as recorded", "as scored (drift removed)", "VAE reconstruction", "residual"]), names
    assert beat_traces[0]["n"] == 256
    # a click on a table row moves the strip to that beat
    first_row_beat = int(page.inner_text("#beat-table td[data-dash-column=beat] >> nth=0"))
    page.click("#beat-table td[data-dash-column=time_s] >> nth=0")
    page.wait_for_function(
        "b => document.querySelector('#inspector-title')?.innerText.startsWith('Beat ' + b + ' ')",
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
    page.wait_for_function("(() => { const d = document.querySelector('#strip .js-plotly-plot')?._fullData?.[0]?.x;"
                           " return !!d && d.length > 3000 && d[d.length - 1] > 1500; })()", timeout=30_000)
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


def _strip_beat(page, beat: int) -> dict:
    """The strip marker of one beat: symbol, colour, hover text (None when not drawn)."""
    return page.evaluate(
        """b => { const gd = document.querySelector('#strip .js-plotly-plot');
                  const t = gd.data.find(t => t.name === 'beats'); const i = t.customdata.indexOf(b);
                  return i < 0 ? null : {symbol: t.marker.symbol[i], color: t.marker.color[i], hover: t.hovertext[i]}; }""",
        beat)


def _wait_text(page, selector: str, text: str, contains: bool = False) -> None:
    page.wait_for_function(
        "([s, t, c]) => { const e = document.querySelector(s); const v = e && (e.value !== undefined ? e.value : e.innerText);"
        " return e && (c ? v.includes(t) : v === t); }", arg=[selector, text, contains], timeout=20_000)


def _options(page) -> dict[str, str]:
    return dict(page.eval_on_selector_all("#thr-method option", "os => os.filter(o => o.value).map(o => [o.value, o.text])"))


def test_threshold_box_method_dropdown_inspector_and_report(page, app_url, tmp_path):
    """One threshold for every control: Enter in the box applies it, the method dropdown says
    'custom' for a hand-set value and puts a method's value back, the inspector's verdict and the
    HTML report follow it; a flagged low-quality beat stays flagged and says so."""
    open_sample(page, app_url, "233")
    before = anomaly_count(page)
    default, shown = page.input_value("#thr-method"), page.input_value("#thr-box")
    assert default in ("statistical", "percentile", "fixed")
    assert page.inner_text("#thr-value") == shown and len(shown.split(".")[-1]) <= 3  # label and box agree
    options = _options(page)
    assert "custom" not in options and options[default].endswith(": " + shown)
    assert re.fullmatch(r"Percentile \(\d+(\.\d+)?(st|nd|rd|th)\): [\d.]+", options["percentile"])  # which one
    assert "is above the threshold (score > threshold)" in page.inner_text("#signal-body")  # not 'reaches'

    # beat 0 of record 233 (quality 0) is flagged and inspected first: red, but a cross, and said to be low quality
    _wait_text(page, "#inspector-title", "Beat 0 ", contains=True)
    title = page.inner_text("#inspector-title")
    assert "ANOMALY" in title and "(low quality)" in title
    # its quality was below 0.8, so the model scored it denoised: the title and the figure say so
    assert "(scored after denoising)" in title
    page.wait_for_function("document.querySelector('#beat-figure .js-plotly-plot')?.data?.[1]?.name"
                           " === 'as scored (denoised, drift removed)'", timeout=20_000)
    assert [t["name"] for t in graph_data(page, "beat-figure")] == [
        "beat as recorded", "as scored (denoised, drift removed)", "VAE reconstruction", "residual"]
    assert _strip_beat(page, 0) == {"symbol": "x", "color": ANOMALY_COLOUR, "hover": "beat 0: anomaly (low quality)"}

    box = page.locator("#thr-box")
    box.fill("12")  # above beat 0's score (10.4), within the record's range (the box clamps to it)
    box.press("Enter")  # Enter applies the box (no need to leave it)
    high = _wait_count_change(page, before)
    assert high < before
    _wait_text(page, "#inspector-title", "Beat 0 at 0.12 s: normal (low quality)", contains=True)
    assert page.input_value("#thr-method") == "custom" and _options(page)["custom"] == "Custom (set by hand): 12"
    assert page.inner_text("#thr-value") == "12"
    assert _strip_beat(page, 0)["color"] != ANOMALY_COLOUR

    page.select_option("#thr-method", default)  # picking the method again restores its threshold
    assert _wait_count_change(page, high) == before
    _wait_text(page, "#thr-box", shown)
    assert page.inner_text("#thr-value") == shown and "custom" not in _options(page)
    _wait_text(page, "#inspector-title", "ANOMALY", contains=True)

    thumb = page.locator("#thr-slider [role=slider]")
    thumb.focus()
    for _ in range(8):
        thumb.press("ArrowLeft")  # a keyboard step of 0.01 log-odds (0.0002 before)
    # eight steps down from the method's value (the first one onto the 0.01 grid): 5.051 -> 4.98, past
    # the fixed method's 5.0 (where the dropdown would name that method)
    # wait for the last key press's answer, not an earlier one's (seven steps already fall in the
    # range): the label and the box show the thumb's value and nothing is loading; an answer still
    # on its way would overwrite the box while it is typed into below
    page.wait_for_function(
        "s => { const now = Number(document.querySelector('#thr-slider [role=slider]')?.getAttribute('aria-valuenow'));"
        " const v = Number(document.querySelector('#thr-value')?.innerText);"
        " const b = Number(document.querySelector('#thr-box')?.value);"
        " return Math.abs(v - now) < 1e-9 && Math.abs(b - now) < 1e-9 && v > s - 0.1 && v < s - 0.06"
        " && !document.querySelector('[data-dash-is-loading]'); }", arg=float(shown), timeout=20_000)
    assert page.input_value("#thr-method") == "custom"

    box.fill("9")
    box.press("Tab")
    _wait_text(page, "#thr-value", "9")
    page.wait_for_load_state("networkidle")
    text, _ = _download(page, "#export-report")
    assert "above <b>9</b> (custom: set by hand; the model's default" in text
    assert f"{default} method" not in text

    # the report at 800 px: margins on both sides, nothing wider than the page
    report = tmp_path / "report.html"
    report.write_text(text, encoding="utf-8")
    ctx = page.context.browser.new_context(viewport={"width": 800, "height": 900})
    narrow = ctx.new_page()
    narrow.goto(report.as_uri())
    narrow.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 2", timeout=30_000)
    scroll, client, left = narrow.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                                           " document.querySelector('h1').getBoundingClientRect().left]")
    assert scroll <= client and left >= 8
    ctx.close()


def _x_range(page) -> list[float]:
    return page.evaluate("document.querySelector('#strip .js-plotly-plot')._fullLayout.xaxis.range")


def _drag_zoom(page, box, a: float, b: float) -> None:
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * a, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * b, y, steps=8)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#strip .js-plotly-plot')?._fullLayout?.xaxis?.range?.[1]"
                           " - document.querySelector('#strip .js-plotly-plot')?._fullLayout?.xaxis?.range?.[0] < 5",
                           timeout=20_000)
    # ... and the app has answered the zoom (the strip holds that window's data): a double-click
    # before then would be centred on the previous window
    page.wait_for_function(
        "() => { const g = document.querySelector('#strip .js-plotly-plot'); const r = g?._fullLayout?.xaxis?.range;"
        " const x = g?.data?.[0]?.x; return !!r && !!x && x.length > 0 && x[0] >= r[0] - 0.01"
        " && x[x.length - 1] <= r[1] + 0.01; }", timeout=20_000)


def test_strip_double_click_returns_to_a_10_s_window(page, app_url):
    """Not to the whole 30-minute record; a second double-click (the same event) is answered too."""
    open_sample(page, app_url, "233")
    assert _x_range(page) == [0, 10]
    box = page.locator("#strip .nsewdrag").first.bounding_box()
    for a, b in ((0.3, 0.5), (0.6, 0.7)):
        _drag_zoom(page, box, a, b)
        centre = sum(_x_range(page)) / 2
        page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        # plotly's own autorange shows the 10 s of data the strip holds before the app's window
        # arrives, so wait for the window around where the user was (a 20-s timeout fails the test)
        page.wait_for_function(
            "([t0]) => { const r = document.querySelector('#strip .js-plotly-plot')?._fullLayout?.xaxis?.range;"
            " return !!r && Math.abs(r[1] - r[0] - 10) < 1e-6 && Math.abs(r[0] - t0) < 1e-6; }",
            arg=[max(0.0, centre - 5)], timeout=20_000)
        t0, t1 = _x_range(page)
        assert t0 == pytest.approx(max(0.0, centre - 5)) and t1 == pytest.approx(t0 + 10)
        page.wait_for_load_state("networkidle")
        lead = graph_data(page, "strip")[0]
        assert lead["x"][0] >= t0 - 0.01 and lead["x"][-1] <= t1 + 0.01  # the window's data, not the record's


def _one_line(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "e => e.getBoundingClientRect().height"
                                           " < 1.5 * parseFloat(getComputedStyle(e).lineHeight)")


def test_controls_fit_at_800px_table_at_1280px_and_a_lead_switch_clears_the_table_cell(browser, app_url):
    ctx = browser.new_context(viewport={"width": 800, "height": 900})
    pg = ctx.new_page()
    open_sample(pg, app_url, "233")
    assert pg.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    for sel in ("#anomaly-count", "[data-testid=card-fs]", "[data-testid=card-hr]", "[data-testid=card-leads]",
                "#thr-value"):
        assert _one_line(pg, sel), sel  # no '1,4 / 29', no '360 / Hz'
    assert pg.eval_on_selector("#anomaly-count", "e => e.previousElementSibling.scrollWidth"
                                                 " <= e.previousElementSibling.clientWidth + 1")  # 'Anomalies' whole
    card = pg.locator(".controls-card").bounding_box()
    for sel, min_width in (("#thr-method", 250), ("#thr-box", 60), ("#lead-switch", 80), ("#thr-slider", 100)):
        b = pg.locator(sel).bounding_box()
        assert b is not None and b["width"] >= min_width, sel
        assert card["x"] <= b["x"] and b["x"] + b["width"] <= card["x"] + card["width"], sel  # inside, not cut
    assert pg.eval_on_selector("#lead-switch", "e => e.options[e.selectedIndex].text") == "MLII"
    ctx.close()

    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    open_sample(pg, app_url, "233")
    table = pg.locator("#beat-table .dash-spreadsheet-container").bounding_box()
    last = pg.locator("#beat-table th[data-dash-column=ref_class]").bounding_box()
    assert last["x"] + last["width"] <= table["x"] + table["width"] + 1  # every column in view at 1280 px

    pg.click("#beat-table td[data-dash-column=time_s] >> nth=2")
    pg.wait_for_selector("#beat-table td.focused")
    pg.select_option("#lead-switch", "1")
    pg.wait_for_function("document.querySelector('#signal-title')?.innerText.endsWith('lead V1')", timeout=120_000)
    pg.wait_for_load_state("networkidle")
    assert pg.locator("#beat-table td.focused").count() == 0  # the old lead's cell is not highlighted
    assert pg.input_value("#thr-method") != "custom"  # the new analysis starts at its method's threshold
    ctx.close()
