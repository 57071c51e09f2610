import pickle, sys, json
import numpy as np
sys.path.insert(0, "/work/main")
from scipy.ndimage import median_filter, percentile_filter
from app.model.ensemble import ensemble_score
from app.model.metrics import auroc, labelled_mask, labels_from_classes
res = pickle.load(open(sys.argv[1], "rb")); cal = json.load(open(sys.argv[2]))["ensemble"]

def lf(d, q_local, gate, W=31, q=25.0):
    log_d = np.log1p(d)
    local = percentile_filter(log_d, q, size=W, mode="nearest")
    excess = np.maximum(local - np.percentile(log_d, q), 0.0)
    if gate is not None:
        lo, hi = gate
        mq = median_filter(q_local, size=W, mode="nearest")
        w = np.clip((hi - mq) / (hi - lo), 0, 1)
        excess = excess * w
    return np.expm1(log_d - excess)

def evaluate(gate, use_lf=True):
    out = {}
    for cond in ("clean", "em", "bw", "ma"):
        ys, ss = [], []
        for (name, k), r in res.items():
            if k != cond: continue
            t = r["table"]; sc = dict(r["scores"])
            if use_lf:
                sc["latent_distance"] = lf(sc["latent_distance"], t["quality"].to_numpy(), gate)
            s = ensemble_score(sc, cal)
            cls = t["ref_class"].to_numpy(); keep = r["scored"] & labelled_mask(cls) & ~t["low_quality"].to_numpy(bool)
            ys.append(labels_from_classes(cls[keep])); ss.append(s[keep])
        out[cond] = auroc(np.concatenate(ys), np.concatenate(ss))
    out["drop"] = out["clean"] - np.mean([out[k] for k in ("em", "bw", "ma")])
    return out

def qdist():
    for cond in ("clean", "em", "ma", "bw"):
        mq_clean, mq_noisy = [], []
        for (name, k), r in res.items():
            if k != cond: continue
            q = r["table"]["quality"].to_numpy(); mq = median_filter(q, size=31, mode="nearest")
            sel = r["scored"]
            mq_noisy.append(mq[sel & r["noisy"]]); mq_clean.append(mq[sel & ~r["noisy"]])
        a = np.concatenate(mq_clean); b = np.concatenate(mq_noisy) if cond != "clean" else np.array([np.nan])
        print(cond, "clean-seg local-median q pct 1/5/25/50:", np.round(np.percentile(a, [1, 5, 25, 50]), 3),
              " noisy-seg pct 10/25/50/75/90:", np.round(np.nanpercentile(b, [10, 25, 50, 75, 90]), 3) if cond != "clean" else "")
qdist()
print("none", {k: round(v, 4) for k, v in evaluate(None, use_lf=False).items()})
print("lf ungated", {k: round(v, 4) for k, v in evaluate(None).items()})
for gate in [(0.6, 0.8), (0.7, 0.9), (0.8, 0.95), (0.5, 0.7)]:
    print("lf gate", gate, {k: round(v, 4) for k, v in evaluate(gate).items()})

def evaluate2(gate, use_lf, qthr):
    out = {}
    fl = {}
    for cond in ("clean", "em", "bw", "ma"):
        ys, ss, nf, nb = [], [], 0, 0
        for (name, k), r in res.items():
            if k != cond: continue
            t = r["table"]; sc = dict(r["scores"]); q = t["quality"].to_numpy()
            if use_lf:
                sc["latent_distance"] = lf(sc["latent_distance"], q, gate)
            s = ensemble_score(sc, cal)
            lowq = q < qthr
            cls = t["ref_class"].to_numpy(); keep = r["scored"] & labelled_mask(cls) & ~lowq
            nf += int((lowq & r["scored"]).sum()); nb += int(r["scored"].sum())
            ys.append(labels_from_classes(cls[keep])); ss.append(s[keep])
        out[cond] = round(auroc(np.concatenate(ys), np.concatenate(ss)), 4); fl[cond] = round(nf / nb, 3)
    out["drop"] = round(out["clean"] - np.mean([out[k] for k in ("em", "bw", "ma")]), 4)
    fl["mean6"] = round(np.mean([fl[k] for k in ("em", "bw", "ma")]), 3)
    return out, fl
print("--- quality threshold sweep")
for qthr in (0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.0):
    print(qthr, "none", *evaluate2(None, False, qthr))
    print(qthr, "lf(0.6,0.8)", *evaluate2((0.6, 0.8), True, qthr))
