"""app.model.metrics against hand-computed answers and against scikit-learn."""
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from app.model import metrics as M

Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def test_known_answers_tiny_example():
    # at 0.3: flags [0, 1, 1, 1] -> tp 2, fp 1, tn 1, fn 0
    m = M.metrics_at_threshold(Y, S, 0.3)
    assert m["confusion"] == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    assert m["sensitivity"] == 1.0
    assert m["specificity"] == 0.5
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["npv"] == 1.0
    assert m["accuracy"] == 0.75
    assert m["f1"] == pytest.approx(0.8)
    assert m["mcc"] == pytest.approx(2 / math.sqrt(12))
    assert m["balanced_accuracy"] == 0.75
    assert m["kappa"] == pytest.approx(0.5)  # p_o 0.75, p_e 0.5
    assert M.auroc(Y, S) == pytest.approx(0.75)  # 3 of 4 (pos, neg) pairs ordered
    assert M.average_precision(Y, S) == pytest.approx((1.0 + 2 / 3) / 2)


def test_flag_rule_is_strictly_above():
    assert M.flags_at([0.2, 0.3, 0.31], 0.3).tolist() == [False, False, True]


def test_undefined_ratios_are_none_not_nan():
    m = M.metrics_at_threshold([0, 0, 0], [0.1, 0.2, 0.3], 1.0)
    assert m["sensitivity"] is None and m["precision"] is None
    assert m["specificity"] == 1.0 and m["mcc"] == 0.0
    assert M.auroc([0, 0], [1, 2]) is None
    assert M.average_precision([0, 0], [1, 2]) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.2).astype(int)
    s = rng.normal(size=500) + 1.2 * y
    t = 0.5
    p = (s > t).astype(int)
    m = M.metrics_at_threshold(y, s, t)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["precision"] == pytest.approx(skm.precision_score(y, p))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, p))
    assert m["specificity"] == pytest.approx(skm.recall_score(1 - y, 1 - p))
    assert m["npv"] == pytest.approx(skm.precision_score(1 - y, 1 - p))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y, p))
    tn, fp, fn, tp = skm.confusion_matrix(y, p).ravel()
    assert m["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert M.auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))


def test_curves_are_downsampled_monotone_and_span_the_square():
    rng = np.random.default_rng(7)
    y = (rng.random(20000) < 0.1).astype(int)
    s = rng.normal(size=20000) + 1.5 * y
    roc = M.roc_points(y, s)
    assert 50 <= len(roc["fpr"]) <= M.MAX_CURVE_POINTS
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    # the trapezoid area of the thinned curve stays close to the exact AUROC
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(M.auroc(y, s), abs=0.005)
    pr = M.pr_points(y, s)
    assert len(pr["recall"]) <= M.MAX_CURVE_POINTS
    assert pr["recall"][0] == 0.0 and pr["recall"][-1] == 1.0
    assert np.all(np.diff(pr["recall"]) >= 0)
    assert all(0.0 <= v <= 1.0 for v in pr["precision"])
    assert pr["precision"][-1] == pytest.approx(y.mean(), abs=1e-4)


def test_small_curves_are_kept_whole():
    roc = M.roc_points(Y, S)
    fpr, tpr, _ = skm.roc_curve(Y, S)
    assert roc["fpr"] == pytest.approx(fpr.tolist()) and roc["tpr"] == pytest.approx(tpr.tolist())


def test_per_class_rates_and_score_summary():
    cls = np.array(["N", "N", "N", "N", "V", "V", "S", "S", "F", ""])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.95, 0.5, 0.05, 0.7, 5.0])
    rates = M.per_class_rates(cls, M.flags_at(s, 0.4), s)
    assert rates["N"] == {"n": 4, "flagged": 1, "rate": 0.25, "kind": "false_alarm_rate"}
    assert rates["V"]["rate"] == 1.0 and rates["V"]["auroc_vs_N"] == pytest.approx(7 / 8)
    assert rates["S"]["rate"] == 0.5 and rates["S"]["auroc_vs_N"] == pytest.approx(3 / 8)
    assert rates["F"]["n"] == 1 and rates["Q"] == {"n": 0, "flagged": 0, "rate": None,
                                                    "kind": "detection_rate", "auroc_vs_N": None}
    summ = M.score_summary(cls, s, 0.4)
    # the unlabelled beat ('' = false detection) is left out
    assert summ["n"] == 9 and summ["n_anomalous"] == 5
    assert summ["at_threshold"]["confusion"] == {"tp": 4, "fp": 1, "tn": 3, "fn": 1}
    assert summ["operating_point"]["tpr"] == 0.8 and summ["operating_point"]["fpr"] == 0.25
