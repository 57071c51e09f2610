"""Session 13 diagnosis (DS1 only): the detections that split an ordinary RR interval in noisy
stretches, before ``drop_extra_beats``; which features tell the false ones from the true ones.

    PYTHONPATH=. .venv/bin/python training/experiments/session13_cand.py em 6 [out.npz]
"""
import sys
from pathlib import Path

import numpy as np

import app.ecg.rpeaks as rp
from app.ecg import fusion
from app.ecg.aami import DS1, aami_class
from app.ecg.filters import fill_nan
from app.ecg.leads import choose_lead, helper_leads
from app.ecg.matching import match_beats
from app.ecg.readers import read_record
from benchmarks.noise import nst_noise_rms, nst_qrs_amplitude, noise_on, noisy, read_noise, scored_from
from benchmarks.rpeaks import vf_episodes
from app.ecg.matching import excluded_mask

DATA = Path("../shared/data/mitdb")
NST = Path("../shared/data/nstdb")
CAP = {}


def capture(peaks, feat, fs, stats=None):
    CAP["peaks"], CAP["feat"], CAP["stats"] = peaks.copy(), feat.copy(), stats
    return peaks


def corr_to_template(bp, peaks, fs, half_s=0.06):
    h = int(half_s * fs)
    idx = np.clip(peaks[:, None] + np.arange(-h, h + 1), 0, len(bp) - 1)
    w = bp[idx]
    w = w - w.mean(axis=1, keepdims=True)
    t = np.median(w, axis=0)
    num = w @ t
    den = np.linalg.norm(w, axis=1) * np.linalg.norm(t) + 1e-12
    return num / den, np.abs(w).max(axis=1) / (np.median(np.abs(w).max(axis=1)) + 1e-12)


def neighbour_corr(bp, peaks, fs, half_s=0.06):
    """max(corr(beat, previous), corr(beat, next)) and corr(previous, next), on +-half_s."""
    h = int(half_s * fs)
    idx = np.clip(peaks[:, None] + np.arange(-h, h + 1), 0, len(bp) - 1)
    w = bp[idx]
    w = w - w.mean(axis=1, keepdims=True)
    w /= np.linalg.norm(w, axis=1, keepdims=True) + 1e-12
    c_next = np.r_[(w[:-1] * w[1:]).sum(1), np.nan]
    c_prev = np.r_[np.nan, c_next[:-1]]
    c_skip = np.r_[np.nan, (w[:-2] * w[2:]).sum(1), np.nan]
    return np.fmax(c_prev, c_next), c_skip


def record_rows(rec, vf, on):
    fs = rec.fs
    li = choose_lead(rec)
    x = fill_nan(rec.signals[:, li].astype(np.float64))
    others = [fill_nan(rec.signals[:, j].astype(np.float64)) for j in helper_leads(rec, li)[:2]]
    rp.drop_extra_beats = capture
    rp.detect_rpeaks(x, fs, others)
    rp.drop_extra_beats = fusion.drop_extra_beats
    peaks, feat, stats = CAP["peaks"], CAP["feat"], CAP["stats"]
    final = fusion.drop_extra_beats(peaks, feat, fs, stats)
    kept = np.isin(peaks, final)
    noisy_r = fusion.noise_ratio_at(peaks, stats)
    h = feat[peaks]
    rr = np.diff(peaks).astype(float)
    before, after = np.r_[np.inf, rr], np.r_[rr, np.inf]
    longrr = fusion._local_long_rr(peaks)
    split = (before + after) / longrr
    neighbour = np.minimum(np.r_[np.inf, h[:-1]], np.r_[h[1:], np.inf])
    hrat = h / neighbour
    c0, a0 = corr_to_template(rp.qrs_feature(x, fs)[0], peaks, fs)
    c1, a1 = (corr_to_template(rp.qrs_feature(others[0], fs)[0], peaks, fs) if others
              else (np.full(len(peaks), np.nan),) * 2)
    bp0 = rp.qrs_feature(x, fs)[0]
    n0, s0 = neighbour_corr(bp0, peaks, fs)
    if others:
        n1, s1 = neighbour_corr(rp.qrs_feature(others[0], fs)[0], peaks, fs)
    else:
        n1, s1 = n0, s0
    start = scored_from(fs, "nst")
    ref = np.asarray(rec.ref_samples)
    ok = (peaks >= start) & ~(excluded_mask(peaks, vf) if vf else np.zeros(len(peaks), bool))
    m = match_beats(peaks[ok], ref[ref >= start], fs, 0.15)
    true = np.zeros(ok.sum(), bool)
    true[m.det_index] = True
    sym = np.full(ok.sum(), "", "<U1")
    sym[m.det_index] = np.asarray(rec.ref_symbols)[ref >= start][m.ref_index]
    seg = on[np.clip(peaks[ok], 0, len(on) - 1)]
    return dict(true=true, cls=aami_class(sym), kept=kept[ok], noisy_r=noisy_r[ok], split=split[ok],
                hrat=hrat[ok], c0=c0[ok], c1=c1[ok], a0=a0[ok], a1=a1[ok], seg=seg,
                before=(before / longrr)[ok], after=(after / longrr)[ok],
                n0=n0[ok], s0=s0[ok], n1=n1[ok], s1=s1[ok])


def main(kind="em", snr=6.0, out=None):
    nz, nfs = read_noise(NST, kind)
    rms = [nst_noise_rms(nz[:, j], nfs) for j in range(nz.shape[1])]
    rows = []
    for name in [str(n) for n in DS1]:
        rec = read_record(DATA / name)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
                for i in range(rec.n_leads)]
        nrec = noisy(rec, nz, snr, amps, rms, "nst") if kind != "clean" else rec
        r = record_rows(nrec, vf_episodes(DATA / name), noise_on(rec.n_samples, rec.fs, "nst"))
        r["rec"] = np.full(len(r["true"]), int(name))
        rows.append(r)
    d = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    if out:
        np.savez(out, **d)
    kept = d["kept"]
    print(f"{kind} {snr}: kept detections {kept.sum()}, false {(~d['true'] & kept).sum()}; "
          f"dropped by drop_extra_beats: {(~kept).sum()} ({(~kept & d['true']).sum()} true)")
    cand = kept & (d["noisy_r"] > fusion.NOISY_RATIO) & (d["split"] < fusion.RR_SPLIT)
    t, f = cand & d["true"], cand & ~d["true"]
    print(f"split candidates in noisy stretches (kept): {cand.sum()} = {f.sum()} false + {t.sum()} true "
          f"(classes of the true: {dict(zip(*np.unique(d['cls'][t], return_counts=True)))})")
    for key in ("hrat", "c0", "c1", "a0", "a1", "before", "after", "n0", "s0", "n1", "s1"):
        print(f"  {key:6s} false q10/50/90 {np.round(np.nanpercentile(d[key][f], [10, 50, 90]), 2)}"
              f"  true {np.round(np.nanpercentile(d[key][t], [10, 50, 90]), 2)}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
