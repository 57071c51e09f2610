"""Scorers: known answers on small synthetic inputs."""
import numpy as np
import pytest

from app.model import scorers


def test_robust_z_ignores_outliers():
    x = np.r_[np.random.default_rng(0).normal(10.0, 1.0, 1000), np.full(300, 1e6)]
    loc, scale = scorers.robust_location_scale(x)
    assert abs(loc - 10.0) < 0.5 and 0.8 < scale < 1.8  # median and MAD barely move
    assert scorers.robust_z(np.array([10.0 + 3 * scale]), loc, scale)[0] > 2.5


def test_mahalanobis_identity_is_euclidean():
    z = np.array([[3.0, 4.0], [0.0, 0.0]])
    d = scorers.mahalanobis(z, np.zeros(2), np.eye(2))
    np.testing.assert_allclose(d, [5.0, 0.0])


def test_robust_centre_finds_the_dominant_cluster_despite_40pct_outliers():
    rng = np.random.default_rng(1)
    normal = rng.normal(0.0, 1.0, (600, 16))
    ectopic = rng.normal(6.0, 1.0, (400, 16))
    centre, cov = scorers.robust_centre_cov(np.r_[normal, ectopic])
    assert np.abs(centre).max() < 0.5
    d = scorers.mahalanobis(np.r_[normal, ectopic], centre, cov)
    assert d[600:].min() > d[:600].max()


def test_rhythm_features_mark_a_premature_beat_and_its_pause():
    t = np.arange(60) * 0.8
    t[30] -= 0.3  # premature beat, compensatory pause after it
    r = scorers.rhythm_features(t)
    assert abs(r["prematurity"][10]) < 1e-9
    assert r["prematurity"][30] > 0.4
    assert r["compensation"][30] == pytest.approx(np.log(1.1 / 0.5))
    assert scorers.rr_score(r)[30] == scorers.rr_score(r).max()


def test_rr_intervals_skip_a_suspect_detection_that_splits_the_rhythm():
    """A false detection 0.3 s after beat 30 of a 0.8-s rhythm: without the suspect flag beat 31
    looks premature; flagged, beats 30 and 31 keep their 0.8-s intervals (measured across it)."""
    t = np.sort(np.r_[np.arange(60) * 0.8, 30 * 0.8 + 0.3])  # index 31 is the false detection
    suspect = np.zeros(len(t), bool)
    suspect[31] = True
    plain = scorers.rhythm_features(t)
    skipped = scorers.rhythm_features(t, suspect=suspect)
    assert plain["prematurity"][32] > 0.3 and plain["compensation"][30] < -0.5
    assert skipped["rr_prev"][32] == pytest.approx(0.8) and abs(skipped["prematurity"][32]) < 1e-9
    assert skipped["rr_next"][30] == pytest.approx(0.8) and abs(skipped["compensation"][30]) < 1e-9
    # the suspect itself keeps its own intervals; beats further away are untouched
    assert skipped["rr_prev"][31] == pytest.approx(0.3) and skipped["rr_next"][31] == pytest.approx(0.5)
    np.testing.assert_array_equal(np.delete(skipped["rr_prev"], 32), np.delete(plain["rr_prev"], 32))


def test_a_suspect_premature_beat_keeps_its_timing_and_its_pause():
    """An early ectopic beat (suspect: denoised for its odd shape) with a compensatory pause: the
    interval across it is 1.6 s, off the rhythm, so nothing is skipped. Nor is an early beat
    after a suspect beat that is itself on the rhythm."""
    t = np.arange(60) * 0.8
    t[30] -= 0.3
    suspect = np.zeros(len(t), bool)
    suspect[30] = True
    plain = scorers.rhythm_features(t)
    skipped = scorers.rhythm_features(t, suspect=suspect)
    for k in plain:
        np.testing.assert_array_equal(skipped[k], plain[k])
    t2 = np.arange(60) * 0.8
    t2[31] -= 0.3  # premature beat after the (on-rhythm) suspect beat 30
    s2 = np.zeros(len(t2), bool)
    s2[30] = True
    assert scorers.rhythm_features(t2, suspect=s2)["prematurity"][31] == pytest.approx(
        scorers.rhythm_features(t2)["prematurity"][31])


