"""Strict DS1 estimate of cross-patient behaviour, with a bundle's (fixed) VAE; DS1 only.

    python -m training.ds1_protocol --model model_store/cvae-v2 [/tmp/foldB ...] --data-dir ../shared/data/mitdb

For each DS1 validation record of the bundle's split: the ensemble is fit AND its threshold
(mean + k sd of the normal beats' ensemble scores) is set on the OTHER validation records only;
the record's DETECTED beats (``extract_beats(beats="detect")``, labelled by the reference beat
matched within 150 ms; their windows as the app scores them, ``--displayed`` for the displayed ones)
are then scored and flagged, as a new patient's would be in the app.
Prints pooled AUROC, AP, N false-alarm rate (worst record), S/V/F sensitivity and the median
per-record AUROC for each recipe in ``RECIPES`` (fit beats, features, C, scoring options, record
shift) at each k, and the false-alarm rate of the N beats whose next beat falls inside the window
(its QRS is then in the VAE's input) against the other N beats'. ``--recipes`` runs some of them;
``--mask-next-beat`` scores with the next beat kept out of the VAE input (app.model.vae_input).
Several ``--model`` bundles (one per DS1 fold: ``python -m training --swap-split`` or
``--validation-records``) are run in turn, then the mean over the folds of each recipe and k.
Bundles of the same fold trained with other seeds (``python -m training --seed N``) are grouped:
each such fold prints its mean and range over the seeds, and the mean over the folds weighs every
fold once (its seeds' mean).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from training.config import RECORD_SHIFT_Q, RHYTHM_Z_FEATURES, SECOND_CLUSTER, SEVEN_FEATURES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ONE_REFERENCE = {"latent_second_cluster": None}  # latent distance to the record's dominant cluster only
TWO_REFERENCES = {"latent_second_cluster": SECOND_CLUSTER}
COMMITTED_SHIFT = {"record_shift_q": RECORD_SHIFT_Q}
# name -> (beats the ensemble and threshold are fit on, features, C, calibration entries set for
# scoring, ensemble entries: the record shift)
RECIPES = {
    "committed (rhythm z, detected, 2nd cluster, score - record q25)": ("detect", RHYTHM_Z_FEATURES, 1.0,
                                                                       TWO_REFERENCES, COMMITTED_SHIFT),
    "(e) rhythm z, detected, 2nd cluster, no record shift": ("detect", RHYTHM_Z_FEATURES, 1.0, TWO_REFERENCES, {}),
    "(d) 7 features, reference beats, 2nd cluster": ("reference", SEVEN_FEATURES, 1.0, TWO_REFERENCES, {}),
    "(0) 7 features, reference beats, one reference": ("reference", SEVEN_FEATURES, 1.0, ONE_REFERENCE, {}),
    "(a) 7 features, fit on detected beats": ("detect", SEVEN_FEATURES, 1.0, ONE_REFERENCE, {}),
    "(c) 7 features, detected, C=0.01": ("detect", SEVEN_FEATURES, 0.01, ONE_REFERENCE, {}),
    "(b) latent distance + rhythm z in record, detected": ("detect", RHYTHM_Z_FEATURES, 1.0, ONE_REFERENCE, {}),
}


def next_beat_in_window_s() -> float:
    """How far past the R-peak the beat window runs (s): a next beat sooner is inside the window."""
    from app.ecg.pipeline import AFTER, MODEL_FS

    return AFTER / MODEL_FS


def record_scores(beats, outputs, calibration) -> dict:
    """record -> beat_scores of its beats (plus ref_class), from the VAE ``outputs`` of each record."""
    from training.calibrate import scores_of

    return {r: scores_of(b, outputs[r], calibration) for r, b in beats.items()}


def protocol_metrics(fit_scores: dict, test_scores: dict, names, C: float, seed: int, k: float,
                     ensemble_extra: dict | None = None) -> dict:
    """Pooled and per-record metrics of the strict leave-one-record-out protocol."""
    from training.calibrate import leave_one_record_out, per_record, per_record_false_alarm, summary_metrics

    params = {"statistical": k, "percentile": 99.0, "fixed": 0.0}
    score, y, cls, rec, thr = leave_one_record_out(fit_scores, names, C, seed, params, "statistical",
                                                   test_scores=test_scores, ensemble_extra=ensemble_extra)
    m = summary_metrics(score, y, cls, thr)
    fa = per_record_false_alarm(score > thr, cls, rec)
    auc = [v for v in per_record(score, y, rec).values() if v is not None]
    worst = max(fa, key=lambda r: fa[r] if fa[r] is not None else -1)
    # N beats whose next beat falls inside the window's tail (the next QRS is in the VAE's input)
    rr_next = np.concatenate([test_scores[r]["rr_next"][test_scores[r]["ref_class"] != ""]
                              for r in fit_scores])
    near = (cls == "N") & (rr_next < next_beat_in_window_s())
    far = (cls == "N") & ~near
    flag = score > thr
    return {**m, "N_false_alarm": 1.0 - m["N_specificity"], "worst_record": worst,
            "worst_record_false_alarm": fa[worst], "median_record_auroc": float(np.median(auc)),
            "n_N_next_in_window": int(near.sum()),
            "N_false_alarm_next_in_window": float(flag[near].mean()) if near.any() else float("nan"),
            "N_false_alarm_other": float(flag[far].mean()) if far.any() else float("nan")}


def table_line(name: str, k: float, m: dict) -> str:
    return (f"{name:<64} k={k:<4g} AUROC {m['auroc']:.4f}  AP {m['ap']:.4f}  N-FA {m['N_false_alarm']:.4f} "
            f"(worst {m['worst_record']} {m['worst_record_false_alarm']:.3f})  S {m['S_sensitivity']:.3f}  "
            f"V {m['V_sensitivity']:.3f}  F {m['F_sensitivity']:.3f}  median record AUROC "
            f"{m['median_record_auroc']:.3f}  N-FA next beat in window {m['N_false_alarm_next_in_window']:.3f} "
            f"(of {m['n_N_next_in_window']}) / other {m['N_false_alarm_other']:.3f}")


def run_fold(model: str, data_dir: Path, ks, recipe_prefixes, mask: bool, app_windows: bool = True) -> tuple[tuple, dict]:
    """Print the protocol's table for one bundle (one DS1 fold); return (its validation records,
    (recipe, k) -> metrics)."""
    from app.ecg.aami import DS1
    from app.model.bundle import ModelBundleError, load_bundle
    from app.model.vae_input import wants_mask
    from training.config import Config
    from training.data import as_scored, load_records, with_vae_input

    bundle = load_bundle(model)
    val = tuple(str(r) for r in bundle.manifest.get("split", {}).get("validation_records", ()))
    if not val or not set(val) <= set(DS1):
        raise ModelBundleError(f"{model}: validation records {list(val)} are not DS1 records")
    recipes = {n: v for n, v in RECIPES.items()
               if recipe_prefixes is None or any(n.startswith(p) for p in recipe_prefixes)}
    modes = {"detect"} | {fit_mode for fit_mode, *_ in recipes.values()}  # only the beats some recipe reads
    cfg = replace(Config(), validation_records=val)
    # --mask-next-beat: also for a bundle not trained with the mask (a test-time experiment)
    masked = replace(cfg, mask_next_beat=mask or wants_mask(bundle.manifest))
    beats = {mode: load_records(data_dir, val, replace(cfg, beats=mode)) for mode in modes}
    beats = {mode: with_vae_input(as_scored(bs) if app_windows else bs, masked) for mode, bs in beats.items()}
    outputs = {mode: {r: bundle.forward(b.windows) for r, b in bs.items()} for mode, bs in beats.items()}
    scored = {}  # (mode, scoring options) -> record scores: each set once, the VAE run once per mode
    print(f"strict DS1 leave-one-record-out, detected beats, records {' '.join(val)}, model {bundle.model_id}"
          + (" (VAE input: next beat masked)" if masked.mask_next_beat else "")
          + (" (windows as the app scores them)" if app_windows else " (displayed windows)"), flush=True)
    results = {}
    for name, (fit_mode, names, C, extra, ens_extra) in recipes.items():
        opts = json.dumps(extra, sort_keys=True)
        for mode in {fit_mode, "detect"}:
            if (mode, opts) not in scored:
                scored[mode, opts] = record_scores(beats[mode], outputs[mode], {**bundle.calibration, **extra})
        scores = {mode: scored[mode, opts] for mode in {fit_mode, "detect"}}
        for k in ks:
            results[name, k] = m = protocol_metrics(scores[fit_mode], scores["detect"], names, C, cfg.seed, k,
                                                    ens_extra)
            print(table_line(name, k, m), flush=True)
    return val, results


MEAN_KEYS = ("auroc", "ap", "N_false_alarm", "S_sensitivity", "V_sensitivity")


def fold_means(per_fold: list[dict]) -> dict:
    """(recipe, k) -> mean over the folds of AUROC, AP, N false alarms, S and V sensitivity."""
    return {rk: {key: float(np.mean([f[rk][key] for f in per_fold])) for key in MEAN_KEYS} for rk in per_fold[0]}


def seed_ranges(runs: list[dict]) -> dict:
    """(recipe, k) -> key -> (min, max) over several runs of one fold (its seeds)."""
    return {rk: {key: (float(min(r[rk][key] for r in runs)), float(max(r[rk][key] for r in runs)))
                 for key in MEAN_KEYS} for rk in runs[0]}


def by_fold(runs: list[tuple[tuple, dict]]) -> dict:
    """validation records -> the results of every bundle of that fold (one per seed), in run order."""
    folds: dict[tuple, list[dict]] = {}
    for val, results in runs:
        folds.setdefault(val, []).append(results)
    return folds


def mean_line(name: str, k: float, m: dict, ranges: dict | None = None) -> str:
    def value(key, fmt):
        lo_hi = f" [{ranges[key][0]:{fmt}}, {ranges[key][1]:{fmt}}]" if ranges else ""
        return f"{m[key]:{fmt}}{lo_hi}"

    return (f"{name:<64} k={k:<4g} AUROC {value('auroc', '.4f')}  AP {value('ap', '.4f')}  "
            f"N-FA {value('N_false_alarm', '.4f')}  S {value('S_sensitivity', '.4f')}  V {value('V_sensitivity', '.4f')}")


def main(argv=None) -> int:
    from app.config import ROOT, default_data_dir

    ap = argparse.ArgumentParser(prog="python -m training.ds1_protocol", description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", default=[str(ROOT / "model_store" / "cvae-v2")],
                    help="model bundle directories, one per DS1 fold (e.g. model_store/cvae-v2 /tmp/foldB); "
                    "with several, the mean over the folds is printed last")
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--k", type=float, nargs="*", default=[2.0], help="statistical threshold k (mean + k sd)")
    ap.add_argument("--recipes", nargs="*", default=None,
                    help="run only the recipes whose name starts with one of these (e.g. committed '(e)')")
    ap.add_argument("--displayed", action="store_true",
                    help="score the displayed windows, as this protocol did before session 23, not the windows "
                         "the app scores (noisy beats denoised, baseline drift taken out: app.ecg.pipeline's "
                         "model windows; the default, as the calibration reads them)")
    ap.add_argument("--as-scored", action="store_true", help=argparse.SUPPRESS)  # the default since session 23
    ap.add_argument("--mask-next-beat", action="store_true",
                    help="keep the next beat out of the VAE input even if the bundle was not trained so "
                         "(app.model.vae_input; a test-time experiment)")
    a = ap.parse_args(argv)
    data_dir = Path(a.data_dir or default_data_dir() or "")
    if not (data_dir / "101.hea").exists():
        print(f"error: {data_dir}: MIT-BIH database not found (give --data-dir)", file=sys.stderr)
        return 2
    from app.model.bundle import ModelBundleError

    runs = []
    for model in a.model:
        try:
            runs.append(run_fold(model, data_dir, a.k, a.recipes, a.mask_next_beat, not a.displayed))
        except ModelBundleError as e:  # a missing, corrupt or non-DS1-fold bundle: one line, no traceback
            print(f"error: {e}", file=sys.stderr)
            return 2
    folds = by_fold(runs)
    for val, seeds in folds.items():
        if len(seeds) > 1:  # the same fold trained with several seeds: its mean and range
            print(f"fold {' '.join(val)}: mean [min, max] over {len(seeds)} seeds")
            ranges = seed_ranges(seeds)
            for (name, k), m in fold_means(seeds).items():
                print(mean_line(name, k, m, ranges[name, k]))
    if len(folds) > 1:
        print(f"mean over {len(folds)} folds" + (" (each fold: the mean over its seeds)" if len(runs) > len(folds) else ""))
        for (name, k), m in fold_means([fold_means(seeds) for seeds in folds.values()]).items():
            print(mean_line(name, k, m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
