"""Beats for training and calibration: DS1 records through the app's own beat pipeline.

Augmentation (training beats only): time shift, amplitude scaling (both applied to input and
target), Gaussian noise, baseline wander and band-limited artefact noise (input only: the VAE
learns to ignore them). The artefacts are synthetic (Gaussian noise shaped in the frequency domain
to a low band, like electrode motion and baseline, or to the whole 0.5-40 Hz band the windows
keep, like muscle noise): the MIT-BIH Noise Stress Test records stay unseen for the noise benchmark.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.ecg.pipeline import extract_beats
from app.ecg.readers import read_record


@dataclass
class RecordBeats:
    record: str
    windows: np.ndarray   # (n, 256) float32
    time_s: np.ndarray
    ref_class: np.ndarray  # AAMI class per beat ('' where unmatched)
    duration_s: float
    # the windows as the app's models score them (the pipeline's model windows: noisy beats
    # denoised, baseline drift taken out); None: ``windows`` are those already
    scored: np.ndarray | None = None


def load_record_beats(data_dir, record: str, cfg) -> RecordBeats:
    rec = read_record(Path(data_dir) / record)
    bs = extract_beats(rec, lead=cfg.lead, beats=cfg.beats)
    scored = None if bs.model_windows is None else np.asarray(bs.model_windows, np.float32)
    return RecordBeats(record, np.asarray(bs.windows, np.float32), np.asarray(bs.time_s, np.float64),
                       np.asarray(bs.ref_class, str), float(rec.duration_s), scored)


def load_records(data_dir, records, cfg) -> dict[str, RecordBeats]:
    return {r: load_record_beats(data_dir, r, cfg) for r in records}


def as_scored(beats: dict[str, RecordBeats]) -> dict[str, RecordBeats]:
    """The records' beats with their windows as the app's models score them (what the calibration
    and the strict DS1 protocol read; the VAE learns from the displayed ones)."""
    return {r: b if b.scored is None else replace(b, windows=b.scored, scored=None) for r, b in beats.items()}


def normal_windows(beats: dict[str, RecordBeats], limit: int | None = None, seed: int = 0) -> np.ndarray:
    """The N-class windows of the given records, optionally a seeded random subset."""
    x = np.concatenate([b.windows[b.ref_class == "N"] for b in beats.values()])
    if limit is not None and len(x) > limit:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]
    return x


def augment(x: np.ndarray, rng: np.random.Generator, cfg, fs: float = 360.0):
    """(noisy input, clean target) for a batch of beats."""
    n, w = x.shape
    shifts = rng.integers(-cfg.aug_shift, cfg.aug_shift + 1, n)
    idx = np.clip(np.arange(w)[None, :] - shifts[:, None], 0, w - 1)  # shift with edge padding
    target = np.take_along_axis(x, idx, axis=1) * rng.uniform(*cfg.aug_scale, (n, 1))
    t = np.arange(w) / fs
    wander = (cfg.aug_wander_amp * rng.uniform(0, 1, (n, 1))
              * np.sin(2 * np.pi * rng.uniform(0.05, 0.5, (n, 1)) * t + rng.uniform(0, 2 * np.pi, (n, 1))))
    noisy = target + rng.normal(0.0, cfg.aug_noise_sd, target.shape) + wander
    if cfg.aug_artefact_prob > 0:
        noisy += artefact_noise(n, w, rng, cfg, fs)
    if cfg.aug_tail_mask_prob > 0:
        noisy = tail_masked(noisy, rng, cfg.aug_tail_mask_prob, fs)
    return noisy.astype(np.float32), target.astype(np.float32)


def tail_masked(x: np.ndarray, rng: np.random.Generator, prob: float, fs: float = 360.0) -> np.ndarray:
    """``x`` with a fraction ``prob`` of its rows masked from a random point (150 ms after the R-peak
    to the window's end) on, as app.model.vae_input masks a next beat."""
    from app.model.vae_input import BEFORE, mask_tails

    n, w = x.shape
    stop = np.where(rng.uniform(0, 1, n) < prob, rng.uniform(BEFORE + 0.15 * fs, w, n), np.inf)
    return mask_tails(np.array(x, copy=True), stop)


def with_vae_input(beats: dict, cfg) -> dict:
    """The records' beats with their windows as the VAE sees them (next beat masked when
    ``cfg.mask_next_beat``)."""
    from app.model.vae_input import mask_next_beat

    if not cfg.mask_next_beat:
        return beats
    return {r: replace(b, windows=mask_next_beat(b.windows, b.time_s)) for r, b in beats.items()}


def artefact_noise(n: int, w: int, rng: np.random.Generator, cfg, fs: float = 360.0) -> np.ndarray:
    """Band-limited Gaussian noise for a fraction ``cfg.aug_artefact_prob`` of ``n`` windows (zero
    for the others), each in one of ``cfg.aug_artefact_bands`` (Hz), with an RMS drawn uniformly
    from ``cfg.aug_artefact_rms`` (record-amplitude units)."""
    spec = np.fft.rfft(rng.standard_normal((n, w)), axis=1)
    f = np.fft.rfftfreq(w, 1.0 / fs)
    bands = np.asarray(cfg.aug_artefact_bands, np.float64)
    pick = rng.integers(0, len(bands), n)
    spec *= (f[None, :] >= bands[pick, 0:1]) & (f[None, :] <= bands[pick, 1:2])
    noise = np.fft.irfft(spec, n=w, axis=1)
    noise /= np.maximum(noise.std(axis=1, keepdims=True), 1e-9)
    rms = rng.uniform(*cfg.aug_artefact_rms, (n, 1)) * (rng.uniform(0, 1, (n, 1)) < cfg.aug_artefact_prob)
    return noise * rms
