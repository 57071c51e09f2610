"""Cross-validated DS1 noise figures of the noise-robust student encoder (app.model.student).

    python -m benchmarks.student_cv [--data-dir ../shared/data/mitdb] [--nst-dir ../shared/data/nstdb]
                                    [--records 101 106 ...] [--folds 4] [--epochs 4] [--seed 0 [1 ...]] [--model DIR]
                                    [--loss latent|record|huber] [--abnormal-weight K]

The bundle's student learnt from all of DS1, so a DS1 run of ``benchmarks.noise`` with it is
in-sample. Here every record is scored by a student that never saw it: the records (default: DS1)
sorted, fold i = records[i::K]; for each fold a student is trained as ``python -m training.student``
trains the bundle's (same pairs, settings and seed) on the other records and put in the bundle in
place of its own (several ``--seed`` values: one student per seed, their latent means averaged;
rule v61), and the held-out records go through the noise benchmark (nst protocol; ``em``, ``bw``
and ``ma`` at 6 dB, and the clean record). The held-out records are pooled over the folds
and compared with the encoder alone (no student) on the same records. This is rule v58's
measurement (docs/noise-history.md section 9); it tunes, on DS1, and DS2 is reported by
``python -m benchmarks.noise``. DS1: 900 s on 2 CPU cores (session 18).

Prints a table (encoder alone, cross-validated student) and last line exactly:
``TOTAL cv_snr6_auroc_drop=<> encoder_snr6_auroc_drop=<> cv_clean_auroc=<> encoder_clean_auroc=<>``
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._util import data_dir_arg, format_table, load_average
from benchmarks.noise import NOISES, class_auroc, pooled, pooled_at, record_names, run

COLUMNS = ["scored_by", "clean_auroc", "auroc_6db", "drop", "em", "bw", "ma", "se_6db", "ppv_6db", "lowq_6db",
           "s_clean", "s_6db", "v_clean", "v_6db"]


def held_out(data_dir: Path, nst_dir: Path, names: list[str], model_dir, keep: dict) -> None:
    """``names`` through the noise benchmark at 6 dB; their outcomes added to ``keep`` by (noise, snr)."""
    _, res = run(data_dir, nst_dir, names, [6.0], list(NOISES), "nst", True, model_dir)
    for key, outs in res.items():
        keep.setdefault(key, []).extend(outs)


def summary(res: dict) -> dict:
    clean, at6 = pooled_at(res, 6.0)
    out = {"clean_auroc": clean["auroc"], "auroc_6db": at6["auroc"], "drop": clean["auroc"] - at6["auroc"]}
    out.update({k: pooled(res[(k, 6.0)])["auroc"] for k in NOISES})
    out.update({"se_6db": at6["se"], "ppv_6db": at6["ppv"], "lowq_6db": at6["lowq"]})
    noisy = [o for k in NOISES for o in res[(k, 6.0)]]
    for c in ("S", "V"):  # each class against N alone (docs/noise-history.md section 24)
        out.update({f"{c.lower()}_clean": class_auroc(res[("clean", "")], c), f"{c.lower()}_6db": class_auroc(noisy, c)})
    return out


def cross_validate(data_dir: Path, nst_dir: Path, names: list[str], folds: int, epochs: int, seeds,
                   model_dir=None, log=print, loss: str = "latent", abnormal_weight: float = 1.0) -> tuple[dict, dict]:
    """(encoder-alone summary, cross-validated student summary) over ``names``.

    ``loss``: "latent", the student's committed loss; "record", its error in each pair's record's
    latent metric (``training.student.record_whitening``; rule v64); "huber", the Huber loss with
    ``training.student.HUBER_DELTA`` (rule v66). ``abnormal_weight``: the loss weight of the pairs of
    abnormal beats (``training.student.class_weights``; rule v77).
    """
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from training.student import HUBER_DELTA, class_weights, noise_sources, record_pairs, train_students

    bundle = load_bundle(model_dir)  # the cached bundle, the one benchmarks.noise.run scores with
    own = bundle.student
    noise, rms = noise_sources(nst_dir)
    pairs: dict = {}  # record -> training.student.Pairs
    alone: dict = {}
    student: dict = {}
    try:
        bundle.use_student(None)
        held_out(data_dir, nst_dir, names, model_dir, alone)
        for i in range(folds):
            held = names[i::folds]
            train_on = [n for n in names if n not in held]
            for n in train_on:
                if n not in pairs:
                    pairs[n] = record_pairs(read_record(data_dir / n), bundle, noise, rms)
            x = np.concatenate([pairs[n].x for n in train_on])
            z = np.concatenate([pairs[n].z for n in train_on])
            w = (np.concatenate([np.repeat(pairs[n].whitening[None], len(pairs[n].x), axis=0) for n in train_on])
                 if loss == "record" else None)
            cw = class_weights(np.concatenate([pairs[n].cls for n in train_on]), abnormal_weight)
            bundle.use_student(train_students(bundle.encoder, x, z, epochs, seeds, verbose=0, W=w,
                                              huber=HUBER_DELTA if loss == "huber" else None, weight=cw))
            log(f"# fold {i + 1}/{folds}: student from {len(x)} pairs of {len(train_on)} records; "
                f"held out {' '.join(held)}")
            held_out(data_dir, nst_dir, held, model_dir, student)
            bundle.use_student(None)
    finally:
        bundle.use_student(own)
    return summary(alone), summary(student)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.student_cv", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--nst-dir", default=None, help="nstdb directory (default: next to --data-dir)")
    ap.add_argument("--records", nargs="+", default=None, help="records (default: every DS1 record)")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=None, help="student epochs (default: training.student's)")
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="student seed(s); several: one student per seed, their latent means averaged")
    ap.add_argument("--model", default=None, help="model bundle directory (default: the app's)")
    ap.add_argument("--loss", choices=["latent", "record", "huber"], default="latent",
                    help="student loss: squared latent error (committed), in its record's latent metric "
                    "(rule v64), or Huber (rule v66)")
    ap.add_argument("--abnormal-weight", type=float, default=1.0,
                    help="loss weight of the pairs of abnormal (S, V, F, Q) beats (rule v77; committed: 1)")
    args = ap.parse_args(argv)
    from training.student import EPOCHS, has_noise_records

    data_dir = data_dir_arg(args.data_dir)
    nst_dir = Path(args.nst_dir) if args.nst_dir else data_dir.parent / "nstdb"
    if not has_noise_records(nst_dir):
        print(f"noise records em, ma, bw not found in {nst_dir}; pass --nst-dir", file=sys.stderr)
        return 2
    names = sorted(record_names(data_dir, args.records, "DS1"))
    if not 2 <= args.folds <= len(names):
        print(f"--folds must be from 2 to the number of records ({len(names)})", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(f"# records: {' '.join(names)}; {args.folds} folds; seeds {args.seed}; loss {args.loss}; "
          f"abnormal pairs x{args.abnormal_weight:g}; "
          f"noises {' '.join(NOISES)} at 6 dB; {load_average()} (start)", flush=True)
    alone, cv = cross_validate(data_dir, nst_dir, names, args.folds, args.epochs or EPOCHS, args.seed, args.model,
                               log=lambda m: print(m, flush=True), loss=args.loss,
                               abnormal_weight=args.abnormal_weight)
    print(format_table(COLUMNS, [["encoder alone", *alone.values()], ["cv student", *cv.values()]]))
    print(f"# runtime {time.perf_counter() - t0:.0f} s; {load_average()} (end)")
    print(f"TOTAL cv_snr6_auroc_drop={cv['drop']:.4f} encoder_snr6_auroc_drop={alone['drop']:.4f} "
          f"cv_clean_auroc={cv['clean_auroc']:.4f} encoder_clean_auroc={alone['clean_auroc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
