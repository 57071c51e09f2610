"""The honest evaluation: DS2, inter-patient, detected beats; writes ``evaluation.json``.

    python -m training.evaluate --model model_store/cvae-v2 --data-dir ../shared/data/mitdb

Protocol (de Chazal 2004 inter-patient split, AAMI EC57 classes, paced records excluded):
- the model and every baseline are fit, and every threshold and weight is chosen, on DS1 only;
  DS2 is read once, to report;
- primary line: beats found by the detector (``extract_beats(..., beats="detect")``), matched to
  the reference beats within 150 ms for their labels; unmatched detections are false detections
  (counted, left out of the metrics), missed reference beats are counted;
- secondary line: the same with the reference beat positions;
- for each VAE scorer, the ensemble ``score``, and the baselines: AUROC, AP, metrics at the DS1
  threshold (the ensemble at the bundle's default threshold; every other score at a threshold
  computed the same way on the DS1 validation records' normal beats), ROC/PR curves, per-class
  rates, a per-record table;
- a clearly labelled SECONDARY intra-patient result (BeatGAN protocol), see ``intra_patient``.

``--show evaluation.json [--without RECORD ...] [--ceiling RECORD ...]`` prints the tables of an
existing file; with ``--without``, the detected-beat table is recomputed from the saved per-beat
scores beside it with those records left out (same thresholds): how much one record weighs in the
pooled figures; with ``--ceiling``, the best AUROC and AP any scorer could reach while those
records' anomalous beats keep their scores (``ranking_ceiling``).

Writes ``evaluation.json`` and ``ds2_scores.csv.gz`` (one row per DS2 beat and beat mode: record,
sample, ref_class, every scorer's and baseline's score) into the bundle directory.

evaluation.json, top level (detected beats unless said otherwise):
  schema_version, model_id, created_utc, git_commit, quick, protocol, thresholds,
  class_counts, detection, scorers{name: summary}, baselines{name: summary}, per_record[...],
  reference_beats{class_counts, scorers, baselines, per_record}, intra_patient{...},
  training{...}, files{...}, timings_s{...}
  summary = {n, n_anomalous, auroc, average_precision, at_threshold{threshold, confusion,
  accuracy, precision, sensitivity, specificity, f1, mcc, balanced_accuracy, kappa, npv},
  per_class{N,S,V,F,Q: {n, flagged, rate, kind[, auroc_vs_N]}}, roc{fpr,tpr},
  pr{recall,precision}, operating_point{fpr,tpr,precision}}
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from app.config import ROOT, SAMPLES_DIR, default_data_dir
from app.ecg.aami import AAMI_MAP, DS1, DS2, PACED
from app.model import metrics as M
from app.model.bundle import jsonable
from training import baselines as B

SCHEMA_VERSION = 1
SCORERS = ("recon_error", "latent_distance", "kl", "rr_score", "score")
ENSEMBLE = "score"
SCORES_FILE = "ds2_scores.csv.gz"
EVALUATION_FILE = "evaluation.json"
TEST_RECORDS = tuple(r for r in DS2 if r not in PACED)
# --quick: a smoke test on bundled DS2 samples only (no valid protocol, labelled as such)
QUICK_FIT_RECORDS = ("100", "105")
QUICK_TEST_RECORDS = ("213", "233")
MODES = {"detect": "detected beats (primary)", "reference": "reference beat positions (secondary)"}
MATCH_WINDOW_S = 0.15
CACHE_ENV = "ECG_EVAL_CACHE"  # BeatSet cache directory; "0" turns it off


# ----------------------------------------------------------------------------- data

@functools.lru_cache(maxsize=1)
def _ecg_code_hash() -> str:
    """Hash of the app.ecg sources, taken once per process (the code this process runs)."""
    import app.ecg.pipeline  # noqa: F401 - load the code first, then hash what was loaded

    h = hashlib.sha1()
    for p in sorted((ROOT / "app" / "ecg").glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _cache_dir() -> Path | None:
    v = os.environ.get(CACHE_ENV, "/tmp/ecg-eval-cache")
    return None if v in ("", "0") else Path(v)


def read_recording(data_dir: Path, record: str):
    from app.ecg.readers import read_record

    return read_record(Path(data_dir) / record)


def beatset_for(recording, mode: str, data_file: Path | None = None):
    """extract_beats(recording, beats=mode) without the whole filtered lead (not needed here),
    cached in /tmp keyed by the app.ecg code and the data file."""
    from app.ecg.pipeline import extract_beats

    cdir = _cache_dir()
    key = None
    if cdir is not None and data_file is not None and data_file.exists():
        st = data_file.stat()
        key = cdir / f"{recording.name}-{mode}-{_ecg_code_hash()}-{st.st_size}-{int(st.st_mtime)}.pkl"
        if key.exists():
            try:
                with open(key, "rb") as fh:
                    return pickle.load(fh)
            except Exception:  # noqa: BLE001 - a stale or partial cache entry is recomputed
                pass
    bs = dataclasses.replace(extract_beats(recording, beats=mode), filtered=np.zeros(0, np.float32))
    if key is not None:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = key.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(bs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, key)
    return bs


def reference_beat_samples(recording) -> np.ndarray:
    """Sample positions of the reference annotations that are beats (AAMI symbols)."""
    if not recording.has_reference:
        return np.zeros(0, np.int64)
    sym = np.asarray(recording.ref_symbols).astype(str)
    return np.asarray(recording.ref_samples, np.int64)[np.isin(sym, list(AAMI_MAP))]


def detection_stats(recording, beatset) -> dict:
    """bxb counts of the detector against the reference beats (150 ms)."""
    from app.ecg.matching import match_beats

    m = match_beats(beatset.samples, reference_beat_samples(recording), recording.fs, MATCH_WINDOW_S)
    return {"n_reference": m.n_reference, "n_detected": m.n_detected, "matched": m.tp,
            "missed": m.fn, "false_detections": m.fp, "se": m.se, "ppv": m.ppv}


# ----------------------------------------------------------------------------- scoring

def model_table(recording, bundle, mode: str):
    """(analysis table, BeatSet) of one record: analyze(recording, bundle, beats=mode)."""
    from app.analysis import analyze

    a = analyze(recording, bundle, beats=mode)
    t = a.table.reset_index(drop=True)
    bs = a.beats
    if bs is None or not np.array_equal(t["sample"].to_numpy(), np.asarray(bs.samples)):
        raise RuntimeError(f"{recording.name}: analysis table and its BeatSet disagree")
    t["threshold"] = float(a.threshold)
    return t, bs


def split_records(bundle) -> tuple[tuple, tuple]:
    """(train, validation) DS1 records of the bundle (its manifest, else training.config)."""
    split = (bundle.manifest or {}).get("split", {}) if bundle is not None else {}
    train = split.get("train_records")
    val = split.get("validation_records")
    if not train or not val:
        from training.config import TRAIN_RECORDS, VALIDATION_RECORDS

        train, val = TRAIN_RECORDS, VALIDATION_RECORDS
    return tuple(str(r) for r in train), tuple(str(r) for r in val)


def default_threshold_method(bundle) -> tuple[str, float | None]:
    """The bundle's default threshold (method, param), from calibration.json."""
    from app.model.thresholds import default_method, default_param

    method = default_method(bundle)
    try:
        return method, default_param(bundle, method)
    except (KeyError, TypeError):
        return method, None


