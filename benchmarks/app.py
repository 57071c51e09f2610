"""App speed: page callbacks at Holter scale, cold start, first analysis, and a loopback load run.

    python -m benchmarks.app [--data-dir DIR] [--hours 24] [--clients 8] [--requests 64]

1. In this process, one app (create_app) and one cached analysis of a long record built by
   concatenating MIT-BIH records (``--hours``, 24 h is about 100,000 beats; see benchmarks.holter).
   The signal page's callback functions are called directly on it (median server time of the
   Python function; bytes = the returned value serialized with plotly's JSON encoder, as Dash
   sends it): the page load, the threshold slider (``rethreshold``), and viewer updates
   (``navigate`` on a zoom/pan relayout of 10 s, 60 s and 10 min, and a whole-record zoom-out).
2. Cold start: a fresh `python -m app` process until GET / answers 200; then the first analysis
   (POST /api/v1/analyses of the bundled sample 100; the model loads on this first request).
3. Load: `gunicorn app:server -w 2 --threads 4` (the Procfile's workers) on 127.0.0.1 with a fresh
   filesystem cache: ``--clients`` concurrent clients, each posting a different record (DS2
   records from ``--data-dir``, else the bundled samples), ``--requests`` in all; errors, p50/p95
   latency, peak RSS per worker; then the summary of a cached key fetched through either worker.
The LAST line is:

    TOTAL threshold_ms=<> viewer_ms=<> viewer_kb=<> cold_start_s=<> first_analysis_s=<> load_errors=<> load_p50_s=<> load_p95_s=<> worker_rss_mb=<>
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks._util import ROOT, child_env, data_dir_arg, format_table, load_average, median

SAMPLES = ROOT / "app" / "samples"


# --------------------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload_bytes(value) -> int:
    """Bytes of a callback's return value as Dash serializes it (plotly's JSON encoder)."""
    from plotly.io.json import to_json_plotly

    return len(to_json_plotly(value).encode())


def run_in_callback_context(fn, triggered: str, *args):
    """Call a Dash callback function outside a request, with ``ctx.triggered_id`` set."""
    from contextvars import copy_context

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    def call():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": triggered, "value": None}]))
        return fn(*args)

    return copy_context().run(call)


def time_calls(fn, n: int) -> tuple[object, float]:
    """(last result, median ms) of ``fn(i)`` for i in range(n)."""
    out, times = None, []
    for i in range(n):
        t0 = time.perf_counter()
        out = fn(i)
        times.append((time.perf_counter() - t0) * 1000.0)
    return out, statistics.median(times)


def record_files(base: Path) -> dict[str, bytes]:
    return {f"{base.name}{e}": (base.parent / f"{base.name}{e}").read_bytes()
            for e in (".hea", ".dat", ".atr") if (base.parent / f"{base.name}{e}").is_file()}


def post_analysis(url: str, files: dict[str, bytes], timeout: float = 300.0):
    import requests

    parts = [("files", (name, data)) for name, data in files.items()]
    return requests.post(f"{url}/api/v1/analyses", files=parts, timeout=timeout)


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    import requests

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """Stop a server process and its process group (gunicorn workers too)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- 1. callbacks