def test_short_record_falls_back_to_the_training_calibration():
    cal = {"short_record_s": 60.0, "global": {"latent_centre": [0.0] * 4, "latent_cov": np.eye(4).tolist(),
                                              "latent_distance_ratio": 0.5, "log_recon": [-5.0, 1.0],
                                              "kl": [10.0, 2.0]}}
    rng = np.random.default_rng(2)
    w = rng.normal(size=(30, 256)).astype(np.float32)
    zm, zl = rng.normal(size=(30, 4)), np.zeros((30, 4))
    s = scorers.beat_scores(w, zm, zl, w * 0.9, np.arange(30) * 0.8, cal, duration_s=24.0)
    assert s["short_record_fallback"] is True
    np.testing.assert_allclose(s["latent_distance"], 0.5 * np.linalg.norm(zm, axis=1))
    s_long = scorers.beat_scores(w, zm, zl, w * 0.9, np.arange(30) * 0.8, cal, duration_s=600.0)
    assert s_long["short_record_fallback"] is False


def _beat_times(rr: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.cumsum(rr)]


def test_rhythm_z_is_relative_to_the_records_own_rhythm_spread():
    # the same early beat (30 % premature) in a regular record and in an irregular one (AF-like)
    rng = np.random.default_rng(3)
    regular = np.full(300, 0.8)
    irregular = 0.8 * np.exp(rng.normal(0.0, 0.2, 300))
    for rr in (regular, irregular):
        rr[150], rr[151] = 0.56, 1.04
    cal = {"global": {"log_recon": [0, 1], "kl": [0, 1], "latent_centre": [0.0] * 2,
                      "latent_cov": np.eye(2).tolist()}}
    z = {}
    for name, rr in (("regular", regular), ("irregular", irregular)):
        t = _beat_times(rr)
        n = len(t)
        s = scorers.beat_scores(np.zeros((n, 256)), np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 256)),
                                t, cal, duration_s=float(t[-1]))
        z[name] = s["rr_prematurity_z"][151]
    assert z["regular"] > 5.0  # stands out in a regular rhythm (scale at its floor)
    assert z["regular"] > 2 * z["irregular"]  # much less so where every beat's RR varies


def test_short_record_rhythm_z_uses_the_training_rhythm_statistics():
    rr_stats = {k: [0.0, 0.1] for k in scorers.RHYTHM_Z}
    cal = {"short_record_s": 60.0, "global": {"latent_centre": [0.0] * 2, "latent_cov": np.eye(2).tolist(),
                                              "log_recon": [-5.0, 1.0], "kl": [10.0, 2.0], "rr": rr_stats}}
    t = np.arange(40) * 0.8
    t[20] -= 0.3
    n = len(t)
    s = scorers.beat_scores(np.zeros((n, 256)), np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 256)),
                            t, cal, duration_s=32.0)
    assert s["short_record_fallback"] is True
    np.testing.assert_allclose(s["rr_prematurity_z"], np.clip(s["rr_prematurity"], -1.5, 1.5) / 0.1)


def _two_shapes(rng, times, second):
    """Latent means: shape A (N(0, 1) in 16 dims) everywhere, shape B (N(6, 1)) where ``second``."""
    z = rng.normal(0.0, 1.0, (len(times), 16))
    z[second] += 6.0
    return z


def test_second_on_rhythm_cluster_becomes_a_reference_but_ectopic_beats_do_not():
    rng = np.random.default_rng(3)
    t = np.cumsum(np.full(1200, 0.8))
    second = np.zeros(len(t), bool)
    second[700:1100] = True                 # a run of normal beats of another shape, on the rhythm
    ectopic = np.arange(100, 600, 10)       # premature beats of a third shape, each with its pause
    t[ectopic] -= 0.3
    z = _two_shapes(rng, t, second)
    z[ectopic] -= 6.0
    rhythm = scorers.rhythm_features(t)
    centre, cov = scorers.robust_centre_cov(z)
    d = scorers.mahalanobis(z, centre, cov)
    assert np.median(d[second]) > 5 * np.median(d[~second])  # one reference: the second shape is far
    d2 = scorers.second_cluster_distance(z, d, rhythm)
    assert np.median(d2[second]) < 1.5 * np.median(d[~second])  # ... and near its own reference
    normal = ~second
    normal[ectopic] = False
    assert d2[ectopic].min() > 3 * d2[normal].max()              # the ectopic beats stay far
    np.testing.assert_array_equal(d2[:100], d[:100])             # the dominant beats are unchanged


