"""SECONDARY result under the intra-patient protocol of BeatGAN (Zhou et al., IJCAI 2019).

Not the honest inter-patient test: beats of all 44 non-paced MIT-BIH records are pooled, the
normal (N) beats are split at random into train (80 %) and test (20 %), and the test set is the
held-out normals plus every S, V, F, Q beat. The same patients appear in train and test, which
makes the task much easier; it is reported only to compare with that literature.

A small, fast VAE is trained with the model helper's ``training.train.train_vae`` (reduced config,
reference beat positions); the unsupervised scorers are reported (AUROC, AP and per-class AUROC)
together with the PCA and RR baselines. The ensemble is NOT reported here: its weights are fit
on labelled DS1 beats, which this pooled test set contains.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.ecg.aami import DS1, DS2, PACED
from app.model import metrics as M
from training import baselines as B

RECORDS = tuple(sorted(DS1 + DS2))  # the 44 non-paced records
TRAIN_FRACTION = 0.8
EARLY_STOP_FRACTION = 0.05  # of the training normals, held out for early stopping only
SCORERS = ("recon_error", "recon_z", "latent_distance", "kl", "kl_z", "rr_score")
REDUCED = {"epochs": 6, "epoch_beats": 8192, "beta_warmup_epochs": 2, "early_stopping_patience": 3,
           "lr_patience": 2, "beats": "reference"}


def split_normals(ref_class: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train mask, test mask) over pooled beats: N split at random; every other class is test."""
    cls = np.asarray(ref_class).astype(str)
    normal = np.flatnonzero(cls == M.NORMAL_CLASS)
    perm = np.random.default_rng(seed).permutation(normal)
    n_train = int(round(TRAIN_FRACTION * len(normal)))
    train = np.zeros(len(cls), bool)
    train[perm[:n_train]] = True
    test = np.isin(cls, M.ANOMALOUS_CLASSES)
    test[perm[n_train:]] = True
    return train, test


def fallback_statistics(forward, train_normals: np.ndarray, stop_normals: np.ndarray) -> dict:
    """The training reference app.model.scorers needs (used only for records under a minute)."""
    from app.model.scorers import kl_divergence, recon_error, robust_centre_cov, robust_location_scale

    centre, cov = robust_centre_cov(forward(train_normals)[0])
    zm, zl, rc = forward(stop_normals)
    return {"latent_centre": centre.tolist(), "latent_cov": cov.tolist(), "latent_distance_ratio": 1.0,
            "log_recon": list(robust_location_scale(np.log(recon_error(stop_normals, rc) + 1e-6))),
            "kl": list(robust_location_scale(kl_divergence(zm, zl))),
            "log_recon_min_scale": 0.05, "kl_min_scale": 0.5}


def run_intra_patient(data_dir: Path, bundle=None, seed: int = 0, config=None) -> dict:
    """Train a reduced VAE on pooled training normals and report on the pooled test beats."""
    from app.model.bundle import ModelBundle
    from app.model.scorers import beat_scores
    from training.config import Config
    from training.evaluate import beatset_for, read_recording
    from training.train import train_vae

    t0 = time.perf_counter()
    base = config if config is not None else Config()
    cfg = replace(base, **{k: v for k, v in REDUCED.items() if config is None or k == "beats"})
    records = [r for r in RECORDS if r not in PACED]
    recs, sets = {}, {}
    for r in records:
        recs[r] = read_recording(data_dir, r)
        sets[r] = beatset_for(recs[r], cfg.beats, Path(data_dir) / f"{r}.dat")
    pooled = B.beat_data(sets[r] for r in records)
    train, test = split_normals(pooled.ref_class, seed)
    rng = np.random.default_rng(seed + 1)
    train_idx = np.flatnonzero(train)
    stop_idx = np.sort(rng.choice(train_idx, int(EARLY_STOP_FRACTION * len(train_idx)), replace=False))
    fit_idx = np.setdiff1d(train_idx, stop_idx)
    x_fit, x_stop = pooled.windows[fit_idx], pooled.windows[stop_idx]
    t_train = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="intra-patient-") as work:
        enc, dec, history, _ = train_vae(x_fit, x_stop, cfg, Path(work), verbose=0)
    train_s = time.perf_counter() - t_train
    model = ModelBundle(enc, dec, {"window": {"length": cfg.window}}, {}, "intra-patient")
    calibration = {"short_record_s": cfg.short_record_s,
                   "global": fallback_statistics(model.forward, x_fit[:20000], x_stop)}
    parts = {k: [] for k in SCORERS}
    for r in records:
        bs = sets[r]
        zm, zl, rc = model.forward(bs.windows)
        s = beat_scores(bs.windows, zm, zl, rc, bs.time_s, calibration, recs[r].duration_s)
        for k in SCORERS:
            parts[k].append(np.asarray(s[k], np.float64))
    scores = {k: np.concatenate(v) for k, v in parts.items()}
    pca = B.fit_baselines(pooled.subset(train), seed=seed)  # PCA on the training normals
    base_scores = pca.score(pooled)
    scores["baseline_pca"] = base_scores["pca"]
    scores["baseline_rr"] = base_scores["rr"]
    stop_normal = np.isin(np.arange(len(pooled)), stop_idx)
    cls = pooled.ref_class
    results = {}
    for name, s in scores.items():
        thr = float(np.mean(s[stop_normal]) + 3.0 * np.std(s[stop_normal]))
        results[name] = M.score_summary(cls[test], s[test], thr)
    return {
        "label": "SECONDARY: intra-patient protocol (BeatGAN); same patients in train and test; "
                 "NOT comparable with the inter-patient result",
        "status": "ok",
        "records": records,
        "split": {"normal_train_fraction": TRAIN_FRACTION, "seed": seed,
                  "early_stop_fraction_of_train": EARLY_STOP_FRACTION,
                  "test": "held-out N beats + all S, V, F, Q beats (reference beat positions)"},
        "n_train_normals": int(len(fit_idx)), "n_early_stop_normals": int(len(stop_idx)),
        "class_counts_test": {c: int(np.sum(cls[test] == c)) for c in (M.NORMAL_CLASS,) + M.ANOMALOUS_CLASSES},
        "config": {k: getattr(cfg, k) for k in ("epochs", "epoch_beats", "batch_size", "filters",
                                                 "latent_dim", "beta", "learning_rate", "seed")},
        "epochs_run": len(history.get("loss", [])),
        "threshold": "mean + 3 sd of each score on the early-stopping normals",
        "scorers": results,
        "ensemble": "not reported: its weights are fit on labelled DS1 beats, which this test set contains",
        "train_seconds": round(train_s, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