def threshold_on_normals(normal_scores, method: str, param: float | None,
                         fixed_quantile: float | None = None) -> float:
    """The bundle's threshold rule applied to another score's DS1 validation normal beats.

    statistical: mean + k sd; percentile: the p-th percentile; fixed (a value on the ensemble's
    own scale, meaningless for another score): the quantile of the normals that gives the same
    DS1-validation false-alarm rate as the ensemble at its fixed threshold (``fixed_quantile``).
    """
    s = np.asarray(normal_scores, dtype=float)
    if method == "statistical":
        return float(np.mean(s) + (3.0 if param is None else param) * np.std(s))
    if method == "percentile":
        return float(np.percentile(s, 99.0 if param is None else param))
    q = 0.99 if fixed_quantile is None else fixed_quantile
    return float(np.quantile(s, q))


# ----------------------------------------------------------------------------- DS1: fit and thresholds

def _records_with_beats(data_dir: Path, records, mode: str) -> list[tuple]:
    out = []
    for r in records:
        rec = read_recording(data_dir, r)
        out.append((rec, beatset_for(rec, mode, Path(data_dir) / f"{r}.dat")))
    return out


def fit_on_ds1(bundle, data_dir: Path, train: tuple, val: tuple, mode: str, seed: int = 0) -> dict:
    """Baselines fit on DS1 train records; every threshold computed on DS1 validation normals."""
    train_bs = [bs for _, bs in _records_with_beats(data_dir, train, mode)]
    val_tb = [model_table(read_recording(data_dir, r), bundle, mode) for r in val]
    val_bs = [bs for _, bs in val_tb]
    baselines = B.fit_baselines(B.beat_data(train_bs), weight_data=B.beat_data(train_bs + val_bs), seed=seed)
    val_data = B.beat_data(val_bs)
    val_normal = val_data.ref_class == M.NORMAL_CLASS
    method, param = default_threshold_method(bundle)
    tables = pd.concat([t for t, _ in val_tb], ignore_index=True)
    t_normal = (tables["ref_class"] == M.NORMAL_CLASS).to_numpy()
    bundle_th = float(tables["threshold"].iloc[0])
    fixed_q = float(np.mean(tables[ENSEMBLE].to_numpy()[t_normal] <= bundle_th))
    thresholds = {}
    for name, s in baselines.score(val_data).items():
        thresholds[f"baseline_{name}"] = threshold_on_normals(s[val_normal], method, param, fixed_q)
    for name in SCORERS:
        thresholds[name] = threshold_on_normals(tables[name].to_numpy()[t_normal], method, param, fixed_q)
    ds1_check = {"score_threshold_recomputed_on_ds1_validation": thresholds[ENSEMBLE],
                 "score_auroc_ds1_validation_in_sample": M.auroc(
                     M.labels_from_classes(tables["ref_class"][M.labelled_mask(tables["ref_class"])]),
                     tables[ENSEMBLE][M.labelled_mask(tables["ref_class"])])}
    ds1_check["score_ds1_validation_normal_false_alarm_rate"] = 1.0 - fixed_q
    thresholds[ENSEMBLE] = bundle_th  # the bundle's own default threshold
    return {"baselines": baselines, "thresholds": thresholds, "method": method, "param": param,
            "ds1_check": ds1_check}


