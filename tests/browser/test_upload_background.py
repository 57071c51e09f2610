"""Upload page as a background callback (issue 7): real gunicorn (filesystem cache), real Chromium.

Under gunicorn the cache is shared, so the analysis runs as a Dash background callback
(DiskcacheManager; the analysis itself in a spawned process): a progress bar with its stages,
the buttons disabled while it runs, and a Cancel button that stops it. With ECG_BROKER_URL set,
the same callback runs on a real Celery worker over a real redis-server.
"""
from __future__ import annotations

import time

import numpy as np
import psutil
import pytest
import wfdb

from tests.browser.ui_helpers import FLAGS_TIMEOUT_MS, anomaly_count, wait_for_signal_page
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# records what the running panel showed: displayed at all, the stage labels, buttons disabled, and
# the Cancel button's state and the bar when the panel first showed (before the job could report a stage)
WATCH_PROGRESS = """
() => {
  window.__seen = {shown: false, labels: [], disabled: false, cancelAtShow: null};
  const check = () => {
    const panel = document.getElementById('analysis-running');
    if (panel && panel.style.display !== 'none') {
      if (!window.__seen.shown) {
        window.__seen.cancelAtShow = document.getElementById('cancel-analysis').disabled ? 'disabled' : 'enabled';
        const shownBar = document.querySelector('[data-testid=analysis-progress] .progress-bar');
        window.__seen.barAtShow = {label: shownBar.innerText.trim(), width: shownBar.getBoundingClientRect().width};
      }
      window.__seen.shown = true;
    }
    const bar = document.querySelector('[data-testid=analysis-progress] .progress-bar');
    const label = bar ? bar.innerText.trim() : '';
    if (label && !window.__seen.labels.includes(label)) { window.__seen.labels.push(label); }
    const btn = document.querySelector('[data-testid=sample-105] button');
    if (btn && btn.disabled) { window.__seen.disabled = true; }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                      characterData: true});
}
"""


def _spawned_jobs(server) -> list[psutil.Process]:
    """Analysis processes (multiprocessing spawn) under the gunicorn master."""
    out = []
    for p in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if "multiprocessing" in " ".join(p.cmdline()) and "spawn_main" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _long_record(tmp_path, copies: int = 8):
    """A four-hour WFDB record (record 213 repeated), written by the test; no annotations.

    Long enough to outlast the browser's wait for the job's id: on a loaded machine the first answer
    (the id Cancel needs) came seconds after the job had started (measured: the analysis process
    was running 1.6 s before it), and a two-hour analysis sometimes ended before Cancel was enabled."""
    sig, fields = wfdb.rdsamp(str(SAMPLES / "213"))
    long = np.tile(sig, (copies, 1))
    wfdb.wrsamp("holter4h", fs=fields["fs"], units=fields["units"], sig_name=fields["sig_name"],
                p_signal=long, fmt=["212"] * long.shape[1], write_dir=str(tmp_path))
    return [tmp_path / "holter4h.hea", tmp_path / "holter4h.dat"]


def test_sample_shows_progress_then_the_flagged_signal_page(page, gunicorn_app):
    analysis_calls = []
    page.on("request", lambda r: analysis_calls.append(r.url) if "_dash-update-component" in r.url
            and "upload-status.children" in (r.post_data or "") else None)
    page.goto(gunicorn_app.url + "/")
    page.wait_for_selector("[data-testid=sample-213] button")
    page.wait_for_load_state("networkidle")
    # showing the page starts no analysis job (it once did, on every visit: a process forked for nothing)
    assert analysis_calls == []
    page.evaluate(WATCH_PROGRESS)
    page.click("[data-testid=sample-213] button")
    wait_for_signal_page(page, "213")
    assert anomaly_count(page) > 50  # record 213 has 220 V and 362 F beats
    seen = page.evaluate("window.__seen")
    assert seen["shown"] and seen["disabled"], seen
    # the stages came from the job (the analysis ran in a spawned process: several seconds)
    assert {"detecting beats", "scoring"} & set(seen["labels"]), seen
    # Cancel waits for the job's first stage: before it, the browser has no job to cancel
    assert seen["cancelAtShow"] == "disabled" and seen["labels"][0] == "starting", seen
    # and "starting" is on a bar wide enough to be read (on the 0 % bar it once had, it was not shown)
    assert seen["barAtShow"]["label"] == "starting" and seen["barAtShow"]["width"] > 50, seen


def test_cancel_stops_a_long_analysis_and_the_app_keeps_working(page, gunicorn_app, tmp_path):
    files = _long_record(tmp_path)
    page.goto(gunicorn_app.url + "/")
    page.wait_for_selector("#upload input[type=file]", state="attached")
    page.set_input_files("#upload input[type=file]", [str(p) for p in files])
    deadline = time.monotonic() + FLAGS_TIMEOUT_MS / 1000
    while not _spawned_jobs(gunicorn_app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _spawned_jobs(gunicorn_app), "the analysis should run in a spawned process"
    # the job forked from the web worker holds none of the server's sockets (app.forked_job): with them,
    # a keep-alive connection the worker had closed stayed open, and the page's next poll hung on it
    job = _spawned_jobs(gunicorn_app)[0].parent()
    assert [c for c in job.net_connections("inet") if c.laddr and c.laddr.port == gunicorn_app.port] == []
    page.wait_for_selector("#analysis-running", state="visible", timeout=30_000)
    assert page.is_disabled("[data-testid=sample-105] button")
    # enabled by the job's first stage (as a user sees it); a click before then would be ignored
    page.wait_for_selector("#cancel-analysis:not([disabled])", timeout=FLAGS_TIMEOUT_MS)
    page.click("#cancel-analysis")
    page.wait_for_selector("#analysis-running", state="hidden", timeout=30_000)
    deadline = time.monotonic() + 20
    while _spawned_jobs(gunicorn_app) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _spawned_jobs(gunicorn_app) == []  # the job and its analysis process were stopped
    assert page.evaluate("location.pathname") == "/"
    assert page.query_selector("[data-testid=upload-ok]") is None
    assert page.is_enabled("[data-testid=sample-105] button")
    # the app still works: another analysis runs to the signal page
    page.click("[data-testid=sample-105] button")
    wait_for_signal_page(page, "105")
    assert anomaly_count(page) > 0


def test_sample_through_a_real_celery_worker(page, redis_server, tmp_path):
    """ECG_BROKER_URL set: the upload page's job runs on a Celery worker (CeleryManager over Redis)."""
    from tests.conftest import start_app
    from tests.server.test_celery_jobs import start_worker

    env = {"ECG_CACHE_URL": redis_server.url, "ECG_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/1"}
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env=env)
    worker = start_worker(tmp_path, env)
    try:
        page.goto(web.url + "/")
        page.wait_for_selector("[data-testid=sample-232] button")
        page.evaluate(WATCH_PROGRESS)
        page.click("[data-testid=sample-232] button")
        wait_for_signal_page(page, "232")
        assert anomaly_count(page) > 20  # record 232: 1,382 atrial premature beats, long pauses
        seen = page.evaluate("window.__seen")
        assert seen["shown"] and seen["disabled"], seen
        ran = [ln for ln in worker.log_tail(50_000).splitlines() if "background_callback" in ln and "succeeded" in ln]
        assert ran, worker.log_tail()  # the worker ran the callback's task
        assert _spawned_jobs(web) == []  # nothing ran beside the web workers
    finally:
        worker.stop()
        web.stop()
