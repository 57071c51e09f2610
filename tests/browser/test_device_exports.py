"""Device-style CSV exports (not MIT-BIH-shaped) through the upload page in real Chromium.

The inputs are made at run time from the bundled records (tests/ecg/device_exports.py): a 10-s
12-lead export at 500 Hz in microvolts, a 45-s single-lead one with the electrode off midway.
"""
from __future__ import annotations

import pytest

from tests.browser.ui_helpers import FLAGS_TIMEOUT_MS, graph_data, wait_for_signal_page
from tests.ecg import device_exports as dev

pytestmark = pytest.mark.browser

# Every y axis of the strip whose domain overlaps another lead's panel: plotly.js gives an axis
# with an empty domain its default [0, 1], and that subplot's background hides the panels under it.
OVERLAPPING_AXES = """() => {
    const g = document.querySelector('#strip .js-plotly-plot');
    const L = g?._fullLayout;
    if (!L?._subplots?.cartesian?.length) { return null; }
    const ys = Object.keys(L).filter(k => /^yaxis[0-9]*$/.test(k));
    const out = [];
    for (const a of ys) { for (const b of ys) {
        const da = L[a]?.domain, db = L[b]?.domain;
        if (a < b && da && db && Math.min(da[1], db[1]) - Math.max(da[0], db[0]) > 1e-6) { out.push(a + '/' + b); }
    } }
    return out;
}"""


def _upload(page, app_url, export: dev.Export, tmp_path) -> None:
    path = tmp_path / export.name
    path.write_bytes(export.data)
    page.goto(app_url + "/")
    if "fs" in export.form:
        page.fill("#csv-fs", str(export.form["fs"]))
    if "units" in export.form:
        page.select_option("#csv-units", export.form["units"])
    page.set_input_files("#upload input[type=file]", [str(path)])
    wait_for_signal_page(page, export.name.rsplit(".", 1)[0])


def test_twelve_lead_500hz_export_shows_lead_ii_with_its_beats(page, app_url, tmp_path):
    export = dev.twelve_lead()
    _upload(page, app_url, export, tmp_path)
    assert page.inner_text("#signal-title").endswith("lead II")
    assert page.inner_text("[data-testid=card-fs]") == "500 Hz"
    assert page.inner_text("[data-testid=card-duration]") == "0:10"
    assert page.inner_text("[data-testid=card-beats]") == str(len(export.ref_samples))  # 17 reference beats
    assert "training calibration" in page.inner_text("[data-testid=short-record-notice]")
    # no panel is hidden behind another subplot (an upload without reference annotations hid the
    # analysed lead and its markers: the label band's axis got the domain [0, 1])
    overlaps = page.wait_for_function(OVERLAPPING_AXES, timeout=FLAGS_TIMEOUT_MS).json_value()
    assert overlaps == []
    markers = [t for t in graph_data(page, "strip") if t["name"] == "beats"][0]
    assert markers["n"] == len(export.ref_samples)
    # the markers sit at the reference beats' times (500 Hz samples -> s), within 150 ms
    ref_t = export.ref_samples / export.fs
    assert all(min(abs(x - r) for r in ref_t) < 0.15 for x in markers["x"])


def test_single_lead_export_without_reference_keeps_its_trace_visible(page, app_url, tmp_path):
    _upload(page, app_url, dev.kardia_like(), tmp_path)
    assert page.inner_text("[data-testid=card-fs]") == "300 Hz"
    assert page.wait_for_function(OVERLAPPING_AXES, timeout=FLAGS_TIMEOUT_MS).json_value() == []


def test_electrode_off_stretch_is_explained_next_to_the_short_record_notice(page, app_url, tmp_path):
    export = dev.electrode_off()  # 45 s at 500 Hz, flat from 18 to 27 s
    _upload(page, app_url, export, tmp_path)
    assert page.inner_text("[data-testid=card-duration]") == "0:45"
    assert page.inner_text("[data-testid=card-fs]") == "500 Hz"
    assert "under a minute" in page.inner_text("[data-testid=short-record-notice]")
    note = page.inner_text("[data-testid=gap-notice]")
    assert "0:18-0:27" in note and "flat signal" in note and "lead ECG" in note
    assert page.inner_text("[data-testid=card-beats]") == str(len(export.ref_samples))  # 47 beats, none in the gap


STRIP_LEADS = """() => {
    const g = document.querySelector('#strip .js-plotly-plot');
    const d = g?._fullData;
    if (!d?.length) { return null; }
    return {leads: d.filter(t => t.mode === 'lines').map(t => t.name), height: g._fullLayout?.height,
            markersAxis: d.find(t => t.name === 'beats')?.yaxis};
}"""


def _strip_leads(page, expected: list[str]) -> dict:
    return page.wait_for_function(
        f"e => {{ const s = ({STRIP_LEADS})(); return s && JSON.stringify(s.leads) === JSON.stringify(e) ? s : null; }}",
        arg=expected, timeout=FLAGS_TIMEOUT_MS).json_value()


def test_twelve_lead_strip_shows_three_leads_and_any_lead_can_be_analysed(page, app_url, tmp_path):
    """The strip draws the analysed lead and two others (was all twelve, 1,970 px tall); ticking
    another lead swaps it in; the upload page says where any other lead is chosen, and choosing V5
    in the signal page's Lead list analyses it."""
    page.goto(app_url + "/")
    assert "signal page's Lead list" in page.inner_text("#lead-choice-help")
    export = dev.twelve_lead()
    sizes = []
    page.on("response", lambda r: sizes.append(len(r.body())) if "_dash-update-component" in r.url else None)
    _upload(page, app_url, export, tmp_path)
    s = _strip_leads(page, ["I", "II", "III"])
    assert s["height"] == 620 and s["markersAxis"] == "y2"  # the beats on II, the second panel
    assert page.is_visible("[data-testid=strip-others-box]")
    labels = page.eval_on_selector_all("#strip-others label", "ls => ls.map(l => l.innerText)")
    assert labels == ["I", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    checked = "() => Array.from(document.querySelectorAll('#strip-others input:checked')).map(i => i.value)"
    assert page.evaluate(checked) == ["0", "2"]
    page.click('#strip-others label:text-is("V1")')  # a third tick: the oldest (I) makes way
    s = _strip_leads(page, ["II", "III", "V1"])
    assert s["markersAxis"] == "y" and s["height"] == 620
    page.wait_for_function(f"() => JSON.stringify(({checked})()) === JSON.stringify(['2', '6'])",
                           timeout=FLAGS_TIMEOUT_MS)
    assert max(sizes) < 400_000  # no response carried twelve leads' worth of data
    # any lead can be analysed: V5 from the signal page's Lead list
    page.select_option("#lead-switch", str(dev.TWELVE_LEADS.index("V5")))
    page.wait_for_function("() => document.querySelector('#signal-title')?.innerText?.endsWith('lead V5')",
                           timeout=FLAGS_TIMEOUT_MS)
    s = _strip_leads(page, ["I", "II", "V5"])
    assert s["markersAxis"] == "y3"
    page.wait_for_load_state("networkidle")
    markers = [t for t in graph_data(page, "strip") if t["name"] == "beats"][0]
    ref_t = export.ref_samples / export.fs
    assert markers["n"] == len(ref_t) and all(min(abs(x - r) for r in ref_t) < 0.15 for x in markers["x"])
