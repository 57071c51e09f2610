"""Upload page in real Chromium: samples, WFDB and CSV uploads, bad input, offline assets."""
from __future__ import annotations

import re
from urllib.parse import urlparse

import numpy as np
import pytest
import wfdb

from tests.browser.ui_helpers import FLAGS_TIMEOUT_MS, anomaly_count, graph_data, open_sample, wait_for_signal_page
from tests.conftest import SAMPLES, cut_record

pytestmark = pytest.mark.browser

ANOMALY_COLOUR = "#d62728"


def test_sample_shows_flagged_beats_with_local_assets_only(page, app_url):
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    open_sample(page, app_url, "233")
    assert anomaly_count(page) > 100  # record 233 has 831 ventricular beats
    markers = [t for t in graph_data(page, "strip") if t["name"] == "beats"][0]
    assert markers["n"] > 5 and ANOMALY_COLOUR in markers["colors"]
    beats = int(page.inner_text("[data-testid=card-beats]").replace(",", ""))
    assert 2900 < beats < 3300  # 3,079 reference beats
    # no CDN: every request went to the app's own origin (Bootstrap is vendored in assets/)
    own = urlparse(app_url).netloc
    foreign = [u for u in requested if urlparse(u).scheme in ("http", "https") and urlparse(u).netloc != own]
    assert foreign == []
    assert any(u.endswith("bootstrap.min.css") or "bootstrap.min.css?" in u for u in requested)


