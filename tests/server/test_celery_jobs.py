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


def wait_job(base: str, job: str, timeout: float = 180.0, until=None) -> tuple[dict, list[str]]:
    """Poll a job until it ends (or ``until(body)``); returns (last body, states seen)."""
    until = until or (lambda body: body["state"] in ("SUCCESS", "FAILURE"))
    states = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(f"{base}/api/v1/jobs/{job}", timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        states.append(body["state"])
        if until(body):
            return body, states
        time.sleep(0.2)
    raise AssertionError(f"job {job} still {states[-1]} after {timeout} s")


def no_worker(body: dict) -> bool:
    return body.get("no_worker") is True


def broker_env(redis_server) -> dict:
    """A shared Redis cache and broker; worker presence keys live 3 s (a killed worker is gone soon)."""
    return {"ECG_CACHE_URL": redis_server.url, "ECG_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/1",
            "ECG_WORKER_PRESENCE_TTL_S": "3"}


def test_jobs_run_on_a_celery_worker_and_a_missing_worker_is_reported(redis_server, tmp_path):
    import redis

    from app.jobs import RESULT_EXPIRES_S

    env = broker_env(redis_server)
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env=env)
    worker = start_worker(tmp_path, env)
    try:
        r = requests.post(f"{web.url}/api/v1/jobs", files=wfdb_upload("105"), timeout=60)
        assert r.status_code == 202, r.text
        body, states = wait_job(web.url, r.json()["job"])
        assert body["state"] == "SUCCESS", body
        key = body["key"]
        # the id is recorded where the jobs live, for at least as long as Celery keeps the result
        broker = redis.Redis(host="127.0.0.1", port=redis_server.port, db=1)
        job_ttl = broker.ttl(f"ecg:job:{r.json()['job']}")
        assert job_ttl >= RESULT_EXPIRES_S and job_ttl >= broker.ttl(f"celery-task-meta-{r.json()['job']}") > 0
        # ids never submitted here, or not ids at all: 404, not an endless PENDING
        for unknown in ["00000000-0000-0000-0000-000000000000", "-", "abc", r.json()["job"].upper(),
                        "5f0c6a4e-1d2b-4c3d-8e9f-0a1b2c3d4e5f"]:
            u = requests.get(f"{web.url}/api/v1/jobs/{unknown}", timeout=30)
            assert u.status_code == 404 and u.headers["Content-Type"].startswith("application/json"), unknown
            assert "unknown job" in u.json()["error"]
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
        # input only the worker can judge (the record has 2 leads): a final failure, no retry
        no_lead = requests.post(f"{web.url}/api/v1/jobs", files=wfdb_upload("100"), data={"lead": "5"}, timeout=60)
        assert no_lead.status_code == 202, no_lead.text
        body_nl, states_nl = wait_job(web.url, no_lead.json()["job"])
        assert body_nl["state"] == "FAILURE" and body_nl["retry"] is False and "no lead 5" in body_nl["error"]
        assert "Traceback" not in worker.log_tail(50000)

        # the worker goes away: a new job stays PENDING and says no worker is running (not a
        # FAILURE that later turns into a SUCCESS)
        worker.stop()
        files, data = csv_upload("213", seconds=60, gain=1.0 + (time.time_ns() % 10007) / 1e6)
        r2 = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert r2.status_code == 202
        body2, states2 = wait_job(web.url, r2.json()["job"], timeout=60, until=no_worker)
        assert body2["state"] == "PENDING" and set(states2) == {"PENDING"}
        assert "no analysis worker is running" in body2["warning"] and "stays queued" in body2["warning"]
        assert "error" not in body2 and "retry" not in body2
        # a worker comes back: the queued job runs
        worker = start_worker(tmp_path, env)
        body3, states3 = wait_job(web.url, r2.json()["job"])
        assert body3["state"] == "SUCCESS" and "FAILURE" not in states3 and "no_worker" not in body3
        assert requests.get(f"{web.url}/api/v1/analyses/{body3['key']}", timeout=30).status_code == 200
    finally:
        worker.stop()
        web.stop()


def test_jobs_without_a_broker_answer_501(python_app):
    r = requests.post(f"{python_app.url}/api/v1/jobs", files=wfdb_upload("100"), timeout=60)
    assert r.status_code == 501 and "ECG_BROKER_URL" in r.json()["error"]


