"""Session 13 diagnosis (DS1 only): what kind of false detections remain at 6 dB.

    PYTHONPATH=. .venv/bin/python training/experiments/session13_fdiag.py em 6

Per false detection in a noisy segment (nst protocol, scored from 5:00): the gap between the
true detections before and after it, how many false detections share that gap, whether a
reference beat in the gap was missed, and the gap over the local reference RR.
"""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from app.ecg.aami import DS1
from app.ecg.pipeline import extract_beats
from app.ecg.readers import read_record
from benchmarks.noise import (nst_noise_rms, nst_qrs_amplitude, noise_on, noisy, read_noise,
                              scored_match)
from benchmarks.rpeaks import vf_episodes

DATA = Path("../shared/data/mitdb")
NST = Path("../shared/data/nstdb")


def main(kind="em", snr=6.0):
    nz, nfs = read_noise(NST, kind)
    rms = [nst_noise_rms(nz[:, j], nfs) for j in range(nz.shape[1])]
    cats = Counter()
    ratios = []
    tot_false = tot_det = tot_tp = tot_ref = 0
    per_rec = []
    for name in [str(n) for n in DS1]:
        rec = read_record(DATA / name)
        vf = vf_episodes(DATA / name)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
                for i in range(rec.n_leads)]
        nrec = noisy(rec, nz, snr, amps, rms, "nst")
        b = extract_beats(nrec)
        det = b.samples
        m, d_ok, r_ok = scored_match(det, nrec, "nst", vf)
        dd = det[d_ok]
        ref = np.asarray(rec.ref_samples)[r_ok]
        on = noise_on(nrec.n_samples, nrec.fs, "nst")
        true = np.zeros(len(dd), bool)
        true[m.det_index] = True
        matched_ref = np.zeros(len(ref), bool)
        matched_ref[m.ref_index] = True
        tot_false += int((~true).sum()); tot_det += len(dd); tot_tp += m.tp; tot_ref += len(ref)
        per_rec.append((name, int((~true).sum()), int((~matched_ref).sum())))
        ti = np.flatnonzero(true)
        rr_ref = np.diff(ref)
        for i in np.flatnonzero(~true):
            if not on[dd[i]]:
                cats["clean-seg"] += 1
                continue
            a = ti[ti < i]
            c = ti[ti > i]
            if not len(a) or not len(c):
                cats["edge"] += 1
                continue
            a, c = a[-1], c[0]
            n_false = c - a - 1
            lo, hi = dd[a], dd[c]
            missed = int(((ref > lo + 54) & (ref < hi - 54) & ~matched_ref).sum())
            k = np.searchsorted(ref, dd[i])
            loc = np.median(rr_ref[max(k - 10, 0): k + 10]) if len(rr_ref) else np.nan
            ratio = (hi - lo) / loc
            ratios.append(ratio)
            key = ("single" if n_false == 1 else "multi") + ("+missed" if missed else "")
            if not missed:
                key += " span<1.25" if ratio < 1.25 else " span>=1.25"
            cats[key] += 1
    print(f"{kind} {snr} dB DS1: Se {tot_tp / tot_ref:.4f} +P {tot_tp / tot_det:.4f} false {tot_false}")
    for k, v in cats.most_common():
        print(f"  {k:28s} {v:6d}")
    print("  gap/local RR quantiles:", np.round(np.percentile(ratios, [10, 25, 50, 75, 90]), 2))
    print("  per record (false, missed):", " ".join(f"{n}:{f}/{mm}" for n, f, mm in per_rec))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
