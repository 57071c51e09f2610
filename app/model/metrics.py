"""Detection metrics for anomaly scores: numpy and scikit-learn only (no TensorFlow).

Used by `training.evaluate` (to write evaluation.json), by the evaluation page (metrics at a
threshold the user picks, from the saved per-beat scores) and by the signal viewer (agreement
with reference annotations). A beat is flagged when ``score > threshold``; the positive class is
"anomalous" (AAMI S, V, F, Q), the negative class "normal" (AAMI N).
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from app.ecg.aami import ANOMALOUS_CLASSES  # re-exported: training reads M.ANOMALOUS_CLASSES

NORMAL_CLASS = "N"
MAX_CURVE_POINTS = 200


def _safe_div(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def flags_at(scores, threshold: float) -> np.ndarray:
    """The flag rule used everywhere: a beat is anomalous when its score is above the threshold."""
    return np.asarray(scores, dtype=float) > float(threshold)


def labels_from_classes(ref_class) -> np.ndarray:
    """1 for anomalous AAMI classes (S, V, F, Q), 0 for N; callers drop unlabelled beats first."""
    return np.isin(np.asarray(ref_class).astype(str), ANOMALOUS_CLASSES).astype(np.int8)


def labelled_mask(ref_class) -> np.ndarray:
    """Beats with an AAMI class (a matched reference beat): the only ones metrics are computed on."""
    return np.isin(np.asarray(ref_class).astype(str), (NORMAL_CLASS,) + ANOMALOUS_CLASSES)


def confusion_counts(y_true, y_pred) -> dict[str, int]:
    """tp, fp, tn, fn with 1 = anomalous."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    return {"tp": int(np.sum(t & p)), "fp": int(np.sum(~t & p)),
            "tn": int(np.sum(~t & ~p)), "fn": int(np.sum(t & ~p))}


def metrics_from_confusion(tp: int, fp: int, tn: int, fn: int) -> dict[str, float | None]:
    """Threshold metrics from a confusion matrix; None where a ratio is undefined (0/0)."""
    n = tp + fp + tn + fn
    sens = _safe_div(tp, tp + fn)
    spec = _safe_div(tn, tn + fp)
    prec = _safe_div(tp, tp + fp)
    npv = _safe_div(tn, tn + fn)
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    mcc_den = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / mcc_den if mcc_den else 0.0
    acc = _safe_div(tp + tn, n)
    bal = (sens + spec) / 2 if sens is not None and spec is not None else None
    if n:
        p_o = (tp + tn) / n
        p_e = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / float(n * n)
        kappa = (p_o - p_e) / (1 - p_e) if p_e != 1 else 0.0
    else:
        kappa = None
    return {"accuracy": acc, "precision": prec, "sensitivity": sens, "specificity": spec,
            "f1": f1, "mcc": float(mcc), "balanced_accuracy": bal,
            "kappa": None if kappa is None else float(kappa), "npv": npv}


def metrics_at_threshold(y_true, scores, threshold: float) -> dict:
    """Confusion counts and every threshold metric, flagging ``score > threshold``."""
    cm = confusion_counts(y_true, flags_at(scores, threshold))
    return {"threshold": float(threshold), "confusion": cm, **metrics_from_confusion(**cm)}


def auroc(y_true, scores) -> float | None:
    """Area under the ROC curve; None when only one class is present."""
    y = np.asarray(y_true)
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def average_precision(y_true, scores) -> float | None:
    """Average precision (area under the step PR curve); None without positives."""
    y = np.asarray(y_true)
    if y.size == 0 or y.max() == 0:
        return None
    return float(average_precision_score(y, np.asarray(scores, dtype=float)))


