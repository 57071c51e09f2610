"""Realistic device exports made at run time from the bundled MIT-BIH records (nothing large is committed).

Consumer and clinic ECG devices export short CSVs at rates other than MIT-BIH's 360 Hz. Each
function here cuts a piece of a bundled record, resamples it with ``scipy.signal.resample_poly``
and writes it as such a device would. ``Export.ref_samples`` are the record's reference beats
(beat symbols of its ``.atr``) inside the piece, mapped to the new rate, to judge the detector.

The 12-lead export is NOT a real 12-lead ECG: MIT-BIH has two leads, so lead II is MLII and the
other eleven columns are linear combinations of MLII and the record's second lead (V1 for 233),
with the limb leads obeying Einthoven's and Goldberger's relations.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from app.config import SAMPLES_DIR
from app.ecg.readers import read_record

MIT_FS = 360
TWELVE_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass
class Export:
    name: str
    data: bytes
    fs: float               # the export's sampling rate
    ref_samples: np.ndarray  # reference beats inside the piece, at ``fs``
    form: dict              # what the user must tell the app (fs, units)
    n_leads: int


def _piece(record: str, start_s: float, dur_s: float, fs: int):
    """(signals at ``fs`` (n, 2) in mV, reference beats at ``fs``) of ``record`` from ``start_s``."""
    rec = read_record(SAMPLES_DIR / record)
    a, n = int(round(start_s * MIT_FS)), int(round(dur_s * MIT_FS))
    x = rec.signals[a:a + n].astype(np.float64)
    r = Fraction(fs, MIT_FS)
    y = resample_poly(x, r.numerator, r.denominator, axis=0)
    ref = rec.ref_samples[(rec.ref_samples >= a) & (rec.ref_samples < a + n)] - a
    return y, np.round(ref * fs / MIT_FS).astype(np.int64)


def _lines(header: list[str] | None, rows: np.ndarray, fmt: str) -> bytes:
    out = [",".join(header)] if header else []
    out += [",".join(fmt % v for v in row) for row in rows]
    return ("\n".join(out) + "\n").encode()


def kardia_like(record: str = "100", start_s: float = 60.0) -> Export:
    """(a) 30 s, single lead, 300 Hz, a time column in milliseconds, mV."""
    fs = 300
    y, ref = _piece(record, start_s, 30.0, fs)
    t_ms = np.arange(len(y)) * 1000.0 / fs
    rows = np.column_stack([t_ms, y[:, 0]])
    return Export(f"kardia_{record}_300hz.csv", _lines(["Time (ms)", "ECG (mV)"], rows, "%.3f"), fs, ref, {}, 1)


def twelve_lead(record: str = "233", start_s: float = 120.0, dur_s: float = 10.0) -> Export:
    """(b) 10 s, 12 leads named I..V6, 500 Hz, time column in seconds, values in microvolts."""
    fs = 500
    y, ref = _piece(record, start_s, dur_s, fs)
    ii, v = y[:, 0], y[:, 1]
    i_ = 0.55 * ii + 0.15 * v
    leads = {"I": i_, "II": ii, "III": ii - i_, "aVR": -(i_ + ii) / 2, "aVL": i_ - ii / 2, "aVF": ii - i_ / 2,
             "V1": v, "V2": 0.8 * v + 0.3 * ii, "V3": 0.5 * v + 0.6 * ii, "V4": 0.2 * v + 0.9 * ii,
             "V5": 1.0 * ii - 0.1 * v, "V6": 0.8 * ii - 0.1 * v}
    t = np.arange(len(y)) / fs
    rows = np.column_stack([t] + [leads[k] * 1000.0 for k in TWELVE_LEADS])
    return Export(f"clinic12_{record}_500hz.csv", _lines(["time", *TWELVE_LEADS], rows, "%.3f"), fs, ref,
                  {"units": "uV"}, 12)


def no_time_column(record: str = "105", start_s: float = 300.0) -> Export:
    """(c) 2 min, two leads, 250 Hz, no time column (the sampling rate must be given), mV."""
    fs = 250
    y, ref = _piece(record, start_s, 120.0, fs)
    return Export(f"holter_{record}_250hz.csv", _lines(["MLII", "V1"], y, "%.4f"), fs, ref, {"fs": fs}, 2)


def electrode_off(record: str = "100", start_s: float = 600.0, off=(18.0, 27.0)) -> Export:
    """(d) 45 s, single lead, 500 Hz, the electrode off (flat 0 mV) from ``off[0]`` to ``off[1]`` s.
    ``ref_samples`` keeps only the beats outside the flat stretch."""
    fs = 500
    y, ref = _piece(record, start_s, 45.0, fs)
    a, b = int(off[0] * fs), int(off[1] * fs)
    x = y[:, 0].copy()
    x[a:b] = 0.0
    t = np.arange(len(x)) / fs
    ref = ref[(ref < a) | (ref >= b)]
    return Export(f"patch_{record}_off_500hz.csv", _lines(["t", "ECG"], np.column_stack([t, x]), "%.4f"), fs, ref,
                  {}, 1)


def all_exports() -> list[Export]:
    return [kardia_like(), twelve_lead(), no_time_column(), electrode_off()]