# ----------------------------------------------------------------------------- DS2: score and summarise

def score_record(recording, bundle, baselines, mode: str) -> tuple[pd.DataFrame, object]:
    """(one row per beat: the model's scores and every baseline's score, the BeatSet)."""
    t, beatset = model_table(recording, bundle, mode)
    cols = ["record", "sample", "time_s", "ref_symbol", "ref_class", "quality", "low_quality",
            *SCORERS, "anomaly"]
    for c in ("ref_symbol", "ref_class"):
        if c not in t:
            t[c] = ""
    out = t[cols].copy()
    out["record"] = str(recording.name)
    for name, s in baselines.score(B.beat_data([beatset])).items():
        out[f"baseline_{name}"] = s
    out.insert(0, "beats", mode)
    return out, beatset


def _per_record_rows(df: pd.DataFrame, thresholds: dict, names: list[str], detection: dict) -> list[dict]:
    rows = []
    for rec, g in df.groupby("record", sort=True):
        cls = g["ref_class"].astype(str).to_numpy()
        lab = M.labelled_mask(cls)
        y = M.labels_from_classes(cls[lab])
        row = {"record": str(rec), "n_beats": int(len(g)), "n_labelled": int(lab.sum()),
               "class_counts": {c: int(np.sum(cls == c)) for c in ("N",) + M.ANOMALOUS_CLASSES},
               "low_quality": int(g["low_quality"].astype(bool).sum()), "metrics": {}}
        if str(rec) in detection:
            row["detection"] = detection[str(rec)]
        for name in names:
            s = g[name].to_numpy(dtype=float)[lab]
            m = M.metrics_at_threshold(y, s, thresholds[name])
            row["metrics"][name] = {"auroc": M.auroc(y, s), "average_precision": M.average_precision(y, s),
                                    "sensitivity": m["sensitivity"], "specificity": m["specificity"],
                                    "flagged": int(np.sum(M.flags_at(s, thresholds[name])))}
        rows.append(row)
    return rows


