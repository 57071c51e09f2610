"""Non-local-means denoising of beat windows: a noisy beat averaged with the nearby beats that
look like it (Tracey & Miller 2012, "Nonlocal means denoising of ECG signals").

Noise from motion or muscle is independent from one beat to the next, a beat's shape is not: the
mean of a beat and its K most similar neighbours (within +-SPAN beats) keeps the shape and divides
the noise power by up to K + 1. The weight of neighbour j is exp(-max(d_ij - d_loc, 0) / d_loc),
d_ij the mean squared difference of the two windows and d_loc the local noise level (the median,
over the beats within +-SPAN, of each beat's nearest-neighbour distance: two noisy copies of one
shape). A beat unlike its neighbours (an isolated ectopic beat) has d_ij far above d_loc and stays
as it is. Chosen on DS1 with the noise stress test (rule v35 in the README's Reliability section);
the parameters were fixed before it was measured.
"""
from __future__ import annotations

import numpy as np

SPAN = 30  # neighbours within +-SPAN beats ...
K = 10  # ... of which the K nearest are averaged in
ROWS_PER_STEP = 2048  # rows gathered at once (bounded temporaries on a 24-hour record) ...
CHUNK_ROWS = 8192  # ... and beats per piece of a long noisy stretch (plus 2 SPAN on each side)


def _segments(todo: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) ranges that hold every beat a denoised beat depends on (+-2 SPAN), merged."""
    n = len(todo)
    idx = np.flatnonzero(todo)
    out: list[tuple[int, int]] = []
    for i in idx:
        a, b = max(int(i) - 2 * SPAN, 0), min(int(i) + 2 * SPAN + 1, n)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _distances(w: np.ndarray) -> np.ndarray:
    """(n, 2 SPAN) mean squared differences to the beats at offsets -SPAN..-1, 1..SPAN (inf past
    the edges), as |a|^2 + |b|^2 - 2 a.b (float64: no cancellation worth the name at these sizes)."""
    n, length = w.shape
    d = np.full((n, 2 * SPAN), np.inf)
    sq = np.einsum("ij,ij->i", w, w)
    for off in range(1, min(SPAN, n - 1) + 1):
        dd = np.maximum(sq[off:] + sq[:-off] - 2.0 * np.einsum("ij,ij->i", w[off:], w[:-off]), 0.0) / length
        d[off:, SPAN - off] = dd  # beat i to i - off
        d[:-off, SPAN + off - 1] = dd  # beat i to i + off
    return d


def _denoise_segment(w: np.ndarray, todo: np.ndarray) -> np.ndarray:
    n = len(w)
    d = _distances(w)
    nn = d.min(axis=1)
    nn = np.where(np.isfinite(nn), nn, 0.0)
    rows = np.flatnonzero(todo)
    pad = np.pad(nn, SPAN, mode="edge")
    loc = np.zeros(n)
    loc[rows] = np.maximum(np.median(np.lib.stride_tricks.sliding_window_view(pad, 2 * SPAN + 1)[rows], axis=1), 1e-12)
    offsets = np.r_[np.arange(-SPAN, 0), np.arange(1, SPAN + 1)]
    out = w.copy()
    k = min(K, 2 * SPAN)
    for s in range(0, len(rows), ROWS_PER_STEP):
        r = rows[s:s + ROWS_PER_STEP]
        near = np.argpartition(d[r], k - 1, axis=1)[:, :k]
        dn = np.take_along_axis(d[r], near, axis=1)
        wt = np.exp(-np.maximum(dn - loc[r, None], 0.0) / loc[r, None])  # 0 where dn is inf
        j = np.clip(r[:, None] + offsets[near], 0, n - 1)
        acc = w[r] + np.einsum("rk,rkt->rt", wt, w[j])
        out[r] = acc / (1.0 + wt.sum(axis=1))[:, None]
    return out


def nlm_denoise(windows: np.ndarray, todo: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """A copy of ``windows`` (n, length) with the rows where ``todo`` is True denoised; the other
    rows are unchanged. Only the beats within 2 SPAN of a denoised beat are looked at, a long
    stretch ``chunk_rows`` beats at a time (the result does not depend on it)."""
    w = np.asarray(windows)
    todo = np.asarray(todo, bool)
    out = np.array(w, dtype=np.float32, copy=True)
    n = len(w)
    if n < 2 or not todo.any():
        return out
    for a, b in _segments(todo):
        for c in range(a, b, chunk_rows):
            e = min(c + chunk_rows, b)
            lo, hi = max(c - 2 * SPAN, 0), min(e + 2 * SPAN, n)
            core = np.zeros(hi - lo, bool)
            core[c - lo: e - lo] = todo[c:e]
            if core.any():
                out[c:e] = _denoise_segment(w[lo:hi].astype(np.float64), core)[c - lo: e - lo]
    return out


def denoised_row(windows, i: int) -> np.ndarray:
    """Beat ``i``'s denoised window from the windows around it (what ``nlm_denoise`` gave it: a
    beat's result depends only on the beats within 2 SPAN). ``windows``: anything whose
    ``windows[a:b]`` is an array (e.g. the cache's packed rows)."""
    a, b = max(int(i) - 2 * SPAN, 0), min(int(i) + 2 * SPAN + 1, len(windows))
    todo = np.zeros(b - a, bool)
    todo[i - a] = True
    return nlm_denoise(np.asarray(windows[a:b]), todo)[i - a]
