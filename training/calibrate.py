"""Calibration on the held-out DS1 validation records: scorer statistics, ensemble, thresholds.

Also the DS1-validation metrics: the ensemble is re-fit leaving each validation record out and
scored on that record (leave-one-record-out), so the reported numbers are out-of-record.
"""
from __future__ import annotations

import numpy as np

from app.model.ensemble import ensemble_score, feature_matrix, fit_ensemble
from app.model.scorers import beat_scores, robust_centre_cov, robust_location_scale
from app.model.thresholds import threshold_calibration, threshold_value

ENSEMBLE_FEATURES = ("recon_z", "log_latent_distance", "kl_z", "prematurity", "compensation", "late",
                     "rr_change")


def global_statistics(forward, train_normals: np.ndarray, val_normals: np.ndarray, cfg) -> dict:
    """Training-set reference for records too short to have their own (short_record_fallback)."""
    from app.model.scorers import kl_divergence, recon_error

    zt, _, _ = forward(train_normals)
    centre, cov = robust_centre_cov(zt)
    zm, zl, rc = forward(val_normals)
    log_err = np.log(recon_error(val_normals, rc) + 1e-6)
    kl = kl_divergence(zm, zl)
    return {"latent_centre": centre.tolist(), "latent_cov": cov.tolist(),
            "log_recon": list(robust_location_scale(log_err)), "kl": list(robust_location_scale(kl)),
            "log_recon_min_scale": 0.05, "kl_min_scale": 0.5}


def record_scores(forward, beats, calibration: dict) -> dict:
    zm, zl, rc = forward(beats.windows)
    s = beat_scores(beats.windows, zm, zl, rc, beats.time_s, calibration, beats.duration_s)
    s["ref_class"] = beats.ref_class
    return s


def _xy(scores_by_record: dict, names):
    X = np.concatenate([feature_matrix(s, names) for s in scores_by_record.values()])
    cls = np.concatenate([s["ref_class"] for s in scores_by_record.values()])
    keep = cls != ""
    return X[keep], (cls[keep] != "N"), cls[keep]


def leave_one_record_out(scores_by_record: dict, names, C: float, seed: int):
    """Out-of-record ensemble scores for every validation beat with a reference class."""
    out, ys, cls, recs = [], [], [], []
    for r, s in scores_by_record.items():
        others = {q: v for q, v in scores_by_record.items() if q != r}
        X, y, _ = _xy(others, names)
        ens = fit_ensemble(X, y, names, C, seed)
        keep = s["ref_class"] != ""
        out.append(ensemble_score(s, ens)[keep])
        ys.append(s["ref_class"][keep] != "N")
        cls.append(s["ref_class"][keep])
        recs.append(np.full(keep.sum(), r))
    return np.concatenate(out), np.concatenate(ys), np.concatenate(cls), np.concatenate(recs)


def summary_metrics(score: np.ndarray, y: np.ndarray, cls: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    flag = score > threshold
    m = {"auroc": float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None,
         "ap": float(average_precision_score(y, score)) if y.sum() else None,
         "threshold": float(threshold), "n_beats": int(len(y))}
    for c in ("S", "V", "F", "Q"):
        sel = cls == c
        m[f"{c}_sensitivity"] = float(flag[sel].mean()) if sel.any() else None
        m[f"n_{c}"] = int(sel.sum())
    m["N_specificity"] = float(1.0 - flag[cls == "N"].mean()) if (cls == "N").any() else None
    return m


def calibrate(forward, train_normals, val_beats: dict, cfg, names=ENSEMBLE_FEATURES):
    """The calibration dict for calibration.json and the DS1-validation metrics."""
    calibration = {"short_record_s": cfg.short_record_s,
                   "global": global_statistics(forward, train_normals,
                                               np.concatenate([b.windows[b.ref_class == "N"]
                                                               for b in val_beats.values()]), cfg)}
    scores = {r: record_scores(forward, b, calibration) for r, b in val_beats.items()}
    X, y, cls = _xy(scores, names)
    calibration["ensemble"] = fit_ensemble(X, y, names, cfg.ensemble_C, cfg.seed)
    fitted = np.concatenate([ensemble_score(s, calibration["ensemble"])[s["ref_class"] != ""]
                             for s in scores.values()])
    params = {"statistical": cfg.statistical_k, "percentile": cfg.percentile, "fixed": cfg.fixed_threshold}
    calibration["thresholds"] = threshold_calibration(fitted[cls == "N"], params, cfg.default_threshold_method)
    # out-of-record check of the whole rule (ensemble weights and threshold statistics)
    lo_score, lo_y, lo_cls, lo_rec = leave_one_record_out(scores, names, cfg.ensemble_C, cfg.seed)
    lo_thr = threshold_value({"thresholds": threshold_calibration(lo_score[lo_cls == "N"], params)},
                             cfg.default_threshold_method)
    metrics = {"ensemble_in_sample": summary_metrics(fitted, y, cls, threshold_value(calibration,
                                                                                    cfg.default_threshold_method)),
               "ensemble_leave_one_record_out": summary_metrics(lo_score, lo_y, lo_cls, lo_thr)}
    for k in ("recon_z", "latent_distance", "kl_z", "rr_score"):
        v = np.concatenate([s[k][s["ref_class"] != ""] for s in scores.values()])
        metrics[k] = summary_metrics(v, y, cls, np.inf)
        metrics[k] = {"auroc": metrics[k]["auroc"], "ap": metrics[k]["ap"]}
    return calibration, metrics, scores
