"""Calibration on the held-out DS1 validation records: scorer statistics, ensemble, thresholds.

Also the DS1-validation metrics, strict leave-one-record-out: for each validation record the
ensemble is fit AND its threshold statistics are taken on the other records only, then the record
is scored and flagged (as a new patient would be); and the short-record fallback is checked on
30-s pieces of the validation records. The validation beats are ``Config.calibration_beats``
(reference positions, or detected beats labelled by the reference beat matched within 150 ms);
``training.ds1_protocol`` runs the same protocol scoring detected beats, as the app does.
"""
from __future__ import annotations

import numpy as np

from app.model.ensemble import ensemble_score, feature_matrix, fit_ensemble, logistic_logit
from app.model.scorers import (RHYTHM_Z, RR_MIN_SCALE, beat_scores, kl_divergence, mahalanobis, recon_error,
                               rhythm_features, rhythm_reference, robust_centre_cov, robust_location_scale)
from app.model.thresholds import threshold_calibration, threshold_value

FALLBACK_PIECE_S = 30.0


def global_statistics(train_z: np.ndarray, val_out: dict, val_beats: dict) -> dict:
    """Training-set reference for records too short to have their own (short_record_fallback)."""
    centre, cov = robust_centre_cov(train_z, keep=0.9)
    log_err, kl, d_rec, d_glob, rr = [], [], [], [], []
    for r, b in val_beats.items():
        rr.append(rhythm_reference(rhythm_features(b.time_s)))
        zm, zl, rc = val_out[r]
        n = b.ref_class == "N"
        log_err.append(np.log(recon_error(b.windows, rc) + 1e-6)[n])
        kl.append(kl_divergence(zm, zl)[n])
        c, C = robust_centre_cov(zm)
        d_rec.append(mahalanobis(zm, c, C)[n])
        d_glob.append(mahalanobis(zm, centre, cov)[n])
    ratio = float(np.median(np.concatenate(d_rec)) / max(np.median(np.concatenate(d_glob)), 1e-9))
    return {"latent_centre": centre.tolist(), "latent_cov": cov.tolist(),
            "latent_distance_ratio": ratio,
            "log_recon": list(robust_location_scale(np.concatenate(log_err))),
            "kl": list(robust_location_scale(np.concatenate(kl))),
            "log_recon_min_scale": 0.05, "kl_min_scale": 0.5,
            # a typical validation record's rhythm statistics (median over records of each record's)
            "rr": {k: [float(np.median([q[k][0] for q in rr])), float(np.median([q[k][1] for q in rr]))]
                   for k in RHYTHM_Z},
            "rr_min_scale": RR_MIN_SCALE}


def scores_of(beats, out, calibration: dict, sl=slice(None), duration_s=None) -> dict:
    zm, zl, rc = (a[sl] for a in out)
    s = beat_scores(beats.windows[sl], zm, zl, rc, beats.time_s[sl], calibration,
                    beats.duration_s if duration_s is None else duration_s)
    s["ref_class"] = beats.ref_class[sl]
    return s


def _xy(scores_by_record: dict, names):
    X = np.concatenate([feature_matrix(s, names) for s in scores_by_record.values()])
    cls = np.concatenate([s["ref_class"] for s in scores_by_record.values()])
    keep = cls != ""
    return X[keep], (cls[keep] != "N"), cls[keep]


