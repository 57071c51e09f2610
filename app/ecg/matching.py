"""Beat-by-beat comparison of detections with reference annotations (bxb, 150 ms window)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MatchResult:
    """Pairs (``det_index[i]``, ``ref_index[i]``) and the bxb counts derived from them."""

    det_index: np.ndarray
    ref_index: np.ndarray
    n_detected: int
    n_reference: int

    @property
    def tp(self) -> int:
        return int(len(self.det_index))

    @property
    def fn(self) -> int:
        return self.n_reference - self.tp

    @property
    def fp(self) -> int:
        return self.n_detected - self.tp

    @property
    def se(self) -> float:
        return self.tp / self.n_reference if self.n_reference else 1.0

    @property
    def ppv(self) -> float:
        return self.tp / self.n_detected if self.n_detected else 1.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fn + self.fp
        return 2 * self.tp / d if d else 1.0


def match_beats(detected, reference, fs: float, window_s: float = 0.15) -> MatchResult:
    """Match each reference beat to the nearest free detection within ``window_s`` seconds.

    Both inputs are sample indices at ``fs``. One detection matches at most one reference beat.
    """
    det = np.asarray(detected, dtype=np.int64).ravel()
    ref = np.asarray(reference, dtype=np.int64).ravel()
    d_order, r_order = np.argsort(det, kind="stable"), np.argsort(ref, kind="stable")
    d, r = det[d_order], ref[r_order]
    w = window_s * fs
    pairs_d, pairs_r = [], []
    j, nd = 0, len(d)
    d = d.tolist()  # plain ints: the loop below indexes one element at a time
    for i, ri in enumerate(r.tolist()):
        while j < nd and d[j] < ri - w:
            j += 1
        if j >= nd:
            break
        best, best_dist = -1, w + 1.0
        k = j
        while k < nd and d[k] <= ri + w:
            dist = abs(d[k] - ri)
            if dist < best_dist:
                best, best_dist = k, dist
            k += 1
        if best < 0:
            continue
        pairs_d.append(best)
        pairs_r.append(i)
        j = best + 1
    det_index = d_order[np.asarray(pairs_d, dtype=np.int64)]
    ref_index = r_order[np.asarray(pairs_r, dtype=np.int64)]
    return MatchResult(det_index, ref_index, int(nd), int(len(r)))


def excluded_mask(samples, intervals) -> np.ndarray:
    """True for samples inside any (start, end) interval (e.g. ventricular flutter episodes)."""
    s = np.asarray(samples, dtype=np.int64)
    mask = np.zeros(len(s), dtype=bool)
    for a, b in intervals:
        mask |= (s >= a) & (s <= b)
    return mask