def summarise(df: pd.DataFrame, thresholds: dict, detection: dict) -> dict:
    """Everything evaluation.json keeps for one beat mode."""
    cls = df["ref_class"].astype(str).to_numpy()
    base_names = [c for c in df.columns if c.startswith("baseline_")]
    out = {"n_beats": int(len(df)), "n_labelled": int(M.labelled_mask(cls).sum()),
           "class_counts": {c: int(np.sum(cls == c)) for c in ("N",) + M.ANOMALOUS_CLASSES},
           "n_unlabelled": int((~M.labelled_mask(cls)).sum()),
           "scorers": {n: M.score_summary(cls, df[n].to_numpy(float), thresholds[n]) for n in SCORERS},
           "baselines": {}}
    for n in base_names:
        short = n[len("baseline_"):]
        out["baselines"][short] = {"description": B.BASELINE_DESCRIPTIONS[short],
                                   **M.score_summary(cls, df[n].to_numpy(float), thresholds[n])}
    out["per_record"] = _per_record_rows(df, thresholds, list(SCORERS) + base_names, detection)
    return out


def detection_summary(per_record: dict, df: pd.DataFrame) -> dict:
    """Totals of the bxb counts, plus how many false detections the ensemble flagged."""
    tot = {k: int(sum(v[k] for v in per_record.values()))
           for k in ("n_reference", "n_detected", "matched", "missed", "false_detections")}
    tot["se"] = tot["matched"] / tot["n_reference"] if tot["n_reference"] else None
    tot["ppv"] = tot["matched"] / tot["n_detected"] if tot["n_detected"] else None
    unl = ~M.labelled_mask(df["ref_class"].astype(str).to_numpy())
    tot["false_detections_flagged_by_ensemble"] = int(df["anomaly"].to_numpy(bool)[unl].sum())
    tot["match_window_s"] = MATCH_WINDOW_S
    tot["per_record"] = per_record
    return tot


# ----------------------------------------------------------------------------- provenance

def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "training"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "") if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def training_reference(bundle_dir: Path, bundle) -> dict:
    out = {"manifest": "manifest.json", "calibration": "calibration.json"}
    hist = bundle_dir / "history.json"
    if hist.exists():
        out["history_file"] = "history.json"
        try:
            h = json.loads(hist.read_text())
            out["epochs"] = len(h.get("epoch") or next(iter(h.values())))
            out["curves"] = sorted(k for k, v in h.items() if isinstance(v, list) and k != "epoch")
        except (ValueError, StopIteration, TypeError, AttributeError):
            pass
    man = bundle.manifest or {}
    for k in ("date", "created_utc", "git_commit", "commit", "metrics"):
        if k in man:
            out[f"manifest_{k}"] = man[k]
    return out


