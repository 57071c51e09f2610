"""R-peak detection: a vectorized Pan-Tompkins-style detector.

1. Band-pass 5-15 Hz (zero phase), derivative, squaring, 150 ms moving-window integration; the
   detection feature is the square root of that integral (an amplitude, so thresholds are ratios).
2. Candidates: ``scipy.signal.find_peaks`` with a 200 ms refractory distance.
3. Thresholds adapted over sliding 25 s neighbourhoods of 5 s blocks (vectorized): the local beat
   level (median of the upper candidate group) and noise level (candidates below it); a candidate
   is a beat above max(0.3 x level, noise + 0.3 x (level - noise)).
4. Weak but clearly separated candidates (above an Otsu split of the local log-heights, steep
   enough, far from other beats) are added: small normal beats between large ectopic ones.
5. P and T waves: of two beats closer than 360 ms, one with much less slope (and height) goes.
6. Searchback: RR gaps longer than 1.66 local RRs take their best steep-enough candidate.
7. Each beat moves to the extremum of the band-passed signal within +-30 ms of the QRS centre.

With further leads of the record (``others``), step 1's feature is the leads' combined feature in
the analysed lead's noisy stretches; the beats found go through the noisy-stretch extra-beat check
(both in ``app.ecg.fusion``). The R-peaks stay on the analysed lead ``x``.

Runs in tens of milliseconds for a 30-minute record (no Python loop over samples or candidates).
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from app.ecg.filters import _butter_sos, fill_nan
from app.ecg.fusion import MAX_LEADS, block_stats, drop_extra_beats, fused_feature

REFRACTORY_S = 0.2  # candidate peaks at least this far apart
MWI_S = 0.15  # moving-window integration length
BAND = (5.0, 15.0)  # QRS band (Hz)
BAND_ORDER = 2
BLOCK_S = 5.0  # adaptive levels per block, over +-CONTEXT_BLOCKS neighbouring blocks
CONTEXT_BLOCKS = 2
THRESHOLD = 0.3  # fraction of the local beat level (sqrt-MWI units)
NOISE_Q = 0.75  # noise level: this quantile of the candidates below the beat group
NOISE_K = 0.3  # threshold >= noise + NOISE_K * (level - noise)
USE_OTSU = True  # second tier of weak, isolated, steep candidates
FLOOR = 0.12  # ... never below this fraction of the level
WEAK_SLOPE = 0.25  # ... and at least this fraction of the neighbouring beats' slope
ISO_AFTER_S, ISO_BEFORE_S = 0.45, 0.3  # ... and this far from a stronger beat
T_WAVE_S = 0.36  # two beats closer than this: P/T-wave check
PT_RATIO = 0.5  # a later peak with less than this fraction of the earlier one's slope is a T wave
P_WAVE_S = 0.36
P_RATIO = 0.7  # an earlier peak below this fraction of the later one's slope and height is a P wave
SEARCHBACK = 1.66  # RR gaps this many local RRs long are searched again
SEARCHBACK_THRESHOLD = 0.5  # ... with this fraction of the threshold
SB_MIN_AFTER_S = 0.36  # ... at least this far after the previous beat
SB_SLOPE = 0.25  # ... and at least this fraction of the neighbouring beats' slope
REFINE_S = 0.08  # radius within which a candidate merges with a stronger one (P/T/double humps)
FINAL_REFINE_S = 0.03  # the R-peak: extremum of the band-passed lead this close to the QRS centre
FINAL_POLARITY = "abs"


def qrs_feature(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band-passed 5-15 Hz, derivative, sqrt of the 150 ms moving integral of its square)."""
    bp = signal.sosfiltfilt(_butter_sos(BAND_ORDER, BAND[0], min(BAND[1], 0.45 * fs), float(fs)), x)
    d = np.empty_like(bp)
    d[1:-1] = (bp[2:] - bp[:-2]) * 0.5
    d[0], d[-1] = d[1], d[-2]
    w = max(int(MWI_S * fs), 1)
    n, h = len(d), w // 2
    # c = [0, cumsum(d^2)] padded with its edge values, so that the window sum at i
    # (bounds i - w//2 and i - w//2 + w, clipped to [0, n]) is c[i + w] - c[i]: no index arrays
    c = np.empty(n + w)
    c[: h + 1] = 0.0
    np.cumsum(d * d, out=c[h + 1 : h + 1 + n])
    c[h + 1 + n :] = c[h + n]
    mwi = c[w : w + n] - c[:n]
    del c
    mwi /= w
    return bp, d, np.sqrt(mwi, out=mwi)


