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


def _template(filtered: np.ndarray, peaks: np.ndarray, quiet: np.ndarray, h: int) -> np.ndarray | None:
    """Unit-norm, zero-mean median of the ``quiet`` beats' +-h samples around ``peaks``; None if flat."""
    n = len(filtered)
    spread = quiet[np.linspace(0, len(quiet) - 1, min(len(quiet), TEMPLATE_BEATS)).astype(np.int64)]
    template = np.median(filtered[np.clip(peaks[spread][:, None] + np.arange(-h, h + 1), 0, n - 1)], axis=0)
    template = template - template.mean()
    norm = float(np.linalg.norm(template))
    return template / norm if norm > 0 else None


def _fit(filtered: np.ndarray, at: np.ndarray, template: np.ndarray, h: int, lag_max: int) -> np.ndarray:
    """(beats, lags) Pearson correlation of ``template`` with ``filtered`` at ``at`` + each lag."""
    span = np.arange(-h - lag_max, h + lag_max + 1)
    seg = filtered[np.clip(at[:, None] + span, 0, len(filtered) - 1)].astype(np.float64)
    win = sliding_window_view(seg, 2 * h + 1, axis=1)  # (beats, lags, samples)
    centred = win - win.mean(axis=2, keepdims=True)
    return (centred @ template) / np.maximum(np.linalg.norm(centred, axis=2), 1e-12)


def realigned(filtered: np.ndarray, peaks: np.ndarray, noise_ratio: np.ndarray, fs: float,
              other: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``peaks`` (sorted sample indices into ``filtered``) with the noisy beats' re-aligned.

    ``other``: optional (another lead's filtered samples, its noise ratio at each peak). Each lead's
    fit is then measured against its own quiet beats' template and the two fits are averaged with the
    R-peak detector's lead weights (1 / r^2, normalized): where the analysed lead is buried in noise
    the cleaner lead places the beat."""
    peaks = np.asarray(peaks, np.int64)
    r = np.asarray(noise_ratio, np.float64)
    noisy = np.isfinite(r) & (r > NOISY_FROM)
    quiet = np.flatnonzero(np.isfinite(r) & ~noisy)
    if not noisy.any() or len(quiet) < MIN_QUIET:
        return peaks
    h, lag_max = max(int(round(HALF_S * fs)), 1), max(int(round(SHIFT_S * fs)), 1)
    template = _template(filtered, peaks, quiet, h)
    if template is None:
        return peaks
    second = None
    if other is not None:
        f2, r2 = other[0], np.asarray(other[1], np.float64)
        quiet2 = np.flatnonzero(np.isfinite(r2) & (r2 <= NOISY_FROM))
        t2 = _template(f2, peaks, quiet2, h) if len(quiet2) >= MIN_QUIET else None
        second = None if t2 is None else (f2, r2, t2)
    out = peaks.copy()
    rows = np.flatnonzero(noisy)
    for i in range(0, len(rows), CHUNK):
        rr = rows[i:i + CHUNK]
        ncc = _fit(filtered, peaks[rr], template, h, lag_max)
        if second is not None:
            f2, r2, t2 = second
            w1 = 1.0 / r[rr] ** 2
            w2 = np.where(np.isfinite(r2[rr]), 1.0 / np.maximum(r2[rr], 1e-6) ** 2, 0.0)
            ncc = (w1[:, None] * ncc + w2[:, None] * _fit(f2, peaks[rr], t2, h, lag_max)) / (w1 + w2)[:, None]
        best = np.argmax(ncc, axis=1)
        move = ncc[np.arange(len(rr)), best] >= MIN_NCC
        out[rr[move]] = np.clip(peaks[rr[move]] + best[move] - lag_max, 0, len(filtered) - 1)
    return out
