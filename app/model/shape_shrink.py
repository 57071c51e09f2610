"""Where the analysed lead is noisy, its beats' shape part counts less in their score (rule v74).

Noise raises a normal beat's latent distance (the ensemble's shape term) even after the student
encoder (app.model.student); supraventricular beats, told mostly by their timing, then sink among
the noisy normal beats. Per beat, with ``shape`` its shape part counted from the record's median beat
(``app.model.ensemble.part_contributions``) and r the analysed lead's noise ratio,

    score -= SHRINK * ramp(r) * shape,   shape *= 1 - SHRINK * ramp(r),

with the student's ramp (0 at r <= 0.2, 1 from 0.4): clean beats keep their score exactly.
"""
from __future__ import annotations

import numpy as np

from app.model.student import student_share

SHRINK = 0.5  # the share of a fully noisy beat's shape part taken off its score


def shrink_noisy_shape(score: np.ndarray, shape: np.ndarray, noise_ratio) -> tuple[np.ndarray, np.ndarray]:
    """(score, shape) with the noisy beats' shape part shrunk (new arrays; the inputs when none is noisy)."""
    k = SHRINK * student_share(noise_ratio, len(score))
    if not (k > 0).any():
        return score, shape
    shape = np.asarray(shape, np.float64)
    return np.asarray(score, np.float64) - k * shape, shape * (1.0 - k)
