"""app.compact: cache entries stored compact and bounded, signals lossless, beat rows to 1/2048."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from app import compact
from app.analysis import analyze
from app.cache import content_hash
from app.ecg.readers import read_csv_bytes, read_record
from tests.conftest import SAMPLES

# measured 5.2 MB/h (record 100) and 6.9 MB/h (213) for 2-lead 360 Hz records; naive pickle: 26-31
MAX_MB_PER_HOUR = 10.0


@pytest.fixture(scope="module")
def rec213():
    return read_record(str(SAMPLES / "213"))


@pytest.fixture(scope="module")
def analysis213(rec213):
    return analyze(rec213)


def test_wfdb_signals_are_stored_as_int16_codes_bit_for_bit(rec213):
    packed = compact.pack_signal(rec213.signals)
    assert [kind for kind, _, _ in packed.leads] == ["codes", "codes"]
    assert [gain for _, gain, _ in packed.leads] == [200.0, 200.0]  # MIT-BIH: 200 ADC units per mV
    back = compact.unpack_signal(packed)
    assert back.dtype == np.float32 and back.tobytes() == rec213.signals.tobytes()
    assert packed.nbytes < rec213.signals.nbytes / 4  # int16 + delta + zlib


def test_signals_off_any_grid_fall_back_to_float32_and_nan_survives(rec213):
    x = rec213.signals[:20000].copy() * np.float32(1.0000123)  # not code/gain any more
    x[100:110, 1] = np.nan
    packed = compact.pack_signal(x)
    back = compact.unpack_signal(packed)
    assert back.tobytes() == x.tobytes()
    on_grid = rec213.signals[:20000].copy()
    on_grid[5:9, 0] = np.nan  # a WFDB missing-sample run
    packed = compact.pack_signal(on_grid)
    assert packed.leads[0][0] == "codes"
    assert compact.unpack_signal(packed).tobytes() == on_grid.tobytes()


def test_csv_recording_round_trips_with_the_same_content_hash():
    rec = read_record(str(SAMPLES / "100"))
    rows = "\n".join(f"{a:.3f},{b:.3f}" for a, b in rec.signals[:36000])
    csv = read_csv_bytes(("MLII,V5\n" + rows).encode(), "x.csv", fs=360.0)
    back = compact.recording_from_bytes(compact.recording_bytes(csv))
    assert back.signals.tobytes() == csv.signals.tobytes() and content_hash(back) == content_hash(csv)


def test_packed_rows_read_like_the_array_within_half_a_grid_step(analysis213):
    w = analysis213.windows
    rows = compact.PackedRows(w, block=500)  # several blocks
    assert len(rows) == len(w) and rows.shape == w.shape and rows.dtype == np.float32
    half = compact.ROW_STEP / 2 + 1e-6
    assert np.abs(rows[7] - w[7]).max() <= half
    assert np.abs(rows[-1] - w[-1]).max() <= half
    pick = [3, 499, 500, 1501, len(w) - 1]
    assert np.abs(rows[pick] - w[pick]).max() <= half
    assert np.abs(rows[np.array(pick)] - w[pick]).max() <= half
    assert np.abs(np.asarray(rows, dtype=float) - w).max() <= half
    big = np.zeros((3, 256), np.float32)
    big[1, 10] = 300.0  # an artefact far outside the usual range: a coarser grid for its block
    assert np.abs(np.asarray(compact.PackedRows(big)) - big).max() < 300.0 / 32000
    with pytest.raises(IndexError):
        rows[len(w)]


def test_entry_round_trip_is_complete_and_bounded_per_hour(rec213, analysis213):
    naive = len(pickle.dumps((rec213, analysis213), protocol=5))
    data = compact.entry_bytes(rec213, analysis213)
    hours = rec213.duration_s / 3600
    assert len(data) / 1e6 / hours <= MAX_MB_PER_HOUR
    assert len(data) < naive / 3
    rec, an = compact.entry_from_bytes(data)
    assert rec.signals.tobytes() == rec213.signals.tobytes() and rec.ref_symbols.tolist() == rec213.ref_symbols.tolist()
    assert an.table.equals(analysis213.table)
    assert np.array_equal(an.latent, analysis213.latent)
    assert an.summary == analysis213.summary and an.thresholds == analysis213.thresholds
    assert np.abs(an.recon[42] - analysis213.recon[42]).max() <= compact.ROW_STEP
    assert an.beats.windows is an.windows and len(an.beats.filtered) == 0  # not read by any page
    assert np.array_equal(an.beats.samples, analysis213.beats.samples)
    # a compact entry packs again without re-encoding its rows (a job's result stored by put_entry)
    assert compact.compact_analysis(an).recon is an.recon
    again = compact.entry_bytes(rec, an)
    assert abs(len(again) - len(data)) < 0.01 * len(data)
    assert compact.entry_from_bytes(again)[1].table.equals(analysis213.table)
    assert compact.entry_from_bytes(b"not an entry") is None
