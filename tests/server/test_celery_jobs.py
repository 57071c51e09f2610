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


def test_a_result_that_cannot_be_stored_fails_the_job_with_a_retry(redis_server, tmp_path):
    # entries over 0.05 MB are refused: what an over-large entry or a failing Redis write looks like
    env = {"ECG_CACHE_URL": redis_server.url, "ECG_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/1",
           "ECG_CACHE_MAX_ENTRY_MB": "0.05"}
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env=env)
    worker = start_worker(tmp_path, env)
    try:
        # computed in the web worker: still answered from the process that computed it
        files, data = csv_upload("100", seconds=60, gain=1.0 + (time.time_ns() % 10007) / 1e6)
        r = post_analysis(web.url, files, data)
        assert r.status_code == 200 and r.json()["summary"]["n_beats"] > 50
        assert "cache entry not stored (redis)" in web.log_tail(50000)
        assert "exceeds the limit" in web.log_tail(50000)
        # computed on a Celery worker: the user is told, with a retry (never SUCCESS then 404)
        files, data = csv_upload("105", seconds=60, gain=1.0 + (time.time_ns() % 10009) / 1e6)
        job = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert job.status_code == 202
        body, states = wait_job(web.url, job.json()["job"])
        assert "SUCCESS" not in states
        assert body["state"] == "FAILURE" and body["retry"] is True
        assert "could not be saved in the shared cache" in body["error"] and "MB" in body["error"]
        assert "cache entry not stored (redis)" in worker.log_tail(50000)
    finally:
        worker.stop()
        web.stop()


def test_a_busy_worker_stays_alive_and_a_killed_one_fails_its_job_with_a_retry(redis_server, tmp_path):
    from tests.server.test_long_analysis_redis import long_upload

    env = {"ECG_CACHE_URL": redis_server.url, "ECG_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/1"}
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env={**env, "ECG_JOB_STALE_S": "10"})
    worker = start_worker(tmp_path, env)
    (tmp_path / "rec").mkdir()
    try:
        first = requests.post(f"{web.url}/api/v1/jobs", files=long_upload(tmp_path / "rec", 1.0), timeout=120)
        files, data = csv_upload("213", seconds=60, gain=1.0 + (time.time_ns() % 10007) / 1e6)
        second = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert first.status_code == 202 and second.status_code == 202
        ids = [first.json()["job"], second.json()["job"]]
        # while the one worker is busy with the long job, the queued one waits: neither "fails"
        seen = {i: [] for i in ids}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "scoring" not in seen[ids[0]]:
            for i in ids:
                body = requests.get(f"{web.url}/api/v1/jobs/{i}", timeout=30).json()
                seen[i].append(body.get("stage") or body["state"])
                assert body["state"] not in ("FAILURE", "SUCCESS"), body
            time.sleep(0.3)
        assert "scoring" in seen[ids[0]] and set(seen[ids[1]]) == {"PENDING"}
        # the worker is killed mid-job (no warm shutdown): both jobs end as failures with a retry
        worker.proc.send_signal(9)
        for i in ids:
            body, _ = wait_job(web.url, i, timeout=90)
            assert body["state"] == "FAILURE" and body["retry"] is True and "worker" in body["error"], body
    finally:
        worker.stop()
        web.stop()