def _clean_nans(o):
    """NaN/inf become None so that evaluation.json is strict JSON."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean_nans(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean_nans(v) for v in o]
    return o


def write_scores(df: pd.DataFrame, path: Path) -> None:
    """Per-beat DS2 scores, gzip CSV (deterministic bytes: no gzip timestamp)."""
    import gzip

    df = df.drop(columns=[c for c in ("time_s",) if c in df])
    for c in ("anomaly", "low_quality"):
        df[c] = df[c].astype(bool).astype(np.int8)
    df["quality"] = df["quality"].round(3)
    text = df.to_csv(index=False, float_format="%.5g", lineterminator="\n")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode())


# ----------------------------------------------------------------------------- the run

def protocol(quick: bool, train: tuple, val: tuple, test: tuple, method: str, param, bundle) -> dict:
    return {
        "name": "quick smoke test (NOT a valid protocol)" if quick else "inter-patient (de Chazal 2004)",
        "valid": not quick,
        "train_set": "DS1" if not quick else "bundled samples",
        "test_set": "DS2" if not quick else "bundled samples",
        "train_records": list(train), "validation_records": list(val), "test_records": list(test),
        "excluded_paced_records": list(PACED),
        "classes": {"N": "N L R e j", "S": "A a J S", "V": "V E", "F": "F", "Q": "/ f Q"},
        "normal_class": "N", "anomalous_classes": list(M.ANOMALOUS_CLASSES),
        "window": bundle.manifest.get("window", {"fs": 360, "before": 90, "after": 166, "length": 256}),
        "lead": "MLII when present (app.ecg.leads.choose_lead), else the first ECG lead",
        "detection": {"primary": "detected beats (app.ecg.pipeline.extract_beats, beats='detect')",
                      "secondary": "reference beat positions (beats='reference')",
                      "match_window_s": MATCH_WINDOW_S,
                      "unmatched_detections": "false detections: counted, excluded from every metric",
                      "missed_reference_beats": "counted"},
        "threshold": {"ensemble": f"bundle default ({method}, param={param}) from DS1 validation normals",
                      "others": f"same rule ({method}, param={param}) on each score's DS1 validation "
                                "normal beats (validation records of the bundle's split)",
                      "flag_rule": "score > threshold"},
        "baselines_fit": "PCA and IsolationForest on DS1 train-record N beats; template+RR weight "
                         "chosen by AUROC on all DS1 (train + validation) beats",
        "ds2_use": "read once to report; nothing is chosen on it",
    }


def evaluate_mode(bundle, data_dir, test, fit: dict, mode: str) -> tuple[dict, pd.DataFrame]:
    frames, det = [], {}
    for r in test:
        rec = read_recording(data_dir, r)
        df, bs = score_record(rec, bundle, fit["baselines"], mode)
        frames.append(df)
        if mode == "detect":
            det[str(r)] = detection_stats(rec, bs)
    df = pd.concat(frames, ignore_index=True)
    bad = {c: int((~np.isfinite(df[c].to_numpy(float))).sum()) for c in df.columns
           if c in SCORERS or c.startswith("baseline_")}
    if any(bad.values()):
        raise RuntimeError(f"non-finite scores on the test beats: {bad}")
    summ = summarise(df, fit["thresholds"], det)
    if mode == "detect":
        summ["detection"] = detection_summary(det, df)
    return summ, df


def run_evaluation(bundle_dir, data_dir=None, quick: bool = False, intra_patient: bool | None = None,
                   out_dir=None, seed: int = 0) -> dict:
    """Evaluate the bundle at ``bundle_dir``; write evaluation.json and the per-beat scores.

    quick: bundled samples only (fit on 100/105, test on 213/233), no intra-patient run.
    Returns the evaluation dict (also written to ``out_dir`` or the bundle directory).
    """
    from app.model.bundle import load_bundle

    t0 = time.perf_counter()
    bundle_dir = Path(bundle_dir)
    out_dir = Path(out_dir) if out_dir is not None else bundle_dir
    bundle = load_bundle(bundle_dir)
    if quick:
        data_dir = SAMPLES_DIR
        train = val = QUICK_FIT_RECORDS
        test = QUICK_TEST_RECORDS
    else:
        data_dir = Path(data_dir or default_data_dir() or "")
        if not (data_dir / "100.hea").exists():
            raise FileNotFoundError(f"{data_dir}: MIT-BIH database not found (give --data-dir)")
        train, val = split_records(bundle)
        leak = set(train + val) & set(DS2)
        if leak:
            raise RuntimeError(f"bundle split uses DS2 records {sorted(leak)}: not an honest protocol")
        test = TEST_RECORDS
    timings, results, frames = {}, {}, []
    for mode in MODES:
        t = time.perf_counter()
        fit = fit_on_ds1(bundle, data_dir, train, val, mode, seed=seed)
        timings[f"fit_{mode}"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        summ, df = evaluate_mode(bundle, data_dir, test, fit, mode)
        timings[f"score_{mode}"] = round(time.perf_counter() - t, 2)
        summ["thresholds"] = fit["thresholds"]
        summ["baseline_fit"] = fit["baselines"].fit_info
        summ["ds1_check"] = fit["ds1_check"]
        results[mode] = summ
        frames.append(df)
        method, param = fit["method"], fit["param"]
    primary = results["detect"]
    ev = {
        "schema_version": SCHEMA_VERSION,
        "model_id": bundle.model_id,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": git_commit(),
        "quick": bool(quick),
        "protocol": protocol(quick, train, val, test, method, param, bundle),
        "beats": "detect",
        **primary,
        "reference_beats": {k: v for k, v in results["reference"].items()},
        "training": training_reference(bundle_dir, bundle),
        "files": {"scores": SCORES_FILE},
    }
    run_intra = (not quick) if intra_patient is None else intra_patient
    t = time.perf_counter()
    if run_intra:
        from training.intra_patient import run_intra_patient

        try:
            ev["intra_patient"] = run_intra_patient(Path(data_dir), bundle, seed=seed)
        except Exception as exc:  # noqa: BLE001 - the secondary result must not sink the primary one
            ev["intra_patient"] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:500]}
    else:
        ev["intra_patient"] = {"status": "not run", "reason": "--quick run" if quick else "disabled"}
    timings["intra_patient"] = round(time.perf_counter() - t, 2)
    timings["total"] = round(time.perf_counter() - t0, 2)
    ev["timings_s"] = timings
    out_dir.mkdir(parents=True, exist_ok=True)
    write_scores(pd.concat(frames, ignore_index=True), out_dir / SCORES_FILE)
    ev = _clean_nans(json.loads(json.dumps(ev, default=jsonable)))
    (out_dir / EVALUATION_FILE).write_text(json.dumps(ev, indent=1, allow_nan=False) + "\n")
    return ev


def table_lines(ev: dict) -> list[str]:
    """A plain-text table of the headline numbers (per-class columns: flagged fraction)."""
    def f(v):
        return "  -  " if v is None else f"{v:.3f}"

    lines = [f"{'scorer':<22} {'AUROC':>6} {'AP':>6} {'sens':>6} {'spec':>6} "
             f"{'S':>6} {'V':>6} {'F':>6} {'Q':>6} {'N-FA':>6}"]
    rows = [(n, s) for n, s in ev["scorers"].items()] + [(f"baseline:{n}", s) for n, s in ev["baselines"].items()]
    for name, s in rows:
        pc, at = s["per_class"], s["at_threshold"]
        lines.append(f"{name:<22} {f(s['auroc']):>6} {f(s['average_precision']):>6} {f(at['sensitivity']):>6} "
                     f"{f(at['specificity']):>6} " + " ".join(f"{f(pc[c]['rate']):>6}" for c in "SVFQN"))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "model_store" / "cvae-v2"), help="model bundle directory")
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--out", default=None, help="where to write (default: the bundle directory)")
    ap.add_argument("--quick", action="store_true", help="smoke test on bundled samples only")
    ap.add_argument("--no-intra-patient", action="store_true", help="skip the secondary intra-patient run")
    ap.add_argument("--show", metavar="EVALUATION_JSON", help="print the tables of an existing file and exit")
    ap.add_argument("--without", nargs="+", metavar="RECORD", default=None,
                    help="with --show: also the detected-beat table without these records (from the saved scores)")
    ap.add_argument("--ceiling", nargs="+", metavar="RECORD", default=None,
                    help="with --show: the ensemble's best possible AUROC and AP while these records' "
                         "anomalous beats keep their scores (from the saved scores)")
    args = ap.parse_args(argv)
    if (args.without or args.ceiling) and not args.show:
        ap.error("--without and --ceiling need --show")
    if args.show:
        try:
            ev = read_evaluation(Path(args.show))
            scores_file = Path(args.show).parent / SCORES_FILE
            sub = summary_without(ev, scores_file, args.without) if args.without else None
            ceil = ranking_ceiling(scores_file, args.ceiling) if args.ceiling else None
            report = report_lines(ev, args.show)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(report))
        if sub is not None:
            print(f"\nwithout record(s) {' '.join(args.without)} (from {SCORES_FILE}, same thresholds): "
                  f"{sub['n_labelled']} labelled detected beats {sub['class_counts']}")
            print("\n".join(table_lines(sub)))
        if ceil is not None:
            print("\n" + "\n".join(ceiling_lines(ceil)))
        return 0
    try:
        ev = run_evaluation(args.model, args.data_dir, quick=args.quick, out_dir=args.out,
                            intra_patient=False if args.no_intra_patient else None)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report_lines(ev)))
    return 0


def read_evaluation(path: Path) -> dict:
    """An evaluation.json, or FileNotFoundError / ValueError with one line naming the file."""
    try:
        ev = json.loads(path.read_text())
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise FileNotFoundError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path}: not an evaluation.json (not JSON)") from None
    if not isinstance(ev, dict) or not {"protocol", "scorers", "baselines", "thresholds"} <= set(ev):
        raise ValueError(f"{path}: not an evaluation.json (no protocol, scorers, baselines and thresholds)")
    return ev


def saved_detected_scores(scores_file: Path, records=()) -> pd.DataFrame:
    """The saved per-beat scores of the detected beats (ValueError when one of ``records`` has none)."""
    import gzip

    if not scores_file.is_file():
        raise FileNotFoundError(f"{scores_file}: the per-beat scores of this evaluation are missing")
    with gzip.open(scores_file, "rt") as fh:
        df = pd.read_csv(fh, keep_default_na=False, dtype={"record": str, "ref_class": str})
    df = df[df["beats"] == "detect"]
    unknown = sorted(set(map(str, records)) - set(df["record"]))
    if unknown:
        raise ValueError(f"{scores_file}: no beats of record(s) {' '.join(unknown)}")
    return df


def summary_without(ev: dict, scores_file: Path, records) -> dict:
    """The detected-beat summary (as in evaluation.json) recomputed from the saved per-beat scores,
    without ``records``, at the evaluation's thresholds."""
    df = saved_detected_scores(scores_file, records)
    return summarise(df[~df["record"].isin([str(r) for r in records])], ev["thresholds"], {})


