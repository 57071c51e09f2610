"""Issue 6 item 2: property tests of the readers (hypothesis).

Whatever bytes arrive, a reader returns a valid Recording or raises InvalidRecordError, never
another exception, and never leaves a temporary file.
"""
from __future__ import annotations

import math
import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ecg.errors import InvalidRecordError
from app.ecg.readers import read_csv_bytes, read_upload
from tests.hypothesis_budget import budget

PROPS = settings(**budget(250, derandomize=True), deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_valid_recording(rec) -> None:
    assert rec.signals.ndim == 2 and rec.signals.shape[1] >= 1
    assert rec.n_samples / rec.fs >= 10.0
    assert math.isfinite(rec.fs) and rec.fs > 0
    assert len(rec.leads) == rec.signals.shape[1]
    assert np.isfinite(rec.signals).any(axis=0).all()


def read_or_invalid(fn, *args, **kwargs):
    """The reader's result, or None for InvalidRecordError; any other exception fails the test."""
    try:
        rec = fn(*args, **kwargs)
    except InvalidRecordError as err:
        assert str(err)  # a message for the user
        return None
    assert_valid_recording(rec)
    return rec


@PROPS
@given(data=st.binary(max_size=4096), fs=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_csv_reader_on_arbitrary_bytes(data, fs):
    read_or_invalid(read_csv_bytes, data, "any.csv", fs=fs)


_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(lambda v: f"{v:.4g}"),
    st.integers(-5000, 5000).map(str),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-", "1e999", "abc", "0x1f", "1,5"]),
)


@st.composite
def csv_texts(draw):
    """CSV-like text: optional header, optional time column, a delimiter, numbers and junk."""
    delim = draw(st.sampled_from([",", ";", "\t", " ", "|"]))
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(0, 5000))
    with_time = draw(st.booleans())
    fs = draw(st.sampled_from([1.0, 100.0, 250.0, 360.0, 1000.0]))
    base = np.sin(np.arange(n_rows) * 2 * np.pi * 1.2 / fs)[:, None] * np.ones(n_cols)
    rows = [[f"{v:.4f}" for v in row] for row in base]
    for _ in range(draw(st.integers(0, 5))):  # sprinkle junk
        if rows:
            i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, n_cols - 1))
            rows[i][j] = draw(_number)
    if with_time:
        scale = draw(st.sampled_from([1.0, 1000.0]))
        rows = [[f"{k / fs * scale:.6f}"] + r for k, r in enumerate(rows)]
    lines = [delim.join(r) for r in rows]
    if draw(st.booleans()):
        names = (["time_ms" if with_time else "t"] if with_time else []) + [f"L{j}" for j in range(n_cols)]
        lines.insert(0, delim.join(names))
    return ("\n".join(lines) + "\n").encode(), (None if with_time else fs)


@PROPS
@given(case=csv_texts(), units=st.sampled_from(["mV", "uV", "V", "", "furlongs"]))
def test_csv_reader_on_structured_and_junky_text(case, units):
    data, fs = case
    read_or_invalid(read_csv_bytes, data, "gen.csv", fs=fs, units=units)


def _small_wfdb(n: int = 7200, fs: int = 360, fmt: str = "16") -> dict[str, bytes]:
    t = np.arange(n)
    x = (200 * np.sin(2 * np.pi * 1.1 * t / fs) + 50 * np.sin(2 * np.pi * 17 * t / fs)).astype("<i2")
    hea = f"g 1 {fs} {n}\ng.dat {fmt} 200 16 0 {int(x[0])} 0 0 MLII\n"
    return {"g.hea": hea.encode(), "g.dat": x.tobytes()}


@PROPS
@given(
    hea_edits=st.lists(st.tuples(st.integers(0, 80), st.binary(min_size=1, max_size=3)), max_size=4),
    dat_cut=st.integers(0, 14400),
    extra=st.dictionaries(st.sampled_from(["g.atr", "g.csv", "h.dat", "G.HEA"]), st.binary(max_size=64),
                          max_size=2),
)
def test_wfdb_upload_with_mutated_header_and_data(hea_edits, dat_cut, extra):
    files = _small_wfdb()
    hea = bytearray(files["g.hea"])
    for pos, repl in hea_edits:
        pos = min(pos, len(hea))
        hea[pos:pos + len(repl)] = repl
    files["g.hea"] = bytes(hea)
    files["g.dat"] = files["g.dat"][: len(files["g.dat"]) - dat_cut]
    files.update(extra)
    with tempfile.TemporaryDirectory() as private:
        old = tempfile.tempdir
        tempfile.tempdir = private
        try:
            read_or_invalid(read_upload, files)
        finally:
            tempfile.tempdir = old
        assert os.listdir(private) == []


def test_the_unmutated_small_record_is_valid():
    rec = read_upload(_small_wfdb())
    assert rec.n_samples == 7200 and rec.fs == 360 and rec.leads == ["MLII"]