def test_bigeminal_ectopic_beats_do_not_form_a_second_reference():
    rng = np.random.default_rng(4)
    rr = np.tile([0.55, 1.05], 500)          # N-V-N-V...: each V early and followed by a pause
    t = np.cumsum(rr)
    second = np.zeros(len(t), bool)
    second[1::2] = True                      # the V beats
    z = _two_shapes(rng, t, second)
    rhythm = scorers.rhythm_features(t)
    d = scorers.mahalanobis(z, *scorers.robust_centre_cov(z))
    np.testing.assert_array_equal(scorers.second_cluster_distance(z, d, rhythm), d)


def test_runs_of_fast_beats_do_not_become_the_second_reference():
    """Tachycardia runs of another shape are on their own run's local rhythm, but not at the
    record's usual rate: they stay far (record 207's runs of S and V beats; rule v55). Without the
    rate test they would become the second reference."""
    rng = np.random.default_rng(6)
    run = np.zeros(1560, bool)
    for k in range(3):
        run[300 + 420 * k: 420 + 420 * k] = True  # 3 runs of 120 beats at 133 bpm, 300 beats apart
    t = np.cumsum(np.where(run, 0.45, 0.8))
    z = _two_shapes(rng, t, run)
    rhythm = scorers.rhythm_features(t)
    d = scorers.mahalanobis(z, *scorers.robust_centre_cov(z))
    inside = run & (np.abs(rhythm["prematurity"]) < 0.1) & (np.abs(rhythm["compensation"]) < 0.1)
    assert inside.sum() > 0.95 * run.sum()  # on the run's local rhythm ...
    assert not scorers.usual_rate(rhythm["rr_prev"])[run].any()  # ... not at the usual rate
    d2 = scorers.second_cluster_distance(z, d, rhythm)
    assert np.median(d2[run]) > 0.8 * np.median(d[run]) > 4 * np.median(d[~run])
    anyrate = scorers.second_cluster_distance(z, d, rhythm, rate_tol=None)
    assert np.median(anyrate[run]) < 1.5 * np.median(d[~run])


def test_beat_scores_use_the_second_cluster_only_when_the_calibration_asks():
    rng = np.random.default_rng(5)
    n = 400
    t = np.cumsum(np.full(n, 0.8))
    second = np.arange(n) >= 250
    z = _two_shapes(rng, t, second)
    w = rng.normal(0.0, 0.01, (n, 256))
    cal = {"short_record_s": 60.0, "global": {"log_recon": [0.0, 1.0], "kl": [0.0, 1.0],
                                                "latent_centre": [0.0] * 16, "latent_cov": np.eye(16).tolist()}}
    off = scorers.beat_scores(w, z, np.zeros_like(z), w, t, cal, float(t[-1]))
    on = scorers.beat_scores(w, z, np.zeros_like(z), w, t,
                             {**cal, "latent_second_cluster": {"far_q": 0.6, "rr_tol": 0.1, "min_frac": 0.15}},
                             float(t[-1]))
    assert np.median(on["latent_distance"][second]) < 0.3 * np.median(off["latent_distance"][second])
    np.testing.assert_array_equal(on["recon_z"], off["recon_z"])


def test_kl_stays_finite_for_a_huge_float32_log_variance():
    import warnings

    from app.model.scorers import kl_divergence

    z_mean = np.zeros((2, 4), np.float32)
    z_log_var = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 120.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        kl = kl_divergence(z_mean, z_log_var)
    assert kl[0] == 0.0 and np.isfinite(kl[1]) and kl[1] > 1e37
