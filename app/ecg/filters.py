"""Resampling and filters: polyphase resampling to the model rate, band-pass, notch."""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal


def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """Integer (up, down) with up/down ~= fs_out/fs_in (polyphase factors)."""
    frac = Fraction(float(fs_out) / float(fs_in)).limit_denominator(1000)
    return frac.numerator, frac.denominator


def resample(x: np.ndarray, fs_in: float, fs_out: float = 360.0, copy: bool = True) -> np.ndarray:
    """Polyphase resampling of ``x`` (along axis 0) from ``fs_in`` to ``fs_out`` Hz.

    ``copy=False``: at equal rates, ``x`` itself when it is already float64 (no 250 MB copy of a
    24-hour lead; for callers that own ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    up, down = resample_ratio(fs_in, fs_out)
    if up == down:
        return x.copy() if copy else x
    return signal.resample_poly(x, up, down, axis=0, padtype="line")


@lru_cache(maxsize=64)
def _butter_sos(order: int, lo: float | None, hi: float | None, fs: float) -> np.ndarray:
    nyq = fs / 2.0
    if lo and hi and hi < nyq:
        return signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    if lo:
        return signal.butter(order, lo, btype="highpass", fs=fs, output="sos")
    return signal.butter(order, min(hi, 0.95 * nyq), btype="lowpass", fs=fs, output="sos")


def bandpass(x: np.ndarray, fs: float, lo: float = 0.5, hi: float = 40.0, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``); removes baseline wander and HF noise."""
    x = np.asarray(x, dtype=np.float64)
    sos = _butter_sos(order, lo, hi if hi < fs / 2.0 else None, float(fs))
    padlen = min(3 * (2 * len(sos) + 1), max(len(x) - 1, 0))
    return signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)


def notch(x: np.ndarray, fs: float, freq: float = 50.0, q: float = 30.0) -> np.ndarray:
    """Zero-phase powerline notch at ``freq`` (50 or 60 Hz); no-op when above Nyquist."""
    x = np.asarray(x, dtype=np.float64)
    if freq >= fs / 2.0:
        return x
    b, a = signal.iirnotch(freq, q, fs=fs)
    return signal.filtfilt(b, a, x, axis=0)


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN samples (edges take the nearest valid value)."""
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    good = np.flatnonzero(~bad)
    if good.size == 0:
        return np.zeros_like(x)
    y = x.copy()
    y[bad] = np.interp(np.flatnonzero(bad), good, x[good])
    return y


def clean_lead(x: np.ndarray, fs: float, powerline: float | None = None) -> np.ndarray:
    """The lead as the model and viewer see it: NaN-filled, 0.5-40 Hz band-pass, optional notch."""
    y = fill_nan(x)
    if powerline:
        y = notch(y, fs, powerline)
    return bandpass(y, fs, 0.5, 40.0)
