"""Issue 7: analyses queued on a real Celery worker over a real Redis, served by gunicorn workers."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
import requests

from tests.conftest import ROOT, VENV_BIN, ServerProcess, start_app
from tests.server.apiclient import csv_upload, post_analysis, wfdb_upload

pytestmark = [pytest.mark.server, pytest.mark.slow]


def start_worker(tmp, env) -> ServerProcess:
    """A real `celery -A app.worker:celery worker` process; ready when it answers a ping."""
    from app.jobs import workers_alive

    cmd = [str(VENV_BIN / "celery"), "-A", "app.worker:celery", "worker", "--pool", "threads",
           "--concurrency", "1", "--loglevel", "info", "--without-gossip", "--without-mingle"]
    w = ServerProcess(cmd=cmd, port=0, log_path=tmp / f"celery-{time.time_ns()}.log", env=env)
    w._log = open(w.log_path, "ab")
    w.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=w._log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert w.proc.poll() is None, w.log_tail()
        if workers_alive(env["ECG_BROKER_URL"]):
            return w
        time.sleep(0.5)
    w.stop()
    raise RuntimeError("celery worker not ready:\n" + w.log_tail())


def wait_job(base: str, job: str, timeout: float = 180.0) -> tuple[dict, list[str]]:
    states = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{base}/api/v1/jobs/{job}", timeout=30).json()
        states.append(body["state"])
        if body["state"] in ("SUCCESS", "FAILURE"):
            return body, states
        time.sleep(0.2)
    raise AssertionError(f"job {job} still {states[-1]} after {timeout} s")


def test_jobs_run_on_a_celery_worker_and_a_lost_worker_is_reported(redis_server, tmp_path):
    env = {"ECG_CACHE_URL": redis_server.url, "ECG_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/1"}
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env=env)
    worker = start_worker(tmp_path, env)
    try:
        r = requests.post(f"{web.url}/api/v1/jobs", files=wfdb_upload("105"), timeout=60)
        assert r.status_code == 202, r.text
        body, states = wait_job(web.url, r.json()["job"])
        assert body["state"] == "SUCCESS", body
        key = body["key"]
        # computed by the Celery worker, served by the web workers from the shared cache
        g = requests.get(f"{web.url}/api/v1/analyses/{key}", timeout=30)
        assert g.status_code == 200 and g.json()["summary"]["n_beats"] > 1500
        assert post_analysis(web.url, wfdb_upload("105")).json()["cached"] is True
        # already analyzed: the job endpoint answers at once
        again = requests.post(f"{web.url}/api/v1/jobs", files=wfdb_upload("105"), timeout=60)
        assert again.status_code == 200 and again.json()["key"] == key
        # bad input is refused before anything is queued
        bad = requests.post(f"{web.url}/api/v1/jobs", files=wfdb_upload("105", exts=(".hea",)), timeout=60)
        assert bad.status_code == 400 and "105" in bad.json()["error"]

        # the worker goes away: a new job is reported as failed-with-retry, not left hanging
        worker.stop()
        files, data = csv_upload("213", seconds=60, gain=1.0 + (time.time_ns() % 10007) / 1e6)
        r2 = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert r2.status_code == 202
        body2, _ = wait_job(web.url, r2.json()["job"], timeout=60)
        assert body2["state"] == "FAILURE" and body2["retry"] is True and "worker" in body2["error"]
        # a worker comes back: the queued job runs
        worker = start_worker(tmp_path, env)
        body3, _ = wait_job(web.url, r2.json()["job"])
        assert body3["state"] == "SUCCESS" and requests.get(
            f"{web.url}/api/v1/analyses/{body3['key']}", timeout=30).status_code == 200
    finally:
        worker.stop()
        web.stop()


def test_jobs_without_a_broker_answer_501(python_app):
    r = requests.post(f"{python_app.url}/api/v1/jobs", files=wfdb_upload("100"), timeout=60)
    assert r.status_code == 501 and "ECG_BROKER_URL" in r.json()["error"]