def leave_one_record_out(scores_by_record: dict, names, C: float, seed: int, params: dict, method: str,
                         test_scores: dict | None = None, ensemble_extra: dict | None = None):
    """Strict out-of-record scores and thresholds for every validation beat with a reference class.

    For each record, the ensemble is fit and the threshold statistics (``method``/``params`` on the
    normal beats' scores) are taken on the OTHER records only; the record is then scored, from
    ``test_scores[record]`` when given (e.g. its detected beats) else from its own scores.
    ``ensemble_extra``: entries added to each fitted ensemble (the record shift's settings).
    Returns (score, y, cls, record, per-beat threshold).
    """
    out, cls, recs, thr = [], [], [], []
    for r in scores_by_record:
        s = scores_by_record[r] if test_scores is None else test_scores[r]
        others = {q: v for q, v in scores_by_record.items() if q != r}
        X, y, _ = _xy(others, names)
        ens = {**fit_ensemble(X, y, names, C, seed), **(ensemble_extra or {})}
        normals = np.concatenate([ensemble_score(v, ens)[v["ref_class"] == "N"] for v in others.values()])
        t = threshold_value({"thresholds": threshold_calibration(normals, params, method)}, method)
        keep = s["ref_class"] != ""
        out.append(ensemble_score(s, ens)[keep])
        cls.append(s["ref_class"][keep])
        recs.append(np.full(keep.sum(), r))
        thr.append(np.full(keep.sum(), t))
    cls = np.concatenate(cls)
    return np.concatenate(out), cls != "N", cls, np.concatenate(recs), np.concatenate(thr)


def fallback_leave_one_record_out(scores_by_record: dict, pieces: dict, names, C: float, seed: int,
                                  params: dict, method: str):
    """Strict out-of-record check of the short-record path on 30-s pieces ("record:i" keys): the
    fallback model is fit on the other records and its threshold (threshold statistics of the
    other records' pieces, i.e. the offset) too. Returns (score, y, cls, per-beat threshold)."""
    out, cls, thr = [], [], []
    for r in scores_by_record:
        X, y, _ = _xy({q: v for q, v in scores_by_record.items() if q != r}, names)
        model = fit_ensemble(X, y, names, C, seed)
        mine = [p for k, p in pieces.items() if k.split(":")[0] == r]
        normals = np.concatenate([logistic_logit(p, model)[p["ref_class"] == "N"] for k, p in pieces.items()
                                  if k.split(":")[0] != r])
        t = threshold_value({"thresholds": threshold_calibration(normals, params, method)}, method)
        for p in mine:
            keep = p["ref_class"] != ""
            out.append(logistic_logit(p, model)[keep])
            cls.append(p["ref_class"][keep])
            thr.append(np.full(keep.sum(), t))
    cls = np.concatenate(cls)
    return np.concatenate(out), cls != "N", cls, np.concatenate(thr)


