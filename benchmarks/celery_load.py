"""Issue-7 target: concurrent long analyses on Celery workers while the web workers stay responsive.

    python -m benchmarks.celery_load [--data-dir DIR] [--hours 24] [--jobs 4] [--celery-workers 2]

Starts, on loopback, a real redis-server (cache and broker), `gunicorn app:server` (2 workers) and
Celery workers (`celery -A app.worker:celery worker --pool threads --concurrency 1`, each keeping
its model loaded). Builds one ``--hours`` record by concatenating MIT-BIH records (the builder of
benchmarks.holter) and uploads ``--jobs`` copies of it under different names (distinct cache keys,
so every job really runs) through POST /api/v1/jobs, all at once. While they run, GET / is timed
once a second and every job's GET /api/v1/jobs/<id> is polled once a second (its stages are kept).
entry_mb: the size of the stored analysis in Redis (STRLEN of its key); summary_ms: that result GET
(computed on a Celery worker, so a cache hit across processes); csv_s: the slower of two
GET .../beats.csv (the whole entry read from Redis and decoded by a web worker, then the CSV).
Everything started is stopped at the end. Prints a table per job (result_get: the status of
GET /api/v1/analyses/<key> afterwards; a job counts as ok with SUCCESS and 200), then the LAST line:

    TOTAL jobs_ok=<n>/<jobs> all_done_s=<s> page_max_s=<s> page_median_s=<s> pages_over_1s=<n>
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from benchmarks._util import format_table, load_average
from benchmarks.holter import long_record_data_dir, write_long_record

HEADER = ["job", "upload_s", "stages_seen", "state", "done_s", "result_get", "n_beats", "entry_mb", "summary_ms",
          "csv_s", "no_worker_polls"]


def copies(record: Path, n: int) -> list[Path]:
    """``n`` copies of a WFDB record under different names (same signal, distinct cache keys)."""
    out = [record]
    hea = record.with_suffix(".hea").read_text()
    for k in range(1, n):
        name = f"{record.name}_{k}"
        (record.parent / f"{name}.hea").write_text(hea.replace(record.name, name))
        (record.parent / f"{name}.dat").symlink_to(record.with_suffix(".dat"))
        out.append(record.parent / name)
    return out


def start_stack(tmp: Path, n_workers: int):
    """redis-server, gunicorn (2 workers) and ``n_workers`` Celery workers on loopback."""
    from tests.conftest import start_app, start_redis
    from tests.server.test_celery_jobs import start_worker

    redis = start_redis(tmp / "redis")
    env = {"ECG_CACHE_URL": redis.url, "ECG_BROKER_URL": f"redis://127.0.0.1:{redis.port}/1",
           "ECG_QUEUE_TIMEOUT_S": "3600", "ECG_LOCK_WAIT_S": "3600"}
    started = [redis]
    try:
        web = start_app("gunicorn", tmp, env=env, workers=2, threads=4)
        started.append(web)
        for _ in range(n_workers):
            started.append(start_worker(tmp, env))
    except BaseException:
        for p in reversed(started):
            p.stop()
        raise
    return web, started


def time_pages(url: str, stop: threading.Event, out: list[float]) -> None:
    """GET / once a second until ``stop``; seconds per page (a failure counts as 60 s)."""
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            r = requests.get(url + "/", timeout=60)
            out.append(time.perf_counter() - t0 if r.status_code == 200 else 60.0)
        except requests.RequestException:
            out.append(60.0)
        stop.wait(max(0.0, 1.0 - (time.perf_counter() - t0)))


def entry_mb(redis_url: str, key: str) -> float:
    """Size of a stored analysis in Redis (MB), NaN when absent."""
    import redis

    n = redis.Redis.from_url(redis_url).strlen("ecg:" + key)
    return n / 1e6 if n else float("nan")


def run_job(base: str, record: Path, t_start: float, timeout: float, redis_url: str) -> list:
    """Upload ``record`` to POST /api/v1/jobs, poll it once a second; a table row."""
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream"))
             for p in (record.with_suffix(".hea"), record.with_suffix(".dat"))]
    t0 = time.perf_counter()
    r = requests.post(base + "/api/v1/jobs", files=files, timeout=600)
    upload_s = time.perf_counter() - t0
    if r.status_code not in (200, 202):
        print(f"# {record.name}: HTTP {r.status_code} {r.text[:200]}", file=sys.stderr)
        return [record.name, upload_s, "", f"HTTP {r.status_code}", float("nan"), "-", 0, float("nan"),
                float("nan"), float("nan"), 0]
    body = r.json()
    stages: list[str] = []
    no_worker_polls = 0  # answers "queued, no analysis worker is running" (app.jobs) before the end
    deadline = time.monotonic() + timeout
    while not (body.get("state") == "SUCCESS" and body.get("key")):
        if time.monotonic() > deadline or body.get("state") == "FAILURE":  # FAILURE is final
            break
        no_worker_polls += bool(body.get("no_worker"))
        time.sleep(1.0)
        body = requests.get(f"{base}/api/v1/jobs/{r.json()['job']}", timeout=60).json()
        if body.get("stage") and body["stage"] not in stages:
            stages.append(body["stage"])
    done_s = time.perf_counter() - t_start
    n_beats, result_get, size, summary_ms, csv_s = 0, "-", float("nan"), float("nan"), float("nan")
    if body.get("key"):
        size = entry_mb(redis_url, body["key"])
        t1 = time.perf_counter()
        g = requests.get(f"{base}/api/v1/analyses/{body['key']}", timeout=120)
        summary_ms = (time.perf_counter() - t1) * 1000.0
        for _ in range(2):  # the whole entry from Redis (as a page or export needs it), twice
            t1 = time.perf_counter()
            c = requests.get(f"{base}/api/v1/analyses/{body['key']}/beats.csv", timeout=300)
            csv_s = max(0.0 if csv_s != csv_s else csv_s, time.perf_counter() - t1)
            if c.status_code != 200:
                csv_s = float("nan")
        result_get = g.status_code
        if g.status_code == 200:
            n_beats = g.json()["summary"]["n_beats"]
        else:
            print(f"# {record.name}: GET analysis -> {g.status_code} {g.text[:200]}", file=sys.stderr)
    if body.get("state") == "FAILURE":
        print(f"# {record.name}: FAILURE {str(body.get('error'))[:300]}", file=sys.stderr)
    return [record.name, upload_s, "; ".join(stages) or "-", body.get("state"), done_s, result_get, n_beats,
            size, summary_ms, csv_s, no_worker_polls]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.celery_load", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--celery-workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per job before giving up")
    args = ap.parse_args(argv)
    data_dir = long_record_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    print(f"# {load_average()} (start)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="ecg-celery-load-"))
    started = []
    try:
        rec, n = write_long_record(data_dir, tmp, args.hours)
        records = copies(rec, args.jobs)
        web, started = start_stack(tmp, args.celery_workers)
        pages: list[float] = []
        stop = threading.Event()
        timer = threading.Thread(target=time_pages, args=(web.url, stop, pages), daemon=True)
        timer.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(lambda r: run_job(web.url, r, t0, args.timeout, started[0].url), records))
        all_done = time.perf_counter() - t0
        stop.set()
        timer.join(timeout=70)
    finally:
        for p in reversed(started):
            p.stop()
        logs = "".join(f.read_text(errors="replace") for f in tmp.glob("*.log"))
        failed = [ln for ln in logs.splitlines() if "set failed" in ln or "not stored" in ln]
        print(f"# cache writes that failed (server logs): {len(failed)}"
              + "".join([f"\n#   {ln.strip()[:300]}" for ln in failed][:4]))
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {args.jobs} jobs of {args.hours:g} h ({n} samples, 2 leads) on {args.celery_workers} Celery "
          f"workers; GET / timed {len(pages)} times")
    print(format_table(HEADER, rows))
    print(f"# {load_average()} (end)")
    ok = sum(1 for r in rows if r[3] == "SUCCESS" and r[5] == 200)
    over = sum(1 for s in pages if s > 1.0)
    print(f"TOTAL jobs_ok={ok}/{args.jobs} all_done_s={all_done:.1f} page_max_s={max(pages, default=float('nan')):.3f} "
          f"page_median_s={statistics.median(pages) if pages else float('nan'):.3f} pages_over_1s={over}")
    return 0 if ok == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
