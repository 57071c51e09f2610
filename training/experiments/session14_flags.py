"""Session 14, rule v47 (DS1 only; written before any run): which beats the low-quality flag marks
once the other lead's view counts.

Since session 13 a beat's score where the analysed lead is noisy is s1 + w (s2 - s1)
(app.model.lead_blend), yet the low-quality flag still asks only the analysed lead's quality index
q1 < 0.5. Two questions:
  (a) the flag of the score that is used: q = (1 - w) q1 + w q2 (q2 the other lead's quality index
      of the same beat, app.ecg.pipeline.other_lead_view), flagged when q < 0.5;
  (c) (a), plus flag beats where both leads are noisy: the two-lead noise ratio
      r_eff = (1 / r1^2 + 1 / r2^2) ** -0.5 (the inverse-variance combination the detector's lead
      weights stand for) above T, T in {0.25, 0.3, 0.35, 0.4, 0.5}.
Measured on DS1, clean and em / bw / ma at 6 dB (nst protocol), with benchmarks.noise's own
definitions (AUROC on matched-or-not scored labelled beats not flagged; flagged share of all scored
beats, pooled over the three noises).
Baseline (committed flag q1 < 0.5), must reproduce `benchmarks.noise --set DS1 --snr 6`:
drop 0.0437, flagged 0.1052.
Rule (adopt the candidate with the lowest DS1 drop among those that pass; none if none passes):
  - DS1 6 dB pooled flagged fraction <= 0.10 (the issue's budget; the baseline is at 0.105);
  - clean DS1: flagged fraction up by <= 0.002 and AUROC on beats not flagged down by <= 0.0005;
  - DS1 6 dB AUROC drop <= baseline - 0.005 (for (c)); for (a) alone: drop <= baseline + 0.002 and
    flagged fraction down by >= 0.01 (the user sees fewer beats marked unreliable where the other
    lead scored them).
DS2 is not read here.

Result (2026-11-26 14:05-14:12 UTC, `run` then `eval`): REJECTED, no candidate passes.
  variant  T     clean_auroc clean_flag  em    bw    ma     auroc6  flag6   drop
  base           0.98777     0.0091    0.868 0.980 0.976  0.9440  0.1052  0.0437  (reproduced)
  a              0.98829     0.0117    0.868 0.980 0.978  0.9476  0.1577  0.0407
  c        0.25  0.98834     0.0199    0.887 0.980 0.978  0.9524  0.1952  0.0359
  c        0.3   0.98834     0.0183    0.873 0.980 0.978  0.9489  0.1669  0.0395
  c        0.35  0.98831     0.0176    0.869 0.980 0.978  0.9477  0.1600  0.0406
  c        0.4   0.98829     0.0154    0.868 0.980 0.978  0.9476  0.1586  0.0407
  c        0.5   0.98829     0.0117    0.868 0.980 0.978  0.9476  0.1577  0.0407
  The other lead's quality index is lower than the analysed lead's at the blended beats (the
  nst noise is added to both leads at the same SNR), so (a) flags MORE beats (10.5 % -> 15.8 %),
  not fewer; every (c) is above the 10 % budget and raises clean flags by 0.6-1.1 points.

    python -m training.experiments.session14_flags run     # saves /tmp/v47/*.npz (about 2 min)
    python -m training.experiments.session14_flags eval    # the table
    python -m training.experiments.session14_flags falsedet  # what the false detections look like

`run` needs commit 0801416 (its LeadView.quality, since removed): run it there; `falsedet`, added
at the commit after it, reads the files `run` saved. `falsedet` (added after the rule's verdict; no rule, a description for the +P decision): per noise,
the false detections at 6 dB (scored as benchmarks.noise scores them) and the shares marked low
quality and shown as anomalies without the mark (score above the bundle's default threshold).
2026-11-26 14:40 UTC: em 2,878 false detections, 0.149 low quality, 0.569 unmarked anomalies;
ma 1,379, 0.885, 0.059; bw 121, 0.397, 0.438.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path("/tmp/v47")
DATA = Path("../shared/data/mitdb")
NST = Path("../shared/data/nstdb")
NOISES = ("em", "bw", "ma")
SNR = 6.0


def run() -> None:
    from app.analysis import analyze
    from app.ecg.aami import DS1
    from app.ecg.pipeline import other_lead, other_lead_view
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from benchmarks.noise import nst_noise_rms, nst_qrs_amplitude, noise_on, noisy, read_noise, scored_from

    OUT.mkdir(exist_ok=True)
    bundle = load_bundle(None)
    noise = {k: read_noise(NST, k) for k in NOISES}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    for name in map(str, DS1):
        rec = read_record(DATA / name)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
                for i in range(rec.n_leads)]
        variants = {"clean": rec, **{k: noisy(rec, noise[k][0], SNR, amps, rms[k]) for k in NOISES}}
        for k, r in variants.items():
            a = analyze(r, bundle=bundle)
            bs = a.beats
            t = a.table
            found = other_lead(r, bs)
            if found is not None:
                v = other_lead_view(found[1], bs)
                q2, r2 = v.quality, v.noise_ratio
            else:
                q2, r2 = np.full(bs.n_beats, np.nan), np.full(bs.n_beats, np.inf)
            det = t["sample"].to_numpy()
            on = noise_on(r.n_samples, r.fs, "nst")
            np.savez(OUT / f"{name}_{k}.npz", det=det, score=t["score"].to_numpy(float),
                     lowq=t["low_quality"].to_numpy(bool), q1=t["quality"].to_numpy(float),
                     w=np.asarray(a.scores["other_lead_weight"], float), q2=q2, r1=bs.noise_ratio, r2=r2,
                     cls=t["ref_class"].to_numpy(str), sc=det >= scored_from(r.fs, "nst"),
                     on=on[np.clip(det, 0, len(on) - 1)])
        print(name, "done", flush=True)


def flags(d, variant: str, T: float | None = None) -> np.ndarray:
    if variant == "base":
        return d["lowq"]
    w = d["w"]
    q = np.where(w > 0, (1 - w) * d["q1"] + w * np.nan_to_num(d["q2"], nan=0.0), d["q1"])
    f = q < 0.5
    if T is not None:
        with np.errstate(divide="ignore"):
            r_eff = (1 / d["r1"] ** 2 + 1 / d["r2"] ** 2) ** -0.5
        f |= np.isfinite(r_eff) & (r_eff > T)
    return f


def evaluate() -> None:
    from app.ecg.aami import DS1
    from app.model.metrics import auroc, labelled_mask, labels_from_classes

    cands = [("base", None), ("a", None)] + [("c", T) for T in (0.25, 0.3, 0.35, 0.4, 0.5)]
    print("variant  T     clean_auroc clean_flag  em     bw     ma     auroc6  flag6   drop")
    for v, T in cands:
        res = {}
        for k in ("clean",) + NOISES:
            ys, ss, nf, nb = [], [], 0, 0
            for name in map(str, DS1):
                d = dict(np.load(OUT / f"{name}_{k}.npz"))
                f = flags(d, v, T)
                keep = d["sc"] & labelled_mask(d["cls"]) & ~f
                ys.append(labels_from_classes(d["cls"][keep]))
                ss.append(d["score"][keep])
                nf += int((f & d["sc"]).sum())
                nb += int(d["sc"].sum())
            res[k] = (ys, ss, nf, nb)
        def au(keys):
            y = np.concatenate([np.concatenate(res[k][0]) for k in keys])
            s = np.concatenate([np.concatenate(res[k][1]) for k in keys])
            return auroc(y, s)
        clean = au(["clean"])
        a6 = au(NOISES)
        fl6 = sum(res[k][2] for k in NOISES) / sum(res[k][3] for k in NOISES)
        per = [au([k]) for k in NOISES]
        print(f"{v:7s} {T if T is not None else '':5} {clean:.5f}     {res['clean'][2] / res['clean'][3]:.4f}    "
              + " ".join(f"{p:.3f}" for p in per) + f"  {a6:.4f}  {fl6:.4f}  {clean - a6:.4f}")


def false_detections() -> None:
    from app.ecg.aami import DS1
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from app.model.thresholds import default_method, thresholds_table
    from benchmarks.noise import scored_match
    from benchmarks.rpeaks import vf_episodes

    bundle = load_bundle(None)
    thr = thresholds_table(bundle)[default_method(bundle)]["value"]
    for k in NOISES:
        n_false = n_lowq = n_anomaly = 0
        for name in map(str, DS1):
            d = np.load(OUT / f"{name}_{k}.npz")
            m, d_ok, _ = scored_match(d["det"], read_record(DATA / name), "nst", vf_episodes(DATA / name))
            false = np.ones(int(d_ok.sum()), bool)
            false[m.det_index] = False
            lowq, anomaly = d["lowq"][d_ok], d["score"][d_ok] > thr
            n_false += int(false.sum())
            n_lowq += int((false & lowq).sum())
            n_anomaly += int((false & anomaly & ~lowq).sum())
        print(k, n_false, round(n_lowq / n_false, 3), round(n_anomaly / n_false, 3))


if __name__ == "__main__":
    {"run": run, "eval": evaluate, "falsedet": false_detections}[sys.argv[1]]()
