"""`python -m app score` as a real process: CSV columns, one row per beat; bad input exits 2."""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.config import SAMPLES_DIR

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["record", "beat", "sample", "time_s", "rr_prev_s", "rr_next_s", "recon_error", "latent_distance",
           "kl", "rr_score", "score", "anomaly", "raised_by", "quality", "low_quality", "ref_symbol", "ref_class"]


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_score_two_records_one_row_per_beat(tmp_path):
    out = tmp_path / "beats.csv"
    p = run_cli("score", SAMPLES_DIR / "105", SAMPLES_DIR / "213.hea", "--out", out)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0].keys()) == COLUMNS
    from app.ecg.pipeline import extract_beats
    from app.ecg.readers import read_record
    for rec in ("105", "213"):
        n = len(extract_beats(read_record(SAMPLES_DIR / rec)).samples)
        mine = [r for r in rows if r["record"] == rec]
        assert len(mine) == n
        assert [int(r["beat"]) for r in mine] == list(range(n))
    assert {r["anomaly"] for r in rows} == {"True", "False"}
    assert {r["raised_by"] for r in rows if r["anomaly"] == "True"} <= {"shape", "timing", "shape+timing"}
    assert not list(tmp_path.glob(".*partial*"))


def test_a_csv_with_missing_values_is_scored_and_the_gaps_reported(tmp_path):
    """Empty, NaN and out-of-range cells in a CSV lead: scored, and one note line says how many."""
    import wfdb

    sig, _ = wfdb.rdsamp(str(SAMPLES_DIR / "100"), sampto=360 * 120, channels=[0])
    cells = [f"{v:.3f}" for v in sig[:, 0]]
    cells[1000:1005] = ["", "nan", "NaN", "1e39", "-1e39"]
    src = tmp_path / "gappy.csv"
    src.write_text("time_s,MLII\n" + "\n".join(f"{i / 360:.6f},{c}" for i, c in enumerate(cells)) + "\n")
    p = run_cli("score", src, "--out", tmp_path / "o.csv")
    assert p.returncode == 0, p.stderr
    notes = [ln for ln in p.stdout.splitlines() if "note:" in ln]
    assert len(notes) == 1 and "gappy: note: 5 samples" in notes[0] and "lead MLII" in notes[0]
    assert "RuntimeWarning" not in p.stderr  # 1e39 overflows float32: counted, not warned about


def test_a_record_cut_shorter_than_its_annotations_reports_the_unused_ones(tmp_path):
    """Record 100 cut to 20 minutes (header and .dat) with its whole .atr: the beat annotations
    past the cut are counted, named in one note line, and the kept ones are the reference."""
    import wfdb

    from app.ecg.aami import is_beat_symbol
    from app.ecg.readers import read_record
    from tests.conftest import cut_record

    n = 20 * 60 * 360
    cut_record("100", 20 * 60, tmp_path)
    ann = wfdb.rdann(str(SAMPLES_DIR / "100"), "atr")
    beat = np.array([is_beat_symbol(s) for s in ann.symbol])
    past = int((beat & (ann.sample >= n)).sum())
    assert past > 700  # about a third of 100's 2,273 beats
    rec = read_record(tmp_path / "100")
    assert rec.ref_outside == past and len(rec.ref_samples) == int((beat & (ann.sample < n)).sum())
    p = run_cli("score", tmp_path / "100", "--out", tmp_path / "o.csv")
    assert p.returncode == 0, p.stderr
    notes = [ln for ln in p.stdout.splitlines() if "note:" in ln]
    assert notes == [f"100: note: {past:,} reference beat annotations in the .atr file lie outside the signal "
                     "(the annotations may belong to a longer recording) and were not used."]


def test_a_csv_without_time_column_takes_fs_and_units(tmp_path):
    """A one-column CSV has no sampling rate: `--fs` gives it (and `--units` its scale); without it,
    exit 2 naming the file and what to give."""
    import wfdb

    sig, _ = wfdb.rdsamp(str(SAMPLES_DIR / "100"), sampto=360 * 60, channels=[0])
    src = tmp_path / "no_time.csv"
    src.write_text("\n".join(f"{1000 * v:.1f}" for v in sig[:, 0]) + "\n")  # microvolts, no header
    p = run_cli("score", src, "--out", tmp_path / "x.csv")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "no_time.csv" in p.stderr and "fs" in p.stderr
    out = tmp_path / "ok.csv"
    p = run_cli("score", src, "--out", out, "--fs", "360", "--units", "uV")
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(out.open()))
    times = [float(r["time_s"]) for r in rows]
    assert 60 <= len(rows) <= 100 and 0 < times[0] < 2 and 58 < times[-1] <= 60  # ~75 bpm over 60 s
    p = run_cli("score", src, "--out", tmp_path / "y.csv", "--fs", "360", "--units", "furlongs")
    assert p.returncode == 2 and "furlongs" in p.stderr and p.stderr.count("\n") == 1


