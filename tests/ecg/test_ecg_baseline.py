"""app.ecg.baseline: the baseline drift the band-pass leaves, taken out of the model windows only."""
from __future__ import annotations

import numpy as np
import pytest

import app.ecg.baseline as B
from app.ecg.pipeline import BEFORE, beat_windows, extract_beats
from app.ecg.record import Recording
from tests.conftest import nst_noisy_sample


def test_baseline_windows_interpolate_the_block_centres_across_chunks(monkeypatch):
    b = np.random.default_rng(0).normal(size=400).astype(np.float32)
    peaks = np.array([0, 5, 95, 1000, 2003, 3990, 3999])  # edges included: held at the end values
    monkeypatch.setattr(B, "ROWS_PER_CHUNK", 3)  # several chunks
    got = B.baseline_windows(b, peaks, BEFORE, 256)
    centres = np.arange(len(b)) * B.BLOCK + (B.BLOCK - 1) / 2.0
    want = np.interp(peaks[:, None] + np.arange(-BEFORE, 256 - BEFORE)[None, :], centres, b)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_lead_too_short_for_the_median_filters_is_left_as_it_is():
    x = np.ones(100, np.float32)
    assert B.block_baseline(x, 360.0).size == 0
    w = np.ones((2, 256), np.float32)
    assert B.detrend(w, w, B.block_baseline(x, 360.0), np.array([90, 95]), 1.0, BEFORE) is w


def test_the_baseline_follows_slow_drift_and_not_the_beats(rec100):
    """Record 100 with a 0.7 Hz drift added (it passes the 0.5 Hz band-pass): the block baseline
    follows it, and on the record as recorded it stays small next to the beats."""
    sig = rec100.signals[: 360 * 60].copy()
    clean = extract_beats(Recording(name="c", signals=sig.copy(), fs=360.0, leads=["MLII", "V5"]))
    t = np.arange(len(sig)) / 360.0
    sig[:, 0] += (0.6 * np.sin(2 * np.pi * 0.7 * t)).astype(np.float32)
    drift = extract_beats(Recording(name="d", signals=sig, fs=360.0, leads=["MLII", "V5"]))
    assert np.ptp(clean.baseline) < 0.25 * np.ptp(drift.baseline), (np.ptp(clean.baseline), np.ptp(drift.baseline))
    # the displayed windows keep the drift; the model windows are much nearer the clean record's
    n = min(len(clean.samples), len(drift.samples))
    same = np.abs(clean.samples_model[:n] - drift.samples_model[:n]) <= 2
    ref = beat_windows(clean.filtered, drift.samples_model[:n][same]) / drift.scale_mv
    err_shown = np.mean((drift.windows[:n][same] - ref) ** 2, axis=1)
    err_model = np.mean((drift.model_windows[:n][same] - ref) ** 2, axis=1)
    assert np.median(err_model) < 0.1 * np.median(err_shown), (np.median(err_model), np.median(err_shown))
    assert drift.windows is not drift.model_windows


def test_bw_noise_beats_reach_the_model_nearer_their_clean_shape():
    """nstdb `bw` (recorded baseline wander) at 6 dB on bundled record 100, nst's protocol: in the
    noisy segments the model windows sit nearer the clean record's model windows than the displayed
    windows sit to the clean displayed ones."""
    from app.ecg.readers import read_record
    from app.config import SAMPLES_DIR

    rec, on = nst_noisy_sample("100", "bw", 6.0)
    clean = extract_beats(read_record(SAMPLES_DIR / "100"))
    noisy = extract_beats(rec)
    j = np.searchsorted(clean.samples, noisy.samples).clip(0, len(clean.samples) - 1)
    same = (np.abs(clean.samples[j] - noisy.samples) <= 2) & on[noisy.samples]
    assert same.sum() > 500
    err = lambda a, b: np.median(np.mean((a - b) ** 2, axis=1))  # noqa: E731
    shown = err(noisy.windows[same], clean.windows[j[same]])
    model = err(noisy.model_windows[same], clean.model_windows[j[same]])
    assert model < 0.5 * shown, (model, shown)
