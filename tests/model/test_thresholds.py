"""Threshold methods on a known normal-score distribution."""
import numpy as np
import pytest

from app.model.thresholds import (METHODS, default_method, threshold_calibration, threshold_value,
                                  thresholds_table)


@pytest.fixture()
def calibration():
    scores = np.random.default_rng(0).normal(2.0, 0.5, 20000)
    return {"thresholds": threshold_calibration(scores, {"statistical": 3.0, "percentile": 99.0, "fixed": 1.5})}


def test_statistical_is_mean_plus_k_sd(calibration):
    assert threshold_value(calibration, "statistical", 3.0) == pytest.approx(3.5, abs=0.03)
    assert threshold_value(calibration, "statistical", 2.0) < threshold_value(calibration, "statistical", 3.0)


def test_percentile_matches_numpy_and_is_monotone(calibration):
    assert threshold_value(calibration, "percentile", 50) == pytest.approx(2.0, abs=0.02)
    vals = [threshold_value(calibration, "percentile", p) for p in (80, 90, 95, 99, 99.9)]
    assert vals == sorted(vals)


def test_fixed_is_the_value_and_defaults_apply(calibration):
    assert threshold_value(calibration, "fixed", 0.25) == 0.25
    table = thresholds_table(calibration)
    assert set(table) == set(METHODS)
    assert table["fixed"] == {"value": 1.5, "param": 1.5}
    assert default_method(calibration) == "statistical"
    with pytest.raises(ValueError, match="unknown threshold method"):
        threshold_value(calibration, "magic")
