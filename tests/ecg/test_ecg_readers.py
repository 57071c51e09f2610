"""Readers: WFDB from a path and from uploaded bytes (several storage formats), CSV variants."""
from __future__ import annotations

import numpy as np
import pytest
import wfdb

from app.ecg.aami import is_beat_symbol
from app.ecg.readers import read_csv_bytes, read_record, read_upload, read_wfdb_files

from app.config import SAMPLES_DIR as SAMPLES


def test_wfdb_path_with_and_without_extension(rec100):
    assert rec100.name == "100"
    assert rec100.fs == 360.0
    assert rec100.leads == ["MLII", "V5"]
    assert rec100.signals.shape == (650000, 2) and rec100.signals.dtype == np.float32
    assert rec100.units == ["mV", "mV"]
    for suffix in (".hea", ".dat", ".atr"):
        other = read_record(SAMPLES / f"100{suffix}")
        np.testing.assert_array_equal(other.signals, rec100.signals)
    # physical values in mV: MLII of record 100 hovers around -0.3 mV with R-peaks near +1 mV
    assert -1.0 < float(np.median(rec100.signals[:, 0])) < 0.5
    assert 0.5 < float(np.percentile(rec100.signals[:, 0], 99.9)) < 3.0


def test_reference_keeps_beat_annotations_only(records):
    rec = records["232"]  # 232's .atr also holds rhythm and comment annotations
    assert rec.has_reference
    assert all(is_beat_symbol(s) for s in rec.ref_symbols)
    assert np.all(np.diff(rec.ref_samples) > 0)
    raw = wfdb.rdann(str(SAMPLES / "232"), "atr")
    n_beats = sum(is_beat_symbol(s) for s in raw.symbol)
    assert len(rec.ref_samples) == n_beats < len(raw.symbol)


def test_wfdb_bytes_multilead_equals_path(records, sample_bytes):
    up = read_wfdb_files(sample_bytes("213"))
    ref = records["213"]
    assert up.name == "213" and up.leads == ref.leads and up.n_leads == 2
    np.testing.assert_array_equal(up.signals, ref.signals)
    np.testing.assert_array_equal(up.ref_samples, ref.ref_samples)


def test_wfdb_bytes_without_annotations(sample_bytes):
    rec = read_wfdb_files(sample_bytes("100", (".hea", ".dat")))
    assert not rec.has_reference and rec.ref_samples is None


@pytest.mark.parametrize("fmt", ["16", "24", "32", "80", "212", "508", "516"])  # those wfdb.wrsamp writes
def test_wfdb_storage_formats_round_trip(tmp_path, rec100, fmt):
    x = rec100.signals[: 360 * 20].astype(np.float64)  # 20 s, both leads
    gain = {"80": 50.0, "508": 50.0}.get(fmt, 200.0)  # 8-bit formats: +-2.5 mV range
    wfdb.wrsamp(f"rt{fmt}", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=x,
                fmt=[fmt, fmt], adc_gain=[gain, gain], baseline=[0, 0], write_dir=str(tmp_path))
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert f"rt{fmt}.dat" in files
    rec = read_wfdb_files(files)
    assert rec.signals.shape == x.shape and rec.leads == ["MLII", "V5"] and rec.fs == 360.0
    np.testing.assert_allclose(rec.signals, x, atol=0.5 / gain + 1e-6)


def test_wfdb_microvolt_units_become_millivolts(tmp_path, rec100):
    x = rec100.signals[: 360 * 12, :1].astype(np.float64) * 1000.0
    wfdb.wrsamp("uv", fs=360, units=["uV"], sig_name=["II"], p_signal=x, fmt=["16"], adc_gain=[1.0],
                baseline=[0], write_dir=str(tmp_path))
    rec = read_record(tmp_path / "uv")
    np.testing.assert_allclose(rec.signals[:, 0], x[:, 0] / 1000.0, atol=1e-3)
    assert rec.units == ["mV"]


def _ecg(rec100, seconds=20, fs=360):
    return rec100.signals[: int(seconds * fs), 0].astype(np.float64)


def test_csv_header_time_seconds(tmp_path, rec100, write_csv):
    x = _ecg(rec100)
    t = np.arange(len(x)) / 360.0
    p = write_csv(tmp_path / "a.csv", [t, x], ["time", "MLII"])
    rec = read_record(p)
    assert rec.fs == pytest.approx(360.0, rel=1e-3)
    assert rec.leads == ["MLII"] and rec.name == "a"
    np.testing.assert_allclose(rec.signals[:, 0], x, atol=1e-5)


