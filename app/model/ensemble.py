"""Ensemble: the normalized scores combined by a logistic model fit on DS1 validation records.

The ensemble score is the model's logit (log-odds that a beat is not normal), minus the record's
own ``record_shift_q``-th percentile logit when the calibration names one: the bulk of each
record's normal beats then starts at the same place whatever the patient, so one threshold fits
unseen patients better (a low percentile, so a record with up to ~3/4 ectopic beats is still
shifted by a normal beat's score). Unbounded, with the default threshold calibrated on DS1
validation normals. Weights live in calibration.json.
"""
from __future__ import annotations

import numpy as np

# Transforms applied to the per-beat scores before the linear model (name -> function of scores).
FEATURES = {
    "recon_z": lambda s: np.clip(s["recon_z"], -5.0, 50.0),
    "log_latent_distance": lambda s: np.log1p(s["latent_distance"]),
    "kl_z": lambda s: np.clip(s["kl_z"], -5.0, 50.0),
    "prematurity": lambda s: np.clip(s["rr_prematurity"], -1.5, 1.5),
    "compensation": lambda s: np.clip(s["rr_compensation"], -1.5, 1.5),
    "late": lambda s: np.clip(s["rr_late"], -1.5, 1.5),
    "rr_change": lambda s: np.clip(s["rr_change"], -1.5, 1.5),
    # the rhythm features as robust z within the record (scorers.RHYTHM_Z): comparable across patients
    "prematurity_z": lambda s: np.clip(s["rr_prematurity_z"], -10.0, 50.0),
    "compensation_z": lambda s: np.clip(s["rr_compensation_z"], -10.0, 50.0),
    "late_z": lambda s: np.clip(s["rr_late_z"], -10.0, 50.0),
    "rr_change_z": lambda s: np.clip(s["rr_change_z"], -10.0, 50.0),
}


# Ensemble features that describe the beat's shape; the others describe its timing (rhythm).
SHAPE_FEATURES = frozenset({"recon_z", "log_latent_distance", "kl_z"})
REASON_MIN_LOGODDS = 1.0  # a part names the reason when it adds this much over the record's median beat


def feature_matrix(scores: dict, names) -> np.ndarray:
    return np.column_stack([FEATURES[n](scores) for n in names]).astype(np.float64)


def standardized(scores: dict, weights: dict) -> np.ndarray:
    """The model's features of every beat, standardized as when it was fit (beats x features)."""
    X = feature_matrix(scores, weights["features"])
    return (X - np.asarray(weights["mean"])) / np.asarray(weights["sd"])


def logistic_logit(scores: dict, weights: dict) -> np.ndarray:
    """Logit of one fitted logistic model (``weights``: features, mean, sd, coef, intercept)."""
    return standardized(scores, weights) @ np.asarray(weights["coef"]) + float(weights["intercept"])


def ensemble_score(scores: dict, ensemble: dict) -> np.ndarray:
    """Logit of the fitted logistic model on the standardized features.

    A short record (``short_record_fallback``) has no rhythm statistics of its own, so it is scored
    by the fallback model (``ensemble["fallback"]``: features that need no record statistics, fit on
    the same DS1 records) shifted by its ``offset``, which puts the fallback normal-score
    distribution where the threshold statistics expect it (DS1). Older calibrations without a
    fallback model shift the main model's logit by ``fallback_offset``.

    ``scores`` must hold ONE whole record's beats: with ``record_shift_q`` the main logit is
    shifted by that record's percentile (``record_shift``).
    """
    if scores.get("short_record_fallback") is True:
        fb = ensemble.get("fallback")
        if fb is not None:
            return logistic_logit(scores, fb) + float(fb.get("offset", 0.0))
        return logistic_logit(scores, ensemble) + float(ensemble.get("fallback_offset", 0.0))
    return record_shift(logistic_logit(scores, ensemble), ensemble.get("record_shift_q"))


def scoring_model(scores: dict, ensemble: dict) -> dict:
    """The fitted logistic model that scores this record (the fallback one for a short record)."""
    fb = ensemble.get("fallback")
    return fb if scores.get("short_record_fallback") is True and fb is not None else ensemble


def uses_reconstruction(scores: dict, ensemble: dict) -> bool:
    """Whether the model that scores this record reads the reconstruction error (the committed
    main model does not; the short-record fallback does)."""
    return any(f.startswith("recon") for f in scoring_model(scores, ensemble)["features"])


def part_contributions(scores: dict, ensemble: dict) -> tuple[np.ndarray, np.ndarray]:
    """(shape, timing): the log-odds that the model's shape terms and its timing terms add to each
    beat's score, each counted from the record's median beat (``scores``: one whole record)."""
    weights = scoring_model(scores, ensemble)
    terms = standardized(scores, weights) * np.asarray(weights["coef"])
    is_shape = np.array([f in SHAPE_FEATURES for f in weights["features"]])
    parts = terms[:, is_shape].sum(axis=1), terms[:, ~is_shape].sum(axis=1)
    return tuple(p - np.median(p) if len(p) else p for p in parts)


def reasons(shape: np.ndarray, timing: np.ndarray, min_logodds: float = REASON_MIN_LOGODDS) -> np.ndarray:
    """Per beat, what raises its score above the record's median beat: "shape", "timing",
    "shape+timing", or "" (neither part by ``min_logodds`` or more)."""
    names = np.array(["", "shape", "timing", "shape+timing"], dtype=object)
    return names[(shape >= min_logodds).astype(int) + 2 * (timing >= min_logodds).astype(int)]


def record_shift(logit: np.ndarray, q) -> np.ndarray:
    """``logit`` minus its own ``q``-th percentile (unchanged when ``q`` is None or no beats)."""
    if q is None or len(logit) == 0:
        return logit
    return logit - float(np.percentile(logit, float(q)))


def fit_ensemble(X: np.ndarray, y: np.ndarray, names, C: float = 1.0, seed: int = 0) -> dict:
    """Standardize, fit a class-balanced L2 logistic regression; return the JSON-able weights."""
    from sklearn.linear_model import LogisticRegression

    mean, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
    lr.fit((X - mean) / sd, y.astype(int))
    return {"features": list(names), "mean": mean.tolist(), "sd": sd.tolist(),
            "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]), "rule": "logistic"}
