"""Training augmentation: clean targets, noisy inputs, and band-limited artefact noise."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from training.config import Config
from training.data import artefact_noise, augment


def test_artefact_noise_is_band_limited_with_the_configured_rms_and_fraction():
    cfg = replace(Config(), aug_artefact_prob=0.5, aug_artefact_rms=(0.05, 0.2), aug_artefact_bands=((0.5, 8.0),))
    noise = artefact_noise(4000, 256, np.random.default_rng(0), cfg)
    rms = noise.std(axis=1)
    on = rms > 0
    assert 0.45 < on.mean() < 0.55
    assert rms[on].min() >= 0.05 - 1e-6 and rms[on].max() <= 0.2 + 1e-6
    spec = np.abs(np.fft.rfft(noise[on], axis=1)) ** 2
    f = np.fft.rfftfreq(256, 1 / 360.0)
    assert spec[:, f > 8.0].sum() < 1e-6 * spec.sum()


def test_augment_adds_artefacts_to_inputs_only_when_enabled():
    x = np.sin(np.linspace(0, 6, 256))[None, :].repeat(512, axis=0).astype(np.float32)
    plain = replace(Config(), aug_noise_sd=0.0, aug_wander_amp=0.0, aug_shift=0, aug_scale=(1.0, 1.0))
    inp, target = augment(x, np.random.default_rng(1), plain)
    assert np.allclose(inp, target) and np.allclose(target, x)
    with_art = replace(plain, aug_artefact_prob=1.0, aug_artefact_rms=(0.1, 0.1))
    inp, target = augment(x, np.random.default_rng(1), with_art)
    assert np.allclose(target, x)
    assert np.allclose((inp - target).std(axis=1), 0.1, atol=1e-3)
