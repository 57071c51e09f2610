"""(Session 8 exploration, not part of the product; run from the repository root as python -m training.experiments.<name>.)
Diagnosis (DS1 only): under noise, do N false alarms on good-quality beats come from timing next to
low-quality (likely spurious) detections? And a what-if: rhythm z's neutralised (0) for beats whose
previous or next detection is low quality. Usage: exp8_noise_diag.py NOISE SNR [records...]"""
import sys, os
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import app.model.ensemble as E
from app.ecg.readers import read_record
from app.ecg.aami import DS1
from app.model.bundle import load_bundle
from app.model.metrics import labelled_mask, labels_from_classes
from benchmarks import noise as NB
from benchmarks.rpeaks import vf_episodes
from sklearn.metrics import roc_auc_score

RZ = ("rr_prematurity_z", "rr_compensation_z", "rr_late_z", "rr_change_z")
captured = {}
_orig = E.ensemble_score
def capture(scores, ens):
    captured["s"] = scores
    return _orig(scores, ens)
E.ensemble_score = capture

def neutral(scores, mask):
    s = dict(scores)
    for k in RZ:
        v = np.array(s[k], dtype=np.float64).copy(); v[mask] = 0.0; s[k] = v
    return s

noise_name, snr = sys.argv[1], float(sys.argv[2])
names = sys.argv[3:] or list(DS1)
mitdb, nst = Path(os.environ.get("MITDB", "../shared/data/mitdb")), Path(os.environ.get("NSTDB", "../shared/data/nstdb"))
bundle = load_bundle("model_store/cvae-v2")
from app.model.thresholds import threshold_value
thr = threshold_value(bundle.calibration, bundle.calibration["thresholds"]["default_method"])
nz, fs = NB.read_noise(nst, noise_name)
rms = [NB.nst_noise_rms(nz[:, j], fs) for j in range(nz.shape[1])]
from app.analysis import analyze
Y, S0, S1, NBR, RB, FL0, FL1 = [], [], [], [], [], [], []
for name in names:
    rec = read_record(mitdb / name)
    amps = [NB.nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(rec.n_leads)]
    r = rec if noise_name == "clean" else NB.noisy(rec, nz, snr, amps, rms, "nst")
    t = analyze(r, bundle=bundle).table
    s = captured["s"]
    lowq = t["low_quality"].to_numpy(bool)
    nb = np.zeros(len(lowq), bool); nb[1:] |= lowq[:-1]; nb[:-1] |= lowq[1:]
    sc1 = E.ensemble_score(neutral(s, nb & ~lowq), bundle.calibration["ensemble"])
    cls = t["ref_class"].to_numpy()
    keep = (t["sample"].to_numpy() >= NB.scored_from(rec.fs, "nst")) & labelled_mask(cls) & ~lowq
    Y.append(labels_from_classes(cls[keep])); S0.append(t["score"].to_numpy(float)[keep]); S1.append(sc1[keep])
    NBR.append(nb[keep]); RB.append(t["raised_by"].to_numpy()[keep])
y, s0, s1, nbr, rb = map(np.concatenate, (Y, S0, S1, NBR, RB))
print(f"{noise_name} {snr} dB, {len(names)} records, threshold {thr:.3f}: good beats {len(y)}, abnormal {y.sum()}")
print(f"AUROC committed {roc_auc_score(y, s0):.4f}  neutralised {roc_auc_score(y, s1):.4f}")
n = y == 0
for lab, m in (("N next to lowq", n & nbr), ("N other", n & ~nbr)):
    print(f"{lab:<16} n={m.sum():6d} FA committed {np.mean(s0[m] > thr):.4f} neutralised {np.mean(s1[m] > thr):.4f}")
a = y == 1
print(f"abnormal next to lowq n={(a & nbr).sum()} sens committed {np.mean(s0[a] > thr):.4f} neutralised {np.mean(s1[a] > thr):.4f}")
fa = n & (s0 > thr)
vals, cnt = np.unique(rb[fa], return_counts=True)
print("N false alarms by raised_by:", dict(zip(vals.tolist(), cnt.tolist())))