def callback_rows(data_dir: Path, hours: float, repeats: int) -> tuple[list[list], dict]:
    """Server time and payload of the signal page's callbacks on a cached long analysis."""
    from app import cache, create_app
    from app.components.viewdata import view_for
    from app.ecg.readers import read_record
    from benchmarks.holter import write_long_record

    dash_app = create_app()
    S = importlib.import_module("app.pages.signal")  # registered by create_app (Dash Pages)

    with tempfile.TemporaryDirectory(prefix="ecg-bench-app-") as tmp:
        base, _ = write_long_record(data_dir, Path(tmp), hours)
        rec = read_record(base)
    with dash_app.server.app_context():
        t0 = time.perf_counter()
        key, _ = cache.submit(rec)
        analysis_s = time.perf_counter() - t0
        del rec
        t0 = time.perf_counter()
        view = view_for(key)
        view_s = time.perf_counter() - t0
        n = view.n_beats
        rows = [["analysis (submit, not a callback)", n, analysis_s * 1000, "", ""],
                ["view build (once per key/worker)", n, view_s * 1000, "", ""]]
        out, ms = time_calls(lambda i: S.load_analysis(key), repeats)
        rows.append(["page load (load_analysis)", n, ms, payload_bytes(out) / 1024, ""])
        lo, hi = float(view.sorted_parts["score"][0]), float(view.sorted_parts["score"][-1])
        thrs = np.quantile(view.score, np.linspace(0.80, 0.995, max(repeats, 2)))
        t_mid = view.duration_s / 2
        rng = [t_mid - 5.0, t_mid + 5.0]
        out, thr_ms = time_calls(lambda i: S.rethreshold({"key": key, "value": float(thrs[i % len(thrs)])}, rng, None, key),
                                 repeats)
        thr_kb = payload_bytes(out) / 1024
        rows.append(["threshold (rethreshold)", n, thr_ms, thr_kb, "<= 50 ms"])
        viewer = []
        for label, width in (("10 s", 10.0), ("60 s", 60.0), ("10 min", 600.0), ("whole record", None)):
            def zoom(i, width=width):
                if width is None:  # (a double-click, autorange, now asks for a 10 s window)
                    relayout = {"xaxis.range[0]": 0.0, "xaxis.range[1]": view.duration_s}
                else:
                    c = (0.1 + 0.8 * ((i * 0.37) % 1.0)) * view.duration_s
                    relayout = {"xaxis.range[0]": c - width / 2, "xaxis.range[1]": c + width / 2}
                return run_in_callback_context(S.navigate, "strip.relayoutData", relayout, None, None, None,
                                               None, rng, {"key": key, "value": float(view.threshold)}, None, key)
            out, ms = time_calls(zoom, repeats)
            kb = payload_bytes(out) / 1024
            viewer.append((ms, kb))
            rows.append([f"viewer update (navigate, {label})", n, ms, kb, "<= 500 KB"])
        del lo, hi
    summary = {"threshold_ms": thr_ms, "viewer_ms": max(v[0] for v in viewer),
               "viewer_kb": max(v[1] for v in viewer), "beats": n}
    return rows, summary


# --------------------------------------------------------------------------- 2. cold start

