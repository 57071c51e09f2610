"""Where the rhythm is measured: noisy beats' R-peaks re-aligned to the record's own QRS template.

In noise the detector's R-peak (the band-passed lead's extremum near the QRS feature's peak) moves:
on DS1 at 6 dB against the same records' clean detections, p90 |shift| 44 ms in electrode-motion
noise, 8 ms in muscle noise, so the rhythm features see normal beats in noise as early or late. A
beat whose own noise ratio is above NOISY_FROM is moved to where its filtered lead correlates best
(Pearson, +-HALF_S around the peak) with the median of the record's quiet beats, within +-SHIFT_S,
if that fit is at least MIN_NCC (a beat unlike the template, an ectopic one, stays where it was
detected).

Only the rhythm features use the re-aligned times (``BeatSet.rhythm_times``): the beat windows
the models see, the displayed beats and RR intervals and the exports keep the detector's peaks.
On DS1 all of the gain of re-aligning came from the timing (rules v49b and v54, README:
Reliability). Detections never reorder: they are >= 200 ms apart, shifts <= 50 ms.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

NOISY_FROM = 0.2  # the beat noise ratio (pipeline.beat_noise_ratio) above which a peak may move
HALF_S = 0.08  # the template: +-80 ms around the R-peak (the QRS complex)
SHIFT_S = 0.05  # a peak moves at most this far
MIN_QUIET = 20  # quiet beats needed for a template
TEMPLATE_BEATS = 2048  # at most this many quiet beats, spread over the record, make the template
CHUNK = 2048  # noisy beats per vectorized step (bounded memory)
MIN_NCC = 0.7  # a beat moves only where the template fits it this well


def realigned(filtered: np.ndarray, peaks: np.ndarray, noise_ratio: np.ndarray, fs: float) -> np.ndarray:
    """``peaks`` (sorted sample indices into ``filtered``) with the noisy beats' re-aligned."""
    peaks = np.asarray(peaks, np.int64)
    r = np.asarray(noise_ratio, np.float64)
    noisy = np.isfinite(r) & (r > NOISY_FROM)
    quiet = np.flatnonzero(np.isfinite(r) & ~noisy)
    if not noisy.any() or len(quiet) < MIN_QUIET:
        return peaks
    h, lag_max = max(int(round(HALF_S * fs)), 1), max(int(round(SHIFT_S * fs)), 1)
    n = len(filtered)
    spread = quiet[np.linspace(0, len(quiet) - 1, min(len(quiet), TEMPLATE_BEATS)).astype(np.int64)]
    template = np.median(filtered[np.clip(peaks[spread][:, None] + np.arange(-h, h + 1), 0, n - 1)], axis=0)
    template = template - template.mean()
    norm = float(np.linalg.norm(template))
    if not norm > 0:
        return peaks
    template /= norm
    out = peaks.copy()
    rows = np.flatnonzero(noisy)
    span = np.arange(-h - lag_max, h + lag_max + 1)
    for i in range(0, len(rows), CHUNK):
        rr = rows[i:i + CHUNK]
        seg = filtered[np.clip(peaks[rr][:, None] + span, 0, n - 1)].astype(np.float64)
        win = sliding_window_view(seg, 2 * h + 1, axis=1)  # (beats, lags, samples)
        centred = win - win.mean(axis=2, keepdims=True)
        ncc = (centred @ template) / np.maximum(np.linalg.norm(centred, axis=2), 1e-12)
        best = np.argmax(ncc, axis=1)
        move = ncc[np.arange(len(rr)), best] >= MIN_NCC
        out[rr[move]] = np.clip(peaks[rr[move]] + best[move] - lag_max, 0, n - 1)
    return out