def test_reference_beats_and_threshold_options(tmp_path):
    out = tmp_path / "ref.csv"
    p = run_cli("score", SAMPLES_DIR / "100", "--out", out, "--beats", "reference", "--threshold", "1e9")
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(out.open()))
    atr_beats = sum(1 for r in rows if r["ref_symbol"])
    assert len(rows) == atr_beats == 2273  # every annotated beat of record 100
    assert all(r["anomaly"] == "False" for r in rows)


def _junk_csv(d):
    (d / "junk.csv").write_bytes(b"\x00\x01\xff binary")
    return d / "junk.csv"


def _header_without_dat(d):
    (d / "x.hea").write_text("x 1 360 3600\nx.dat 212 200 11 1024 0 0 0 MLII\n")
    return d / "x"


@pytest.mark.parametrize("make_bad, needle", [
    (lambda d: d / "missing", "missing"),
    (_junk_csv, "junk.csv"),
    (_header_without_dat, "x.dat"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, make_bad, needle):
    bad = make_bad(tmp_path)
    out = tmp_path / "o.csv"
    p = run_cli("score", bad, "--out", out)
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0] and "Traceback" not in p.stderr
    assert not out.exists()


def test_missing_model_exits_2_naming_it(tmp_path):
    p = run_cli("score", SAMPLES_DIR / "100", "--out", tmp_path / "o.csv", "--model", tmp_path / "nomodel")
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and str(tmp_path / "nomodel") in p.stderr


@pytest.mark.parametrize("args", [["score", str(SAMPLES_DIR / "100"), "--out", "OUT"], ["--port", "1"]])
def test_a_bad_setting_is_one_line_naming_it(tmp_path, args):
    """A bad ECG_* value stops `score` and the server with one line naming the variable and value."""
    import os

    args = [str(tmp_path / "x.csv") if a == "OUT" else a for a in args]
    p = subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "ECG_MAX_DURATION_H": "-1"})
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["error: ECG_MAX_DURATION_H: must be > 0, got '-1'"]
    assert not (tmp_path / "x.csv").exists()


def test_a_short_record_gets_one_note_on_stderr_and_the_csv_matches_the_api_writer(tmp_path):
    """A record under 60 s is scored against the training statistics: the CLI says so on stderr, once
    per such record (stdout keeps its summary lines); the CSV is the API's and the signal page's."""
    from app.analysis import analyze, beats_csv
    from app.ecg.readers import read_csv_bytes, read_record
    from tests.ecg import device_exports as dev

    e = dev.kardia_like()  # 30 s
    src = tmp_path / e.name
    src.write_bytes(e.data)
    out = tmp_path / "beats.csv"
    p = run_cli("score", src, SAMPLES_DIR / "100", "--out", out)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("kardia_100_300hz: note: 30 s long (under a minute)")
    assert "training statistics" in lines[0]
    assert "under a minute" not in p.stdout and p.stdout.splitlines()[-1] == f"wrote {out}"
    text = out.read_text()
    expected = beats_csv(analyze(read_csv_bytes(e.data, e.name))) + \
        beats_csv(analyze(read_record(SAMPLES_DIR / "100")), header=False)
    assert text == expected  # one writer for the CLI, the API's beats.csv and the page's export
    assert "0.8333333134651184" not in text and ",0.833,0.833," in text  # rr at 300 Hz: ms, not float32 noise


def test_bad_input_after_a_short_record_is_still_one_line(tmp_path):
    from tests.ecg import device_exports as dev

    e = dev.kardia_like()
    src = tmp_path / e.name
    src.write_bytes(e.data)
    p = run_cli("score", src, tmp_path / "missing", "--out", tmp_path / "o.csv")
    assert p.returncode == 2
    assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1 and "missing" in p.stderr
    assert not (tmp_path / "o.csv").exists()
