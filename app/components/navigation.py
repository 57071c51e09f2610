"""Where the strip's window goes: first window, zoom/pan events, previous/next anomaly."""
from __future__ import annotations

import numpy as np

WINDOW_S = 10.0


def initial_window(time_s: np.ndarray, flags: np.ndarray, duration: float,
                   width: float = WINDOW_S) -> tuple[float, float]:
    """A ``width`` s window around the first flagged beat (or the record start)."""
    width = min(width, duration)
    hits = np.flatnonzero(flags)
    centre = float(time_s[hits[0]]) if len(hits) else width / 2
    return window_around(centre, width, duration)


def window_around(centre: float, width: float, duration: float) -> tuple[float, float]:
    t0 = max(0.0, min(centre - width / 2, duration - width))
    return float(t0), float(min(duration, t0 + width))


def parse_relayout(relayout: dict | None, duration: float) -> tuple[float, float] | None:
    """The new x range from a strip relayout event (any of the linked x axes), or None."""
    if not relayout:
        return None
    for k, v in relayout.items():
        if k.startswith("xaxis") and k.endswith(".autorange") and v:
            return 0.0, duration
        if k.startswith("xaxis") and k.endswith(".range[0]"):
            k1 = k.replace("[0]", "[1]")
            if k1 in relayout:
                return _clip_range(float(relayout[k]), float(relayout[k1]), duration)
        if k.startswith("xaxis") and k.endswith(".range") and isinstance(v, list) and len(v) == 2:
            return _clip_range(float(v[0]), float(v[1]), duration)
    return None


def _clip_range(t0: float, t1: float, duration: float) -> tuple[float, float]:
    t0, t1 = min(t0, t1), max(t0, t1)
    return max(0.0, t0), min(duration, max(t1, t0 + 0.2))


def adjacent_anomaly(time_s: np.ndarray, flags: np.ndarray, centre: float, forward: bool) -> int | None:
    """Index of the first flagged beat after (or before) ``centre`` + a small margin."""
    hits = np.flatnonzero(flags)
    if len(hits) == 0:
        return None
    t = time_s[hits]
    if forward:
        i = np.searchsorted(t, centre + 0.05, side="right")
        return int(hits[i]) if i < len(hits) else None
    i = np.searchsorted(t, centre - 0.05, side="left") - 1
    return int(hits[i]) if i >= 0 else None


