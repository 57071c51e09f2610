"""Session 12 experiment (rule v38, DS1 only): the conv-VAE trained with real MIT-BIH Noise Stress
Test noise on half of its inputs (target: the clean beat), the noise taken only from the samples
nst's protocol never adds (0:00-5:00, 7:00-9:00, ...), so benchmarks.noise's noise stays unseen.

    PYTHONPATH=. python training/experiments/session12_nstaug.py OUT [--prob 0.5] [--snr 0 18] [-- training args]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def noise_bank():
    """Per (noise, channel): the band-passed noise at unit RMS, and window starts inside nst's off segments."""
    from app.config import default_data_dir
    from app.ecg.filters import clean_lead
    from benchmarks.noise import noise_on, read_noise

    nst = default_data_dir().parent / "nstdb"
    bank = []
    for k in ("em", "ma", "bw"):
        sig, fs = read_noise(nst, k)
        off = ~noise_on(len(sig), fs, "nst")
        ok = np.convolve(off.astype(np.int32), np.ones(256, np.int32), "valid") == 256  # window starts
        starts = np.flatnonzero(ok)
        for j in range(sig.shape[1]):
            x = clean_lead(sig[:, j], fs).astype(np.float64)
            x /= np.sqrt(np.mean(x[off] ** 2))
            bank.append((x.astype(np.float32), starts))
    return bank


def patched_augment(orig, bank, prob, snr_lo, snr_hi):
    def augment(x, rng, cfg, fs=360.0):
        noisy, target = orig(x, rng, cfg, fs)
        n, w = target.shape
        use = np.flatnonzero(rng.uniform(0, 1, n) < prob)
        if use.size:
            src = rng.integers(0, len(bank), use.size)
            seg = np.empty((use.size, w), np.float32)
            for i, s in enumerate(src):
                xs, starts = bank[s]
                a = starts[rng.integers(0, len(starts))]
                seg[i] = xs[a:a + w]
            # nst's SNR: S = A^2 / 8 with A the QRS peak-to-peak (+-50 ms around the R-peak at 90)
            A = np.ptp(target[use, 72:109], axis=1)
            snr = rng.uniform(snr_lo, snr_hi, use.size)
            rms = A / np.sqrt(8.0) * 10 ** (-snr / 20.0)
            noisy[use] += (seg * rms[:, None]).astype(np.float32)
        return noisy, target
    return augment


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--prob", type=float, default=0.5)
    ap.add_argument("--snr", nargs=2, type=float, default=[0.0, 18.0])
    a, rest = ap.parse_known_args()
    import training.train as tt
    from training.__main__ import main as train_main

    tt.augment = patched_augment(tt.augment, noise_bank(), a.prob, *a.snr)
    return train_main(["--out", a.out, "--skip-eval", *[r for r in rest if r != "--"]])


if __name__ == "__main__":
    sys.exit(main())
