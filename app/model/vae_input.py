"""What the VAE sees of each beat: its window, with the next beat kept out when the bundle asks.

The window runs 166 samples (0.46 s at 360 Hz) past the R-peak, so in fast rhythms, or just before
a premature beat, the next QRS is inside it and moves the latent code of a normal beat (the
reason most normal-beat false alarms had). A bundle trained with ``mask_next_beat`` (its
manifest's ``preprocessing``) gets windows whose samples from MASK_MARGIN_S before the next R-peak
to the end are set to 0 (the filtered baseline), after a MASK_TAPER-sample half-cosine taper.
The displayed windows are never changed.
"""
from __future__ import annotations

import numpy as np

BEFORE, FS = 90, 360.0  # the window's R-peak index and rate (app.ecg.pipeline.BEFORE, MODEL_FS)
MASK_MARGIN_S = 0.06
MASK_TAPER = 10


def wants_mask(manifest: dict) -> bool:
    return bool((manifest or {}).get("preprocessing", {}).get("mask_next_beat", False))


def mask_next_beat(windows: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """A copy of ``windows`` with each beat's next beat masked where it falls inside the window."""
    w = np.array(windows, np.float32, copy=True)
    if len(w) < 2:
        return w
    rr_next = np.r_[np.diff(np.asarray(time_s, np.float64)), np.inf]
    stop = BEFORE + (rr_next - MASK_MARGIN_S) * FS
    return mask_tails(w, stop)


def mask_tails(w: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """``w`` (in place) zeroed from sample ``stop`` (one per row; >= the window length: untouched)
    on, after a MASK_TAPER-sample half-cosine taper; never before the R-peak."""
    rows = np.flatnonzero(stop < w.shape[1])
    if rows.size == 0:
        return w
    s = np.maximum(stop[rows].astype(np.int64), BEFORE + 1)
    j = np.arange(w.shape[1])[None, :]
    t0 = np.maximum(s - MASK_TAPER, BEFORE + 1)[:, None]
    frac = np.clip((j - t0 + 1) / (s[:, None] - t0 + 1), 0.0, 1.0)
    gain = np.where(j < t0, 1.0, np.where(j < s[:, None], 0.5 * (1 + np.cos(np.pi * frac)), 0.0))
    w[rows] *= gain.astype(w.dtype)
    return w


def vae_input(windows: np.ndarray, time_s: np.ndarray, manifest: dict) -> np.ndarray:
    """The windows as the bundle's VAE expects them."""
    return mask_next_beat(windows, time_s) if wants_mask(manifest) else windows


def beats_input(beats, manifest: dict) -> np.ndarray:
    """An app.ecg BeatSet's beats as the VAE scores them: its model windows (the noisiest beats
    denoised; the displayed windows stay as they are), else its windows, then ``vae_input``."""
    scored = beats.model_windows if beats.model_windows is not None else beats.windows
    return vae_input(scored, beats.time_s, manifest)
