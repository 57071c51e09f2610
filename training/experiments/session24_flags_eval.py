"""Rule v75's selection (docs/noise-history.md section 28) on the harness's per-beat outputs.

    PYTHONPATH=. python training/experiments/session24_flags_eval.py OUT.npz
"""
from __future__ import annotations

import itertools
import sys

import numpy as np

from app.model.metrics import auroc, labelled_mask, labels_from_classes

NOISES = ("em", "bw", "ma")
QS = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2)
RS = (np.inf, *np.round(np.arange(0.25, 0.6001, 0.025), 3))
RHOS = ("r1", "r12")
COMMITTED = (0.5, np.inf, "r1")


def load(path):
    f = np.load(path)
    runs = {}
    for key in f.files:
        rec, noise, snr, field = key.split("|")
        runs.setdefault((rec, noise, float(snr)), {})[field] = f[key]
    for d in runs.values():
        r1, r2 = d["r1"], d["r2"]
        with np.errstate(divide="ignore", invalid="ignore"):
            d["r12"] = np.where(np.isfinite(r2), (r1 ** -2.0 + r2 ** -2.0) ** -0.5, r1)
    return runs


def flag(d, setting):
    q, r, rho = setting
    return (d["quality"] < q) | (d[rho] > r)


def pooled(runs, keys, setting):
    fl, n, ys, ss = 0, 0, [], []
    for k in keys:
        d = runs[k]
        f = flag(d, setting)
        fl += int(f.sum())
        n += len(f)
        keep = labelled_mask(d["cls"]) & ~f
        ys.append(labels_from_classes(d["cls"][keep]))
        ss.append(d["score"][keep])
    y, s = np.concatenate(ys), np.concatenate(ss)
    return {"auroc": auroc(y, s), "flag": fl / max(n, 1)}


def class_flag(runs, keys, setting, cls):
    a = b = 0
    for k in keys:
        d = runs[k]
        m = d["cls"] == cls
        a += int((flag(d, setting) & m).sum())
        b += int(m.sum())
    return a / max(b, 1)


def figures(runs, recs, setting):
    keys = lambda noise, snr: [(r, noise, snr) for r in recs]
    clean = pooled(runs, keys("clean", 0.0), setting)
    at6 = pooled(runs, [k for nz in NOISES for k in keys(nz, 6.0)], setting)
    at12 = pooled(runs, [k for nz in NOISES for k in keys(nz, 12.0)], setting)
    at0 = pooled(runs, [k for nz in NOISES for k in keys(nz, 0.0)], setting)
    out = {"drop": clean["auroc"] - at6["auroc"], "clean": clean["auroc"], "auroc6": at6["auroc"],
           "flag6": at6["flag"], "flag12": at12["flag"], "flag0": at0["flag"], "flag_clean": clean["flag"],
           "drop12": clean["auroc"] - at12["auroc"], "drop0": clean["auroc"] - at0["auroc"],
           "s_clean_flag": class_flag(runs, keys("clean", 0.0), setting, "S"),
           "v_clean_flag": class_flag(runs, keys("clean", 0.0), setting, "V")}
    for nz in NOISES:
        p = pooled(runs, keys(nz, 6.0), setting)
        out[nz], out[nz + "_flag"] = p["auroc"], p["flag"]
    return out


def admissible(f, base):
    return (f["flag6"] <= 0.100 and f["flag12"] <= 0.100
            and f["flag_clean"] - base["flag_clean"] <= 0.001
            and f["s_clean_flag"] - base["s_clean_flag"] <= 0.002
            and f["v_clean_flag"] - base["v_clean_flag"] <= 0.002
            and base["clean"] - f["clean"] <= 0.002
            and base["ma"] - f["ma"] <= 0.005 and base["bw"] - f["bw"] <= 0.005)


def choose(runs, recs):
    base = figures(runs, recs, COMMITTED)
    best = None
    for s in itertools.product(QS, RS, RHOS):
        f = figures(runs, recs, s)
        if admissible(f, base) and (best is None or f["drop"] < best[1]["drop"]):
            best = (s, f)
    return base, best


def show(name, f):
    print(f"{name:<28} " + " ".join(f"{k}={v:.4f}" for k, v in f.items()))


def main(path):
    runs = load(path)
    names = sorted({k[0] for k in runs})
    base, best = choose(runs, names)
    show("committed", base)
    if best is None:
        print("no admissible setting")
        return 0
    show(f"chosen {best[0]}", best[1])
    # (b): chosen on three folds, applied to the fourth
    cv = {}
    for i in range(4):
        held = names[i::4]
        rest = [n for n in names if n not in held]
        _, b = choose(runs, rest)
        s = COMMITTED if b is None else b[0]
        print(f"# fold {i + 1}: chosen on the other folds {s}")
        for k, d in runs.items():
            if k[0] in held:
                cv[k] = dict(d, quality=np.where(flag(d, s), -1.0, 1.0), r1=np.zeros(len(d["r1"])))
    show("fold by fold", figures(cv, names, (0.0, np.inf, "r1")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
