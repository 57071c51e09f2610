"""Session 9 exploration (DS1 only): cache per-beat scores of fold A's records, clean and 6 dB noisy,
to study a quality-gated local-floor correction of the latent distance offline."""
import pickle, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "/work/main")
from app.ecg.readers import read_record
from app.model.bundle import load_bundle
from app.analysis import analyze
from benchmarks.noise import read_noise, nst_noise_rms, nst_qrs_amplitude, noisy, noise_on, scored_from

data = Path("/work/shared/data/mitdb"); nst = Path("/work/shared/data/nstdb")
model = sys.argv[1]; out = Path(sys.argv[2]); records = sys.argv[3:]
bundle = load_bundle(model)
noise = {k: read_noise(nst, k) for k in ("em", "bw", "ma")}
rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
res = {}
for name in records:
    rec = read_record(data / name)
    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(rec.n_leads)]
    on = noise_on(rec.n_samples, rec.fs, "nst"); start = scored_from(rec.fs, "nst")
    for k in ("clean", "em", "bw", "ma"):
        r = rec if k == "clean" else noisy(rec, noise[k][0], 6.0, amps, rms[k], "nst")
        a = analyze(r, bundle=bundle)
        t = a.table
        det = t["sample"].to_numpy()
        res[name, k] = {"table": t[["sample", "quality", "low_quality", "score", "latent_distance", "ref_class"]].copy(),
                        "scores": {kk: v for kk, v in a.scores.items()},
                        "noisy": on[np.clip(det, 0, len(on) - 1)] & (k != "clean"), "scored": det >= start}
    print(name, flush=True)
pickle.dump(res, open(out, "wb"))