def summary_metrics(score: np.ndarray, y: np.ndarray, cls: np.ndarray, threshold) -> dict:
    """AUROC, AP and per-class flag rates at ``threshold`` (a value, or one per beat)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    thr = np.asarray(threshold, np.float64)
    flag = score > thr
    m = {"auroc": float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None,
         "ap": float(average_precision_score(y, score)) if y.sum() else None,
         "threshold": float(thr) if thr.ndim == 0 else None, "n_beats": int(len(y))}
    for c in ("S", "V", "F", "Q"):
        sel = cls == c
        m[f"{c}_sensitivity"] = float(flag[sel].mean()) if sel.any() else None
        m[f"n_{c}"] = int(sel.sum())
    m["N_specificity"] = float(1.0 - flag[cls == "N"].mean()) if (cls == "N").any() else None
    return m


def fallback_scores(val_beats: dict, val_out: dict, calibration: dict, piece_s=FALLBACK_PIECE_S) -> dict:
    """Scores of 30-s pieces of each validation record, each scored as a short upload would be."""
    pieces = {}
    for r, b in val_beats.items():
        edges = np.searchsorted(b.time_s, np.arange(0.0, b.duration_s, piece_s))
        for i, (a, z) in enumerate(zip(edges[:-1], edges[1:])):
            if z - a >= 3:
                pieces[f"{r}:{i}"] = scores_of(b, val_out[r], calibration, slice(a, z), piece_s)
    return pieces


def calibrate(forward, train_normals, val_beats: dict, cfg, names=None):
    """The calibration dict for calibration.json and the DS1-validation metrics."""
    names = tuple(names or cfg.ensemble_features)
    val_out = {r: forward(b.windows) for r, b in val_beats.items()}
    calibration = {"short_record_s": cfg.short_record_s,
                   "global": global_statistics(forward(train_normals)[0], val_out, val_beats)}
    if cfg.latent_second_cluster:
        calibration["latent_second_cluster"] = dict(cfg.latent_second_cluster)
    scores = {r: scores_of(b, val_out[r], calibration) for r, b in val_beats.items()}
    X, y, cls = _xy(scores, names)
    shift = {"record_shift_q": cfg.record_shift_q}  # app.model.ensemble.record_shift
    calibration["ensemble"] = {**fit_ensemble(X, y, names, cfg.ensemble_C, cfg.seed), **shift}
    # each record scored on its own (the record shift is the record's own percentile)
    fitted = np.concatenate([ensemble_score(s, calibration["ensemble"])[s["ref_class"] != ""]
                             for s in scores.values()])
    params = {"statistical": cfg.statistical_k, "percentile": cfg.percentile, "fixed": cfg.fixed_threshold}
    method = cfg.default_threshold_method
    calibration["thresholds"] = threshold_calibration(fitted[cls == "N"], params, method)
    thr = threshold_value(calibration, method)
    # strict out-of-record check of the whole rule (ensemble weights and threshold statistics)
    lo_score, lo_y, lo_cls, lo_rec, lo_thr = leave_one_record_out(scores, names, cfg.ensemble_C, cfg.seed,
                                                                  params, method, ensemble_extra=shift)
    # short records: their own model (features without record statistics), offset to the threshold
    fb_names = tuple(getattr(cfg, "fallback_ensemble_features", None) or names)
    fb_model = fit_ensemble(*_xy(scores, fb_names)[:2], fb_names, cfg.ensemble_C, cfg.seed)
    pieces = fallback_scores(val_beats, val_out, calibration)
    fb = {k: np.concatenate([p[k] for p in pieces.values()]) for k in pieces[next(iter(pieces))]
          if k != "short_record_fallback"}
    keep = fb["ref_class"] != ""
    fb_score = logistic_logit(fb, fb_model)[keep]  # before the offset
    fb_cls = fb["ref_class"][keep]
    fb_thr = threshold_value({"thresholds": threshold_calibration(fb_score[fb_cls == "N"], params)}, method)
    calibration["ensemble"]["fallback"] = {**fb_model, "offset": float(thr - fb_thr)}
    fb_lo = fallback_leave_one_record_out(scores, pieces, fb_names, cfg.ensemble_C, cfg.seed, params, method)
    metrics = {"ensemble_in_sample": summary_metrics(fitted, y, cls, thr),
               "ensemble_leave_one_record_out": summary_metrics(lo_score, lo_y, lo_cls, lo_thr),
               "short_record_fallback_30s": summary_metrics(fb_score + calibration["ensemble"]["fallback"]["offset"],
                                                            fb_cls != "N", fb_cls, thr),
               "short_record_fallback_30s_leave_one_record_out": summary_metrics(*fb_lo),
               "per_record_leave_one_out": per_record(lo_score, lo_y, lo_rec),
               "per_record_leave_one_out_false_alarm": per_record_false_alarm(lo_score > lo_thr, lo_cls, lo_rec),
               "per_record_leave_one_out_threshold": {r: float(lo_thr[lo_rec == r][0])
                                                       for r in dict.fromkeys(lo_rec.tolist())}}
    for k in ("recon_z", "latent_distance", "kl_z", "rr_score"):
        v = np.concatenate([s[k][s["ref_class"] != ""] for s in scores.values()])
        m = summary_metrics(v, y, cls, np.inf)
        metrics[k] = {"auroc": m["auroc"], "ap": m["ap"]}
    return calibration, metrics, scores


def per_record(score, y, rec) -> dict:
    from sklearn.metrics import roc_auc_score

    return {r: (float(roc_auc_score(y[rec == r], score[rec == r])) if 0 < y[rec == r].sum() < (rec == r).sum()
                else None) for r in dict.fromkeys(rec.tolist())}


def per_record_false_alarm(flag, cls, rec) -> dict:
    """record -> fraction of its N beats flagged."""
    return {r: (float(flag[(rec == r) & (cls == "N")].mean()) if ((rec == r) & (cls == "N")).any() else None)
            for r in dict.fromkeys(rec.tolist())}