def block_rows(pos: np.ndarray, v: np.ndarray, n: int, fs: float, fill: float):
    """Candidate values around each block, one row per block (sorted ascending, ``fill`` padded).

    Block b holds the candidates of blocks b-CONTEXT_BLOCKS .. b+CONTEXT_BLOCKS (positions are
    sorted, so each row is a contiguous slice). Returns (rows, counts, block centres).
    """
    block = int(BLOCK_S * fs)
    nb = max(int(np.ceil(n / block)), 1)
    edges = np.searchsorted(pos, np.arange(nb + 1) * block)
    edges[-1] = len(pos)
    b = np.arange(nb)
    lo = edges[np.maximum(b - CONTEXT_BLOCKS, 0)]
    hi = edges[np.minimum(b + CONTEXT_BLOCKS + 1, nb)]
    counts = hi - lo
    width = max(int(counts.max()), 1)
    j = np.arange(width)
    idx = lo[:, None] + j
    valid = j < counts[:, None]
    rows = np.where(valid, v[np.minimum(idx, len(v) - 1)], fill)
    rows.sort(axis=1)
    return rows, counts, (b + 0.5) * block


def _interp_blocks(pos, centres, values) -> np.ndarray | None:
    ok = np.isfinite(values)
    if not ok.any():
        return None
    return np.interp(pos, centres[ok], values[ok])


