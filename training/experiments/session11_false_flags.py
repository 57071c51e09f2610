"""Session 11: low-quality flags of false detections and true beats in the noisy segments at 6 dB,
before (quality of the windows as recorded) and after the denoising (BeatSet.low_quality).

    PYTHONPATH=. python training/experiments/session11_false_flags.py DS1|DS2
"""
import sys, numpy as np
from pathlib import Path
from app.config import default_data_dir
from app.ecg.readers import read_record
from app.ecg import pipeline as P
from app.ecg.aami import DS1, DS2
from benchmarks.noise import read_noise, nst_noise_rms, nst_qrs_amplitude, noisy, noise_on, scored_from
which = DS1 if sys.argv[1] == "DS1" else DS2
d = Path(default_data_dir()); nst = d.parent / "nstdb"
tot = {}
for k in ("em", "ma", "bw"):
    nz, fs = read_noise(nst, k); rms = [nst_noise_rms(nz[:, j], fs) for j in range(2)]
    c = np.zeros(6, int)
    for r in sorted(which):
        rec = read_record(d / r)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(2)]
        nr = noisy(rec, nz, 6, amps, rms, "nst")
        bs = P.extract_beats(nr)
        on = noise_on(nr.n_samples, nr.fs, "nst"); start = scored_from(nr.fs, "nst")
        sc = (bs.samples >= start) & on[bs.samples]
        x = nr.signals[:, bs.lead_index].astype(np.float64)
        raw = P.beat_windows(x, bs.samples_model)
        q0 = P.quality_parts(bs.windows, raw, float(x.min()), float(x.max())).quality()
        fp = sc & (bs.ref_symbol == ""); tp = sc & (bs.ref_symbol != "")
        c += [fp.sum(), (fp & (q0 < 0.5)).sum(), (fp & bs.low_quality).sum(), tp.sum(), (tp & (q0 < 0.5)).sum(), (tp & bs.low_quality).sum()]
    print(k, "noisy segments: false detections %d flagged before %.3f after %.3f | true beats %d flagged before %.3f after %.3f" % (c[0], c[1]/c[0], c[2]/c[0], c[3], c[4]/c[3], c[5]/c[3]))
