"""Noise-robust detection: the other leads carry the detector through noise on the analysed lead,
and noise spikes that split an RR interval go."""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal

from app.ecg.fusion import block_length, drop_extra_beats, noisy_runs, block_stats
from app.ecg.leads import helper_leads
from app.ecg.matching import match_beats
from app.ecg.pipeline import extract_beats
from app.ecg.rpeaks import detect_rpeaks

FS = 360.0


def _burst(n: int, start_s: float, end_s: float, scale: float, seed: int = 0) -> np.ndarray:
    """3-20 Hz Gaussian noise (the QRS band: what fools a detector) between start_s and end_s."""
    rng = np.random.default_rng(seed)
    noise = signal.sosfiltfilt(signal.butter(2, [3, 20], btype="bandpass", fs=FS, output="sos"),
                               rng.standard_normal(n))
    out = np.zeros(n)
    a, b = int(start_s * FS), int(end_s * FS)
    out[a:b] = scale * noise[a:b] / noise[a:b].std()
    return out


def test_second_lead_carries_detection_through_noise_on_the_first(records):
    rec = records["100"]
    n = int(600 * FS)
    x, y = rec.signals[:n, 0].astype(np.float64), rec.signals[:n, 1].astype(np.float64)
    ref = rec.ref_samples[rec.ref_samples < n - 40]
    noisy_x = x + _burst(n, 120, 480, 0.25 * np.ptp(x[: int(10 * FS)]))
    alone = match_beats(detect_rpeaks(noisy_x, FS), ref, FS, 0.15)
    both = match_beats(detect_rpeaks(noisy_x, FS, [y]), ref, FS, 0.15)
    assert alone.ppv < 0.9 and alone.se < 0.97, (alone.se, alone.ppv)  # the burst does fool one lead
    assert both.se >= 0.995 and both.ppv >= 0.995, (both.se, both.ppv)
    # the R-peaks stay on the analysed lead
    clean = detect_rpeaks(x, FS, [y])
    assert np.array_equal(clean, detect_rpeaks(x, FS, [y]))
    m = match_beats(clean, ref, FS, 0.15)
    assert m.se == 1.0 and m.ppv == 1.0


def test_clean_records_keep_their_detection_with_the_second_lead(records):
    for name in ("100", "213", "233"):
        rec = records[name]
        det = detect_rpeaks(rec.signals[:, 0], rec.fs, [rec.signals[:, 1]])
        m = match_beats(det, rec.ref_samples, rec.fs, 0.15)
        assert m.se >= 0.999 and m.ppv >= 0.999, (name, m.se, m.ppv)


def test_other_leads_of_another_length_or_with_nans_are_handled(records):
    rec = records["100"]
    n = int(120 * FS)
    x, y = rec.signals[:n, 0], rec.signals[:n, 1].astype(np.float64).copy()
    alone = detect_rpeaks(x, FS)
    assert np.array_equal(detect_rpeaks(x, FS, [y[:-5]]), alone)  # ignored: not the same length
    noisy = x + _burst(n, 10, 100, 0.25 * np.ptp(x[:3600]))
    ref = rec.ref_samples[rec.ref_samples < n - 40]
    alone = match_beats(detect_rpeaks(noisy, FS), ref, FS, 0.15)
    # the other lead missing or flat over the noise: no help, and no harm beyond a beat or two at
    # the steps where it drops out and comes back
    for missing in (np.nan, 0.0):
        y_off = y.copy()
        y_off[int(5 * FS):int(105 * FS)] = missing
        det = detect_rpeaks(noisy, FS, [y_off])
        assert det.dtype == np.int64 and np.all(np.diff(det) > 0)
        m = match_beats(det, ref, FS, 0.15)
        assert m.se >= alone.se - 0.02 and m.ppv >= alone.ppv - 0.02, (missing, m.se, m.ppv, alone.se, alone.ppv)


