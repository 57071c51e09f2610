"""Resampling to the model rate and the filters."""
from __future__ import annotations

import numpy as np
import pytest

from app.ecg.filters import bandpass, clean_lead, fill_nan, notch, resample, resample_ratio


def _dominant_hz(x, fs):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / fs)[np.argmax(spec)]


@pytest.mark.parametrize("fs_in,up,down", [(250, 36, 25), (500, 18, 25), (360, 1, 1), (128, 45, 16), (1000, 9, 25)])
def test_resample_ratio(fs_in, up, down):
    assert resample_ratio(fs_in, 360) == (up, down)


@pytest.mark.parametrize("fs_in", [250.0, 500.0, 128.0, 1000.0])
def test_resample_to_360_keeps_length_and_frequency(fs_in):
    t = np.arange(int(30 * fs_in)) / fs_in
    x = np.sin(2 * np.pi * 7.0 * t) + 0.5 * np.sin(2 * np.pi * 1.3 * t)
    y = resample(x, fs_in, 360.0)
    assert len(y) == pytest.approx(30 * 360, abs=1)
    assert _dominant_hz(y, 360.0) == pytest.approx(7.0, abs=0.05)
    t2 = np.arange(len(y)) / 360.0
    ref = np.sin(2 * np.pi * 7.0 * t2) + 0.5 * np.sin(2 * np.pi * 1.3 * t2)
    inner = slice(360, -360)  # away from the edges
    assert np.max(np.abs(y[inner] - ref[inner])) < 0.02


def test_resample_real_record_round_trip(rec100):
    x = rec100.signals[: 360 * 60, 0].astype(np.float64)
    back = resample(resample(x, 360, 250), 250, 360)
    assert len(back) == len(x)
    assert np.sqrt(np.mean((back[720:-720] - x[720:-720]) ** 2)) < 0.02  # mV; band below 100 Hz kept


def test_bandpass_removes_baseline_wander_and_hf():
    fs = 360.0
    t = np.arange(int(60 * fs)) / fs
    qrs_band = np.sin(2 * np.pi * 10 * t)
    x = qrs_band + 2.0 * np.sin(2 * np.pi * 0.1 * t) + 0.5 * np.sin(2 * np.pi * 100 * t)
    y = bandpass(x, fs, 0.5, 40.0)
    inner = slice(int(2 * fs), -int(2 * fs))
    assert np.std(y[inner] - qrs_band[inner]) < 0.05


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_notch_removes_powerline(mains):
    fs = 360.0
    t = np.arange(int(20 * fs)) / fs
    ecg = np.sin(2 * np.pi * 5 * t)
    y = notch(ecg + 0.3 * np.sin(2 * np.pi * mains * t), fs, mains)
    inner = slice(int(fs), -int(fs))
    assert np.std(y[inner] - ecg[inner]) < 0.02
    y2 = clean_lead(ecg + 0.3 * np.sin(2 * np.pi * mains * t), fs, powerline=mains)
    assert np.std(y2[inner] - bandpass(ecg, fs)[inner]) < 0.02


def test_fill_nan_interpolates():
    x = np.array([np.nan, 1.0, np.nan, 3.0, np.nan])
    np.testing.assert_allclose(fill_nan(x), [1.0, 1.0, 2.0, 3.0, 3.0])
    assert np.all(fill_nan(np.full(4, np.nan)) == 0.0)
