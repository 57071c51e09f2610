"""analyze()/reflag() on bundled DS2 records: contract columns, V beats ranked above N beats."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app.analysis import TABLE_COLUMNS, analyze, missing_note, reference_note, reflag
from app.config import SAMPLES_DIR
from app.ecg.readers import read_record
from app.ecg.record import Recording


@pytest.fixture(scope="module")
def a233():
    return analyze(read_record(SAMPLES_DIR / "233"))


@pytest.fixture(scope="module")
def a105():
    """Record 105 (noisy) analysed once for the tests that read it."""
    return analyze(read_record(SAMPLES_DIR / "105"))


def test_table_has_the_contract_columns_one_row_per_beat(a233):
    t = a233.table
    assert list(t.columns) == TABLE_COLUMNS + ["ref_symbol", "ref_class"]
    n = len(t)
    assert n > 2500 and a233.windows.shape == (n, 256) and a233.recon.shape == (n, 256)
    assert a233.latent.shape == (n, 16)
    assert np.isfinite(t[["recon_error", "latent_distance", "kl", "rr_score", "score"]].to_numpy()).all()
    assert set(a233.thresholds) == {"statistical", "percentile", "fixed"}
    assert a233.threshold == a233.thresholds[a233.default_method]["value"]
    s = a233.summary
    assert s["n_beats"] == n and s["n_anomalies"] == int(t.anomaly.sum())
    assert s["has_reference"] and not s["short_record_fallback"] and s["lead"] == "MLII"
    assert s["missing_samples"] == 0 and missing_note(s) == ""  # a complete record: nothing to say
    assert s["ref_outside"] == 0 and reference_note(s) == ""


def test_missing_samples_of_the_analysed_lead_are_counted_and_reported():
    """A second of NaN and a few infinite samples in MLII (and NaN in V5, not analysed): the
    pipeline interpolates over them, and the summary says how many there were."""
    rec = read_record(SAMPLES_DIR / "100")
    sig = rec.signals.copy()
    sig[36_000:36_360, 0] = np.nan
    sig[[50_000, 50_010, 60_000], 0] = [np.inf, -np.inf, np.nan]
    sig[:1000, 1] = np.nan
    a = analyze(Recording(name="100-gaps", signals=sig, fs=rec.fs, leads=rec.leads, units=rec.units))
    assert a.lead == "MLII" and a.summary["missing_samples"] == 363
    note = missing_note(a.summary)
    assert note.startswith("363 samples (0.056 %) of lead MLII were missing") and "interpolated" in note
    assert np.isfinite(a.table.score).all() and len(a.table) > 2000


def test_ventricular_beats_score_above_normal_beats(a233):
    t = a233.table[a233.table.ref_class.isin(["N", "V"])]
    assert (t.ref_class == "V").sum() > 500
    assert roc_auc_score(t.ref_class == "V", t.score) > 0.9
    flagged_v = t[t.ref_class == "V"].anomaly.mean()
    assert flagged_v > 0.8


def test_reflag_never_reruns_the_model_and_is_monotone(a233):
    lo, hi = np.percentile(a233.table.score, [50, 99])
    f_lo, f_hi = reflag(a233, lo), reflag(a233, hi)
    assert f_lo.sum() > f_hi.sum() > 0
    assert not (f_hi & ~f_lo).any()
    np.testing.assert_array_equal(reflag(a233, a233.threshold), a233.table.anomaly.to_numpy())


def test_short_upload_uses_the_training_calibration():
    rec = read_record(SAMPLES_DIR / "100")
    n = int(40 * rec.fs)
    short = Recording(name="100-40s", signals=rec.signals[:n], fs=rec.fs, leads=rec.leads, units=rec.units)
    a = analyze(short)
    assert a.summary["short_record_fallback"] is True and not a.summary["has_reference"]
    assert "ref_class" not in a.table.columns
    assert 40 <= len(a.table) <= 60 and np.isfinite(a.table.score).all()


def test_raised_by_names_shape_for_ventricular_and_timing_for_supraventricular_beats(a233):
    """233's flagged V beats are raised by their shape; 100's flagged atrial premature beats (normal
    shape, early) by their timing."""
    t = a233.table
    v = t[(t.ref_class == "V") & t.anomaly]
    assert (v.raised_by.str.contains("shape")).mean() > 0.9
    t100 = analyze(read_record(SAMPLES_DIR / "100")).table
    s = t100[(t100.ref_class == "S") & t100.anomaly]
    assert len(s) > 20 and (s.raised_by.str.contains("timing")).mean() > 0.9
    assert set(t.raised_by) | set(t100.raised_by) <= {"", "shape", "timing", "shape+timing"}
    assert (t.raised_by[t.anomaly] != "").all()  # a flagged beat always has a reason


def test_noisy_beats_are_scored_denoised_and_the_inspector_can_show_what_was_scored():
    """Muscle-like noise over 30 s of record 100: those beats reach the VAE denoised (the table's
    quality is of what was scored), the displayed windows stay as recorded, and scored_window
    rebuilds the scored window from the displayed ones, also from a compacted cache entry."""
    from app.analysis import scored_label, scored_window
    from app.compact import compact_analysis

    rec = read_record(SAMPLES_DIR / "100")
    sig = rec.signals[: 360 * 120].copy()
    rng = np.random.default_rng(0)
    sig[360 * 60: 360 * 90, 0] += rng.normal(0, 0.25, 360 * 30).astype(np.float32)
    a = analyze(Recording(name="100-noisy", signals=sig, fs=rec.fs, leads=rec.leads, units=rec.units))
    bs = a.beats
    mask = bs.denoised
    t = a.table["time_s"].to_numpy()
    assert mask[(t > 61) & (t < 89)].mean() > 0.9 and not mask[t < 59].any()
    assert np.array_equal(a.windows, bs.windows)  # displayed: as recorded
    b = int(np.flatnonzero(mask)[5])
    assert not np.allclose(bs.model_windows[b], bs.windows[b], atol=0.01)
    np.testing.assert_allclose(scored_window(a, b), bs.model_windows[b], atol=1e-5)
    packed = compact_analysis(a)
    assert packed.beats.model_windows is None  # not kept in the cache ...
    np.testing.assert_allclose(scored_window(packed, b), bs.model_windows[b], atol=2e-3)  # ... rebuilt
    # the clean beats: the model saw them as displayed, but for a drift too small to draw
    clean = np.flatnonzero(~mask & (t > 2) & (t < 59))
    assert np.mean([scored_window(a, int(i)) is None for i in clean]) > 0.9
    assert scored_label(a, b) == "as scored (denoised, drift removed)"


def test_scored_window_of_a_drifting_beat_is_rebuilt_without_the_drift():
    """A 0.7 Hz drift (it passes the band-pass) on record 100: the model saw each beat with it taken
    out (app.ecg.baseline), and the inspector rebuilds that window, from a cached entry too."""
    from app.analysis import SCORED_SHOWN_FROM, scored_label, scored_window
    from app.compact import compact_analysis

    rec = read_record(SAMPLES_DIR / "100")
    sig = rec.signals[: 360 * 60].copy()
    sig[:, 0] += (0.6 * np.sin(2 * np.pi * 0.7 * np.arange(len(sig)) / 360.0)).astype(np.float32)
    a = analyze(Recording(name="100-drift", signals=sig, fs=rec.fs, leads=rec.leads, units=rec.units))
    bs = a.beats
    moved = np.abs(bs.model_windows - bs.windows).max(axis=1)
    b = int(np.flatnonzero(~bs.denoised & (moved > 2 * SCORED_SHOWN_FROM))[0])
    np.testing.assert_allclose(scored_window(a, b), bs.model_windows[b], atol=1e-5)
    assert scored_label(a, b) == "as scored (drift removed)"
    packed = compact_analysis(a)
    assert packed.beats.baseline is not None  # kept in the cache: the scored window is rebuilt
    np.testing.assert_allclose(scored_window(packed, b), bs.model_windows[b], atol=2e-3)


def test_rhythm_scores_skip_denoised_detections_that_split_the_rhythm(a105):
    """Record 105 is noisy: where a denoised detection splits an RR interval into two short ones
    that add up to the rhythm, the next beat's interval for the scores is measured across it
    (mostly false detections: matched to no reference beat); the displayed RR stays as detected."""
    a = a105
    t = a.table.time_s.to_numpy()
    tr = a.beats.rhythm_times  # the times the rhythm is measured at (app.ecg.align)
    detected = np.maximum(np.diff(tr), 0.05)
    skipped = np.flatnonzero(~np.isclose(a.scores["rr_prev"][1:], detected)) + 1
    assert len(skipped) >= 10
    assert a.beats.denoised[skipped - 1].all()
    np.testing.assert_allclose(a.scores["rr_prev"][skipped], tr[skipped] - tr[skipped - 2])
    assert (a.table.ref_class.to_numpy()[skipped - 1] == "").mean() > 0.5
    np.testing.assert_allclose(a.table.rr_prev_s.to_numpy()[1:], np.diff(t), atol=1e-3)


def test_rhythm_is_measured_at_realigned_peaks_only_where_the_lead_is_noisy(a105):
    """Record 105 is noisy: some noisy beats' rhythm times move to where the record's QRS template
    fits (app.ecg.align; by at most 50 ms, never reordered), no quiet beat moves, and the table,
    the windows and the displayed RR keep the detector's peaks."""
    from app.ecg.align import NOISY_FROM, SHIFT_S

    a = a105
    bs = a.beats
    t = a.table.time_s.to_numpy()
    shift = bs.rhythm_times - t
    moved = np.abs(shift) > 1e-9
    assert moved.sum() >= 20
    assert (bs.noise_ratio[moved] > NOISY_FROM).all()
    assert np.abs(shift).max() <= SHIFT_S + 1.5 / bs.fs
    assert (np.diff(bs.rhythm_times) > 0).all()
    np.testing.assert_array_equal(t, bs.samples / bs.source_fs)


def test_skipped_detections_name_what_the_scores_measured_across(a105):
    """For every beat of 105, the detections its scored RR intervals skip (looked up from the
    +-30 beats around it) are exactly where the whole record's scores differ from the RR between
    consecutive detections (at the times the rhythm is measured at), also from a compacted entry."""
    from app.analysis import skipped_detections
    from app.compact import compact_analysis

    a = a105
    t = a.beats.rhythm_times
    rr = np.maximum(np.diff(t), 0.05)
    prev_skip = np.r_[False, ~np.isclose(a.scores["rr_prev"][1:], rr)]
    next_skip = np.r_[~np.isclose(a.scores["rr_next"][:-1], rr), False]
    found = {b: skipped_detections(a, b) for b in range(len(t))}
    assert sum(map(len, found.values())) == prev_skip.sum() + next_skip.sum() >= 20
    for b, skipped in found.items():
        assert skipped == [j for j, on in ((b - 1, prev_skip[b]), (b + 1, next_skip[b])) if on]
    packed = compact_analysis(a)
    assert all(skipped_detections(packed, b) == found[b] for b in range(len(t)))
