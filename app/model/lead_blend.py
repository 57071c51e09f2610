"""Where the analysed lead is noisy, the other lead's view of the same beat is weighted in.

Noise from electrode motion or muscle rarely hits two leads alike (the MIT-BIH Noise Stress Test's
two channels correlate 0.15 (em), 0.04 (ma) and -0.13 (bw) after the 0.5-40 Hz band-pass), while a
ventricular beat looks abnormal in both. Each lead's ensemble score is measured against that
lead's own beats (record statistics), so the same VAE scores the other lead's windows of the same
detections, and the beat's score becomes s1 + w (s2 - s1) with

    w = ramp(r1) * r1^2 / (r1^2 + r2^2),   ramp(r) = clip((r - NOISY_FROM) / RAMP, 0, 1),

r1, r2 the two leads' own noise ratios at the beat (noise floor / beat level of each lead's QRS
feature, ``app.ecg.fusion.noise_ratio_at``; about 0.1 on a clean record, 0.35 in electrode-motion
noise at 6 dB). The second factor is the R-peak detector's lead weighting (1 / r^2, normalized): the
cleaner lead counts more. The ramp keeps the analysed lead alone where it is clean: ectopy-rich
clean records (203, 207, 208) have beats above 0.2, where an equal-weight mean cost clean accuracy.
Chosen on DS1 with the noise stress test (rules v43-v46, README: Reliability).
"""
from __future__ import annotations

import numpy as np

NOISY_FROM = 0.2  # the analysed lead's noise ratio where the other lead starts to count ...
RAMP = 0.2  # ... and the width over which its share rises to the full lead weighting
MIN_SHARE = 0.10  # a record (piece) with fewer beats above NOISY_FROM keeps the analysed lead alone


def other_lead_weight(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Per beat, the other lead's weight w in [0, 1] (0 where the analysed lead is clean)."""
    r1 = np.asarray(r1, np.float64)
    r2 = np.asarray(r2, np.float64)
    ramp = np.clip((r1 - NOISY_FROM) / RAMP, 0.0, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        share = np.where(np.isfinite(r2), r1 ** 2 / (r1 ** 2 + r2 ** 2), 0.0)
    return np.where(np.isfinite(r1), ramp * np.nan_to_num(share), 0.0)


def needs_other_lead(r1: np.ndarray) -> np.ndarray:
    """Beats where the other lead may count (its weight can be > 0)."""
    r1 = np.asarray(r1, np.float64)
    return np.isfinite(r1) & (r1 > NOISY_FROM)


def blend(s1: np.ndarray, s2: np.ndarray, w: np.ndarray) -> np.ndarray:
    """s1 + w (s2 - s1); s1 itself where w is 0."""
    s1 = np.asarray(s1, np.float64)
    return np.where(w > 0, s1 + w * (np.asarray(s2, np.float64) - s1), s1)