def test_with_a_broker_the_web_side_shares_its_cache_or_refuses_jobs(tmp_path):
    broker = "redis://127.0.0.1:9/1"  # never reached here
    # no cache setting: even `python -m app` uses the shared default (the workers must read it)
    web = start_app("python", tmp_path / "a", env={"ECG_BROKER_URL": broker})
    try:
        assert requests.get(f"{web.url}/api/v1/health", timeout=30).json()["cache"] == "filesystem"
    finally:
        web.stop()
    # an in-process cache asked for explicitly: jobs are refused (a worker could not read the upload)
    web = start_app("python", tmp_path / "b", env={"ECG_BROKER_URL": broker, "ECG_CACHE_URL": "simple"})
    try:
        r = requests.post(f"{web.url}/api/v1/jobs", files=wfdb_upload("100"), timeout=60)
        assert r.status_code == 501 and "ECG_CACHE_URL" in r.json()["error"], r.text
    finally:
        web.stop()


def test_a_result_too_large_for_the_cache_fails_the_job_without_a_retry(redis_server, tmp_path):
    # entries over 0.05 MB are refused: what an over-large entry looks like
    env = {**broker_env(redis_server), "ECG_CACHE_MAX_ENTRY_MB": "0.05"}
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env=env)
    worker = start_worker(tmp_path, env)
    try:
        # computed in the web worker: still answered from the process that computed it
        files, data = csv_upload("100", seconds=60, gain=1.0 + (time.time_ns() % 10007) / 1e6)
        r = post_analysis(web.url, files, data)
        assert r.status_code == 200 and r.json()["summary"]["n_beats"] > 50
        assert "cache entry not stored (redis)" in web.log_tail(50000)
        assert "exceeds the limit" in web.log_tail(50000)
        # computed on a Celery worker: the user is told (never SUCCESS then 404), and that sending
        # it again cannot help (the same entry is as large again)
        files, data = csv_upload("105", seconds=60, gain=1.0 + (time.time_ns() % 10009) / 1e6)
        job = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert job.status_code == 202
        body, states = wait_job(web.url, job.json()["job"])
        assert "SUCCESS" not in states
        assert body["state"] == "FAILURE" and body["retry"] is False
        assert "could not be saved in the shared cache" in body["error"] and "MB" in body["error"]
        log = worker.log_tail(50000)
        assert "cache entry not stored (redis)" in log and "exceeds the limit" in log
        # the worker logs it on a line or two, not a traceback
        assert "Traceback" not in log and "raised unexpected" not in log
    finally:
        worker.stop()
        web.stop()


def test_a_busy_worker_stays_alive_and_a_killed_one_fails_its_job_with_a_retry(redis_server, tmp_path):
    from tests.server.test_long_analysis_redis import long_upload

    env = broker_env(redis_server)
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
        # the worker is killed mid-job (no warm shutdown): the running job fails with a retry, the
        # queued one stays PENDING and says no worker is running
        worker.proc.send_signal(9)
        lost, _ = wait_job(web.url, ids[0], timeout=90)
        assert lost["state"] == "FAILURE" and lost["retry"] is True and "worker" in lost["error"], lost
        queued, states = wait_job(web.url, ids[1], timeout=90, until=no_worker)
        assert queued["state"] == "PENDING" and set(states) == {"PENDING"}, queued
        # a new worker runs the queued job; the failure of the lost one is final
        worker = start_worker(tmp_path, env)
        done, states = wait_job(web.url, ids[1])
        assert done["state"] == "SUCCESS" and "FAILURE" not in states, done
        again = requests.get(f"{web.url}/api/v1/jobs/{ids[0]}", timeout=30).json()
        assert again == lost  # the recorded answer, word for word
    finally:
        worker.stop()
        web.stop()


def test_a_worker_without_cache_settings_uses_the_web_workers_default_cache(redis_server, tmp_path):
    # only a broker: gunicorn's workers and the Celery worker both fall back to the filesystem
    # cache in the per-user temp dir (same host, same TMPDIR), so jobs find their uploads
    broker = f"redis://127.0.0.1:{redis_server.port}/1"
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env={"ECG_BROKER_URL": broker})
    worker = start_worker(tmp_path, {"ECG_BROKER_URL": broker, "ECG_CACHE_URL": "", "ECG_CACHE_DIR": "",
                                     "TMPDIR": str(tmp_path / "tmp")})
    try:
        assert requests.get(f"{web.url}/api/v1/health", timeout=30).json()["cache"] == "filesystem"
        files, data = csv_upload("233", seconds=60, gain=1.0 + (time.time_ns() % 10007) / 1e6)
        r = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert r.status_code == 202, r.text
        body, _ = wait_job(web.url, r.json()["job"])
        assert body["state"] == "SUCCESS", (body, worker.log_tail())
        assert requests.get(f"{web.url}/api/v1/analyses/{body['key']}", timeout=30).status_code == 200
        log = worker.log_tail(50000)
        assert f"analysis cache: filesystem at {tmp_path / 'tmp'}/ecg-explorer-cache-" in log
        assert "set ECG_CACHE_URL=redis://" in log  # what to do across hosts
    finally:
        worker.stop()
        web.stop()
