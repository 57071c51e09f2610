"""Bounded loopback load run: mixed page and API requests against gunicorn, errors, latency, RSS.

    python -m benchmarks.load [--requests 300] [--clients 16] [--max-s 540]

Starts ``gunicorn app:server -w 2 --threads 4`` on 127.0.0.1 (server helpers of benchmarks.app)
with a filesystem cache in a temp dir; ``--clients`` threads send ``--requests`` requests in all,
request i of kind KINDS[i % len(KINDS)]: GET / /signal /latent /evaluation, POST
/api/v1/analyses of a bundled sample (app/samples), GET the summary and beats.csv of a returned
key. Stops issuing new requests after ``--max-s`` seconds. Server errors = 5xx answers and
connection errors (a summary/beats.csv request waits for a first key, untimed). RSS of each
worker before the run (model not loaded yet: it loads on the first analysis), right after it,
and 10 s later.
LAST line: ``TOTAL requests=<> server_errors=<> p95_s=<> rss_growth_mb=<>`` (growth = sum over
workers of RSS 10 s after the run minus right after it: is memory stable once the run ends).
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks._util import ROOT, child_env, format_table, load_average
from benchmarks.app import SAMPLES, free_port, post_analysis, record_files, stop, wait_for

KINDS = ["GET /", "GET /signal", "POST analysis", "GET /latent", "GET summary", "GET /evaluation",
         "GET beats.csv"]
SAMPLE_NAMES = ("100", "105", "213", "232", "233")


def worker_rss_mb(master_pid: int) -> dict[int, float]:
    import psutil

    out = {}
    for ch in psutil.Process(master_pid).children():
        try:
            out[ch.pid] = ch.memory_info().rss / 2**20
        except psutil.Error:
            pass
    return out


def one_request(url: str, kind: str, i: int, uploads: list, keys: list, lock: threading.Lock):
    """(kind, ok, server_error, seconds, status) of one request."""
    import requests

    t = time.perf_counter()
    try:
        if kind == "POST analysis":
            r = post_analysis(url, uploads[i % len(uploads)])
            if r.status_code == 200:
                with lock:
                    keys.append(r.json()["key"])
        elif kind in ("GET summary", "GET beats.csv"):
            key = None
            while key is None and time.perf_counter() - t < 300:  # wait for a first analysis
                with lock:
                    key = keys[i % len(keys)] if keys else None
                if key is None:
                    time.sleep(0.1)
            t = time.perf_counter()
            suffix = "/beats.csv" if kind == "GET beats.csv" else ""
            r = requests.get(f"{url}/api/v1/analyses/{key}{suffix}", timeout=120)
        else:
            r = requests.get(url + kind.split(" ", 1)[1], timeout=120)
        return kind, r.status_code == 200, r.status_code >= 500, time.perf_counter() - t, r.status_code
    except requests.RequestException as exc:
        return kind, False, True, time.perf_counter() - t, type(exc).__name__


def load_run(requests_n: int, clients: int, max_s: float, start_timeout: float = 180.0) -> dict:
    uploads = [record_files(SAMPLES / n) for n in SAMPLE_NAMES]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ecg-bench-load-") as cache_dir:
        env = {**child_env(), "ECG_CACHE_URL": f"filesystem://{cache_dir}", "ECG_CACHE_DIR": cache_dir}
        cmd = [sys.executable, "-m", "gunicorn", "app:server", "-w", "2", "--threads", "4", "--timeout", "300",
               "--bind", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            if not wait_for(url + "/", proc, start_timeout):
                return {"requests": 0, "server_errors": requests_n, "note": "gunicorn did not start"}
            rss_before = worker_rss_mb(proc.pid)
            keys: list[str] = []
            lock = threading.Lock()
            deadline = time.perf_counter() + max_s
            counter = iter(range(requests_n))

            def client(_c: int):
                out = []
                while time.perf_counter() < deadline:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        break
                    out.append(one_request(url, KINDS[i % len(KINDS)], i, uploads, keys, lock))
                return out

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                results = [r for rs in pool.map(client, range(clients)) for r in rs]
            run_s = time.perf_counter() - t0
            rss_after = worker_rss_mb(proc.pid)
            time.sleep(10)
            rss_later = worker_rss_mb(proc.pid)
            return {"requests": len(results), "results": results, "run_s": run_s,
                    "rss": (rss_before, rss_after, rss_later), "workers_restarted": set(rss_later) != set(rss_before)}
        finally:
            stop(proc, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-s", type=float, default=540.0, help="stop issuing requests after this many seconds")
    args = ap.parse_args(argv)
    print(f"# {load_average()} (start)", flush=True)
    res = load_run(args.requests, args.clients, args.max_s)
    if "results" not in res:
        print(f"# {res.get('note')}")
        print(f"TOTAL requests=0 server_errors={res['server_errors']} p95_s=nan rss_growth_mb=nan")
        return 1
    results = res["results"]
    rows = []
    for kind in KINDS:
        rs = [r for r in results if r[0] == kind]
        if rs:
            lat = [r[3] for r in rs]
            bad = sorted({str(r[4]) for r in rs if not r[1]})
            rows.append([kind, len(rs), sum(r[1] for r in rs), sum(r[2] for r in rs),
                         float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), " ".join(bad)])
    print(format_table(["kind", "n", "ok", "server_errors", "p50_s", "p95_s", "other statuses"], rows))
    before, after, later = res["rss"]
    rss_rows = [[pid, before.get(pid, float("nan")), after.get(pid, float("nan")), later.get(pid, float("nan"))]
                for pid in sorted(set(before) | set(after) | set(later))]
    print(format_table(["worker pid", "rss_before_mb", "rss_after_mb", "rss_after_10s_mb"], rss_rows))
    growth = sum(later.values()) - sum(after.values())
    print(f"# run {res['run_s']:.1f} s, {args.clients} clients; workers restarted: {res['workers_restarted']}; "
          f"RSS growth over the run (incl. model load) {sum(after.values()) - sum(before.values()):.0f} MB; "
          f"{load_average()} (end)")
    lat = [r[3] for r in results]
    print(f"TOTAL requests={len(results)} server_errors={sum(r[2] for r in results)} "
          f"p95_s={float(np.percentile(lat, 95)):.2f} rss_growth_mb={growth:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