def ranking_ceiling(scores_file: Path, records, score: str = "score", target: float = 0.97) -> dict:
    """How far ``records`` alone hold the pooled AUROC and AP down.

    The pooled AUROC is the size-weighted mean, over groups of anomalous beats, of each group's
    AUROC against all normal beats. Groups: the anomalous beats of ``records`` ("kept") and all
    others. ``auroc_ceiling`` / ``ap_ceiling``: the figures if every other anomalous beat were
    ranked above every normal beat while the kept ones keep their scores (no scorer can do
    better without ranking the kept beats higher); ``kept_auroc_needed``: the kept group's AUROC
    against all normal beats that a pooled AUROC of ``target`` needs, the others as they are."""
    df = saved_detected_scores(scores_file, records)
    df = df[M.labelled_mask(df["ref_class"])]
    y = M.labels_from_classes(df["ref_class"]).astype(bool)
    s = df[score].to_numpy(np.float64)
    kept = df["record"].isin([str(r) for r in records]).to_numpy() & y
    others = y & ~kept
    normal = ~y

    def group_auroc(group: np.ndarray) -> float | None:
        return M.auroc(np.r_[np.ones(group.sum()), np.zeros(normal.sum())], np.r_[s[group], s[normal]])

    ideal = np.where(others, s.max() + 1.0, s)
    n_pos, n_kept = int(y.sum()), int(kept.sum())
    a_kept, a_others = group_auroc(kept), group_auroc(others)
    needed = (target * n_pos - (a_others or 0.0) * (n_pos - n_kept)) / n_kept if n_kept else None
    return {"score": score, "records": [str(r) for r in records], "n_anomalous": n_pos, "n_kept": n_kept,
            "auroc": M.auroc(y, s), "average_precision": M.average_precision(y, s),
            "kept_auroc": a_kept, "others_auroc": a_others, "target": target, "kept_auroc_needed": needed,
            "auroc_ceiling": M.auroc(y, ideal), "ap_ceiling": M.average_precision(y, ideal)}


