"""Session 25 diagnostic (DS1; chooses nothing): the cross-validated student's noise figures
(benchmarks.student_cv, committed settings) split by whether the VAE learnt the record's normal beats
(training.config TRAIN_RECORDS) or never saw them (VALIDATION_RECORDS: early stopping, ensemble fit).

    PYTHONPATH=. python training/experiments/session25_vae_seen.py
"""
from __future__ import annotations

import numpy as np

from benchmarks._util import data_dir_arg
from benchmarks.noise import NOISES, run
from benchmarks.student_cv import summary
from training.config import TRAIN_RECORDS, VALIDATION_RECORDS


def main() -> None:
    from app.ecg.aami import DS1
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from training.student import EPOCHS, class_weights, noise_sources, record_pairs, train_students

    data_dir = data_dir_arg(None)
    nst_dir = data_dir.parent / "nstdb"
    names = sorted(DS1)
    bundle = load_bundle(None)
    own = bundle.student
    noise, rms = noise_sources(nst_dir)
    pairs, per = {}, {}
    try:
        for i in range(4):
            held = names[i::4]
            train_on = [n for n in names if n not in held]
            for n in train_on:
                if n not in pairs:
                    pairs[n] = record_pairs(read_record(data_dir / n), bundle, noise, rms)
            x = np.concatenate([pairs[n].x for n in train_on])
            z = np.concatenate([pairs[n].z for n in train_on])
            cw = class_weights(np.concatenate([pairs[n].cls for n in train_on]), 1.0)
            bundle.use_student(train_students(bundle.encoder, x, z, EPOCHS, [0], verbose=0, weight=cw))
            for n in held:
                per[n] = run(data_dir, nst_dir, [n], [6.0], list(NOISES), "nst", True, None)[1]
                print(f"# {n} done", flush=True)
            bundle.use_student(None)
    finally:
        bundle.use_student(own)

    def pool(group):
        keep: dict = {}
        for n in group:
            for key, outs in per[n].items():
                keep.setdefault(key, []).extend(outs)
        return summary(keep)

    rows = {"all DS1": names, "VAE learnt them (14)": [n for n in names if n in TRAIN_RECORDS],
            "VAE never saw them (8)": [n for n in names if n in VALIDATION_RECORDS]}
    cols = ["clean_auroc", "auroc_6db", "drop", "em", "bw", "ma", "lowq_6db", "s_clean", "s_6db", "v_clean", "v_6db"]
    print("group".ljust(24) + " ".join(c.rjust(10) for c in cols))
    for label, group in rows.items():
        s = pool(group)
        print(label.ljust(24) + " ".join(f"{s[c]:10.4f}" for c in cols))
    print("record".ljust(8) + " ".join(c.rjust(10) for c in ("clean", "em", "bw", "ma")))
    for n in names:
        s = pool([n])
        print(n.ljust(8) + " ".join(f"{s[c]:10.4f}" for c in ("clean_auroc", "em", "bw", "ma")))


if __name__ == "__main__":
    main()
