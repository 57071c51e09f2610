"""Smoke tests: each speed benchmark runs on tiny inputs and prints its TOTAL line (no timing asserted)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "app" / "samples"
NUM = r"(-?[0-9.]+|nan)"


def run_module(*args: str, timeout: float = 480) -> str:
    p = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


@pytest.mark.slow
def test_analyze_benchmark_prints_table_and_total():
    out = run_module("benchmarks.analyze", "--data-dir", str(SAMPLES), "--records", "232", "--repeats", "1")
    assert re.fullmatch(rf"TOTAL median_s={NUM} ratio_vs_xqrs={NUM} ratio_vs_model={NUM}", last_line(out))
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["232"])
    assert int(row[1]) > 1500  # 232 has 1780 reference beats; the table counts the detected ones


@pytest.mark.slow
def test_holter_benchmark_builds_short_record_and_scores_it():
    out = run_module("benchmarks.holter", "--data-dir", str(SAMPLES), "--hours", "0.05", "0.1")
    assert re.fullmatch(rf"TOTAL h24_s={NUM} h24_rss_mb={NUM} scaling_exponent={NUM}", last_line(out))
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["0.05"], ["0.1"])]
    assert [r[1] for r in rows] == ["64800", "129600"]  # samples at 360 Hz
    assert all(int(r[3]) > 0 for r in rows)  # beats scored


def test_holter_record_is_readable_and_concatenates_sources(tmp_path):
    from app.ecg.readers import read_record
    from benchmarks.holter import write_long_record

    base, n = write_long_record(SAMPLES, tmp_path, 0.6)  # longer than one source record: two joined
    rec = read_record(base)
    assert n == rec.n_samples == int(0.6 * 3600 * 360)
    assert rec.leads == ["MLII", "V1"] and rec.fs == 360
    first = read_record(SAMPLES / "100")
    assert abs(rec.signals[:1000, 0] - first.signals[:1000, 0]).max() < 0.006  # 1 digital unit


@pytest.mark.slow
@pytest.mark.server
def test_app_benchmark_callbacks_and_servers():
    out = run_module("benchmarks.app", "--data-dir", str(SAMPLES), "--hours", "0.05", "--repeats", "2",
                     "--clients", "2", "--requests", "4")
    total = last_line(out)
    assert re.fullmatch(rf"TOTAL threshold_ms={NUM} viewer_ms={NUM} viewer_kb={NUM} cold_start_s={NUM} "
                        rf"first_analysis_s={NUM} load_errors=\d+ load_p50_s={NUM} load_p95_s={NUM} "
                        rf"worker_rss_mb={NUM}", total)
    assert "load_errors=0" in total