def _downsample_path(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most max_points points spread evenly along the curve, ends kept."""
    n = len(x)
    if n <= max_points:
        return np.arange(n)
    step = np.abs(np.diff(x)) + np.abs(np.diff(y))
    arc = np.concatenate([[0.0], np.cumsum(step)])
    targets = np.linspace(0.0, arc[-1], max_points)[1:-1]
    idx = np.searchsorted(arc, targets, side="left").clip(0, n - 1)
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def roc_points(y_true, scores, max_points: int = MAX_CURVE_POINTS) -> dict[str, list[float]]:
    """ROC curve (fpr, tpr both non-decreasing from (0,0) to (1,1)) with <= max_points points."""
    y = np.asarray(y_true)
    if y.size == 0 or y.min() == y.max():
        return {"fpr": [], "tpr": []}
    fpr, tpr, _ = roc_curve(y, np.asarray(scores, dtype=float), drop_intermediate=True)
    keep = _downsample_path(fpr, tpr, max_points)
    return {"fpr": _rounded(fpr[keep]), "tpr": _rounded(tpr[keep])}


def pr_points(y_true, scores, max_points: int = MAX_CURVE_POINTS) -> dict[str, list[float]]:
    """Precision-recall curve, recall non-decreasing from 0 to 1, with <= max_points points."""
    y = np.asarray(y_true)
    if y.size == 0 or y.max() == 0:
        return {"recall": [], "precision": []}
    prec, rec, _ = precision_recall_curve(y, np.asarray(scores, dtype=float))
    prec, rec = prec[::-1], rec[::-1]  # sklearn gives recall decreasing
    keep = _downsample_path(rec, prec, max_points)
    return {"recall": _rounded(rec[keep]), "precision": _rounded(prec[keep])}


def _rounded(a: np.ndarray, digits: int = 5) -> list[float]:
    return [round(float(v), digits) for v in a]


def operating_point(y_true, scores, threshold: float) -> dict[str, float | None]:
    """Where a threshold sits on the ROC and PR curves."""
    m = metrics_at_threshold(y_true, scores, threshold)
    return {"fpr": None if m["specificity"] is None else 1.0 - m["specificity"],
            "tpr": m["sensitivity"], "precision": m["precision"]}


def per_class_rates(ref_class, flags, scores=None) -> dict[str, dict]:
    """Per AAMI class: beats, flagged beats and the flagged fraction.

    For S, V, F, Q the fraction is that class's detection rate (sensitivity); for N it is the
    false-alarm rate. With ``scores``, also the AUROC of that class against the N beats.
    """
    cls = np.asarray(ref_class).astype(str)
    flg = np.asarray(flags).astype(bool)
    normal = cls == NORMAL_CLASS
    out: dict[str, dict] = {}
    for c in (NORMAL_CLASS,) + ANOMALOUS_CLASSES:
        m = cls == c
        n = int(m.sum())
        k = int(flg[m].sum())
        row = {"n": n, "flagged": k, "rate": _safe_div(k, n)}
        row["kind"] = "false_alarm_rate" if c == NORMAL_CLASS else "detection_rate"
        if scores is not None and c != NORMAL_CLASS:
            s = np.asarray(scores, dtype=float)
            sel = m | normal
            row["auroc_vs_N"] = auroc(m[sel].astype(int), s[sel]) if n else None
        out[c] = row
    return out


def score_summary(ref_class, scores, threshold: float, curves: bool = True) -> dict:
    """Everything evaluation.json keeps for one scorer on one beat set (labelled beats only)."""
    cls = np.asarray(ref_class).astype(str)
    s = np.asarray(scores, dtype=float)
    keep = labelled_mask(cls)
    cls, s = cls[keep], s[keep]
    y = labels_from_classes(cls)
    out = {"n": int(y.size), "n_anomalous": int(y.sum()),
           "auroc": auroc(y, s), "average_precision": average_precision(y, s),
           "at_threshold": metrics_at_threshold(y, s, threshold),
           "per_class": per_class_rates(cls, flags_at(s, threshold), s)}
    if curves:
        out["roc"] = roc_points(y, s)
        out["pr"] = pr_points(y, s)
        out["operating_point"] = operating_point(y, s, threshold)
    return out
