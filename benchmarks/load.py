"""Bounded loopback load run: mixed page and API requests against gunicorn, errors, latency, RSS.

    python -m benchmarks.load [--requests 70] [--clients 16] [--rounds 40] [--max-s 540]

Starts ``gunicorn app:server -w 2 --threads 4`` on 127.0.0.1 (server helpers of benchmarks.app)
with a filesystem cache in a temp dir; ``--clients`` threads send ``--requests`` requests per
round, request i of kind KINDS[i % len(KINDS)]: GET / /signal /latent /evaluation, POST
/api/v1/analyses of a bundled sample (app/samples), GET the summary and beats.csv of a returned
key. Each of the ``--rounds`` rounds posts the samples under new record names (``r2_100``, ...:
same signals, new analysis keys), so every round computes analyses afresh instead of answering
from the cache. Stops issuing new requests after ``--max-s`` seconds in all. Server errors =
5xx answers and connection errors (a summary/beats.csv request waits for a first key of its
round, untimed). Before the rounds, a warm-up posts analyses (untimed, not counted) until every
worker has answered one (the ``X-ECG-Worker`` header): a worker loads the model on its first
analysis, and that load must not pass for growth. RSS of each worker before the warm-up, after
it, after each round, and 10 s after the last.
LAST line: ``TOTAL requests=<> server_errors=<> p95_s=<> rss_growth_mb=<>`` (requests over all
rounds; growth = sum over workers of RSS 10 s after the last round minus RSS after the middle
round, round ceil(K/2) of K: does memory keep growing while the same work is repeated with new
analyses, once the first rounds have filled each process's bounded caches and its allocator's
pools (about 20 analyses per worker); a leak grows it with every round, and the printed slope
over the second half says by how much per round).
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


def renamed(files: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    """A WFDB record's files under the record name ``prefix + name`` (header's record and signal
    file names rewritten): the same signals under another name, so another analysis key."""
    if not prefix:
        return files
    out = {}
    for fname, data in files.items():
        base, ext = fname.rsplit(".", 1)
        if ext == "hea":
            lines = data.decode("ascii").splitlines()
            lines[0] = prefix + lines[0]
            lines = [prefix + ln if ln.startswith(f"{base}.") else ln for ln in lines]
            data = ("\n".join(lines) + "\n").encode("ascii")
        out[f"{prefix}{fname}"] = data
    return out


def warm_up(url: str, master_pid: int, files: dict[str, bytes], limit_s: float = 120.0) -> set[int]:
    """Post analyses of ``files`` under fresh names, four at a time, until every worker has answered
    one (or ``limit_s`` passes); the pids of the workers that did."""
    pids, answered, i = set(worker_rss_mb(master_pid)), set(), 0
    deadline = time.perf_counter() + limit_s
    with ThreadPoolExecutor(max_workers=4) as pool:
        while not pids <= answered and time.perf_counter() < deadline:
            batch = [renamed(files, f"w{i + j}_") for j in range(4)]
            i += 4
            for r in pool.map(lambda f: post_analysis(url, f), batch):
                if r.status_code == 200 and r.headers.get("X-ECG-Worker", "").isdigit():
                    answered.add(int(r.headers["X-ECG-Worker"]))
    return answered


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


def load_run(requests_n: int, clients: int, max_s: float, rounds: int = 1, start_timeout: float = 180.0) -> dict:
    samples = [record_files(SAMPLES / n) for n in SAMPLE_NAMES]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ecg-bench-load-") as cache_dir:
        env = {**child_env(), "ECG_CACHE_URL": f"filesystem://{cache_dir}", "ECG_CACHE_DIR": cache_dir,
               "ECG_WORKER_HEADER": "1"}
        cmd = [sys.executable, "-m", "gunicorn", "app:server", "-w", "2", "--threads", "4", "--timeout", "300",
               "--bind", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            if not wait_for(url + "/", proc, start_timeout):
                return {"requests": 0, "server_errors": requests_n, "note": "gunicorn did not start"}
            rss = [worker_rss_mb(proc.pid)]
            warmed = warm_up(url, proc.pid, samples[0])
            rss.append(worker_rss_mb(proc.pid))
            lock = threading.Lock()
            deadline = time.perf_counter() + max_s
            results, run_s = [], 0.0
            for r in range(rounds):
                uploads = [renamed(f, f"r{r + 1}_" if r else "") for f in samples]
                keys: list[str] = []
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
                    results += [res for rs in pool.map(client, range(clients)) for res in rs]
                run_s += time.perf_counter() - t0
                rss.append(worker_rss_mb(proc.pid))
            time.sleep(10)
            rss.append(worker_rss_mb(proc.pid))
            return {"requests": len(results), "results": results, "run_s": run_s, "rss": rss,
                    "workers_restarted": set(rss[-1]) != set(rss[0]), "warmed": warmed}
        finally:
            stop(proc, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=70, help="requests per round")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=40,
                    help="repeat the request mix this many times, each round's records under new names")
    ap.add_argument("--max-s", type=float, default=540.0, help="stop issuing requests after this many seconds")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    print(f"# {load_average()} (start)", flush=True)
    res = load_run(args.requests, args.clients, args.max_s, args.rounds)
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
    rss = res["rss"]
    names = (["rss_before_mb", "warmed_up_mb"] + [f"after_round{r}_mb" for r in range(1, len(rss) - 2)]
             + ["after_10s_mb"])
    pids = sorted(set().union(*rss))
    print(format_table(["worker pid"] + names, [[pid] + [snap.get(pid, float("nan")) for snap in rss] for pid in pids]))
    k = len(rss) - 3  # rounds run; rss[1 + r] is after round r, rss[-1] 10 s after the last
    mid = (k + 1) // 2
    growth = sum(rss[-1].values()) - sum(rss[1 + mid].values())
    half = [sum(snap.values()) for snap in rss[1 + mid:-1]]
    slope = float(np.polyfit(np.arange(len(half)), half, 1)[0]) if len(half) > 1 else float("nan")
    print(f"# {k} round(s), {res['run_s']:.1f} s, {args.clients} clients; warmed-up workers "
          f"{len(res['warmed'])} of {len(rss[0])}; workers restarted: {res['workers_restarted']}; RSS growth "
          f"over round 1 {sum(rss[2].values()) - sum(rss[1].values()):.0f} MB, after round {mid} "
          f"{slope:.1f} MB per round (all workers); {load_average()} (end)")
    lat = [r[3] for r in results]
    print(f"TOTAL requests={len(results)} server_errors={sum(r[2] for r in results)} "
          f"p95_s={float(np.percentile(lat, 95)):.2f} rss_growth_mb={growth:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
