"""python -m training --data-dir DIR --out model_store/<id> [--quick] [--skip-eval]

1. DS1 beats through the app's own pipeline (reference beat positions, MLII).
2. The conv-VAE on the N beats of the training records (augmented, seeded, early stopping).
3. Calibration on the held-out DS1 validation records (ensemble, thresholds, fallback statistics).
4. The bundle is written to --out, with the latent page's reference cloud and the noise-robust
   student encoder (training.student: DS1 beats with nstdb noise; skipped without nstdb);
   then training.evaluate.run_evaluation (DS2, report only).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    from app.config import default_data_dir

    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    p.add_argument("--out", required=True, help="bundle directory, e.g. model_store/cvae-v2")
    p.add_argument("--quick", action="store_true", help="tiny end-to-end run for the tests")
    p.add_argument("--skip-eval", action="store_true", help="do not run the DS2 evaluation")
    p.add_argument("--epochs", type=int, default=None, help="override the configured epochs")
    p.add_argument("--seed", type=int, default=None,
                   help="override the configured seed (weights, augmentation, beat subsets): the same recipe "
                   "trained again, to measure how much the figures move from seed to seed")
    p.add_argument("--recalibrate", action="store_true", help="keep the trained encoder/decoder in --out; "
                   "redo only the calibration (and evaluation)")
    p.add_argument("--swap-split", action="store_true",
                   help="train on the DS1 validation records and calibrate on the training records: a second "
                   "DS1 fold for `python -m training.ds1_protocol --model OUT` (no DS2 evaluation)")
    p.add_argument("--validation-records", nargs="+", default=None, metavar="RECORD",
                   help="DS1 records to hold out for validation and calibration (the other DS1 records train "
                   "the VAE): another DS1 fold for `python -m training.ds1_protocol --model OUT` (no DS2 evaluation)")
    a = p.parse_args(argv)
    if a.validation_records is not None:
        from app.ecg.aami import DS1

        bad = [r for r in a.validation_records if r not in DS1]
        if bad or a.swap_split or set(a.validation_records) >= set(DS1):
            p.error("--validation-records: give some but not all DS1 records (not with --swap-split); "
                    f"not DS1: {' '.join(bad) or 'none'}")
    a.skip_eval = a.skip_eval or a.swap_split or a.validation_records is not None
    a.data_dir = a.data_dir or (str(default_data_dir()) if default_data_dir() else None)
    if a.data_dir is None or not (Path(a.data_dir) / "101.hea").exists():
        if not a.quick:
            p.error(f"{a.data_dir}: MIT-BIH database not found (give --data-dir)")
        if a.validation_records is not None:
            p.error(f"--validation-records: {a.data_dir}: MIT-BIH database not found (give --data-dir)")
        a.data_dir = None  # --quick without the database: a smoke run on the bundled samples
    return a


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def versions() -> dict:
    import keras
    import numpy
    import sklearn
    import tensorflow
    import wfdb

    return {"python": platform.python_version(), "tensorflow": tensorflow.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__, "scikit-learn": sklearn.__version__,
            "wfdb": wfdb.__version__}


def manifest(cfg, model_id, n_train, n_val, params, seconds, metrics, history) -> dict:
    from app.ecg.pipeline import AFTER, BEFORE, MODEL_FS

    return {
        "model_id": model_id,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "window": {"fs": MODEL_FS, "before": BEFORE, "after": AFTER, "length": BEFORE + AFTER},
        "fs": MODEL_FS,
        "preprocessing": {"resample": "polyphase to 360 Hz", "filter": "Butterworth 0.5-40 Hz, order 2, zero-phase",
                          "amplitude": "divided by the record's median R-peak height (mV)",
                          "lead": "MLII when present, else the first ECG lead",
                          "beats_for_training": cfg.beats,
                          "mask_next_beat": bool(cfg.mask_next_beat)},
        "data": {"database": "MIT-BIH Arrhythmia Database (PhysioNet)", "train_normal_beats": n_train,
                 "validation_normal_beats": n_val, "classes": "AAMI EC57; VAE trained on class N only"},
        "split": {"protocol": "inter-patient (de Chazal 2004); DS1 only for training and calibration",
                  "train_records": list(cfg.train_records), "validation_records": list(cfg.validation_records)},
        "architecture": {"type": "conv-VAE", "latent_dim": cfg.latent_dim, "filters": list(cfg.filters),
                         "kernel": cfg.kernel, "hidden": cfg.hidden, "dropout": cfg.dropout, "params": params},
        "training": {"seconds": round(seconds, 1), "epochs_run": len(history.get("epoch", [])),
                     "config": cfg.to_dict()},
        "versions": versions(),
        "metrics": {"ds1_validation": metrics},
    }


def config_for(args):
    """training.config's Config for these command-line arguments."""
    from training.config import Config, quick_config

    cfg = quick_config(samples=args.data_dir is None) if args.quick else Config()
    if args.epochs:
        cfg = replace(cfg, epochs=args.epochs)
    if args.seed is not None:
        cfg = replace(cfg, seed=args.seed)
    if args.swap_split:
        cfg = replace(cfg, train_records=cfg.validation_records, validation_records=cfg.train_records)
    if args.validation_records:
        from app.ecg.aami import DS1

        val = tuple(r for r in DS1 if r in set(args.validation_records))
        cfg = replace(cfg, train_records=tuple(r for r in DS1 if r not in val), validation_records=val)
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np

    from app.model.bundle import ModelBundle, save_bundle
    from training.calibrate import calibrate
    from training.data import as_scored, load_records, normal_windows, with_vae_input
    from training.train import train_vae

    cfg = config_for(args)
    if args.data_dir is None:
        from app.config import SAMPLES_DIR

        args.data_dir = str(SAMPLES_DIR)
        print("MIT-BIH database not found: --quick smoke run on the bundled samples (not a model)")
    out = Path(args.out)
    t0 = time.time()
    print(f"loading DS1 beats from {args.data_dir}", flush=True)
    train_raw = load_records(args.data_dir, cfg.train_records, cfg)
    val_raw = load_records(args.data_dir, cfg.validation_records, cfg)
    train_beats = with_vae_input(train_raw, cfg)
    val_beats = with_vae_input(val_raw, cfg)
    # the calibration reads the windows as the app scores them (noisy beats denoised, baseline drift
    # taken out: app.ecg.pipeline's model windows); the VAE learns from the displayed ones
    cal_raw = (val_raw if cfg.calibration_beats == cfg.beats
               else load_records(args.data_dir, cfg.validation_records, replace(cfg, beats=cfg.calibration_beats)))
    cal_beats = with_vae_input(as_scored(cal_raw), cfg)
    train_x = normal_windows(train_beats, cfg.max_train_beats, cfg.seed)
    val_x = normal_windows(val_beats, None if not args.quick else 1000, cfg.seed)
    print(f"{len(train_x)} training / {len(val_x)} validation normal beats ({time.time() - t0:.1f} s)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="training-")) if args.quick else out
    if args.recalibrate:
        enc, dec, history, seconds = previous_training(out)
        print(f"recalibrating the model trained earlier in {seconds:.1f} s", flush=True)
    else:
        enc, dec, history, seconds = train_vae(train_x, val_x, cfg, work, verbose=0 if args.quick else 2)
        print(f"trained in {seconds:.1f} s ({len(history['epoch'])} epochs)", flush=True)

    forward = ModelBundle(enc, dec, {"window": {"length": cfg.window}}, {}, "training").forward  # the app's own
    cal_normals = normal_windows(with_vae_input(as_scored(train_raw), cfg), 5000, cfg.seed)
    calibration, metrics, _ = calibrate(forward, cal_normals, cal_beats, cfg)
    lo = metrics["ensemble_leave_one_record_out"]
    print("DS1 validation (leave-one-record-out): " + json.dumps(lo), flush=True)
    params = int(enc.count_params() + dec.count_params())
    model_id = out.name
    man = manifest(cfg, model_id, len(train_x), len(val_x), params, seconds, metrics, history)
    if args.recalibrate:  # the encoder's weights are kept, and with them its student encoder
        kept = json.loads((out / "manifest.json").read_text()).get("student")
        if kept:
            man["student"] = kept
    save_bundle(ModelBundle(enc, dec, man, calibration, model_id, out), out, history=history)
    if args.quick:
        shutil.rmtree(work, ignore_errors=True)
    print(f"bundle written to {out} ({time.time() - t0:.1f} s)", flush=True)
    if not (args.quick or args.recalibrate or args.swap_split or args.validation_records):
        # the latent page's cloud of DS1 normals, tied to the encoder's weights only (a
        # recalibration keeps them, and the cloud); not for the extra DS1 folds
        from training.reference_cloud import main as reference_cloud

        reference_cloud(["--model", str(out), "--data-dir", str(args.data_dir)])
        add_student_or_say_why(out, Path(args.data_dir))
    if not args.skip_eval:
        try:
            from training.evaluate import run_evaluation
        except ImportError:
            print("training.evaluate not available: evaluation skipped", flush=True)
        else:
            run_evaluation(out, args.data_dir, quick=args.quick)
            print(f"evaluation written to {out / 'evaluation.json'}", flush=True)
    return 0


def add_student_or_say_why(out: Path, data_dir: Path) -> None:
    """The noise-robust student encoder of the new bundle (training.student), trained on DS1 with
    the nstdb noise beside the MIT-BIH directory; without that noise the bundle has none (noisy
    beats are then scored by the encoder alone) and this says so."""
    from app.model.bundle import STUDENT_FILE
    from training.student import add_student, has_noise_records

    (out / STUDENT_FILE).unlink(missing_ok=True)  # an older student belongs to older weights
    nst_dir = data_dir.parent / "nstdb"
    if not has_noise_records(nst_dir):
        print(f"nstdb noise records not found in {nst_dir}: no student encoder in this bundle", flush=True)
        return
    entry = add_student(out, data_dir, nst_dir)
    print(f"student encoder trained on {entry['pairs']} noisy DS1 beats ({entry['seconds']} s)", flush=True)


def previous_training(out: Path):
    """Encoder, decoder, history and training seconds of the bundle already in ``out``."""
    import keras

    man = json.loads((out / "manifest.json").read_text())
    history = json.loads((out / "history.json").read_text())
    return (keras.saving.load_model(out / "encoder.keras", compile=False),
            keras.saving.load_model(out / "decoder.keras", compile=False), history, man["training"]["seconds"])


if __name__ == "__main__":
    sys.exit(main())