def ceiling_lines(c: dict) -> list[str]:
    recs = " ".join(c["records"])
    need = c["kept_auroc_needed"]
    return [f"ranking ceiling of {c['score']} with record(s) {recs} as scored "
            f"({c['n_kept']} of {c['n_anomalous']} anomalous beats are theirs):",
            f"  now: AUROC {c['auroc']:.3f}, AP {c['average_precision']:.3f}; AUROC against all normal beats: "
            f"their anomalous beats {c['kept_auroc']:.3f}, the others {c['others_auroc']:.3f}",
            f"  every other anomalous beat ranked first: AUROC {c['auroc_ceiling']:.3f}, AP {c['ap_ceiling']:.3f}",
            f"  AUROC {c['target']:.2f} with the others as now needs their anomalous beats at AUROC "
            f"{need:.3f}" + (" (impossible: above 1)" if need > 1 else "")]


def report_lines(ev: dict, source: str = "evaluation") -> list[str]:
    """The printed report of an evaluation (ValueError naming ``source`` and what is missing from a
    partial file)."""
    try:
        return _report_lines(ev)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: not a complete evaluation.json ({exc!s} missing or malformed)") from None


def _report_lines(ev: dict) -> list[str]:
    d = ev["detection"]
    out = [f"{ev['protocol']['name']}: model {ev['model_id']}, {ev['n_labelled']} labelled detected beats "
           f"{ev['class_counts']}", *table_lines(ev),
           f"detection: se={d['se']:.4f} ppv={d['ppv']:.4f} missed={d['missed']} "
           f"false_detections={d['false_detections']} (flagged by the ensemble: "
           f"{d['false_detections_flagged_by_ensemble']})",
           "", "secondary: reference beat positions", *table_lines(ev["reference_beats"])]
    ip = ev.get("intra_patient") or {}
    out.append(f"\nintra-patient (BeatGAN protocol, SECONDARY): {ip.get('status')}")
    out += [f"  {name:<20} AUROC {s['auroc']:.3f} AP {s['average_precision']:.3f}"
            for name, s in (ip.get("scorers") or {}).items()]
    if ip.get("reason"):
        out.append(f"  {ip['reason']}")
    out.append(f"timings_s: {ev['timings_s']}")
    return out


if __name__ == "__main__":
    sys.exit(main())
