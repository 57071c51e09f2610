"""Ensemble: the logistic logit, and the separate short-record (fallback) model with its offset."""
import numpy as np

from app.model.ensemble import ensemble_score, feature_matrix, fit_ensemble


def _scores(n, rng, fallback):
    return {"latent_distance": rng.gamma(4.0, 1.0, n), "recon_z": rng.normal(size=n), "kl_z": rng.normal(size=n),
            "rr_prematurity_z": rng.normal(size=n), "rr_prematurity": rng.normal(0, 0.1, n),
            "short_record_fallback": fallback}


def test_fitted_logit_ranks_the_anomalous_feature_higher():
    rng = np.random.default_rng(0)
    s = _scores(2000, rng, False)
    y = np.zeros(2000, bool)
    y[:200] = True
    s["latent_distance"][:200] += 8.0
    names = ("log_latent_distance", "prematurity_z")
    ens = fit_ensemble(feature_matrix(s, names), y, names)
    score = ensemble_score(s, ens)
    assert score[:200].mean() > score[200:].mean() + 2.0
    assert ens["coef"][0] > 0


def test_short_record_is_scored_by_the_fallback_model_plus_its_offset():
    rng = np.random.default_rng(1)
    main = {"features": ["log_latent_distance", "prematurity_z"], "mean": [0.0, 0.0], "sd": [1.0, 1.0],
            "coef": [1.0, 1.0], "intercept": 0.0}
    fb = {"features": ["recon_z", "prematurity"], "mean": [0.0, 0.0], "sd": [1.0, 1.0],
          "coef": [2.0, 0.5], "intercept": -1.0, "offset": 0.75}
    long_s, short_s = _scores(50, rng, False), _scores(50, rng, True)
    np.testing.assert_allclose(ensemble_score(long_s, {**main, "fallback": fb}),
                               np.log1p(long_s["latent_distance"]) + long_s["rr_prematurity_z"])
    np.testing.assert_allclose(ensemble_score(short_s, {**main, "fallback": fb}),
                               2.0 * short_s["recon_z"] + 0.5 * short_s["rr_prematurity"] - 1.0 + 0.75)
    # an older calibration without a fallback model: the main model shifted by fallback_offset
    np.testing.assert_allclose(ensemble_score(short_s, {**main, "fallback_offset": 0.5}),
                               np.log1p(short_s["latent_distance"]) + short_s["rr_prematurity_z"] + 0.5)