def test_sample_buttons_line_up_whatever_the_description(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(app_url + "/")
    page.wait_for_selector("[data-testid=sample-232] button")
    tops = {r: page.locator(f"[data-testid=sample-{r}] button").bounding_box()["y"]
            for r in ("100", "105", "213", "232", "233")}
    assert max(tops.values()) - min(tops.values()) < 1, tops  # 232's description is a line longer


def _set_upload_files(page, paths):
    page.set_input_files("#upload input[type=file]", [str(p) for p in paths])


def test_upload_wfdb_set(page, app_url):
    page.goto(app_url + "/")
    _set_upload_files(page, [SAMPLES / "100.hea", SAMPLES / "100.dat", SAMPLES / "100.atr"])
    wait_for_signal_page(page, "100")
    assert int(page.inner_text("[data-testid=card-beats]").replace(",", "")) > 2000
    assert page.inner_text("[data-testid=card-leads]") == "MLII, V5"
    # reference annotations came with the .atr: the agreement card shows sensitivity/specificity
    page.wait_for_selector("[data-testid=agree-spec]")
    # and how many beats of each reference class are flagged (record 100: 33 S beats, one V)
    assert re.fullmatch(r"N [0-9,]+ of 2,2[0-9]{2} · S [0-9]+ of 33 · V [01] of 1",
                        page.inner_text("[data-testid=agree-per-class]"))


def _short_csv(tmp_path):
    """45 s of record 105's MLII as a CSV with a header and no time column."""
    sig, _ = wfdb.rdsamp(str(SAMPLES / "105"), sampto=360 * 45, channels=[0])
    path = tmp_path / "holter_excerpt.csv"
    np.savetxt(path, sig, fmt="%.4f", delimiter=",", header="MLII", comments="")
    return path


def _error_text(page) -> str:
    return page.inner_text("[data-testid=upload-error]")


def test_upload_short_csv_with_sampling_rate(page, app_url, tmp_path):
    page.goto(app_url + "/")
    page.fill("#csv-fs", "360")
    _set_upload_files(page, [_short_csv(tmp_path)])
    wait_for_signal_page(page, "holter_excerpt")
    assert page.inner_text("[data-testid=card-duration]") == "0:45"
    assert page.inner_text("[data-testid=card-fs]") == "360 Hz"
    beats = int(page.inner_text("[data-testid=card-beats]").replace(",", ""))
    assert 45 < beats < 80  # 45 s of a ~80 bpm rhythm
    # under a minute: the UI says the scores fall back to the training calibration
    assert "training calibration" in page.inner_text("[data-testid=short-record-notice]")
    # no reference annotations: no reference-class filter on the beat table
    assert page.locator("#table-class-box").is_hidden()


def test_upload_csv_with_missing_samples_says_how_many(page, app_url, tmp_path):
    path = _short_csv(tmp_path)
    lines = path.read_text().splitlines()
    lines[1000:1003] = ["nan", "", "inf"]  # a blank line is a missing sample too
    path.write_text("\n".join(lines) + "\n")
    page.goto(app_url + "/")
    page.fill("#csv-fs", "360")
    _set_upload_files(page, [path])
    wait_for_signal_page(page, "holter_excerpt")
    note = page.inner_text("[data-testid=missing-samples-notice]")
    assert note.startswith("3 samples") and "lead MLII" in note and "interpolated" in note


def test_a_record_cut_shorter_than_its_annotations_says_how_many_were_not_used(page, app_url, tmp_path):
    base = cut_record("100", 120, tmp_path)  # 2 minutes of 100 with its whole .atr
    page.goto(app_url + "/")
    _set_upload_files(page, [base.with_suffix(e) for e in (".hea", ".dat", ".atr")])
    wait_for_signal_page(page, "100")
    from app.ecg.aami import is_beat_symbol

    ann = wfdb.rdann(str(SAMPLES / "100"), "atr")
    past = sum(1 for s, y in zip(ann.sample, ann.symbol) if s >= 120 * 360 and is_beat_symbol(y))
    note = page.inner_text("[data-testid=reference-outside-notice]")
    assert note.startswith(f"{past:,} reference beat annotations") and "not used" in note


def test_bad_uploads_show_their_message_and_the_app_keeps_working(page, app_url, tmp_path):
    bad = tmp_path / "garbage.csv"
    bad.write_bytes(bytes(range(256)) * 40)
    page.goto(app_url + "/")
    _set_upload_files(page, [bad])
    page.wait_for_selector("[data-testid=upload-error]", timeout=FLAGS_TIMEOUT_MS)
    assert "garbage.csv" in _error_text(page)
    assert page.evaluate("location.pathname") == "/"
    # a header naming a signal file that was not uploaded
    _set_upload_files(page, [SAMPLES / "213.hea"])
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=upload-error]') || {innerText: ''}).innerText.includes('213')",
        timeout=FLAGS_TIMEOUT_MS)
    # a CSV without a time column needs the sampling rate: say so, then analyze again once given
    _set_upload_files(page, [_short_csv(tmp_path)])
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=upload-error]') || {innerText: ''})"
        ".innerText.includes('holter_excerpt.csv')", timeout=FLAGS_TIMEOUT_MS)
    assert "sampling rate" in _error_text(page)
    assert "'Sampling rate (CSV)' field" in _error_text(page)  # the form's own label (was "the fs field")
    page.fill("#csv-fs", "360")
    page.click("#reanalyze")
    wait_for_signal_page(page, "holter_excerpt")
    # and a bundled sample still opens
    page.click("#nav-upload")
    page.click("[data-testid=sample-100] button")
    wait_for_signal_page(page, "100")
    assert anomaly_count(page) >= 0


@pytest.fixture(scope="module")
def small_limit_app(tmp_path_factory):
    """A second real ``python -m app`` whose per-file limit is 1 MB."""
    from tests.conftest import start_app

    srv = start_app("python", tmp_path_factory.mktemp("small_limit"), env={"ECG_MAX_FILE_MB": "1"})
    yield srv
    srv.stop()


def test_oversized_file_is_refused_in_the_browser(page, small_limit_app):
    posted = []
    page.on("request", lambda r: posted.append(len(r.post_data or "")) if "_dash-update-component" in r.url else None)
    page.goto(small_limit_app.url + "/")
    assert "1 MB per file" in page.inner_text("#upload-limit-text")
    _set_upload_files(page, [SAMPLES / "100.hea", SAMPLES / "100.dat"])  # 100.dat is 1.9 MB
    page.wait_for_selector("#upload-limit-alert", state="visible")
    assert "100.dat: file too large" in page.inner_text("#upload-limit-alert")
    assert max(posted, default=0) < 100_000  # the file never left the browser
    assert page.evaluate("location.pathname") == "/"