def test_csv_rate_from_rounded_times_is_the_whole_number(tmp_path, rec100):
    """Times written to 6 decimals give 360.0000007 Hz; a rate that close to a whole number is it,
    and a rate that is not (250.3 Hz) stays as measured."""
    x = _ecg(rec100)
    for fs, name in ((360.0, "r.csv"), (250.3, "q.csv")):
        t = np.arange(len(x)) / fs
        (tmp_path / name).write_text("time,ecg\n" + "\n".join(f"{a:.6f},{v:.4f}" for a, v in zip(t, x)))
        rec = read_record(tmp_path / name)
        if fs == 360.0:
            assert rec.fs == 360.0 and rec.duration_s == len(x) / 360.0
        else:
            assert rec.fs != round(rec.fs) and rec.fs == pytest.approx(250.3, rel=1e-6)


def test_csv_time_in_ms_detected_without_unit_in_name(tmp_path, rec100, write_csv):
    x = _ecg(rec100)
    t = np.arange(len(x)) * 1000.0 / 360.0
    rec = read_record(write_csv(tmp_path / "b.csv", [t, x], ["t", "ecg"]))
    assert rec.fs == pytest.approx(360.0, rel=1e-3)


def test_csv_no_header_time_column(tmp_path, rec100, write_csv):
    x = _ecg(rec100)
    t = np.arange(len(x)) / 360.0
    rec = read_record(write_csv(tmp_path / "c.csv", [t, x]))
    assert rec.fs == pytest.approx(360.0, rel=1e-3) and rec.n_leads == 1


def test_csv_no_header_explicit_fs_semicolon_two_leads(tmp_path, rec100, write_csv):
    x = rec100.signals[: 360 * 15].astype(np.float64)
    p = write_csv(tmp_path / "d.csv", [x[:, 0], x[:, 1]], sep=";")
    rec = read_csv_bytes(p.read_bytes(), "d.csv", fs=360)
    assert rec.n_leads == 2 and rec.fs == 360.0
    np.testing.assert_allclose(rec.signals, x, atol=1e-5)


def test_csv_tab_delimited_with_sample_index_and_fs(tmp_path, rec100, write_csv):
    x = _ecg(rec100)
    p = write_csv(tmp_path / "e.txt", [np.arange(len(x)), x], ["sample", "II"], sep="\t")
    rec = read_upload({"e.txt": p.read_bytes()}, fs=360)
    assert rec.leads == ["II"] and rec.n_samples == len(x)


def test_csv_blank_and_empty_cells_are_missing_samples_in_place(rec100):
    """Blank lines between data rows are missing samples where they stand (skipping them would shift
    every later sample); blank lines and comments around the data are not samples; a blank line in a
    file with a time column has no time, so it is no sample either."""
    x = _ecg(rec100)[:3600]
    cells = [f"{v:.4f}" for v in x]
    cells[100], cells[101], cells[102] = "", "nan", "1e39"  # blank line, NaN, beyond float32
    text = "\n# exported\nMLII\n" + "\n".join(cells) + "\n\n\n"
    rec = read_csv_bytes(text.encode(), "gaps.csv", fs=360)
    assert rec.n_samples == 3600 and rec.leads == ["MLII"]
    assert np.flatnonzero(~np.isfinite(rec.signals[:, 0])).tolist() == [100, 101, 102]
    np.testing.assert_allclose(rec.signals[103:, 0], x[103:], atol=1e-4)  # nothing after the gap moved
    rows = [f"{i / 360:.6f},{c}" for i, c in enumerate(cells)]
    rows[200] = ""
    rec = read_csv_bytes(("\n".join(rows) + "\n").encode(), "timed.csv")
    assert rec.n_samples == 3599 and rec.fs == pytest.approx(360.0, rel=1e-3)


def test_csv_microvolts_and_volts(tmp_path, rec100, write_csv):
    x = _ecg(rec100)
    p = write_csv(tmp_path / "f.csv", [x * 1000.0], ["ecg_uv"], fmt="%.3f")
    rec = read_csv_bytes(p.read_bytes(), "f.csv", fs=360, units="uV")
    np.testing.assert_allclose(rec.signals[:, 0], x, atol=1e-5)
    p = write_csv(tmp_path / "g.csv", [x / 1000.0], ["ecg"], fmt="%.9f")
    rec = read_csv_bytes(p.read_bytes(), "g.csv", fs=360, units="V")
    np.testing.assert_allclose(rec.signals[:, 0], x, atol=1e-5)


def test_csv_decimal_comma_with_semicolons(rec100):
    x = _ecg(rec100, 12)
    text = "time;ECG\n" + "\n".join(f"{i / 360:.6f};{v:.5f}".replace(".", ",") for i, v in enumerate(x))
    rec = read_csv_bytes(text.encode(), "eu.csv")
    assert rec.fs == pytest.approx(360.0, rel=1e-3)
    np.testing.assert_allclose(rec.signals[:, 0], x, atol=1e-4)


def test_read_upload_dispatches_wfdb(sample_bytes):
    rec = read_upload(sample_bytes("105"))
    assert rec.name == "105" and rec.has_reference
