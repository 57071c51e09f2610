"""Ensemble: the logistic logit, and the separate short-record (fallback) model with its offset."""
import numpy as np

from app.model.ensemble import (ensemble_score, feature_matrix, fit_ensemble, logistic_logit, part_contributions,
                                 reasons)


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


def test_record_shift_subtracts_the_records_own_percentile_and_spares_short_records():
    rng = np.random.default_rng(2)
    main = {"features": ["log_latent_distance", "prematurity_z"], "mean": [0.0, 0.0], "sd": [1.0, 1.0],
            "coef": [1.0, 1.0], "intercept": 0.0, "record_shift_q": 25.0}
    fb = {"features": ["recon_z"], "mean": [0.0], "sd": [1.0], "coef": [1.0], "intercept": 0.0, "offset": 0.0}
    s = _scores(400, rng, False)
    logit = np.log1p(s["latent_distance"]) + s["rr_prematurity_z"]
    shifted = ensemble_score(s, {**main, "fallback": fb})
    np.testing.assert_allclose(shifted, logit - np.percentile(logit, 25.0))
    assert np.mean(shifted <= 0.0) == 0.25  # a quarter of the record's beats at or below 0
    # a patient whose every score sits 3 higher gets the same shifted scores (same ranking, same flags)
    s_up = {**s, "rr_prematurity_z": s["rr_prematurity_z"] + 3.0}
    np.testing.assert_allclose(ensemble_score(s_up, main), shifted, atol=1e-12)
    # no shift without the entry, and none for a short record (no record statistics)
    np.testing.assert_allclose(ensemble_score(s, {**main, "record_shift_q": None}), logit)
    short = _scores(20, rng, True)
    np.testing.assert_allclose(ensemble_score(short, {**main, "fallback": fb}), short["recon_z"])
    assert ensemble_score({k: v[:0] if isinstance(v, np.ndarray) else v for k, v in s.items()}, main).shape == (0,)


def test_shape_and_timing_parts_add_up_to_the_logit_counted_from_the_median_beat():
    rng = np.random.default_rng(3)
    main = {"features": ["log_latent_distance", "prematurity_z"], "mean": [1.0, 0.5], "sd": [2.0, 1.5],
            "coef": [1.5, 0.8], "intercept": -0.3}
    fb = {"features": ["recon_z", "kl_z", "prematurity"], "mean": [0.0, 0.0, 0.0], "sd": [1.0, 1.0, 1.0],
          "coef": [2.0, 1.0, 0.5], "intercept": -1.0, "offset": 0.75}
    for short, weights in ((False, main), (True, fb)):
        s = _scores(300, rng, short)
        shape, timing = part_contributions(s, {**main, "fallback": fb})
        assert abs(np.median(shape)) < 1e-12 and abs(np.median(timing)) < 1e-12
        # the two parts are the scoring model's logit, less a constant (intercept and median parts)
        assert np.ptp(shape + timing - logistic_logit(s, weights)) < 1e-9
    s = _scores(300, rng, False)
    shape, timing = part_contributions(s, main)
    np.testing.assert_allclose(shape, 1.5 * (np.log1p(s["latent_distance"]) - np.median(np.log1p(s["latent_distance"]))) / 2.0)
    np.testing.assert_allclose(timing, 0.8 * (s["rr_prematurity_z"] - np.median(s["rr_prematurity_z"])) / 1.5)


def test_reasons_name_the_parts_that_raise_the_score_by_the_minimum():
    shape = np.array([0.0, 2.0, 0.5, 3.0, 0.99])
    timing = np.array([0.0, 0.2, 1.5, 1.0, -4.0])
    assert reasons(shape, timing).tolist() == ["", "shape", "timing", "shape+timing", ""]
    assert reasons(shape, timing, min_logodds=0.5).tolist() == ["", "shape", "shape+timing", "shape+timing", "shape"]
