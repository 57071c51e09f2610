"""Thresholds on the ensemble score, by three methods; one default.

statistical: mean + k * sd of the ensemble scores of DS1-validation normal beats (param k);
percentile:  the given percentile of those scores (param p);
fixed:       the value itself (param = value; in log-odds above the record's 25th-percentile beat
             when the ensemble has a record shift, else 0.0 is the logistic model's 50 % point).
The default method and its parameter were chosen on DS1 validation records (calibration.json).
"""
from __future__ import annotations

import numpy as np

METHODS = ("statistical", "percentile", "fixed")
DEFAULT_METHOD = "statistical"


def _calibration(bundle_or_calibration) -> dict:
    return getattr(bundle_or_calibration, "calibration", bundle_or_calibration)


def default_param(bundle_or_calibration, method: str) -> float:
    return float(_calibration(bundle_or_calibration)["thresholds"]["params"][method])


def threshold_value(bundle_or_calibration, method: str = DEFAULT_METHOD, param: float | None = None) -> float:
    """The score threshold for ``method`` at ``param`` (its calibrated default when None)."""
    cal = _calibration(bundle_or_calibration)["thresholds"]
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose one of {', '.join(METHODS)}")
    p = float(cal["params"][method] if param is None else param)
    if method == "statistical":
        return float(cal["normal_mean"] + p * cal["normal_sd"])
    if method == "percentile":
        q = np.asarray(cal["normal_quantiles"], np.float64)  # scores at percentiles 0..100 step 0.1
        return float(np.interp(np.clip(p, 0.0, 100.0), np.linspace(0.0, 100.0, len(q)), q))
    return p


def thresholds_table(bundle_or_calibration) -> dict:
    """method -> {value, param} at each method's default parameter."""
    cal = _calibration(bundle_or_calibration)["thresholds"]
    return {m: {"value": threshold_value(cal and {"thresholds": cal}, m), "param": float(cal["params"][m])}
            for m in METHODS}


def default_method(bundle_or_calibration) -> str:
    return str(_calibration(bundle_or_calibration)["thresholds"].get("default_method", DEFAULT_METHOD))


def threshold_calibration(normal_scores: np.ndarray, params: dict, default: str = DEFAULT_METHOD) -> dict:
    """What calibration.json stores about the normal-score distribution."""
    s = np.asarray(normal_scores, np.float64)
    return {"normal_mean": float(s.mean()), "normal_sd": float(s.std()),
            "normal_quantiles": np.percentile(s, np.linspace(0, 100, 1001)).tolist(),
            "params": {k: float(v) for k, v in params.items()}, "default_method": default}
