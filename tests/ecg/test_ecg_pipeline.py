"""extract_beats: the BeatSet contract, RR features, quality, lead choice, reference labels."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.ecg.errors import InvalidRecordError
from app.ecg.leads import choose_lead
from app.ecg.pipeline import AFTER, BEFORE, BeatSet, beat_windows, extract_beats
from app.ecg.readers import read_csv_bytes
from app.ecg.record import Recording
from app.ecg.rr import RR_FEATURE_NAMES, rr_feature_matrix, rr_intervals

CONTRACT_FIELDS = ["record", "lead", "lead_index", "fs", "samples", "samples_model", "time_s", "windows",
                   "scale_mv", "rr_prev_s", "rr_next_s", "rr_local_s", "quality", "low_quality",
                   "ref_symbol", "ref_class", "filtered"]


def test_beatset_contract_shapes_and_types(beats100, rec100):
    b = beats100
    names = [f.name for f in dataclasses.fields(BeatSet)]
    assert names[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    n = b.n_beats
    assert n == len(b) == 2273
    assert (b.record, b.lead, b.lead_index, b.fs) == ("100", "MLII", 0, 360.0)
    assert b.samples.dtype == np.int64 and b.samples_model.dtype == np.int64
    assert b.time_s.dtype == np.float64 and b.windows.dtype == np.float32
    assert b.windows.shape == (n, 256) and BEFORE == 90 and AFTER == 166
    for arr in (b.rr_prev_s, b.rr_next_s, b.rr_local_s, b.quality):
        assert arr.dtype == np.float32 and arr.shape == (n,) and np.all(np.isfinite(arr))
    assert b.low_quality.dtype == bool and b.ref_symbol.dtype == np.dtype("<U1")
    assert b.ref_class.dtype == np.dtype("<U1")
    assert b.filtered.dtype == np.float32 and len(b.filtered) == rec100.n_samples  # 360 Hz already
    np.testing.assert_allclose(b.time_s, b.samples / 360.0)
    assert isinstance(b.scale_mv, float) and 0.5 < b.scale_mv < 2.5
    f = b.rr_features()
    assert f.shape == (n, len(RR_FEATURE_NAMES)) and f.dtype == np.float32 and np.all(np.isfinite(f))


def test_windows_are_the_scaled_filtered_lead_around_each_r_peak(beats100):
    b = beats100
    i = 100
    r = int(b.samples_model[i])
    np.testing.assert_allclose(b.windows[i], b.filtered[r - 90: r + 166] / b.scale_mv, rtol=1e-5, atol=1e-6)
    assert np.argmax(np.abs(b.windows[i][80:100])) + 80 == pytest.approx(90, abs=11)  # R near index 90
    assert np.median(np.abs(b.windows[:, 90])) == pytest.approx(1.0, abs=0.15)  # record-level scale


def test_edge_windows_pad_with_edge_values():
    x = np.arange(10, dtype=np.float32)
    w = beat_windows(x, np.array([0, 9]), 3, 4)
    np.testing.assert_array_equal(w[0], [0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(w[1], [6, 7, 8, 9, 9, 9, 9])


def test_reference_labels_and_reference_mode(records):
    rec = records["213"]
    det = extract_beats(rec)
    matched = det.ref_symbol != ""
    assert matched.mean() > 0.99
    assert set(np.unique(det.ref_class[matched])) <= {"N", "S", "V", "F", "Q"}
    assert (det.ref_class == "V").sum() > 200  # 213 has 220 ventricular beats
    ref = extract_beats(rec, beats="reference")
    np.testing.assert_array_equal(ref.samples, rec.ref_samples)
    np.testing.assert_array_equal(ref.ref_symbol, rec.ref_symbols)
    assert ref.windows.shape == (len(rec.ref_samples), 256)


def test_reference_mode_needs_annotations(rec100):
    no_ref = dataclasses.replace(rec100, ref_samples=None, ref_symbols=None)
    with pytest.raises(InvalidRecordError, match="no reference"):
        extract_beats(no_ref, beats="reference")
    b = extract_beats(no_ref)
    assert np.all(b.ref_symbol == "") and np.all(b.ref_class == "")


def test_other_sampling_rate_maps_back_to_original_samples(rec100, write_csv, tmp_path):
    from app.ecg.filters import resample

    x = resample(rec100.signals[: 360 * 120, 0], 360.0, 250.0)
    p = write_csv(tmp_path / "r250.csv", [x], ["MLII"])
    rec = read_csv_bytes(p.read_bytes(), "r250.csv", fs=250)
    b = extract_beats(rec)
    assert b.fs == 360.0 and b.windows.shape[1] == 256
    assert len(b.filtered) == pytest.approx(120 * 360, abs=2)
    ref = rec100.ref_samples[(rec100.ref_samples > 36) & (rec100.ref_samples < 360 * 120 - 36)]
    assert abs(b.n_beats - len(ref)) <= 1
    # samples are at 250 Hz, samples_model at 360 Hz, both pointing at the same instants
    np.testing.assert_allclose(b.samples / 250.0, b.samples_model / 360.0, atol=2.5 / 250)
    near = np.min(np.abs(b.samples_model[:, None] - ref[None, :]), axis=0)
    assert np.all(near <= 0.05 * 360)


def test_lead_choice_and_override(rec100):
    swapped = dataclasses.replace(rec100, signals=rec100.signals[:, ::-1].copy(), leads=["V5", "MLII"])
    assert choose_lead(swapped) == 1  # like record 114: MLII second
    assert choose_lead(rec100) == 0
    assert choose_lead(rec100, "v5") == 1 and choose_lead(rec100, 1) == 1 and choose_lead(rec100, "1") == 1
    no_mlii = dataclasses.replace(rec100, leads=["V1", "V2"])
    assert choose_lead(no_mlii) == 0  # like records 102 and 104
    with pytest.raises(InvalidRecordError, match="no lead"):
        choose_lead(rec100, "aVR")
    with pytest.raises(InvalidRecordError, match="no lead 5"):
        choose_lead(rec100, 5)
    b = extract_beats(swapped)
    assert b.lead == "MLII" and b.lead_index == 1


def test_flat_lead_is_skipped_and_refused_when_asked_for(rec100):
    sig = rec100.signals[: 360 * 60].copy()
    sig[:, 0] = 0.25
    rec = Recording(name="flat0", signals=sig, fs=360.0, leads=["MLII", "V5"])
    assert choose_lead(rec) == 1
    with pytest.raises(InvalidRecordError, match="flat"):
        choose_lead(rec, "MLII")


def test_rr_intervals_known_answer():
    fs = 100.0
    s = np.array([0, 100, 200, 260, 400, 500, 600])  # a premature beat at 260, compensatory pause
    prev, nxt, local = rr_intervals(s, fs)
    np.testing.assert_allclose(prev, [1.0, 1.0, 1.0, 0.6, 1.4, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(nxt, [1.0, 1.0, 0.6, 1.4, 1.0, 1.0, 1.0], atol=1e-6)
    assert np.allclose(local, 1.0)
    f = rr_feature_matrix(prev, nxt, local)
    assert f[3, 3] == pytest.approx(0.6) and f[3, 4] == pytest.approx(1.4)
    assert f[3, 5] == pytest.approx(1.4 / 0.6, rel=1e-5)
    one = rr_intervals(np.array([5]), fs)
    assert all(len(a) == 1 and np.isfinite(a).all() for a in one)


def test_rr_features_flag_premature_beats(records):
    b = extract_beats(records["233"])
    ratio = b.rr_features()[:, RR_FEATURE_NAMES.index("rr_prev_ratio")]
    v, n = b.ref_class == "V", b.ref_class == "N"
    assert np.median(ratio[v]) < 0.85 < np.median(ratio[n])


@pytest.mark.parametrize("name,max_low", [("100", 0.01), ("213", 0.01), ("233", 0.02), ("105", 0.06), ("232", 0.06)])
def test_quality_low_fraction_on_bundled_records(records, name, max_low):
    b = extract_beats(records[name])
    assert 0.0 <= b.quality.min() and b.quality.max() <= 1.0
    assert np.array_equal(b.low_quality, b.quality < 0.5)
    assert b.low_quality.mean() <= max_low
    v = b.ref_class == "V"
    if v.any():
        assert b.low_quality[v].mean() <= 0.05  # clean ectopic beats are not "noise"


def test_noisy_beats_are_denoised_for_the_models_and_saturation_stays_low_quality(rec100):
    rng = np.random.default_rng(0)
    sig = rec100.signals[: 360 * 120].copy()
    truth = extract_beats(Recording(name="clean100", signals=sig.copy(), fs=360.0, leads=["MLII", "V5"]))
    noisy = slice(360 * 60, 360 * 90)
    sig[noisy, 0] += rng.normal(0, 0.25, size=sig[noisy, 0].shape).astype(np.float32)  # muscle-like
    sig[360 * 100: 360 * 103, 0] = sig[:, 0].max()  # 3 s saturated at the ADC ceiling
    rec = Recording(name="noisy100", signals=sig, fs=360.0, leads=["MLII", "V5"])
    b = extract_beats(rec)
    t = b.time_s
    in_noise = (t > 61) & (t < 89)
    clean = t < 59
    assert np.median(b.quality[clean]) > 0.9 and b.low_quality[clean].mean() < 0.02
    # clean beats reach the models as they are but for the slow drift (app.ecg.baseline), small on a
    # clean record; the noisy ones denoised (app.ecg.denoise) ...
    assert np.percentile(np.abs(b.model_windows[clean] - b.windows[clean]).max(axis=1), 90) < 0.1
    # the clean signal at the same R-peaks
    clean_w = beat_windows(truth.filtered, b.samples_model[in_noise]) / b.scale_mv
    err_shown = np.mean((b.windows[in_noise] - clean_w) ** 2, axis=1)
    err_model = np.mean((b.model_windows[in_noise] - clean_w) ** 2, axis=1)
    assert np.median(err_model) < 0.3 * np.median(err_shown)  # ... much closer to the clean beats
    # ... and their quality is that of what the models see; the displayed windows stay noisy
    assert b.low_quality[in_noise].mean() < 0.2 and np.median(err_shown) > 0.005
    stuck = (t > 99.9) & (t < 103.0)
    assert stuck.sum() >= 1 and np.all(b.quality[stuck] == 0.0)  # stuck at the ADC ceiling


def _beats_in_forked_child(rec, queue):
    queue.put(len(extract_beats(rec).samples))


def test_extract_beats_works_in_a_process_forked_after_an_extraction(rec100):
    """The signal work's thread pool is per process: a child forked after the parent used it (a
    pre-forking server, a forked worker) must get its own threads, not wait forever on dead ones."""
    import multiprocessing as mp

    n = len(extract_beats(rec100).samples)  # the parent's pool now has threads
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_beats_in_forked_child, args=(rec100, queue))
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung, "extract_beats hung in a forked child"
    assert queue.get(timeout=5) == n
