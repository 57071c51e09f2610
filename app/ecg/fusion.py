"""Noise-robust R-peak detection: the leads' QRS features combined, and extra beats in noise removed.

Motion and muscle artefacts rarely hit every lead alike, and a noise burst's spikes fall between
beats. Two steps use that (tuned on DS1 with the MIT-BIH Noise Stress Test noises; see
``benchmarks.noise``):

1. ``fused_feature``: in the analysed lead's noisy stretches (local median / local beat level of
   its QRS feature ``rpeaks.qrs_feature`` above FUSE_RATIO, per 2-s block, median over 5 blocks,
   widened by FUSE_MARGIN blocks), every lead's feature is put in units of its own beat level
   (98th percentile) and the leads are averaged with weights (beat level / median)^2: a lead
   buried in noise drops out, clean leads vote together. Clean stretches are left as they are
   and cost only the block statistics.
2. ``drop_extra_beats``: in noisy stretches only (ratio above NOISY_RATIO), a beat weaker than
   both neighbours that sits inside one ordinary RR interval (previous + next RR below RR_SPLIT x
   the local long RR) is a noise spike splitting that interval: it goes. A premature ectopic
   beat is kept by its compensatory pause or its height.

Long stretches are processed in pieces of at most CHUNK samples (bounded temporaries on a
24-hour record).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, median_filter

from app.ecg.filters import fill_nan
from app.ecg.parallel import submit_or_run

BLOCK_S = 2.0  # local statistics per block ...
SMOOTH_BLOCKS = 5  # ... median-filtered over this many blocks
LEVEL_Q, FLOOR_Q = 98.0, 50.0  # beat level and noise floor: percentiles of the feature per block
STATS_STRIDE = 4  # ... of every 4th sample (the feature is a 150-ms moving integral: smooth)
WEIGHT_POWER = 2.0  # lead weight = (level / floor) ** WEIGHT_POWER ...
FLAT_LEVEL = 1e-9  # ... and 0 where the beat level is below this (a flat or missing stretch)
MAX_LEADS = 3  # the analysed lead and at most two others
CHUNK = 1 << 21  # samples per piece (97 minutes at 360 Hz)
PAD = 1024  # samples of context on each side of a piece of another lead (filter edges)
NOISY_RATIO = 0.2  # floor / level above this: a noisy stretch (extra-beat check)
FUSE_RATIO = 0.25  # ... where the other leads are consulted
FUSE_MARGIN = 2  # ... and this many blocks either side
RR_SPLIT = 1.3  # previous + next RR below this x the local long RR: the beat splits one interval
WEAKER = 0.8  # ... and below this fraction of both neighbours' height
RR_CONTEXT = 31  # beats behind the local long RR ...
RR_Q = 90.0  # ... its percentile (extra beats shorten most RRs; the longest stay)
PASSES = 6


def block_length(fs: float) -> int:
    return max(int(BLOCK_S * fs), 1)


def block_stats(feat: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block centres, smoothed beat level, smoothed noise floor) of a QRS feature, per block of
    BLOCK_S from sample 0 (a record shorter than a block is one block)."""
    b = block_length(fs)
    nb = max(len(feat) // b, 1)
    m = np.asarray(feat[: nb * b] if len(feat) >= b else feat).reshape(nb, -1)[:, ::STATS_STRIDE]
    level, floor = np.percentile(m, [LEVEL_Q, FLOOR_Q], axis=1)
    k = min(SMOOTH_BLOCKS, nb)
    level = median_filter(level, k, mode="nearest")
    floor = median_filter(floor, k, mode="nearest")
    centres = (np.arange(nb) + 0.5) * (b if len(feat) >= b else len(feat))
    return centres, np.maximum(level, 1e-12), np.maximum(floor, 1e-12)


def noise_ratio_at(pos: np.ndarray, stats) -> np.ndarray:
    """Noise floor / beat level of the block statistics, at sample positions ``pos``."""
    centres, level, floor = stats
    return np.interp(pos, centres, floor / level)


def lead_feature(x: np.ndarray, a: int, b: int, fs: float, feature) -> tuple[np.ndarray, np.ndarray]:
    """(derivative, QRS feature) of samples ``a:b`` of an extra lead, computed with PAD samples of
    context on each side (filter edges)."""
    lo, hi = max(a - PAD, 0), min(b + PAD, len(x))
    _, d, f = feature(fill_nan(x[lo:hi]), fs)
    return d[a - lo: b - lo], f[a - lo: b - lo]


def noisy_runs(stats, n: int, fs: float) -> list[tuple[int, int]]:
    """Sample ranges [a, b) of the blocks whose noise ratio exceeds FUSE_RATIO, widened by
    FUSE_MARGIN blocks on each side (block grid of ``block_stats``)."""
    centres, level, floor = stats
    noisy = binary_dilation(floor / level > FUSE_RATIO, iterations=FUSE_MARGIN) if len(level) > 1 \
        else floor / level > FUSE_RATIO
    if not noisy.any():
        return []
    block = block_length(fs)
    step = max(CHUNK // block, 1) * block  # long stretches in pieces (bounded temporaries)
    edges = np.flatnonzero(np.diff(np.r_[0, noisy.astype(np.int8), 0]))
    runs = []
    for first, last in zip(edges[::2], edges[1::2]):
        a, b = int(first) * block, n if last >= len(noisy) else int(last) * block
        runs += [(s, min(s + step, b)) for s in range(a, b, step)]
    return runs


def _weight(level: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """A lead's weight per block: (level / floor) ** WEIGHT_POWER; 0 where the lead is flat."""
    return np.where(level > FLAT_LEVEL, (level / floor) ** WEIGHT_POWER, 0.0)


def fused_feature(d: np.ndarray, feat: np.ndarray, others, fs: float, feature, executor=None,
                  stats=None) -> list[tuple[int, int]]:
    """The analysed lead's (d, feat) with the other leads' averaged in over the noisy stretches of
    ``feat`` (in place); elsewhere untouched. Returns the stretches [a, b) that were changed.
    ``stats``: ``block_stats(feat, fs)`` when the caller has it.

    In a stretch, every lead's feature is divided by its local beat level and
    fused^2 = sum_i c_i (f_i / level_i)^2, c_i = w_i / sum_j w_j per block (w = (level / floor)
    ** WEIGHT_POWER), interpolated between block centres; the result is multiplied by the analysed
    lead's level again, so that the detector's thresholds see one continuous scale."""
    n = len(feat)
    centres, level0, floor0 = stats0 = stats if stats is not None else block_stats(feat, fs)
    runs = noisy_runs(stats0, n, fs) if len(others) else []
    block = block_length(fs)
    for a, b in runs:
        job = [submit_or_run(executor, lead_feature, o, a, b, fs, feature) for o in others]
        k0, k1 = a // block, min(-(-b // block), len(level0))
        c_run = centres[k0:k1]
        pos = np.arange(a, b, dtype=np.float64)
        lv0 = np.interp(pos, c_run, level0[k0:k1])
        weights = [_weight(level0[k0:k1], floor0[k0:k1])]
        feats = [(d[a:b] / lv0, feat[a:b] / lv0)]
        for f in job:
            de, fe = f.result()
            _, lv, fl = block_stats(fe, fs)  # a stretch starts on the block grid: the same k1 - k0 blocks
            weights.append(_weight(lv, fl))
            lvi = np.interp(pos, c_run, lv)
            feats.append((de / lvi, fe / lvi))
        total = np.maximum(np.sum(weights, axis=0), 1e-12)
        acc_f = np.zeros(b - a)
        acc_d = np.zeros(b - a)
        for w, (dl, fl) in zip(weights, feats):
            ci = np.interp(pos, c_run, w / total)
            acc_f += ci * np.square(fl)
            acc_d += ci * np.square(dl)
        feat[a:b] = np.sqrt(acc_f) * lv0
        d[a:b] = np.sqrt(acc_d) * lv0
    return runs


def _local_long_rr(peaks: np.ndarray) -> np.ndarray:
    rr = np.diff(peaks).astype(np.float64)
    k = min(RR_CONTEXT, len(rr))
    pad = np.pad(rr, (k // 2, k - 1 - k // 2), mode="edge")
    q = np.percentile(np.lib.stride_tricks.sliding_window_view(pad, k), RR_Q, axis=1)
    return np.interp(peaks, peaks[1:], q)


def drop_extra_beats(peaks: np.ndarray, feat: np.ndarray, fs: float, stats=None) -> np.ndarray:
    """``peaks`` without the noise spikes that split an RR interval in noisy stretches.
    ``stats``: ``block_stats(feat, fs)`` when the caller has it."""
    if len(peaks) < 5:
        return peaks
    noisy = noise_ratio_at(peaks, stats if stats is not None else block_stats(feat, fs)) > NOISY_RATIO
    if not noisy.any():
        return peaks
    height = feat[peaks]
    keep = np.ones(len(peaks), dtype=bool)
    for _ in range(PASSES):
        idx = np.flatnonzero(keep)
        if len(idx) < 5:
            break
        p, h = peaks[idx], height[idx]
        rr = np.diff(p)
        before = np.r_[np.inf, rr]
        after = np.r_[rr, np.inf]
        neighbour = np.minimum(np.r_[np.inf, h[:-1]], np.r_[h[1:], np.inf])
        bad = noisy[idx] & (before + after < RR_SPLIT * _local_long_rr(p)) & (h < WEAKER * neighbour)
        if not bad.any():
            break
        # of two flagged neighbours only the weaker goes in this pass
        prev_weaker = np.r_[False, bad[:-1] & (h[:-1] < h[1:])]
        next_weaker = np.r_[bad[1:] & (h[1:] <= h[:-1]), False]
        keep[idx[bad & ~prev_weaker & ~next_weaker]] = False
    return peaks[keep]
