"""Smoke runs of benchmarks.noise (one bundled record, one SNR), benchmarks.student_cv (two bundled
records, two folds) and benchmarks.load (20 requests)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks._util import ROOT, child_env

NST_DIR = ROOT.parent / "shared" / "data" / "nstdb"


def run_module(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.timeout(180)
def test_noise_benchmark_total_line():
    if not (NST_DIR / "em.hea").is_file():
        pytest.skip(f"MIT-BIH noise stress test records not found in {NST_DIR}")
    p = run_module(["benchmarks.noise", "--data-dir", str(ROOT / "app" / "samples"), "--nst-dir", str(NST_DIR),
                    "--records", "100", "--snr", "6", "--noise", "em"], timeout=170)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    assert re.fullmatch(r"TOTAL snr6_se=[0-9.]+ snr6_ppv=[0-9.]+ snr6_auroc_drop=-?[0-9.]+ "
                        r"snr6_lowq_frac=[0-9.]+", lines[-1]), lines[-1]
    assert any(re.match(r"\s*clean\s", ln) for ln in lines) and any(re.match(r"\s*em\s+6\s", ln) for ln in lines)
    se = float(re.search(r"snr6_se=([0-9.]+)", lines[-1]).group(1))
    assert 0.5 < se <= 1.0  # record 100 with em noise at 6 dB: most beats still found
    header = next(ln.split() for ln in lines if ln.startswith("noise"))
    em6 = dict(zip(header, next(ln.split() for ln in lines if re.match(r"\s*em\s+6\s", ln))))
    assert 0.0 <= float(em6["lowq_false_det"]) <= 1.0  # em at 6 dB makes some false detections
    assert 0.0 < float(em6["shaded"]) <= 1.0 and 0.0 <= float(em6["false_shaded"]) <= 1.0  # grey bands


@pytest.mark.timeout(180)
def test_noise_benchmark_xqrs_columns():
    if not (NST_DIR / "em.hea").is_file():
        pytest.skip(f"MIT-BIH noise stress test records not found in {NST_DIR}")
    p = run_module(["benchmarks.noise", "--data-dir", str(ROOT / "app" / "samples"), "--nst-dir", str(NST_DIR),
                    "--records", "100", "--snr", "6", "--noise", "em", "--no-model", "--xqrs"], timeout=170)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    header = next(ln.split() for ln in lines if ln.startswith("noise"))
    assert header[-2:] == ["xqrs_se", "xqrs_ppv"]
    clean = next(ln.split() for ln in lines if re.match(r"\s*clean\s", ln))
    em6 = next(ln.split() for ln in lines if re.match(r"\s*em\s+6\s", ln))
    assert float(clean[-2]) > 0.99 and float(clean[-1]) > 0.99  # XQRS on clean record 100
    assert 0.5 < float(em6[-2]) <= 1.0 and 0.5 < float(em6[-1]) <= 1.0
    assert lines[-1].startswith("TOTAL snr6_se=")  # the TOTAL line stays last


@pytest.mark.timeout(240)
def test_load_benchmark_no_server_errors():
    p = run_module(["benchmarks.load", "--requests", "10", "--clients", "4", "--rounds", "2", "--max-s", "120"],
                   timeout=230)
    assert p.returncode == 0, p.stderr[-2000:]
    last = p.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"TOTAL requests=(\d+) server_errors=(\d+) p95_s=[0-9.]+ rss_growth_mb=-?[0-9.]+", last)
    assert m, last
    assert int(m.group(1)) == 20  # 10 per round
    assert int(m.group(2)) == 0
    assert "after_round2_mb" in p.stdout


@pytest.mark.timeout(300)
def test_student_cross_validation_benchmark_total_line():
    """Two bundled records, two folds, one epoch: each record scored by a student trained on the other."""
    if not (NST_DIR / "em.hea").is_file():
        pytest.skip(f"MIT-BIH noise stress test records not found in {NST_DIR}")
    p = run_module(["benchmarks.student_cv", "--data-dir", str(ROOT / "app" / "samples"), "--nst-dir", str(NST_DIR),
                    "--records", "100", "105", "--folds", "2", "--epochs", "1"], timeout=290)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    m = re.fullmatch(r"TOTAL cv_snr6_auroc_drop=(-?[0-9.]+) encoder_snr6_auroc_drop=(-?[0-9.]+) "
                     r"cv_clean_auroc=([0-9.]+) encoder_clean_auroc=([0-9.]+)", lines[-1])
    assert m, lines[-1]
    assert all(0.9 < float(v) <= 1.0 for v in m.groups()[2:])  # 100 and 105 score well when clean
    assert "# fold 1/2: student from" in p.stdout and "held out 100" in p.stdout
    header = next(ln.split()[1:] for ln in lines if ln.lstrip().startswith("scored_by"))
    rows = {ln.split()[0]: dict(zip(header, ln.split()[2:])) for ln in lines
            if ln.lstrip().startswith(("encoder", "cv"))}
    assert set(rows) == {"encoder", "cv"}
    # the student touches no detection or flag: Se, +P and the low-quality share at 6 dB are the encoder's
    for col in ("se_6db", "ppv_6db", "lowq_6db"):
        assert rows["encoder"][col] == rows["cv"][col], col
    # each class against N alone: record 100's S beats (33 A) are scored, clean and in noise
    assert all(0.5 < float(rows[r][c]) <= 1.0 for r in rows for c in ("s_clean", "s_6db"))


def test_student_cross_validation_benchmark_needs_two_folds():
    if not (NST_DIR / "em.hea").is_file():
        pytest.skip(f"MIT-BIH noise stress test records not found in {NST_DIR}")
    p = run_module(["benchmarks.student_cv", "--data-dir", str(ROOT / "app" / "samples"), "--nst-dir", str(NST_DIR),
                    "--records", "100", "--folds", "2"], timeout=60)
    assert p.returncode == 2 and "--folds" in p.stderr and "Traceback" not in p.stderr
