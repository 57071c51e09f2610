"""Session 19 diagnostic (DS1 only; it chooses nothing): where is the rest of the `em` 6 dB AUROC loss?

    PYTHONPATH=. .venv/bin/python training/experiments/session19_em_split.py [--folds 4]

Rule v61 (docs/noise-history.md section 12) showed that averaging students moves nothing, so what
is left of the cross-validated `em` loss (clean 0.988, `em` 0.943) is not one student's scatter.
This splits that loss, every DS1 record scored by a fold student that never saw it (as
``python -m benchmarks.student_cv``), into:
  - selection: the beats the AUROC is computed on differ (missed, flagged low quality) ->
    clean scores on all clean beats vs clean scores on the beats both runs share ("common");
  - score change on the common beats: clean vs noisy scores of the same beats, and which beats
    carry it (noisy score replaced by the clean one: beats in the clean segments; beats in noisy
    segments below the student's gate; beats above it);
  - shape vs timing (the analysed lead alone, ``other_lead=False``): the noisy score with its shape
    part, or its timing part, replaced by the clean run's.
Prints one table; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def per_record(rec, vf, bundle, noise, rms) -> dict:
    from app.analysis import analyze
    from app.ecg.nst import noise_on, noisy, nst_qrs_amplitude
    from app.model.ensemble import part_contributions
    from app.model.metrics import labelled_mask, labels_from_classes
    from app.model.student import student_share
    from benchmarks.noise import scored_match, scored_from

    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(rec.n_leads)]
    nrec = noisy(rec, noise["em"][0], 6.0, amps, rms["em"], "nst")
    out = {}
    for tag, r in (("c", rec), ("n", nrec)):
        a = analyze(r, bundle=bundle)
        a1 = analyze(r, bundle=bundle, other_lead=False)
        t = a.table
        det = t["sample"].to_numpy()
        cls = t["ref_class"].to_numpy()
        lowq = t["low_quality"].to_numpy(bool)
        m, d_ok, r_ok = scored_match(det, r, "nst", vf)
        gd = np.flatnonzero(d_ok)[m.det_index]
        gr = np.flatnonzero(r_ok)[m.ref_index]
        keep = (det >= scored_from(r.fs, "nst")) & labelled_mask(cls) & ~lowq
        shape, timing = part_contributions(a1.scores, bundle.calibration["ensemble"])
        out[tag] = {"all_y": labels_from_classes(cls[keep]), "all_s": t["score"].to_numpy(float)[keep],
                    "ref": gr, "samp": det[gd], "keep": keep[gd], "cls": cls[gd], "s": t["score"].to_numpy(float)[gd],
                    "s1": a1.table["score"].to_numpy(float)[gd], "shape": shape[gd], "timing": timing[gd],
                    "share": student_share(a.beats.noise_ratio, len(det))[gd]}
    c, n = out["c"], out["n"]
    common, ic, i_n = np.intersect1d(c["ref"], n["ref"], return_indices=True)
    ok = n["keep"][i_n] & labelled_mask(n["cls"][i_n])
    on = noise_on(nrec.n_samples, nrec.fs, "nst")[np.clip(n["samp"][i_n], 0, nrec.n_samples - 1)]
    pick = lambda d, i: {k: d[k][i][ok] for k in ("s", "s1", "shape", "timing", "share")}  # noqa: E731
    return {"clean_all": (c["all_y"], c["all_s"]), "noisy_all": (n["all_y"], n["all_s"]),
            "y": labels_from_classes(n["cls"][i_n][ok]), "on": on[ok], "c": pick(c, ic), "n": pick(n, i_n)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--data-dir", default="../shared/data/mitdb")
    args = ap.parse_args(argv)
    from app.ecg.aami import DS1
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from app.model.metrics import auroc
    from benchmarks.rpeaks import vf_episodes
    from training.student import EPOCHS, noise_sources, record_pairs, train_student

    data_dir = Path(args.data_dir)
    names = sorted(str(n) for n in DS1)
    bundle = load_bundle()
    own = bundle.student
    noise, rms = noise_sources(data_dir.parent / "nstdb")
    t0 = time.perf_counter()
    pairs, rows = {}, []
    try:
        for i in range(args.folds):
            held = names[i::args.folds]
            train_on = [n for n in names if n not in held]
            for n in train_on:
                if n not in pairs:
                    pairs[n] = record_pairs(read_record(data_dir / n), bundle, noise, rms)
            x = np.concatenate([pairs[n][0] for n in train_on])
            z = np.concatenate([pairs[n][1] for n in train_on])
            bundle.use_student(train_student(bundle.encoder, x, z, EPOCHS, 0, verbose=0))
            for n in held:
                rows.append(per_record(read_record(data_dir / n), vf_episodes(data_dir / n), bundle, noise, rms))
                print(f"# {n} done, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        bundle.use_student(own)

    cat = lambda f: np.concatenate([f(r) for r in rows])  # noqa: E731
    y = cat(lambda r: r["y"])
    on = cat(lambda r: r["on"])
    c = {k: cat(lambda r, k=k: r["c"][k]) for k in ("s", "s1", "shape", "timing", "share")}
    n = {k: cat(lambda r, k=k: r["n"][k]) for k in ("s", "s1", "shape", "timing", "share")}
    below = on & (n["share"] == 0)
    above = on & (n["share"] > 0)
    out = [("clean, all clean beats (benchmark)", auroc(cat(lambda r: r["clean_all"][0]), cat(lambda r: r["clean_all"][1]))),
           ("em 6 dB, all kept beats (benchmark)", auroc(cat(lambda r: r["noisy_all"][0]), cat(lambda r: r["noisy_all"][1]))),
           ("common beats, clean scores", auroc(y, c["s"])),
           ("common beats, noisy scores", auroc(y, n["s"])),
           ("  noisy, clean score where in a clean segment", auroc(y, np.where(~on, c["s"], n["s"]))),
           ("  noisy, clean score where noisy segment, share 0", auroc(y, np.where(below, c["s"], n["s"]))),
           ("  noisy, clean score where noisy segment, share > 0", auroc(y, np.where(above, c["s"], n["s"]))),
           ("one lead: common beats, clean scores", auroc(y, c["s1"])),
           ("one lead: common beats, noisy scores", auroc(y, n["s1"])),
           ("one lead: noisy with the clean shape part", auroc(y, n["s1"] - n["shape"] + c["shape"])),
           ("one lead: noisy with the clean timing part", auroc(y, n["s1"] - n["timing"] + c["timing"]))]
    for label, v in out:
        print(f"{label:55s} {v:.4f}")
    print(f"# common beats {len(y)} ({int(y.sum())} abnormal); in noisy segments {int(on.sum())}: share 0 "
          f"{int(below.sum())} ({int(y[below].sum())} abnormal), share > 0 {int(above.sum())} "
          f"({int(y[above].sum())} abnormal); {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
