"""Session 10 diag (DS1 only): false positives at em 6 dB -- what separates them from true beats."""
import sys
from pathlib import Path
import numpy as np
from scipy import signal
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from app.ecg.readers import read_record
from app.ecg.rpeaks import detect_rpeaks
from app.ecg.matching import match_beats, excluded_mask
from benchmarks.noise import read_noise, nst_noise_rms, nst_qrs_amplitude, noisy, noise_on
from benchmarks.rpeaks import vf_episodes
from app.ecg.fusion import _local_long_rr

DS1 = "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230".split()
data = Path(__file__).resolve().parents[3] / "shared/data/mitdb"; nst = data.parent / "nstdb"
kind = sys.argv[1] if len(sys.argv) > 1 else "em"
snr = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
nz, nfs = read_noise(nst, kind)
rms = [nst_noise_rms(nz[:, j], nfs) for j in range(nz.shape[1])]
rows = []
for name in DS1:
    rec = read_record(data / name)
    fs = rec.fs
    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, fs) for i in range(rec.n_leads)]
    nrec = noisy(rec, nz, snr, amps, rms, "nst")
    x = nrec.signals[:, 0].astype(float); o = nrec.signals[:, 1].astype(float)
    p = detect_rpeaks(x, fs, others=[o])
    vf = vf_episodes(data / name)
    start = int(300 * fs)
    on = noise_on(nrec.n_samples, fs, "nst")
    ok = (p >= start) & ~(excluded_mask(p, vf) if vf else np.zeros(len(p), bool))
    ref = np.asarray(rec.ref_samples); ref = ref[ref >= start]
    m = match_beats(p[ok], ref, fs, 0.15)
    tp = np.zeros(ok.sum(), bool); tp[m.det_index] = True
    pk = p[ok]
    # features
    b, a = signal.butter(2, [0.5 / (fs / 2), 40 / (fs / 2)], "band")
    feats = []
    for lead in (x, o):
        y = signal.filtfilt(b, a, lead)
        h = int(0.08 * fs)
        idx = np.clip(p[:, None] + np.arange(-h, h + 1), 0, len(y) - 1)
        w = y[idx]; w = w - w.mean(1, keepdims=True); w /= np.linalg.norm(w, axis=1, keepdims=True) + 1e-9
        clean = p < start
        t = np.median(w[clean], 0); t /= np.linalg.norm(t) + 1e-9
        feats.append(w @ t)
    corr = np.maximum(feats[0], feats[1])[ok]
    rr = np.diff(p).astype(float); prev = np.r_[np.inf, rr]; nxt = np.r_[rr, np.inf]
    split = ((prev + nxt) / _local_long_rr(p))[ok]
    noisy_ = on[pk]
    call = np.maximum(feats[0], feats[1])
    nb = np.minimum(np.r_[np.inf, call[:-1]], np.r_[call[1:], np.inf])[ok]
    for i in range(len(pk)):
        rows.append((name, int(tp[i]), int(noisy_[i]), corr[i], split[i], nb[i]))
arr = np.array([(r[1], r[2], r[3], r[4], r[5]) for r in rows])
tp, nzz, corr, split, nb = arr.T
for sp in (1.3, 1.5):
    for marg in (0.0, 0.1, 0.2, 0.3):
        sel = (split < sp) & (corr < nb - marg) & (nzz == 1)
        print(f"pairwise split<{sp} corr<nb-{marg}: FP removed {int((sel & (tp == 0)).sum())}  TP lost {int((sel & (tp == 1)).sum())}")
print(kind, snr, "detections", len(arr), "FP", int((tp == 0).sum()), "FP noisy", int(((tp == 0) & (nzz == 1)).sum()))
for thr in (0.3, 0.5, 0.7):
    for sp in (1.3, 1.6, 2.0, 99):
        sel = (corr < thr) & (split < sp) & (nzz == 1)
        print(f"corr<{thr} split<{sp}: FP removed {int((sel & (tp == 0)).sum())}  TP lost {int((sel & (tp == 1)).sum())}")
names = np.array([r[0] for r in rows])
for nm in DS1:
    s = names == nm
    print(nm, "FP", int(((tp == 0) & s).sum()), "TP", int(((tp == 1) & s).sum()))
