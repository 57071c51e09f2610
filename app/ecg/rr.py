"""RR-interval features: previous, next, local average and their ratios."""
from __future__ import annotations

import numpy as np

RR_FEATURE_NAMES = ("rr_prev_s", "rr_next_s", "rr_local_s", "rr_prev_ratio", "rr_next_ratio", "rr_next_prev_ratio")
LOCAL_BEATS = 10  # local average over this many intervals each side (median, robust to ectopy)
DEFAULT_RR_S = 0.8


def rr_intervals(samples: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rr_prev, rr_next, rr_local) in seconds, float32, no NaN; edges take the neighbour value."""
    s = np.asarray(samples, dtype=np.float64)
    n = len(s)
    if n == 0:
        z = np.zeros(0, dtype=np.float32)
        return z, z, z
    if n == 1:
        v = np.full(1, DEFAULT_RR_S, dtype=np.float32)
        return v, v.copy(), v.copy()
    rr = np.diff(s) / fs
    prev = np.concatenate([[rr[0]], rr])
    nxt = np.concatenate([rr, [rr[-1]]])
    k = min(2 * LOCAL_BEATS + 1, len(rr))
    pad = np.pad(rr, (k // 2, k - 1 - k // 2), mode="edge")
    local_rr = np.median(np.lib.stride_tricks.sliding_window_view(pad, k), axis=1)  # per interval
    local = 0.5 * (np.concatenate([[local_rr[0]], local_rr]) + np.concatenate([local_rr, [local_rr[-1]]]))
    return prev.astype(np.float32), nxt.astype(np.float32), local.astype(np.float32)


def rr_feature_matrix(prev: np.ndarray, nxt: np.ndarray, local: np.ndarray) -> np.ndarray:
    """(n, 6) float32: RR_FEATURE_NAMES."""
    eps = 1e-3
    loc = np.maximum(local, eps)
    cols = [prev, nxt, local, prev / loc, nxt / loc, nxt / np.maximum(prev, eps)]
    return np.stack(cols, axis=1).astype(np.float32) if len(prev) else np.zeros((0, 6), np.float32)
