"""R-peak detection: a vectorized Pan-Tompkins-style detector.

Band-pass 5-15 Hz, derivative, squaring, moving-window integration (150 ms); candidate peaks by
``scipy.signal.find_peaks`` with a 200 ms refractory distance; thresholds adapted to the local
beat level over sliding blocks; T-wave rejection by slope; searchback in long RR gaps; each peak
refined to the extremum of the band-passed signal (polarity chosen per record).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from app.ecg.filters import _butter_sos, fill_nan

REFRACTORY_S = 0.2
MWI_S = 0.15
BLOCK_S = 5.0  # adaptive levels are computed per block over a +-CONTEXT_BLOCKS neighbourhood
CONTEXT_BLOCKS = 2
THRESHOLD = 0.3  # fraction of the local beat level (in sqrt-MWI units)
SEARCHBACK = 1.66  # RR gaps this many local RRs long are searched again
SEARCHBACK_THRESHOLD = 0.5  # ... with this fraction of the threshold
T_WAVE_S = 0.36
REFINE_S = 0.08


def qrs_feature(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band-passed 5-15 Hz, derivative, sqrt of the 150 ms moving integral of its square)."""
    bp = signal.sosfiltfilt(_butter_sos(2, 5.0, 15.0, float(fs)), x)
    d = np.empty_like(bp)
    d[1:-1] = (bp[2:] - bp[:-2]) * 0.5
    d[0], d[-1] = d[1], d[-2]
    mwi = ndimage.uniform_filter1d(d * d, size=max(int(MWI_S * fs), 1), mode="nearest")
    return bp, d, np.sqrt(mwi)


def local_levels(pos: np.ndarray, h: np.ndarray, n: int, fs: float) -> np.ndarray:
    """Typical beat height around each candidate: per-block robust level, interpolated."""
    block = int(BLOCK_S * fs)
    nb = max(int(np.ceil(n / block)), 1)
    which = np.minimum(pos // block, nb - 1)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(nb + 1))
    hs = h[order]
    levels = np.full(nb, np.nan)
    for b in range(nb):
        lo, hi = bounds[max(b - CONTEXT_BLOCKS, 0)], bounds[min(b + CONTEXT_BLOCKS + 1, nb)]
        if hi <= lo:
            continue
        v = hs[lo:hi]
        top = np.percentile(v, 95)
        levels[b] = np.median(v[v >= 0.3 * top])
    ok = np.isfinite(levels)
    if not ok.any():
        return np.full(len(pos), np.inf)
    centers = (np.arange(nb) + 0.5) * block
    lv = np.interp(pos, centers[ok], levels[ok])
    return lv


def _drop_t_waves(peaks: np.ndarray, slope: np.ndarray, fs: float) -> np.ndarray:
    """Drop a peak that follows its predecessor within 360 ms with less than half its slope."""
    keep = np.ones(len(peaks), dtype=bool)
    if len(peaks) < 2:
        return keep
    close = np.diff(peaks) < T_WAVE_S * fs
    weak = slope[1:] < 0.5 * slope[:-1]
    keep[1:] = ~(close & weak)
    return keep


def _searchback(acc: np.ndarray, cand: np.ndarray, h: np.ndarray, thr: np.ndarray,
                fs: float) -> np.ndarray:
    """Add the highest candidate inside RR gaps longer than SEARCHBACK local RRs."""
    for _ in range(4):
        if len(acc) < 3:
            return acc
        pk = cand[acc]
        rr = np.diff(pk)
        k = min(9, len(rr))
        pad = np.pad(rr, (k // 2, k - 1 - k // 2), mode="edge")
        local = np.median(np.lib.stride_tricks.sliding_window_view(pad, k), axis=1)
        gaps = np.flatnonzero(rr > SEARCHBACK * local)
        if gaps.size == 0:
            return acc
        added = []
        min_sep = REFRACTORY_S * fs
        for g in gaps:
            a, b = acc[g], acc[g + 1]
            idx = np.arange(a + 1, b)
            if idx.size == 0:
                continue
            ok = (cand[idx] - cand[a] > min_sep) & (cand[b] - cand[idx] > min_sep) \
                & (h[idx] > SEARCHBACK_THRESHOLD * thr[idx])
            idx = idx[ok]
            if idx.size:
                added.append(idx[np.argmax(h[idx])])
        if not added:
            return acc
        acc = np.union1d(acc, np.asarray(added))
    return acc


def refine_peaks(peaks: np.ndarray, y: np.ndarray, fs: float, radius_s: float = REFINE_S) -> np.ndarray:
    """Move each peak to the extremum of ``y`` within +-radius, with the record's QRS polarity."""
    if len(peaks) == 0:
        return peaks
    r = max(int(radius_s * fs), 1)
    idx = np.clip(peaks[:, None] + np.arange(-r, r + 1), 0, len(y) - 1)
    seg = y[idx]
    sign = 1.0 if np.median(seg.max(axis=1)) >= np.median(-seg.min(axis=1)) else -1.0
    return idx[np.arange(len(peaks)), np.argmax(sign * seg, axis=1)]


def _enforce_refractory(peaks: np.ndarray, weight: np.ndarray, fs: float) -> np.ndarray:
    """After refinement, of two peaks closer than the refractory period keep the stronger."""
    peaks, first = np.unique(peaks, return_index=True)
    weight = weight[first]
    while len(peaks) > 1:
        close = np.flatnonzero(np.diff(peaks) < REFRACTORY_S * fs)
        if close.size == 0:
            break
        drop = np.where(weight[close] >= weight[close + 1], close + 1, close)
        keep = np.ones(len(peaks), dtype=bool)
        keep[np.unique(drop)] = False
        peaks, weight = peaks[keep], weight[keep]
    return peaks


def detect_rpeaks(x, fs: float) -> np.ndarray:
    """R-peak sample indices (int64, sorted) of one ECG lead ``x`` sampled at ``fs`` Hz."""
    x = fill_nan(np.asarray(x, dtype=np.float64).ravel())
    fs = float(fs)
    if len(x) < int(0.5 * fs) or not np.ptp(x) > 0:
        return np.zeros(0, dtype=np.int64)
    bp, d, feat = qrs_feature(x, fs)
    cand, _ = signal.find_peaks(feat, distance=max(int(REFRACTORY_S * fs), 1))
    if cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    h = feat[cand]
    thr = THRESHOLD * local_levels(cand, h, len(x), fs)
    acc = np.flatnonzero(h > thr)
    slope_all = ndimage.maximum_filter1d(np.abs(d), size=max(int(0.15 * fs), 1))
    slope = slope_all[cand]
    keep = _drop_t_waves(cand[acc], slope[acc], fs)
    acc = acc[keep]
    acc = _searchback(acc, cand, h, thr, fs)
    peaks = refine_peaks(cand[acc], bp, fs)
    peaks = _enforce_refractory(peaks, h[acc], fs)
    return peaks.astype(np.int64)
