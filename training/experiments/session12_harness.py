"""Session 12 experiment harness (DS1 only): per-beat VAE outputs of each record, clean and with
nstdb noise at one SNR (benchmarks.noise's nst protocol), saved so that scoring variants can be
compared without running the VAE again.

    PYTHONPATH=. python training/experiments/session12_harness.py OUT_DIR [--snr 6] [--set DS1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def dump(rec, bundle, protocol, path, beats="detect"):
    from app.ecg.pipeline import extract_beats
    from app.model.vae_input import vae_input
    from benchmarks.noise import noise_on, scored_from

    from app.ecg.quality import quality_parts

    bs = extract_beats(rec, beats=beats)
    parts = quality_parts(bs.windows, bs.windows, -1e9, 1e9)
    scored = bs.model_windows if bs.model_windows is not None else bs.windows
    x = vae_input(scored, bs.time_s, bundle.manifest)
    z_mean, z_log_var, recon = bundle.forward(x)
    on = noise_on(rec.n_samples, rec.fs, protocol)
    det = np.asarray(bs.samples, np.int64)
    np.savez(path, time_s=bs.time_s, samples=det, ref_class=bs.ref_class, quality=bs.quality,
             low_quality=bs.low_quality, denoised=bs.denoised, noisy=on[np.clip(det, 0, len(on) - 1)],
             scored=det >= scored_from(rec.fs, protocol), z_mean=z_mean, z_log_var=z_log_var,
             recon_err=np.mean((np.asarray(x, np.float64) - recon) ** 2, axis=1),
             duration_s=rec.duration_s, p_corr=parts.corr, p_noise=parts.noise, p_ptp=parts.ptp, x=np.asarray(x, np.float16))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--snr", type=float, default=6.0)
    ap.add_argument("--set", default="DS1")
    ap.add_argument("--records", nargs="*")
    ap.add_argument("--beats", default="detect")
    ap.add_argument("--denoise-below", type=float, default=None)
    a = ap.parse_args()
    if a.denoise_below is not None:
        import app.ecg.pipeline as pl

        pl.DENOISE_BELOW = a.denoise_below
    from app.config import default_data_dir
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from benchmarks.noise import nst_noise_rms, nst_qrs_amplitude, noisy, read_noise, record_names

    data = default_data_dir()
    nst = data.parent / "nstdb"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(None)
    noise = {k: read_noise(nst, k) for k in ("em", "bw", "ma")}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    for name in a.records or record_names(data, None, a.set):
        rec = read_record(data / name)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
                for i in range(rec.n_leads)]
        dump(rec, bundle, "nst", out / f"{name}_clean.npz", a.beats)
        for k in noise:
            dump(noisy(rec, noise[k][0], a.snr, amps, rms[k], "nst"), bundle, "nst", out / f"{name}_{k}.npz", a.beats)
        print(name, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