def cold_start(timeout: float = 120.0) -> tuple[float, float, int]:
    """(s to first page, s of the first analysis after it, HTTP status of that analysis)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "app", "--port", str(port)], cwd=ROOT, env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_for(url + "/", proc, timeout):
            return float("nan"), float("nan"), 0
        page_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        r = post_analysis(url, record_files(SAMPLES / "100"))
        return page_s, time.perf_counter() - t1, r.status_code
    finally:
        stop(proc, signal.SIGINT)


# --------------------------------------------------------------------------- 3. load run

def load_records(data_dir: Path, clients: int) -> list[Path]:
    from app.ecg.aami import DS2

    found = [data_dir / n for n in DS2 if (data_dir / f"{n}.hea").is_file()]
    found += [SAMPLES / n for n in ("100", "105", "213", "232", "233") if SAMPLES / n not in found]
    return found[:clients]


def worker_rss_poller(master, peaks: dict, done: threading.Event) -> None:
    import psutil

    while not done.is_set():
        try:
            for ch in master.children():
                try:
                    peaks[ch.pid] = max(peaks.get(ch.pid, 0), ch.memory_info().rss)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        time.sleep(0.05)


def load_run(data_dir: Path, clients: int, requests_n: int, timeout: float = 180.0) -> dict:
    import psutil
    import requests

    records = load_records(data_dir, clients)
    uploads = [record_files(r) for r in records]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ecg-bench-cache-") as cache_dir:
        env = {**child_env(), "ECG_CACHE_DIR": cache_dir}
        cmd = [sys.executable, "-m", "gunicorn", "app:server", "-w", "2", "--threads", "4", "--timeout", "300",
               "--bind", f"127.0.0.1:{port}"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        peaks: dict[int, int] = {}
        done = threading.Event()
        try:
            if not wait_for(url + "/", proc, timeout):
                return {"errors": requests_n, "note": "gunicorn did not start"}
            start_s = time.perf_counter() - t0
            poller = threading.Thread(target=worker_rss_poller, args=(psutil.Process(proc.pid), peaks, done),
                                      daemon=True)
            poller.start()
            results = []

            def one(c: int):
                files = uploads[c % len(uploads)]
                t = time.perf_counter()
                try:
                    r = post_analysis(url, files)
                    ok = r.status_code == 200
                    body = r.json() if ok else {}
                    return ok, time.perf_counter() - t, body.get("cached"), body.get("key"), r.status_code
                except requests.RequestException as exc:
                    return False, time.perf_counter() - t, None, None, type(exc).__name__

            def client(c: int):  # client c sends requests c, c+clients, ...: always its own record
                return [one(c) for _ in range(c, requests_n, clients)]

            t_run = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                results = [r for rs in pool.map(client, range(clients)) for r in rs]
            run_s = time.perf_counter() - t_run
            lat = [r[1] for r in results]
            errors = [r[4] for r in results if not r[0]]
            key = next((r[3] for r in results if r[3]), None)
            hit_ms = []
            if key:
                for _ in range(20):
                    t = time.perf_counter()
                    requests.get(f"{url}/api/v1/analyses/{key}", timeout=30)
                    hit_ms.append((time.perf_counter() - t) * 1000)
            done.set()
            poller.join()
            return {
                "records": [r.name for r in records], "start_s": start_s, "run_s": run_s,
                "errors": len(errors), "error_kinds": sorted(set(map(str, errors))),
                "p50_s": float(np.percentile(lat, 50)), "p95_s": float(np.percentile(lat, 95)),
                "max_s": max(lat), "cached": sum(1 for r in results if r[2]),
                "computed": sum(1 for r in results if r[2] is False),
                "worker_rss_mb": sorted(v / 2**20 for v in peaks.values()),
                "cache_hit_ms": median(hit_ms),
            }
        finally:
            done.set()
            stop(proc, signal.SIGINT)


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.app", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--hours", type=float, default=24.0, help="length of the cached record for the callbacks")
    ap.add_argument("--repeats", type=int, default=15, help="calls per callback timing")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--skip-servers", action="store_true", help="callbacks only (no cold start, no load run)")
    args = ap.parse_args(argv)
    data_dir = data_dir_arg(args.data_dir)
    print(f"# {load_average()} (start)", flush=True)

    rows, cb = callback_rows(data_dir, args.hours, args.repeats)
    print(format_table(["callback", "beats", "server_ms", "payload_kb", "target"], rows), flush=True)
    print(f"# {load_average()} (after callbacks)", flush=True)

    cold_s = first_s = float("nan")
    load = {"errors": float("nan"), "p50_s": float("nan"), "p95_s": float("nan"), "worker_rss_mb": []}
    if not args.skip_servers:
        cold_s, first_s, status = cold_start()
        print(format_table(["server", "seconds", "status", "target"], [
            ["cold start to first page (python -m app)", cold_s, 200 if cold_s == cold_s else "none", "<= 10 s"],
            ["first analysis after start (POST sample 100)", first_s, status, ""]]), flush=True)
        print(f"# {load_average()} (after cold start)", flush=True)
        load = load_run(data_dir, args.clients, args.requests)
        rss = load.get("worker_rss_mb", [])
        print(format_table(["load run (gunicorn -w 2 --threads 4)", "value"], [
            ["records", " ".join(load.get("records", []))],
            ["clients / requests", f"{args.clients} / {args.requests}"],
            ["gunicorn start to first page s", load.get("start_s", float("nan"))],
            ["run s", load.get("run_s", float("nan"))],
            ["errors", f"{load['errors']} {' '.join(load.get('error_kinds', []))}".strip()],
            ["computed / cached", f"{load.get('computed')} / {load.get('cached')}"],
            ["latency p50 s", load["p50_s"]], ["latency p95 s", load["p95_s"]],
            ["latency max s", load.get("max_s", float("nan"))],
            ["peak RSS per worker MB", " ".join(f"{v:.0f}" for v in rss)],
            ["cached summary GET ms (median of 20)", load.get("cache_hit_ms", float("nan"))],
        ]), flush=True)
    print(f"# {load_average()} (end)")
    rss_max = max(load.get("worker_rss_mb") or [float("nan")])
    print(f"TOTAL threshold_ms={cb['threshold_ms']:.1f} viewer_ms={cb['viewer_ms']:.1f} "
          f"viewer_kb={cb['viewer_kb']:.1f} cold_start_s={cold_s:.2f} first_analysis_s={first_s:.2f} "
          f"load_errors={load['errors']} load_p50_s={load['p50_s']:.2f} load_p95_s={load['p95_s']:.2f} "
          f"worker_rss_mb={rss_max:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
