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
