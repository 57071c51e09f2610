"""Session 12: scoring variants on the harness's saved VAE outputs (DS1 only).

    PYTHONPATH=. python training/experiments/session12_eval.py DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from app.model import scorers
from app.model.bundle import load_bundle
from app.model.ensemble import ensemble_score
from app.model.metrics import auroc, labelled_mask, labels_from_classes

COND = ("clean", "em", "bw", "ma")


def load(d: Path):
    out = {}
    for f in sorted(d.glob("*_*.npz")):
        name, cond = f.stem.split("_")
        r = dict(np.load(f))
        r.pop("x", None)
        out.setdefault(cond, {})[name] = r
    return out


def scores(r, calib, distance_fn=None, rhythm_fn=None):
    """scorers.beat_scores from the saved outputs; ``distance_fn(r, z, d, ref, rhythm)`` may replace
    the latent distance."""
    S = scorers
    err = r["recon_err"]
    log_err = np.log(err + S.EPS)
    kl = S.kl_divergence(r["z_mean"], r["z_log_var"])
    rhythm = S.rhythm_features(r["time_s"]) if rhythm_fn is None else rhythm_fn(r)
    ref = S.record_reference(log_err, r["z_mean"], kl, calib, float(r["duration_s"]), rhythm=rhythm)
    d = S.mahalanobis(r["z_mean"], ref["centre"], ref["cov"]) * ref["distance_ratio"]
    second = calib.get("latent_second_cluster")
    if second and not ref["fallback"]:
        d = S.second_cluster_distance(r["z_mean"], d, rhythm, **second)
    if distance_fn is not None:
        d = distance_fn(r, d, ref, rhythm)
    out = {"recon_error": err, "recon_z": S.robust_z(log_err, *ref["recon"]), "latent_distance": d,
           "kl": kl, "kl_z": S.robust_z(kl, *ref["kl"]), "rr_score": S.rr_score(rhythm),
           **{f"rr_{k}" if not k.startswith("rr_") else k: v for k, v in rhythm.items()},
           **{(f"rr_{k}" if not k.startswith("rr_") else k) + "_z": S.robust_z(S.clipped_rhythm(rhythm, k), *ref["rr"][k])
              for k in S.RHYTHM_Z},
           "short_record_fallback": bool(ref["fallback"])}
    return out


def evaluate(data, calib, score_fn):
    """AUROC per condition and pooled over the three noises (benchmarks.noise's TOTAL), + drop."""
    per = {}
    for cond in COND:
        ys, ss = [], []
        for name, r in data[cond].items():
            s = score_fn(r, calib)
            cls = r["ref_class"]
            keep = r["scored"] & labelled_mask(cls) & ~r["low_quality"]
            ys.append(labels_from_classes(cls[keep]))
            ss.append(s[keep])
        per[cond] = (np.concatenate(ys), np.concatenate(ss))
    res = {c: auroc(*per[c]) for c in COND}
    y = np.concatenate([per[c][0] for c in COND[1:]])
    s = np.concatenate([per[c][1] for c in COND[1:]])
    res["noisy6"] = auroc(y, s)
    res["drop"] = res["clean"] - res["noisy6"]
    return res


def fmt(name, res):
    return f"{name:28s} " + " ".join(f"{k}={v:.4f}" for k, v in res.items())


def baseline(r, calib):
    return ensemble_score(scores(r, calib), calib["ensemble"])


if __name__ == "__main__":
    data = load(Path(sys.argv[1]))
    calib = load_bundle(None).calibration
    print(fmt("committed", evaluate(data, calib, baseline)))