def test_only_noisy_stretches_consult_the_other_leads(records):
    rec = records["100"]
    n = int(600 * FS)
    x = rec.signals[:n, 0].astype(np.float64)
    from app.ecg.rpeaks import qrs_feature

    assert noisy_runs(block_stats(qrs_feature(x, FS)[2], FS), n, FS) == []
    noisy = x + _burst(n, 200, 260, 0.25 * np.ptp(x[:3600]))
    runs = noisy_runs(block_stats(qrs_feature(noisy, FS)[2], FS), n, FS)
    assert len(runs) == 1
    a, b = runs[0]
    assert a % block_length(FS) == 0 and a <= 200 * FS and b >= 260 * FS and b - a <= 80 * FS


def _feature(n: int, humps: dict[float, np.ndarray], floor: np.ndarray) -> np.ndarray:
    """A QRS feature: ``floor`` with 100-ms humps of the given heights at the given samples."""
    feat = floor.copy()
    for height, at in humps.items():
        for p in at:
            feat[p - 18: p + 19] = np.maximum(feat[p - 18: p + 19], height)
    return feat


def test_spikes_splitting_rr_intervals_are_dropped_in_noise_only():
    rr = int(0.8 * FS)
    n = int(122 * FS)
    beats = np.arange(2 * rr, int(120 * FS), rr)
    spikes = beats[40:80] + int(0.35 * FS)  # a spike 350 ms after each of 40 beats ...
    ectopic = beats[60] + int(0.45 * FS)  # an early ectopic beat, taller, then its compensatory pause
    beats = np.setdiff1d(beats, beats[61])
    spikes = np.setdiff1d(spikes, spikes[20:22])
    peaks = np.sort(np.r_[beats, spikes, ectopic])
    humps = {1.0: beats, 0.6: spikes, 1.5: [ectopic]}
    floor = np.full(n, 0.05)
    floor[int(beats[38]): int(beats[80])] = 0.4  # ... inside a noisy stretch
    out = drop_extra_beats(peaks, _feature(n, humps, floor), FS)
    assert set(beats) <= set(out) and ectopic in out
    assert len(set(spikes) & set(out)) <= 2, sorted(set(spikes) & set(out))
    # the same weak early peaks in a clean stretch stay (they may be small ectopic beats)
    clean = drop_extra_beats(peaks, _feature(n, humps, np.full(n, 0.05)), FS)
    assert np.array_equal(clean, peaks)


def test_pipeline_uses_usable_ecg_leads_only(records):
    rec = records["100"]
    assert helper_leads(rec, 0) == [1]
    sig = rec.signals.copy()
    sig[:, 1] = 0.0
    flat = dataclasses.replace(rec, signals=sig)
    assert helper_leads(flat, 0) == []
    assert np.array_equal(extract_beats(flat).samples_model, detect_rpeaks(rec.signals[:, 0], FS))
    resp = dataclasses.replace(rec, leads=["MLII", "RESP"])
    assert helper_leads(resp, 0) == []


def test_pipeline_brings_the_other_lead_to_the_model_rate(records):
    from app.ecg.filters import resample

    rec = records["100"]
    n = int(300 * FS)
    sig = resample(rec.signals[:n].astype(np.float64), FS, 250.0).astype(np.float32)
    noise = _burst(n, 60, 180, 0.25 * np.ptp(rec.signals[:3600, 0]))
    sig[:, 0] += resample(noise, FS, 250.0)[: len(sig)].astype(np.float32)
    ref = rec.ref_samples[rec.ref_samples < n - 40]
    at250 = dataclasses.replace(rec, signals=sig, fs=250.0, ref_samples=np.round(ref * 250.0 / FS).astype(np.int64),
                                ref_symbols=np.asarray(rec.ref_symbols)[: len(ref)])
    m = match_beats(extract_beats(at250).samples, at250.ref_samples, 250.0, 0.15)
    assert m.se >= 0.99 and m.ppv >= 0.99, (m.se, m.ppv)
    alone = dataclasses.replace(at250, leads=["MLII", "RESP"])  # no other ECG lead to help
    m1 = match_beats(extract_beats(alone).samples, at250.ref_samples, 250.0, 0.15)
    assert m1.ppv < 0.95, m1.ppv
