"""Shared helpers of the speed benchmarks: timing, child-process RSS, tables, data directory."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def median_time(fn, repeats: int, *args, **kwargs) -> tuple[object, float]:
    """(last result, median seconds) over ``repeats`` calls."""
    out, times = None, []
    for _ in range(max(int(repeats), 1)):
        out, s = timed(fn, *args, **kwargs)
        times.append(s)
    return out, statistics.median(times)


def median(values) -> float:
    values = [v for v in values if v == v]
    return float(statistics.median(values)) if values else float("nan")


def load_average() -> str:
    """'1-min 5-min 15-min' load average and the CPU count, for the report."""
    try:
        a, b, c = os.getloadavg()
        return f"load {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} cpus"
    except OSError:
        return "load unknown"


def data_dir_arg(value) -> Path:
    from app.config import default_data_dir

    path = Path(value) if value else default_data_dir()
    if path is None or not Path(path).is_dir():
        print(f"data directory not found: {value or '../shared/data/mitdb'}; pass --data-dir", file=sys.stderr)
        raise SystemExit(2)
    return Path(path)


def format_table(header: list[str], rows: list[list]) -> str:
    """Right-aligned text table; floats with 3 decimals."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = [" ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += [" ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


@dataclass
class ChildRun:
    returncode: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float  # user + system CPU seconds of the child (less sensitive to other load than wall time)
    stdout: str
    stderr: str


def run_child(cmd: list[str], env: dict | None = None, timeout_s: float | None = None) -> ChildRun:
    """Run ``cmd`` as a fresh process: wall time and its peak RSS (the kernel's ru_maxrss via wait4)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT, env=env)
        deadline = None if timeout_s is None else t0 + timeout_s
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                p.kill()
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(p.returncode, wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime,
                        out.read(), err.read())


def child_env() -> dict:
    """Environment of the child processes: the repository importable, TF logs quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env
