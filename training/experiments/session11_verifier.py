"""Session 11 experiment (rule v34): a learned verifier of detected R-peaks in noisy stretches.

    python training/experiments/session11_verifier.py data OUT.npz RECORD...      # training cases
    python training/experiments/session11_verifier.py evalcases OUT.npz RECORD... # nst-protocol cases
    python training/experiments/session11_verifier.py cv A.npz B.npz EA.npz EB.npz  # 2-fold figures

DS1 only. Training noise: nstdb samples nst's protocol never adds (noise on where nst has it off).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from app.config import default_data_dir
from app.ecg.filters import clean_lead
from app.ecg.fusion import NOISY_RATIO, block_stats, noise_ratio_at
from app.ecg.leads import choose_lead, helper_leads
from app.ecg.matching import excluded_mask, match_beats
from app.ecg.readers import read_record
from app.ecg.rpeaks import detect_rpeaks, qrs_feature
from benchmarks.noise import (added_noise, noise_on, noise_segment, nst_gain, nst_noise_rms,
                              nst_qrs_amplitude, read_noise, scored_from)
from benchmarks.rpeaks import vf_episodes

NST = Path(default_data_dir()).parent / "nstdb"
HALF = 180  # +-1 s at 180 Hz
NOISES = ("em", "bw", "ma")
ALL_CLEAN = True  # v34b: every detection of the clean condition (v34: 5 % of the clean stretches)
THRESHOLDS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005)


def noisy_signals(rec, noise, snr, amps, rms, on):
    sig = rec.signals.astype(np.float64).copy()
    seg = noise_segment(noise, rec.n_samples)
    for i in range(min(rec.n_leads, seg.shape[1])):
        sig[:, i] += added_noise(seg[:, i], nst_gain(amps[i], rms[i], snr), on)
    return sig


def detect(sig, li, others):
    x = sig[:, li]
    return detect_rpeaks(x, 360.0, [sig[:, j] for j in others])


def noisy_mask(x, peaks):
    _, _, feat = qrs_feature(x, 360.0)
    return noise_ratio_at(peaks, block_stats(feat, 360.0)) > NOISY_RATIO


def features(sig, li, others, peaks):
    """(n, 360, 3) float16: analysed lead, other lead, impulses at the other detections."""
    leads = [li] + list(others[:1])
    chans = []
    for j in leads:
        f = clean_lead(sig[:, j], 360.0)[::2]
        s = np.median(np.abs(f[peaks // 2])) if len(peaks) else 1.0
        chans.append(np.clip(f / max(s, 1e-6), -10, 10))
    if len(chans) == 1:
        chans.append(chans[0])
    imp = np.zeros(len(chans[0]))
    imp[peaks // 2] = 1.0
    chans.append(imp)
    m = np.stack(chans, axis=1)
    idx = np.clip((peaks // 2)[:, None] + np.arange(-HALF, HALF), 0, len(m) - 1)
    out = m[idx]
    out[:, HALF, 2] = 0.0  # the detection itself: not an "other" impulse
    return out.astype(np.float16)


def cases(rec, sig, li, others, vf, start=0):
    peaks = detect(sig, li, others)
    keep_vf = ~excluded_mask(peaks, vf) if vf else np.ones(len(peaks), bool)
    ref = np.asarray(rec.ref_samples, np.int64)
    m = match_beats(peaks, ref, 360.0, 0.15)
    label = np.zeros(len(peaks), np.int8)
    label[m.det_index] = 1
    refcls = np.full(len(peaks), "", "<U1")
    refcls[m.det_index] = np.asarray(rec.ref_symbols, "<U1")[m.ref_index]
    noisy = noisy_mask(sig[:, li], peaks)
    return peaks, keep_vf, label, refcls, noisy


def prepare(name):
    rec = read_record(default_data_dir() / name)
    li = choose_lead(rec)
    others = helper_leads(rec, li)[:1]
    vf = vf_episodes(default_data_dir() / name)
    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
            for i in range(rec.n_leads)]
    return rec, li, others, vf, amps


def training_cases(names, seed=0):
    rng = np.random.default_rng(seed)
    noise = {k: read_noise(NST, k) for k in NOISES}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    X, Y, S = [], [], []
    for name in names:
        rec, li, others, vf, amps = prepare(name)
        off = ~noise_on(rec.n_samples, rec.fs, "nst")
        conds = [("clean", None)] + [(k, s) for k in NOISES for s in (0, 6, 12)]
        for k, snr in conds:
            sig = rec.signals.astype(np.float64) if k == "clean" else noisy_signals(
                rec, noise[k][0], snr, amps, rms[k], off)
            peaks, keep_vf, label, refcls, nz = cases(rec, sig, li, others, vf)
            use = keep_vf & (nz | (rng.random(len(peaks)) < (1.0 if k == "clean" and ALL_CLEAN else 0.05)))
            X.append(features(sig, li, others, peaks)[use])
            Y.append(label[use])
            S.append(refcls[use])
        print(name, sum(len(y) for y in Y), file=sys.stderr, flush=True)
    return np.concatenate(X), np.concatenate(Y), np.concatenate(S)


def eval_cases(names):
    """Per (record, cond): features of the noisy detections plus what scoring needs."""
    noise = {k: read_noise(NST, k) for k in NOISES}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    out = {}
    for name in names:
        rec, li, others, vf, amps = prepare(name)
        on = noise_on(rec.n_samples, rec.fs, "nst")
        start = scored_from(rec.fs, "nst")
        ref = np.asarray(rec.ref_samples, np.int64)
        conds = [("clean", 0)] + [(k, s) for k in NOISES for s in (0, 6, 12)]
        for k, snr in conds:
            sig = rec.signals.astype(np.float64) if k == "clean" else noisy_signals(
                rec, noise[k][0], snr, amps, rms[k], on)
            peaks, keep_vf, label, refcls, nz = cases(rec, sig, li, others, vf)
            d_ok = (peaks >= start) & keep_vf
            out[f"{name}|{k}|{snr}|peaks"] = peaks
            out[f"{name}|{k}|{snr}|dok"] = d_ok
            out[f"{name}|{k}|{snr}|noisy"] = nz
            out[f"{name}|{k}|{snr}|X"] = features(sig, li, others, peaks)[nz]
            out[f"{name}|{k}|{snr}|ref"] = ref[ref >= start]
            out[f"{name}|{k}|{snr}|refsym"] = np.asarray(rec.ref_symbols, "<U1")[ref >= start]
        print(name, file=sys.stderr, flush=True)
    return out


def build_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((2 * HALF, 3))
    x = inp
    for f, k in ((16, 7), (32, 7), (32, 5), (64, 5)):
        x = layers.Conv1D(f, k, padding="same", activation="relu")(x)
        x = layers.MaxPooling1D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(32, activation="relu")(x)
    out = layers.Dense(1, activation="sigmoid")(x)
    m = keras.Model(inp, out)
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return m


def train(X, Y, epochs=8, S=None):
    m = build_model()
    w = None
    if S is not None:  # v34c: true beats of AAMI class S/V/F/Q weigh 10
        from app.ecg.aami import aami_class

        cls = aami_class(S)
        w = np.where((Y == 1) & np.isin(cls, ["S", "V", "F", "Q"]), 10.0, 1.0).astype(np.float32)
    m.fit(X.astype(np.float32), Y.astype(np.float32), sample_weight=w, batch_size=256, epochs=epochs, verbose=2)
    return m


_PRED: dict = {}


def score(ev: dict, model, thr=0.5):
    """Pooled tp/det/ref per cond, with and without the verifier; plus V beats."""
    tot = {}
    keys = sorted({k.rsplit("|", 1)[0] for k in ev})
    for key in keys:
        name, cond, snr = key.split("|")
        peaks, d_ok, nz, ref = ev[key + "|peaks"], ev[key + "|dok"], ev[key + "|noisy"], ev[key + "|ref"]
        sym = ev[key + "|refsym"]
        keep = np.ones(len(peaks), bool)
        if nz.any() and model is not None:
            ck = (id(model), key)
            if ck not in _PRED:
                _PRED[ck] = model.predict(ev[key + "|X"].astype(np.float32), verbose=0, batch_size=1024)[:, 0]
            p = _PRED[ck]
            keep[np.flatnonzero(nz)[p < thr]] = False
        for tag, kk in (("base", np.ones(len(peaks), bool)), ("ver", keep)):
            det = peaks[d_ok & kk]
            m = match_beats(det, ref, 360.0, 0.15)
            v = sym == "V"
            vtp = int(v[m.ref_index].sum())
            t = tot.setdefault((cond, snr, tag), np.zeros(5, np.int64))
            t += [m.tp, m.n_detected, m.n_reference, vtp, int(v.sum())]
    return tot


def main(argv):
    cmd = argv[0]
    if cmd == "data":
        X, Y, S = training_cases(argv[2:])
        np.savez(argv[1], X=X, Y=Y, S=S)
        print(X.shape, Y.mean())
    elif cmd == "datadir":  # one file per record
        for name in argv[2:]:
            X, Y, S = training_cases([name])
            np.savez(f"{argv[1]}/{name}.npz", X=X, Y=Y, S=S)
    elif cmd == "nested":  # v34b: datadir, EA.npz, EB.npz
        nested(argv[1], dict(np.load(argv[2])), dict(np.load(argv[3])))
    elif cmd == "cvw":  # v34c: datadir EA.npz EB.npz threshold
        from app.ecg.aami import DS1

        d, thr = argv[1], float(argv[4])
        ev_all = {**dict(np.load(argv[2])), **dict(np.load(argv[3]))}
        folds = (sorted(DS1)[0::2], sorted(DS1)[1::2])
        tots = []
        for i in (0, 1):
            parts = [np.load(f"{d}/{n}.npz") for n in folds[i]]
            X, Y, S = (np.concatenate([p[k] for p in parts]) for k in ("X", "Y", "S"))
            model = train(X, Y, 8, S)
            model.save(f"/tmp/v11/w{i}.keras")
            tots.append(score(subset(ev_all, folds[1 - i]), model, thr))
        report(tots)
    elif cmd == "evalcases":
        np.savez(argv[1], **eval_cases(argv[2:]))
    elif cmd == "cv":
        a, b, ea, eb = (np.load(p) for p in argv[1:5])
        epochs = int(argv[5]) if len(argv) > 5 else 8
        tots = []
        for tag, tr, ev in (("A", a, eb), ("B", b, ea)):
            model = train(tr["X"], tr["Y"], epochs)
            model.save(f"/tmp/v11/m{tag}{epochs}.keras")
            tots.append(score(dict(ev), model))
        report(tots)
    elif cmd == "sweep":  # saved CV models, several thresholds
        import keras

        ea, eb = dict(np.load(argv[1])), dict(np.load(argv[2]))
        ma, mb = keras.models.load_model(argv[3]), keras.models.load_model(argv[4])
        for thr in [float(t) for t in argv[5:]]:
            print("# threshold", thr)
            report([score(eb, ma, thr), score(ea, mb, thr)], brief=True)


def load_train(d, names):
    parts = [np.load(f"{d}/{n}.npz") for n in names]
    return np.concatenate([p["X"] for p in parts]), np.concatenate([p["Y"] for p in parts])


def subset(ev, names):
    return {k: v for k, v in ev.items() if k.split("|", 1)[0] in names}


def pooled_counts(tots, snr, tag, noises=NOISES):
    agg = {k: sum(t[k] for t in tots) for k in tots[0]}
    return sum(agg[(n, snr, tag)] for n in noises)


def acceptable(tots):
    """v34b's inner criteria on pooled (tp, det, ref, vtp, nv) counts."""
    se = lambda c: c[0] / c[2]
    b6, v6 = pooled_counts(tots, "6", "base"), pooled_counts(tots, "6", "ver")
    b0, v0 = pooled_counts(tots, "0", "base"), pooled_counts(tots, "0", "ver")
    bc, vc = pooled_counts(tots, "0", "base", ("clean",)), pooled_counts(tots, "0", "ver", ("clean",))
    return (se(b6) - se(v6) <= 0.0015 and se(bc) - se(vc) <= 0.0004
            and b6[3] / b6[4] - v6[3] / v6[4] <= 0.004 and se(b0) - se(v0) <= 0.004)


