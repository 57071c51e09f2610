"""Shared Redis cache across gunicorn workers, Redis killed mid-run, a worker killed mid-analysis."""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from tests.conftest import start_app
from tests.server.apiclient import PAGES, csv_upload, post_analysis, wfdb_upload

pytestmark = [pytest.mark.server, pytest.mark.slow]


def unique_csv(record: str, seconds: float = 60):
    """A CSV this server has never seen (a tiny unique gain), so it must be computed."""
    return csv_upload(record, seconds=seconds, gain=1.0 + (time.time_ns() % 100_003) / 1e7)


def test_redis_cache_shared_by_two_workers_and_redis_loss_is_survived(redis_server, tmp_path):
    srv = start_app("gunicorn", tmp_path, workers=2, threads=1,
                    env={"ECG_CACHE_URL": redis_server.url, "ECG_WORKER_HEADER": "1"})
    try:
        health = requests.get(srv.url + "/api/v1/health", timeout=30)
        assert health.status_code == 200 and health.json()["cache"] == "redis"
        assert health.json()["status"] == "ok" and health.json()["cache_ok"] is True
        files, data = unique_csv("100")
        # Four identical uploads at once on two single-threaded workers: while one worker
        # computes, the other must take a request; it finds the shared lock, waits for the
        # result in Redis and answers from the cache.
        with ThreadPoolExecutor(4) as ex:
            responses = list(ex.map(lambda _: post_analysis(srv.url, files, data), range(4)))
        assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
        assert len({r.json()["key"] for r in responses}) == 1
        computed = [r for r in responses if not r.json()["cached"]]
        hits = [r for r in responses if r.json()["cached"]]
        assert len(computed) == 1 and len(hits) == 3  # analyze() ran once for four requests
        computed_pid = computed[0].headers["X-ECG-Worker"]
        assert any(r.headers["X-ECG-Worker"] != computed_pid for r in hits), "no hit from the other worker"
        key = computed[0].json()["key"]
        client = redis.Redis(host="127.0.0.1", port=redis_server.port)
        assert client.exists(f"ecg:{key}") == 1
        assert not any(k.decode().startswith(f"ecg:{key}:") for k in client.keys("ecg:*"))  # lock released

        # Redis goes away mid-run: the app logs it, recomputes and keeps serving.
        redis_server.stop()
        files2, data2 = unique_csv("105")
        r = post_analysis(srv.url, files2, data2)
        assert r.status_code == 200, r.text
        assert r.json()["cached"] is False and r.json()["summary"]["n_beats"] > 50
        assert post_analysis(srv.url, wfdb_upload("232")).status_code == 200
        for path in PAGES + ["/api/v1/health"]:
            assert requests.get(srv.url + path, timeout=30).status_code == 200, path
        assert "cache backend" in srv.log_tail(20000)  # the failure was logged
        # health says so: still 200 (this host serves analyses it computes), but degraded
        health = requests.get(srv.url + "/api/v1/health", timeout=30)
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and health.json()["cache_ok"] is False
        assert "redis unreachable" in health.json()["cache_error"]
    finally:
        srv.stop()


def test_after_eviction_from_redis_every_worker_answers_404(redis_server, tmp_path):
    srv = start_app("gunicorn", tmp_path, workers=2, threads=1,
                    env={"ECG_CACHE_URL": redis_server.url, "ECG_WORKER_HEADER": "1"})
    try:
        files, data = unique_csv("233")
        r = post_analysis(srv.url, files, data)
        assert r.status_code == 200 and r.json()["cached"] is False
        key, holder = r.json()["key"], r.headers["X-ECG-Worker"]  # this worker keeps it in memory too
        client = redis.Redis(host="127.0.0.1", port=redis_server.port)
        # Redis evicts the (large) entry; its small summary key may outlive it
        assert client.delete(f"ecg:{key}") == 1 and client.exists(f"ecg:summary:{key}") == 1
        seen = {}
        for _ in range(200):  # until both workers, the holder included, have answered
            for suffix in ("", "/beats.csv"):
                g = requests.get(f"{srv.url}/api/v1/analyses/{key}{suffix}", timeout=30)
                seen.setdefault(g.headers["X-ECG-Worker"], set()).add(g.status_code)
            if holder in seen and len(seen) == 2:
                break
        assert holder in seen and len(seen) == 2, seen
        assert all(codes == {404} for codes in seen.values()), seen
        # sent again: computed again, and served by every worker
        again = post_analysis(srv.url, files, data)
        assert again.status_code == 200 and again.json()["key"] == key and again.json()["cached"] is False
        assert client.exists(f"ecg:{key}") == 1
    finally:
        srv.stop()


def test_killed_worker_does_not_take_the_service_down(tmp_path):
    # no cache configuration at all: under gunicorn the workers share a filesystem cache
    srv = start_app("gunicorn", tmp_path, workers=2, threads=2)
    try:
        assert requests.get(srv.url + "/api/v1/health", timeout=30).json()["cache"] == "filesystem"
        assert post_analysis(srv.url, wfdb_upload("100")).status_code == 200  # warm one worker
        workers = srv.worker_pids()
        assert len(workers) == 2
        files, data = unique_csv("213", seconds=120)
        with ThreadPoolExecutor(1) as ex:
            inflight = ex.submit(post_analysis, srv.url, files, data)
            time.sleep(0.3)
            os.kill(workers[0], signal.SIGKILL)
            # other requests keep succeeding while gunicorn replaces the worker
            for _ in range(3):
                assert requests.get(srv.url + "/", timeout=60).status_code == 200
                r = post_analysis(srv.url, wfdb_upload("100"))
                assert r.status_code == 200 and r.json()["summary"]["n_beats"] > 1500
            try:
                inflight.result(timeout=180)
            except requests.RequestException:
                pass  # the killed worker's own request may be lost; nothing else is
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(srv.worker_pids()) < 2:
            time.sleep(0.5)
        assert len(srv.worker_pids()) == 2 and workers[0] not in srv.worker_pids()
        r = post_analysis(srv.url, files, data)  # the interrupted upload works when retried
        assert r.status_code == 200, (r.text, srv.log_tail(6000))
        assert list((tmp_path / "tmp").glob("ecg-explorer-cache-*/entries"))  # the default shared dir
    finally:
        srv.stop()


def test_missing_model_bundle_is_a_clear_503_and_pages_still_serve(tmp_path):
    missing = tmp_path / "no-such-model"
    srv = start_app("python", tmp_path, env={"ECG_MODEL_DIR": str(missing)})
    try:
        files, data = unique_csv("100", seconds=30)
        r = post_analysis(srv.url, files, data)
        assert r.status_code == 503 and "model is unavailable" in r.json()["error"]
        assert "Traceback" not in r.text and str(tmp_path) not in r.text  # no server paths to clients
        assert str(missing) in srv.log_tail(20000)  # the operator's log names the path
        for path in PAGES:
            assert requests.get(srv.url + path, timeout=30).status_code == 200, path
        assert srv.proc.poll() is None
    finally:
        srv.stop()
