"""Baseline drift left in the beats' windows, taken out of what the models score (rules v72-v73b).

The 0.5 Hz band-pass (``app.ecg.filters``) leaves baseline wander between 0.5 and ~1 Hz, and over a
beat's 0.71 s window that is a slope or a bow the VAE reads as shape: with the MIT-BIH noise stress
test's ``bw`` record at 6 dB the beats keep a noise ratio near 0.1 (the QRS feature ignores slow
drift), so neither the student nor the other lead steps in, and their latent distance rose. The
baseline is estimated as de Chazal et al. (2004) do, two median filters of 200 ms and 600 ms (the
first takes out the QRS and P wave, the second the T wave), here on the lead averaged over blocks of
BLOCK samples (36 Hz at 360 Hz: ~10 ms per 30-min record), and subtracted from every beat's model
window. The displayed windows, the quality index and the exports are never changed; the viewer
rebuilds the scored window from the displayed one and the block baseline (``app.analysis.scored_window``).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

BLOCK = 10  # samples averaged per baseline point (360 Hz -> 36 Hz)
MEDIANS_S = (0.2, 0.6)  # the two median filters (de Chazal et al. 2004)
ROWS_PER_CHUNK = 8192  # beats interpolated at once (a 24-h record's 120k windows stay within ~20 MB)


def block_baseline(filtered: np.ndarray, fs: float) -> np.ndarray:
    """The lead's baseline, one float32 point per BLOCK samples (block centres); empty for a lead
    shorter than the longer median filter."""
    x = np.asarray(filtered, np.float32)
    fs_b = fs / BLOCK
    sizes = [max(3, int(round(s * fs_b)) | 1) for s in MEDIANS_S]
    n = len(x) // BLOCK
    if n < sizes[-1]:
        return np.zeros(0, np.float32)
    b = x[: n * BLOCK].reshape(n, BLOCK).mean(axis=1, dtype=np.float64)
    for size in sizes:
        b = median_filter(b, size=size, mode="nearest")
    return b.astype(np.float32)


def baseline_windows(b: np.ndarray, peaks: np.ndarray, before: int, length: int) -> np.ndarray:
    """(n, length) float32: the block baseline ``b`` linearly interpolated at each window's samples
    (``peaks`` - ``before`` on; past the ends it stays at the end values)."""
    peaks = np.asarray(peaks, np.int64)
    out = np.zeros((len(peaks), length), np.float32)
    if len(b) == 0 or len(peaks) == 0:
        return out
    offs = np.arange(-before, length - before, dtype=np.float64)
    for a in range(0, len(peaks), ROWS_PER_CHUNK):
        pos = (peaks[a:a + ROWS_PER_CHUNK, None] + offs[None, :] - (BLOCK - 1) / 2.0) / BLOCK  # in blocks
        pos = np.clip(pos, 0.0, len(b) - 1.0)
        i = np.minimum(pos.astype(np.int64), len(b) - 2) if len(b) > 1 else np.zeros(pos.shape, np.int64)
        frac = (pos - i).astype(np.float32)
        hi = b[np.minimum(i + 1, len(b) - 1)]
        out[a:a + ROWS_PER_CHUNK] = b[i] + frac * (hi - b[i])
    return out


def detrend(model_windows: np.ndarray, windows: np.ndarray, b: np.ndarray, peaks: np.ndarray,
            scale: float, before: int) -> np.ndarray:
    """``model_windows`` minus each window's baseline (``b``: ``block_baseline`` of the lead the
    windows come from, in its units; ``scale``: the windows' amplitude scale). A new array when
    ``model_windows`` is ``windows`` (the displayed ones stay as they are), else changed in place."""
    if len(b) == 0 or len(model_windows) == 0 or not scale > 0:
        return model_windows
    out = np.array(model_windows, np.float32, copy=True) if model_windows is windows else model_windows
    out -= baseline_windows(b, peaks, before, out.shape[1]) / np.float32(scale)
    return out
