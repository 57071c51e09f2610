"""Where the analysed lead is noisy, a noise-robust *student* encoder's latent mean is blended in.

The committed VAE learned clean normal beats; electrode-motion noise moves a noisy normal beat's
latent mean away from the normal cluster, and the latent distance (the ensemble's shape term)
then raises a false alarm. The student (``student_encoder.keras`` in the bundle; trained by
``python -m training.student``) starts from the encoder's weights and learns, on DS1 records of
every beat class with recorded nstdb noise added, to give a noisy beat the latent mean the encoder
gives the same beat clean. Per beat of the analysed lead,

    z = z_enc + ramp(r) (z_student - z_enc),   ramp(r) = clip((r - NOISY_FROM) / RAMP, 0, 1),

with r the lead's noise ratio at the beat and the ramp of the other lead's weighting
(app.model.lead_blend): clean beats (r <= 0.2) keep the encoder's latent exactly, and the
ectopy-rich clean records whose beats sit a little above 0.2 get little of the student.
The latent distance and the KL term read the blended mean (the KL with the encoder's own
variance); the reconstruction (the decoded encoder mean) and the rhythm are unchanged. Chosen on
DS1 by 4-fold cross-validation (rule v58, docs/noise-history.md section 9); a bundle without the
file scores as before.
"""
from __future__ import annotations

import numpy as np

from app.model.lead_blend import NOISY_FROM, RAMP


def student_share(noise_ratio: np.ndarray | None, n: int) -> np.ndarray:
    """Per beat, the student's share of the latent mean in [0, 1]; 0 without noise ratios."""
    if noise_ratio is None:
        return np.zeros(n)
    r = np.asarray(noise_ratio, np.float64)
    return np.where(np.isfinite(r), np.clip((r - NOISY_FROM) / RAMP, 0.0, 1.0), 0.0)


def noise_robust_latent(bundle, x: np.ndarray, z_mean: np.ndarray, noise_ratio) -> np.ndarray:
    """``z_mean`` with the student's view blended in where the beat is noisy (a new array), or
    ``z_mean`` itself when the bundle has no student or no beat is noisy."""
    if getattr(bundle, "student", None) is None:
        return z_mean
    share = student_share(noise_ratio, len(z_mean))
    rows = np.flatnonzero(share > 0)
    if rows.size == 0:
        return z_mean
    z = np.array(z_mean, np.float32, copy=True)
    zs = bundle.encode_student(x[rows])
    z[rows] += (share[rows, None] * (zs - z[rows])).astype(np.float32)
    return z