def local_levels(pos: np.ndarray, h: np.ndarray, n: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Typical beat height around each candidate: per block, the median of the candidates above
    0.3 x the 95th percentile (so T/P waves and baseline do not count), interpolated."""
    if len(pos) == 0:
        return np.zeros(0), np.zeros(0)
    rows, counts, centres = block_rows(pos, h, n, fs, np.inf)  # inf pads sort to the end
    r = np.arange(len(rows))
    c = np.maximum(counts, 1)
    top = rows[r, np.clip(np.round(0.95 * (c - 1)).astype(int), 0, rows.shape[1] - 1)]
    first = (rows < (0.3 * top)[:, None]).sum(axis=1)  # first index of the upper group
    m = c - first
    mid_lo = np.clip(first + (m - 1) // 2, 0, rows.shape[1] - 1)
    mid_hi = np.clip(first + m // 2, 0, rows.shape[1] - 1)
    levels = np.where(counts > 0, 0.5 * (rows[r, mid_lo] + rows[r, mid_hi]), np.nan)
    noise = np.where(first > 0, rows[r, np.clip(np.round(NOISE_Q * (first - 1)).astype(int), 0, rows.shape[1] - 1)], 0.0)
    noise = np.where(counts > 0, noise, np.nan)
    lv = _interp_blocks(pos, centres, levels)
    nz = _interp_blocks(pos, centres, noise)
    if lv is None:
        return np.full(len(pos), np.inf), np.zeros(len(pos))
    return lv, nz


def otsu_log_thresholds(pos: np.ndarray, h: np.ndarray, n: int, fs: float) -> np.ndarray:
    """Per candidate, the Otsu split of log candidate heights over the local blocks."""
    if len(pos) == 0:
        return np.zeros(0)
    lh = np.log(np.maximum(h, 1e-12))
    rows, counts, centres = block_rows(pos, lh, n, fs, np.inf)
    m = counts[:, None].astype(np.float64)
    k = np.arange(1, rows.shape[1])[None, :].astype(np.float64)
    finite = np.where(np.isfinite(rows), rows, 0.0)
    c = np.cumsum(finite, axis=1)
    total = c[np.arange(len(rows)), np.maximum(counts - 1, 0)][:, None]
    valid = k < m
    with np.errstate(divide="ignore", invalid="ignore"):
        mu0 = c[:, :-1] / k
        mu1 = (total - c[:, :-1]) / (m - k)
        score = np.where(valid, (k / m) * (1 - k / m) * (mu0 - mu1) ** 2, -1.0)
    if score.shape[1] == 0:
        return np.full(len(pos), np.inf)
    j = np.argmax(score, axis=1)
    r = np.arange(len(rows))
    split = 0.5 * (rows[r, j] + rows[r, np.minimum(j + 1, rows.shape[1] - 1)])
    split = np.where(counts >= 4, split, np.nan)
    out = _interp_blocks(pos, centres, split)
    return np.full(len(pos), np.inf) if out is None else np.exp(out)


def _local_median(pos: np.ndarray, v: np.ndarray, at: np.ndarray, k: int = 9) -> np.ndarray:
    """Running median of ``v`` (over ``k`` neighbours at ``pos``) interpolated at ``at``."""
    if len(pos) == 0:
        return np.zeros(len(at))
    k = min(k, len(v))
    pad = np.pad(v, (k // 2, k - 1 - k // 2), mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(pad, k), axis=1)
    return np.interp(at, pos, med)


def _isolated(pos: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """True where ``pos`` is far enough from ``beats`` not to be its P or T wave."""
    if len(beats) == 0 or len(pos) == 0:
        return np.ones(len(pos), dtype=bool)
    j = np.searchsorted(beats, pos)
    prev = np.where(j > 0, pos - beats[np.maximum(j - 1, 0)], np.inf)
    nxt = np.where(j < len(beats), beats[np.minimum(j, len(beats) - 1)] - pos, np.inf)
    return (prev >= ISO_AFTER_S * fs) & (nxt >= ISO_BEFORE_S * fs)


def _drop_p_t_waves(peaks: np.ndarray, h: np.ndarray, slope: np.ndarray, fs: float) -> np.ndarray:
    """Keep-mask: of two peaks closer than T_WAVE_S, drop the one with much less slope (a P or T wave)."""
    keep = np.ones(len(peaks), dtype=bool)
    if len(peaks) < 2:
        return keep
    close = np.diff(peaks) < T_WAVE_S * fs
    later_weak = close & (slope[1:] < PT_RATIO * slope[:-1])
    earlier_weak = close & (slope[:-1] < P_RATIO * slope[1:]) & (h[:-1] < P_RATIO * h[1:]) \
        & (np.diff(peaks) < P_WAVE_S * fs)
    keep[1:] &= ~later_weak
    keep[:-1] &= ~earlier_weak
    return keep


def _searchback(acc: np.ndarray, cand: np.ndarray, h: np.ndarray, thr: np.ndarray,
                slope: np.ndarray, fs: float) -> np.ndarray:
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
        ref_slope = SB_SLOPE * _local_median(pk, slope[acc], cand)
        for g in gaps:
            a, b = acc[g], acc[g + 1]
            idx = np.arange(a + 1, b)
            if idx.size == 0:
                continue
            ok = (cand[idx] - cand[a] > SB_MIN_AFTER_S * fs) & (cand[b] - cand[idx] > min_sep) \
                & (h[idx] > SEARCHBACK_THRESHOLD * thr[idx]) & (slope[idx] > ref_slope[idx])
            idx = idx[ok]
            if idx.size:
                added.append(idx[np.argmax(h[idx])])
        if not added:
            return acc
        acc = np.union1d(acc, np.asarray(added))
    return acc


def refine_peaks(peaks: np.ndarray, y: np.ndarray, fs: float, radius_s: float | None = None,
                 polarity: str = "record") -> np.ndarray:
    """Move each peak to the extremum of ``y`` within +-radius, with the record's QRS polarity."""
    if len(peaks) == 0:
        return peaks
    r = max(int((REFINE_S if radius_s is None else radius_s) * fs), 1)
    idx = np.clip(peaks[:, None] + np.arange(-r, r + 1), 0, len(y) - 1)
    seg = y[idx]
    if polarity == "abs":
        return idx[np.arange(len(peaks)), np.argmax(np.abs(seg), axis=1)]
    sign = 1.0 if np.median(seg.max(axis=1)) >= np.median(-seg.min(axis=1)) else -1.0
    return idx[np.arange(len(peaks)), np.argmax(sign * seg, axis=1)]


def _refractory_keep(peaks: np.ndarray, weight: np.ndarray, fs: float) -> np.ndarray:
    """Indices (into ``peaks``, sorted by position) that survive: of two peaks closer than the
    refractory period (or equal), the stronger stays."""
    order = np.argsort(peaks, kind="stable")
    idx = order
    while len(idx) > 1:
        close = np.flatnonzero(np.diff(peaks[idx]) < REFRACTORY_S * fs)
        if close.size == 0:
            break
        drop = np.where(weight[idx[close]] >= weight[idx[close + 1]], close + 1, close)
        keep = np.ones(len(idx), dtype=bool)
        keep[np.unique(drop)] = False
        idx = idx[keep]
    return idx


def detect_rpeaks(x, fs: float, others=(), executor=None) -> np.ndarray:
    """R-peak sample indices (int64, sorted) of one ECG lead ``x`` sampled at ``fs`` Hz.

    ``others``: further leads of the same record (same rate and length, NaNs allowed) that help
    in noise; ``executor``: optional thread pool on which their features are computed."""
    return detect_rpeaks_noise(x, fs, others, executor)[0]


def detect_rpeaks_noise(x, fs: float, others=(), executor=None) -> tuple[np.ndarray, tuple | None]:
    """(``detect_rpeaks``'s R-peaks, the block statistics of ``x``'s own QRS feature before the
    other leads are averaged in: ``fusion.block_stats``, for ``fusion.noise_ratio_at``; None
    when the lead is too short or flat)."""
    x = fill_nan(np.asarray(x, dtype=np.float64).ravel())
    fs = float(fs)
    none = np.zeros(0, dtype=np.int64)
    if len(x) < int(0.5 * fs) or not np.ptp(x) > 0:
        return none, None
    bp, d, feat = qrs_feature(x, fs)
    own = stats = block_stats(feat, fs)
    others = [o for o in others if len(o) == len(x)][: MAX_LEADS - 1]
    if others and fused_feature(d, feat, others, fs, qrs_feature, executor, stats):
        stats = block_stats(feat, fs)  # of the fused feature
    cand, _ = signal.find_peaks(feat, distance=max(int(REFRACTORY_S * fs), 1))
    if cand.size == 0:
        return none, own
    h = feat[cand]
    level, noise = local_levels(cand, h, len(x), fs)
    thr = np.maximum(THRESHOLD * level, noise + NOISE_K * (level - noise))
    acc = np.flatnonzero(h > thr)
    half = max(int(0.075 * fs), 1)
    slope = np.abs(d[np.clip(cand[:, None] + np.arange(-half, half + 1), 0, len(d) - 1)]).max(axis=1)
    if USE_OTSU:
        thr2 = np.maximum(np.minimum(thr, otsu_log_thresholds(cand, h, len(x), fs)), FLOOR * level)
        weak = np.flatnonzero((h > thr2) & (h <= thr) & (slope > WEAK_SLOPE * _local_median(cand[acc], slope[acc], cand)))
        acc = np.union1d(acc, weak[_isolated(cand[weak], cand[acc], fs)])
    keep = _drop_p_t_waves(cand[acc], h[acc], slope[acc], fs)
    acc = acc[keep]
    acc = _searchback(acc, cand, h, thr, slope, fs)
    merged = refine_peaks(cand[acc], bp, fs)
    acc = acc[_refractory_keep(merged, h[acc], fs)]
    peaks = np.unique(refine_peaks(cand[acc], bp, fs, FINAL_REFINE_S, FINAL_POLARITY))
    return drop_extra_beats(peaks, feat, fs, stats).astype(np.int64), own
