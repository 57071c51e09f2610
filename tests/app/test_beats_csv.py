"""The per-beat CSV (CLI `score --out`, the API's beats.csv, the signal page's Export CSV): the
contract's columns in order, numbers at the precision they carry (no float32 noise), and a round
trip back to the analysis' table."""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest

from app.analysis import REFERENCE_COLUMNS, TABLE_COLUMNS, analyze, beats_csv, time_decimals
from app.config import SAMPLES_DIR
from app.ecg.readers import read_csv_bytes, read_record
from tests.ecg import device_exports as dev

SCORE_COLUMNS = ["recon_error", "latent_distance", "kl", "rr_score", "score", "quality"]
TIMES = ["time_s", "rr_prev_s", "rr_next_s"]


@pytest.fixture(scope="module")
def kardia():
    e = dev.kardia_like()  # 30 s at 300 Hz: times are thirds of milliseconds
    return analyze(read_csv_bytes(e.data, e.name, **e.form))


@pytest.fixture(scope="module")
def rec100():
    return analyze(read_record(SAMPLES_DIR / "100"))  # 360 Hz, with reference labels


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _significant_digits(cell: str) -> int:
    mantissa = cell.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


@pytest.mark.parametrize("name", ["kardia", "rec100"])
def test_numbers_are_written_at_their_precision_not_float32_noise(name, request):
    a = request.getfixturevalue(name)
    text = beats_csv(a)
    rows = _rows(text)
    assert text.splitlines()[0].split(",") == TABLE_COLUMNS + REFERENCE_COLUMNS  # the contract, in order
    assert len(rows) == len(a.table)
    for c in TIMES:  # 300 and 360 Hz: milliseconds, 3 decimals exactly
        assert all(re.fullmatch(r"\d+\.\d{3}", r[c]) for r in rows), c
    for c in SCORE_COLUMNS:
        assert max(_significant_digits(r[c]) for r in rows) <= 6, c
    # the noise the export used to carry: float32 values printed with 16-17 digits, 1.1e-16 for 0
    assert "0.8333333134651184" not in text and "e-16" not in text and "e-15" not in text
    assert not re.search(r"\d\.\d{10,}", text)


@pytest.mark.parametrize("name", ["kardia", "rec100"])
def test_round_trip_keeps_the_values_and_the_flags(name, request):
    a = request.getfixturevalue(name)
    back = pd.read_csv(io.StringIO(beats_csv(a)), keep_default_na=False, dtype={"record": str})
    t = a.table
    fs = a.summary["fs"]
    assert back["record"].tolist() == t["record"].tolist()
    assert np.array_equal(back["beat"], t["beat"]) and np.array_equal(back["sample"], t["sample"])
    # each time within half a millisecond, so still nearer its own sample than any other at <= 1 kHz
    assert np.abs(back["time_s"] - t["time_s"]).max() <= 0.0005 + 1e-12
    assert np.array_equal(np.round(back["time_s"] * fs), t["sample"])  # samples are counted from 0 here
    for c in ("rr_prev_s", "rr_next_s"):
        assert np.abs(back[c] - t[c].astype(np.float64)).max() <= 0.0005 + 1e-7
    for c in SCORE_COLUMNS:
        ref = t[c].to_numpy(np.float64)
        assert np.allclose(back[c], ref, rtol=5e-6, atol=1e-9), c
    assert back["anomaly"].tolist() == t["anomaly"].tolist()
    assert back["low_quality"].tolist() == t["low_quality"].tolist()
    assert back["raised_by"].tolist() == t["raised_by"].tolist()


def test_reflagged_at_another_threshold_and_references_kept(rec100):
    rows = _rows(beats_csv(rec100, threshold=1e9))
    assert {r["anomaly"] for r in rows} == {"False"}
    rows = _rows(beats_csv(rec100))
    assert sum(r["anomaly"] == "True" for r in rows) == rec100.summary["n_anomalies"]
    assert [r["ref_symbol"] for r in rows] == rec100.table["ref_symbol"].tolist()
    assert rows[0]["ref_class"] == "N"


def test_header_only_once_when_appended(kardia, rec100):
    """The CLI appends one record after another: the second part has no header row."""
    second = beats_csv(rec100, header=False)
    assert not second.startswith("record,")
    rows = _rows(beats_csv(kardia) + second)
    assert len(rows) == len(kardia.table) + len(rec100.table)
    assert {r["record"] for r in rows} == {"kardia_100_300hz", "100"}


def test_time_decimals_follow_the_sampling_rate():
    assert [time_decimals(fs) for fs in (128, 250, 360, 500, 1000, 2000, 8000)] == [3, 3, 3, 3, 3, 4, 4]
    assert time_decimals(None) == 3 and time_decimals(float("nan")) == 3
