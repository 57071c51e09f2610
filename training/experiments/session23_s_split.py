"""Session 23 diagnostic (DS1 only; it chooses nothing): where does the S-vs-N AUROC go in noise?

    PYTHONPATH=. .venv/bin/python training/experiments/session23_s_split.py [--folds 4]

``python -m benchmarks.student_cv`` now prints each class against N alone: cross-validated, DS1,
6 dB (em, bw, ma pooled) S vs N 0.975 -> 0.934 and V vs N 0.993 -> 0.980 (session 23). The student
(rule v58) moved V (0.962 -> 0.980 without it) and not S. This splits the S loss as section 13
split `em`'s: every DS1 record scored by a fold student that never saw it, the clean record and its
noisy copies (nst protocol, 6 dB) analysed, the beats both runs detect and keep ("common") scored
clean and noisy, and the noisy score given the clean run's timing part, or its shape part, or the
clean score on the beats of the clean segments, of the noisy segments. Prints one table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

NOISES = ("em", "bw", "ma")


def run_one(r, vf, bundle):
    from app.analysis import analyze
    from app.model.metrics import labelled_mask
    from benchmarks.noise import scored_from, scored_match

    a = analyze(r, bundle=bundle)
    t = a.table
    det = t["sample"].to_numpy()
    cls = t["ref_class"].to_numpy().astype(str)
    lowq = t["low_quality"].to_numpy(bool)
    m, d_ok, r_ok = scored_match(det, r, "nst", vf)
    gd = np.flatnonzero(d_ok)[m.det_index]
    gr = np.flatnonzero(r_ok)[m.ref_index]
    keep = (det >= scored_from(r.fs, "nst")) & labelled_mask(cls) & ~lowq
    s = t["score"].to_numpy(float)
    shape, timing = a.scores.get("_shape"), a.scores.get("_timing")
    return {"all_c": cls[keep], "all_s": s[keep], "ref": gr, "samp": det[gd], "keep": keep[gd], "cls": cls[gd],
            "s": s[gd], "shape": shape[gd], "timing": timing[gd]}


def per_record(rec, vf, bundle, noise, rms) -> dict:
    from app.ecg.nst import noise_on, noisy, nst_qrs_amplitude

    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(rec.n_leads)]
    c = run_one(rec, vf, bundle)
    out = {"clean_all": (c["all_c"], c["all_s"])}
    for k in NOISES:
        nrec = noisy(rec, noise[k][0], 6.0, amps, rms[k], "nst")
        n = run_one(nrec, vf, bundle)
        _, ic, i_n = np.intersect1d(c["ref"], n["ref"], return_indices=True)
        ok = n["keep"][i_n]
        on = noise_on(nrec.n_samples, nrec.fs, "nst")[np.clip(n["samp"][i_n], 0, nrec.n_samples - 1)]
        pick = lambda d, i: {q: d[q][i][ok] for q in ("s", "shape", "timing")}  # noqa: E731
        out[k] = {"all": (n["all_c"], n["all_s"]), "cls": n["cls"][i_n][ok], "on": on[ok],
                  "c": pick(c, ic), "n": pick(n, i_n)}
    return out


def cls_auroc(c, s, cl):
    from app.model.metrics import auroc

    keep = (c == cl) | (c == "N")
    return auroc((c[keep] == cl).astype(np.int8), s[keep])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--data-dir", default="../shared/data/mitdb")
    args = ap.parse_args(argv)
    import app.analysis as analysis_mod
    from app.ecg.aami import DS1
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from benchmarks.rpeaks import vf_episodes
    from training.student import EPOCHS, noise_sources, record_pairs, train_students

    # keep the blended shape and timing parts that analyze computes (its table holds only the score)
    import app.model.ensemble as ens
    orig = ens.reasons

    def keeping(shape, timing, *a, **kw):
        keeping.last = (np.asarray(shape, float), np.asarray(timing, float))
        return orig(shape, timing, *a, **kw)
    ens.reasons = keeping
    orig_analyze = analysis_mod.analyze

    def analyze(*a, **kw):
        res = orig_analyze(*a, **kw)
        res.scores["_shape"], res.scores["_timing"] = keeping.last
        return res
    analysis_mod.analyze = analyze

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
            x = np.concatenate([pairs[n].x for n in train_on])
            z = np.concatenate([pairs[n].z for n in train_on])
            bundle.use_student(train_students(bundle.encoder, x, z, EPOCHS, (0,), verbose=0))
            for n in held:
                rows.append(per_record(read_record(data_dir / n), vf_episodes(data_dir / n), bundle, noise, rms))
                print(f"# {n} done, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        bundle.use_student(own)

    cat = lambda f: np.concatenate([f(r) for r in rows])  # noqa: E731
    lines = []
    for cl in ("S", "V"):
        lines.append((f"{cl} vs N, clean, all kept beats (benchmark)",
                      cls_auroc(cat(lambda r: r["clean_all"][0]), cat(lambda r: r["clean_all"][1]), cl)))
        for k in ("pooled",) + NOISES:
            ks = NOISES if k == "pooled" else (k,)
            catk = lambda f: np.concatenate([f(r[q]) for r in rows for q in ks])  # noqa: E731
            c = catk(lambda d: d["cls"])
            on = catk(lambda d: d["on"])
            cs, ns = catk(lambda d: d["c"]["s"]), catk(lambda d: d["n"]["s"])
            ct, nt = catk(lambda d: d["c"]["timing"]), catk(lambda d: d["n"]["timing"])
            ch, nh = catk(lambda d: d["c"]["shape"]), catk(lambda d: d["n"]["shape"])
            lines += [
                (f"{cl} vs N, {k}: all kept beats (benchmark)", cls_auroc(catk(lambda d: d["all"][0]), catk(lambda d: d["all"][1]), cl)),
                (f"  common beats, clean scores", cls_auroc(c, cs, cl)),
                (f"  common beats, noisy scores", cls_auroc(c, ns, cl)),
                (f"  noisy, clean timing part", cls_auroc(c, ns - nt + ct, cl)),
                (f"  noisy, clean shape part", cls_auroc(c, ns - nh + ch, cl)),
                (f"  noisy, clean score in the clean segments", cls_auroc(c, np.where(~on, cs, ns), cl)),
                (f"  noisy, clean score in the noisy segments", cls_auroc(c, np.where(on, cs, ns), cl)),
                (f"  common {cl} beats / in noisy segments", float((c == cl).sum()), float(((c == cl) & on).sum()))]
    for row in lines:
        print(f"{row[0]:55s} " + " ".join(f"{v:.4f}" if v < 2 else f"{v:.0f}" for v in row[1:]))
    print(f"# {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
