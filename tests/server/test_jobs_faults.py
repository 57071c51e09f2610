"""Faults of the background-job path on real processes: the broker's redis-server stopped, a
filesystem cache whose directory is gone, and a lost job that Redis hands out again."""
from __future__ import annotations

import json
import time

import pytest
import redis
import requests

from tests.conftest import start_app, start_redis
from tests.server.apiclient import PAGES, csv_upload, post_analysis
from tests.server.test_celery_jobs import broker_env, start_worker, wait_job

pytestmark = [pytest.mark.server, pytest.mark.slow]


def unique_csv(record: str, seconds: float = 60):
    """A CSV this server has never seen (a tiny unique gain), so it must be computed."""
    return csv_upload(record, seconds=seconds, gain=1.0 + (time.time_ns() % 100_003) / 1e7)


def health(base: str) -> dict:
    r = requests.get(base + "/api/v1/health", timeout=30)
    assert r.status_code == 200, r.text  # degraded or not, health answers 200
    return r.json()


def test_with_the_broker_down_job_status_is_a_json_503_health_is_degraded_and_pages_serve(tmp_path):
    redis_server = start_redis(tmp_path / "redis")
    # only a broker: the analysis cache is the default filesystem one, so only the jobs need Redis
    broker = f"redis://127.0.0.1:{redis_server.port}/1"
    web = start_app("gunicorn", tmp_path, workers=2, threads=2, env={"ECG_BROKER_URL": broker})
    again = None
    try:
        h = health(web.url)
        assert h["status"] == "ok" and h["cache"] == "filesystem" and h["cache_ok"] is True
        assert h["broker_ok"] is True and "broker_error" not in h
        files, data = unique_csv("100")
        r = requests.post(f"{web.url}/api/v1/jobs", files=files, data=data, timeout=60)
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        body = requests.get(f"{web.url}/api/v1/jobs/{job}", timeout=30).json()
        assert body["state"] == "PENDING" and body["no_worker"] is True  # no Celery worker here

        redis_server.stop()
        for _ in range(4):  # both gunicorn workers
            s = requests.get(f"{web.url}/api/v1/jobs/{job}", timeout=30)
            assert s.status_code == 503 and s.headers["Content-Type"].startswith("application/json"), s.text
            assert s.json() == {"error": "the job queue is unavailable; try again", "status": 503}
        q = requests.post(f"{web.url}/api/v1/jobs", files=unique_csv("105")[0], data=data, timeout=60)
        assert q.status_code == 503 and "job queue is unavailable" in q.json()["error"]
        h = health(web.url)
        assert h["status"] == "degraded" and h["broker_ok"] is False
        assert h["broker_error"].startswith("redis unreachable: ConnectionError")
        assert h["cache_ok"] is True and "cache_error" not in h  # the analyses' cache is fine
        # everything but the jobs keeps working
        for path in PAGES:
            assert requests.get(web.url + path, timeout=30).status_code == 200, path
        a = post_analysis(web.url, *unique_csv("213"))
        assert a.status_code == 200 and a.json()["summary"]["n_beats"] > 50
        assert requests.get(f"{web.url}/api/v1/analyses/{a.json()['key']}", timeout=30).status_code == 200
        log = web.log_tail(50000)
        assert "job status unavailable: ConnectionError" in log and "could not queue a job" in log
        assert "Traceback" not in log

        # Redis comes back (empty: no persistence): health is ok again; the job's record went with it
        again = start_redis(tmp_path / "redis2", redis_server.port)
        h = health(web.url)
        assert h["status"] == "ok" and h["broker_ok"] is True
        assert requests.get(f"{web.url}/api/v1/jobs/{job}", timeout=30).status_code == 404
    finally:
        web.stop()
        redis_server.stop()
        if again is not None:
            again.stop()


def test_a_filesystem_cache_whose_directory_is_gone_is_degraded_and_pages_serve(tmp_path):
    # (The "not writable" branch of cache.ping cannot be reached here: the tests run as root, and
    # os.access grants root write access to any directory.)
    cache_dir = tmp_path / "cache"
    web = start_app("python", tmp_path, env={"ECG_CACHE_DIR": str(cache_dir)})
    entries = cache_dir / "entries"
    try:
        h = health(web.url)
        assert h == {"status": "ok", "cache": "filesystem", "cache_ok": True, "model_id": h["model_id"]}
        assert entries.is_dir()
        entries.rename(cache_dir / "entries.away")  # e.g. a tmp cleaner removed it
        h = health(web.url)
        assert h["status"] == "degraded" and h["cache_ok"] is False
        assert h["cache_error"] == "cache directory missing" and "broker_ok" not in h
        for path in PAGES:
            assert requests.get(web.url + path, timeout=30).status_code == 200, path
        (cache_dir / "entries.away").rename(entries)
        assert health(web.url)["status"] == "ok"
    finally:
        web.stop()


def test_a_lost_job_handed_out_again_after_the_visibility_timeout_is_not_run_again(redis_server, tmp_path):
    from tests.server.test_long_analysis_redis import long_upload

    env = broker_env(redis_server)  # Redis cache (db 0) and broker (db 1)
    web = start_app("gunicorn", tmp_path, workers=1, threads=2, env={**env, "ECG_JOB_STALE_S": "4"})
    # the first worker keeps the default visibility timeout (1 h): it will not hand the job out itself
    worker = start_worker(tmp_path, {**env, "ECG_JOB_HEARTBEAT_S": "1"})
    second = None
    broker = redis.Redis(host="127.0.0.1", port=redis_server.port, db=1)
    (tmp_path / "rec").mkdir()
    try:
        r = requests.post(f"{web.url}/api/v1/jobs", files=long_upload(tmp_path / "rec", 1.0), timeout=120)
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        running, _ = wait_job(web.url, job, timeout=120,
                              until=lambda b: b["state"] == "PROGRESS" and b.get("stage") not in (None, "starting"))
        worker.proc.send_signal(9)  # killed mid-job: the job is never acknowledged
        killed_at = time.time()
        lost, _ = wait_job(web.url, job, timeout=60)
        assert lost["state"] == "FAILURE" and lost["retry"] is True and "worker" in lost["error"], lost
        # the broker still holds the job as taken and unacknowledged: it would be handed out again
        assert broker.hlen("unacked") == 1 and broker.llen("celery") == 0
        assert broker.exists(f"ecg:job-failed:{job}") == 1

        # a new worker whose visibility timeout (1 s) has passed for that job: Redis hands it out again
        second = start_worker(tmp_path, {**env, "ECG_BROKER_VISIBILITY_TIMEOUT_S": "1"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "not run again" not in second.log_tail(50000):
            time.sleep(0.5)
        log = second.log_tail(50000)
        assert f"Task ecg.analyze[{job}] received" in log, log  # the redelivery happened
        assert f"job {job} was reported failed (its worker was lost); not run again" in log
        # not run: the job's progress was last written by the killed worker (a run writes a stage at once)
        meta = json.loads(broker.get(f"celery-task-meta-{job}"))
        assert meta["status"] == "PROGRESS" and meta["result"]["heartbeat"] <= killed_at
        # acknowledged, not re-queued: it will not come back
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and broker.hlen("unacked"):
            time.sleep(0.2)
        assert broker.hlen("unacked") == 0 and broker.llen("celery") == 0
        # the answer is still the recorded failure, word for word (never turned into a SUCCESS)
        assert requests.get(f"{web.url}/api/v1/jobs/{job}", timeout=30).json() == lost
        assert "Traceback" not in log
    finally:
        worker.stop()
        if second is not None:
            second.stop()
        web.stop()