def nested(d, ea, eb):
    from app.ecg.aami import DS1

    folds = (sorted(DS1)[0::2], sorted(DS1)[1::2])
    ev_all = {**ea, **eb}
    outer = []
    for i in (0, 1):
        train_names, test_names = folds[i], folds[1 - i]
        halves = (train_names[0::2], train_names[1::2])
        inner = {t: [] for t in THRESHOLDS}
        for j in (0, 1):
            m = train(*load_train(d, halves[j]))
            ev = subset(ev_all, halves[1 - j])
            for t in THRESHOLDS:
                inner[t].append(score(ev, m, t))
        ok = [t for t in THRESHOLDS if acceptable(inner[t])]
        for t in THRESHOLDS:
            print(f"# outer {i} inner threshold {t}: acceptable={acceptable(inner[t])}")
            report(inner[t], brief=True)
        thr = max(ok) if ok else None
        print(f"# outer fold {i}: threshold {thr}", flush=True)
        m = train(*load_train(d, train_names))
        m.save(f"/tmp/v11/nested{i}.keras")
        outer.append(score(subset(ev_all, test_names), m if thr else None, thr or 0.5))
    print("# OUTER held-out, pooled")
    report(outer)


def report(tots, brief=False):
    keys = sorted(tots[0])
    agg = {k: sum(t[k] for t in tots) for k in keys}
    print("cond snr tag se ppv vse")
    for k in keys:
        if brief and k[0] not in ("clean", "em"):
            continue
        tp, nd, nr, vtp, nv = agg[k]
        print(*k, f"{tp / nr:.4f} {tp / nd:.4f} {vtp / max(nv, 1):.4f}")
    for snr in ("0", "6", "12"):
        for tag in ("base", "ver"):
            s = sum(agg[(n, snr, tag)] for n in NOISES)
            print("pooled", snr, tag, f"se={s[0] / s[2]:.4f} ppv={s[0] / s[1]:.4f} vse={s[3] / max(s[4], 1):.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
