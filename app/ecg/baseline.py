"""Baseline drift left in a beat's window, taken out of what the model scores (rule v72).

The 0.5 Hz band-pass (``app.ecg.filters``) leaves baseline wander between 0.5 and ~1 Hz, and over a
beat's 0.71 s window that is a slope or a bow the VAE reads as shape: with the MIT-BIH noise stress
test's ``bw`` record at 6 dB, the beats keep a noise ratio near 0.1 (the QRS feature ignores slow
drift), so neither the student nor the other lead steps in, and their latent distance rises. The
baseline is estimated as de Chazal et al. (2004) do, two median filters of 200 ms and 600 ms (the
first takes out the QRS and P wave, the second the T wave), here on the lead averaged over blocks of
BLOCK samples (36 Hz at 360 Hz: ~10 ms per 30-min record). A beat whose window holds more than
FROM (of the record's amplitude scale) of it from end to end gets it subtracted, in full from
FROM + RAMP on; a clean beat (typically 0.02-0.06) keeps its window exactly. The displayed
windows, the quality index and the exports are never changed.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter, minimum_filter1d

BLOCK = 10  # samples averaged per baseline point (360 Hz -> 36 Hz)
MEDIANS_S = (0.2, 0.6)  # the two median filters (de Chazal et al. 2004)
FROM = 0.10  # the baseline's range across a window (x the amplitude scale) where subtraction starts ...
RAMP = 0.10  # ... and the width over which it rises to the whole baseline


def block_baseline(filtered: np.ndarray, fs: float) -> np.ndarray:
    """The lead's baseline at one point per BLOCK samples (block centres); empty for a short lead."""
    x = np.asarray(filtered, np.float64)
    fs_b = fs / BLOCK
    sizes = [max(3, int(round(s * fs_b)) | 1) for s in MEDIANS_S]
    n = len(x) // BLOCK
    if n < sizes[-1]:
        return np.zeros(0)
    b = x[: n * BLOCK].reshape(n, BLOCK).mean(axis=1)
    for size in sizes:
        b = median_filter(b, size=size, mode="nearest")
    return b


def baseline_share(b: np.ndarray, peaks: np.ndarray, before: int, after: int, scale: float) -> np.ndarray:
    """Per beat, the share of the baseline to subtract: ramp of its range across the window."""
    peaks = np.asarray(peaks, np.int64)
    if len(b) == 0 or len(peaks) == 0 or not scale > 0:
        return np.zeros(len(peaks))
    span = (before + after) // BLOCK + 1
    hi = maximum_filter1d(b, span, mode="nearest")
    lo = minimum_filter1d(b, span, mode="nearest")
    centre = np.clip((peaks + (after - before) // 2) // BLOCK, 0, len(b) - 1)
    rng = (hi - lo)[centre] / float(scale)
    return np.clip((rng - FROM) / RAMP, 0.0, 1.0)


def detrend(model_windows: np.ndarray, windows: np.ndarray, filtered: np.ndarray, peaks: np.ndarray,
            scale: float, before: int, fs: float) -> np.ndarray:
    """``model_windows`` (n, before+after), with the baseline taken out of the drifting beats' rows
    (a new array; ``model_windows`` itself when no beat drifts, or when it is ``windows`` and none do)."""
    after = model_windows.shape[1] - before
    b = block_baseline(filtered, fs)
    share = baseline_share(b, peaks, before, after, scale)
    rows = np.flatnonzero(share > 0)
    if rows.size == 0:
        return model_windows
    out = np.array(model_windows, np.float32, copy=True) if model_windows is windows else model_windows
    pos = np.asarray(peaks, np.int64)[rows, None] + np.arange(-before, after)[None, :]
    centres = np.arange(len(b)) * BLOCK + (BLOCK - 1) / 2.0
    base = np.interp(pos.ravel(), centres, b).reshape(pos.shape) / float(scale)
    out[rows] -= (share[rows, None] * base).astype(np.float32)
    return out
