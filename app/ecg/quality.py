"""Per-beat signal-quality index in [0, 1] (1 = clean) and the low-quality flag.

The index multiplies four checks, each in [0, 1]:
- morphology: correlation with the closest of a few record templates (the median beat, then the
  median of the beats that do not fit it, ...), so a clean ectopic beat still scores high;
- noise: high-frequency noise (robust MAD of the second difference) relative to the record scale;
- artefact: window peak-to-peak far beyond the record's R amplitude (motion, baseline jumps);
- saturation / flat line in the raw lead (clipped or dead electrode).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.ecg.parallel import submit_or_run

LOW_QUALITY = 0.5
N_TEMPLATES = 3
TEMPLATE_BEATS = 8192  # beats behind each median template
NOISE_REF = 0.009  # HF-noise / scale ratio at which the noise factor is 0.5
NOISE_POWER = 4.0
MORPH_FLOOR = 0.6  # an odd but clean shape alone never makes a beat low quality
PTP_OK, PTP_BAD = 4.0, 8.0  # window peak-to-peak / scale
FLAT_SAMPLES = 36  # at 360 Hz: 100 ms without any change
CLIP_SAMPLES = 6


def _normalized(w: np.ndarray) -> np.ndarray:
    w = w - w.mean(axis=1, keepdims=True)
    n = np.linalg.norm(w, axis=1, keepdims=True)
    return w / np.maximum(n, 1e-9)


def _spread(pool: np.ndarray, k: int = TEMPLATE_BEATS) -> np.ndarray:
    """At most ``k`` members of ``pool``, evenly spread over the record (all when fewer)."""
    if pool.size <= k:
        return pool
    return pool[np.linspace(0, pool.size - 1, k).astype(np.int64)]


def record_templates(windows: np.ndarray) -> np.ndarray:
    """(k, length) unit-norm, zero-mean templates, k <= N_TEMPLATES: the median beat, then the
    median of the beats that correlate < 0.8 with every template so far, ...

    Each template is the median of at most TEMPLATE_BEATS beats spread over the record (all of
    them in a 30-minute record; a 24-hour record's 100,000 beats need no more for a median)."""
    n = len(windows)
    z = _normalized(windows.astype(np.float32))
    best = np.full(n, -1.0, dtype=np.float32)
    pool = np.arange(n)
    out = []
    for _ in range(N_TEMPLATES):
        if n == 0 or pool.size < max(3, int(0.01 * n)):
            break
        t = _normalized(np.median(windows[_spread(pool)], axis=0)[None, :].astype(np.float32))
        out.append(t[0])
        best = np.maximum(best, (z @ t.T).ravel())
        pool = pool[best[pool] < 0.8]
    return np.array(out, dtype=np.float32).reshape(len(out), windows.shape[1])


def best_correlation(windows: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Per beat, its best correlation with ``templates`` (-1 when there are none)."""
    if len(windows) == 0 or len(templates) == 0:
        return np.full(len(windows), -1.0, dtype=np.float32)
    return (_normalized(windows.astype(np.float32)) @ templates.T).max(axis=1).astype(np.float32)


def hf_noise(windows: np.ndarray) -> np.ndarray:
    """Robust high-frequency noise per window (same units as the windows)."""
    if len(windows) == 0:
        return np.zeros(0, dtype=np.float32)
    d2 = np.diff(windows, n=2, axis=1)
    return (1.4826 * np.median(np.abs(d2), axis=1)).astype(np.float32)


def longest_flat_run(raw_windows: np.ndarray) -> np.ndarray:
    """Per window, the longest run of consecutive equal samples (a dead or clipped signal)."""
    if raw_windows.shape[1] < 2:
        return np.zeros(len(raw_windows), dtype=np.int64)
    same = np.diff(raw_windows, axis=1) == 0
    # run lengths via cumulative counts reset at every change
    n, m = same.shape
    idx = np.where(~same, np.arange(m)[None, :], -1)
    last_change = np.maximum.accumulate(idx, axis=1)
    run = np.arange(m)[None, :] - last_change
    return run.max(axis=1) + 1 if m else np.zeros(n, dtype=np.int64)


def saturated_or_flat(raw_windows: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """True where the raw window has a flat stretch of >= 100 ms, or sits at the record's extreme
    values (the ADC rails) for >= 17 ms."""
    if len(raw_windows) == 0:
        return np.zeros(0, dtype=bool)
    same = np.count_nonzero(np.diff(raw_windows, axis=1) == 0, axis=1)
    maybe = np.flatnonzero(same >= FLAT_SAMPLES - 1)  # only these can hold a long enough run
    flat = np.zeros(len(raw_windows), dtype=bool)
    if maybe.size:
        flat[maybe] = longest_flat_run(raw_windows[maybe]) >= FLAT_SAMPLES
    span = max(hi - lo, 1e-9)
    at_edge = (raw_windows >= hi - 1e-3 * span) | (raw_windows <= lo + 1e-3 * span)
    clipped = at_edge.sum(axis=1) >= CLIP_SAMPLES
    return flat | clipped


@dataclass
class QualityParts:
    """The quality checks' factors per beat, and the record templates of the morphology one;
    ``quality()``: the index in [0, 1] for windows already divided by the record scale."""

    templates: np.ndarray
    corr: np.ndarray
    noise: np.ndarray
    ptp: np.ndarray
    saturated: np.ndarray

    def quality(self) -> np.ndarray:
        if len(self.corr) == 0:
            return np.zeros(0, dtype=np.float32)
        q_morph = MORPH_FLOOR + (1 - MORPH_FLOOR) * np.clip((self.corr - 0.5) / 0.35, 0.0, 1.0)
        q_noise = 1.0 / (1.0 + (self.noise / NOISE_REF) ** NOISE_POWER)
        q_art = np.clip((PTP_BAD - self.ptp) / (PTP_BAD - PTP_OK), 0.0, 1.0)
        q_sat = np.where(self.saturated, 0.0, 1.0)
        return np.clip(q_morph * q_noise * q_art * q_sat, 0.0, 1.0).astype(np.float32)

    def with_rows(self, rows: np.ndarray, windows: np.ndarray) -> "QualityParts":
        """The parts with beats ``rows`` replaced by ``windows`` (their new windows, same raw
        signal: the saturation check and the record templates stay)."""
        parts = QualityParts(self.templates, self.corr.copy(), self.noise.copy(), self.ptp.copy(),
                             self.saturated)
        parts.corr[rows] = best_correlation(windows, self.templates)
        parts.noise[rows] = hf_noise(windows)
        parts.ptp[rows] = windows.max(axis=1) - windows.min(axis=1)
        return parts


def quality_parts(windows: np.ndarray, raw_windows: np.ndarray, raw_lo: float, raw_hi: float,
                  executor=None) -> QualityParts:
    """The quality factors of ``windows``. ``executor``: optional concurrent.futures executor; the noise and
    saturation checks then run on it while the template correlation runs here (numpy releases the GIL)."""
    noise = submit_or_run(executor, hf_noise, windows)
    sat = submit_or_run(executor, saturated_or_flat, raw_windows, raw_lo, raw_hi)
    templates = record_templates(windows)
    corr = best_correlation(windows, templates)
    ptp = windows.max(axis=1) - windows.min(axis=1) if len(windows) else np.zeros(0, np.float32)
    return QualityParts(templates, corr, noise.result(), ptp, sat.result())
