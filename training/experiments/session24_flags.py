"""Session 24 harness (rule v75, docs/noise-history.md section 28): per-beat outputs of every DS1
record, each scored by a fold student that never saw it (benchmarks.student_cv's 4 folds, seed 0,
4 epochs), clean and with nstdb ``em``, ``bw``, ``ma`` at 0, 6 and 12 dB (nst protocol).

    PYTHONPATH=. python training/experiments/session24_flags.py OUT.npz

Saved per (record, noise, snr): the scored part's beats with their score, AAMI class ('' for a false
detection), quality, low_quality, both leads' noise ratios at the beat, the other lead's weight, whether
the beat was denoised and whether the noise is on at the beat. Nothing is chosen here.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import app.analysis as analysis_mod
from app.ecg.nst import noise_on, noisy, nst_noise_rms, nst_qrs_amplitude, read_noise, scored_from
from app.ecg.pipeline import beat_noise_ratio, lead_noise_stats, other_lead
from app.ecg.readers import read_record
from app.model.bundle import load_bundle
from benchmarks.noise import NOISES, record_names
from training.student import EPOCHS, noise_sources, record_pairs, train_students

DATA = Path("../shared/data/mitdb")
NST = Path("../shared/data/nstdb")
SNRS = (0.0, 6.0, 12.0)


def beats_of(rec, bundle, protocol="nst") -> dict:
    captured = {}
    orig = analysis_mod.other_lead_score

    def spy(recording, bs, b):
        out = orig(recording, bs, b)
        captured["weight"] = None if out is None else out.weight
        return out
    analysis_mod.other_lead_score = spy
    try:
        a = analysis_mod.analyze(rec, bundle=bundle)
    finally:
        analysis_mod.other_lead_score = orig
    t, bs = a.table, a.beats
    det = t["sample"].to_numpy()
    sc = det >= scored_from(rec.fs, protocol)
    found = other_lead(rec, bs)
    r2 = (beat_noise_ratio(bs.samples_model, lead_noise_stats(found[1])) if found is not None
          else np.full(len(det), np.inf))
    w = captured.get("weight")
    on = noise_on(rec.n_samples, rec.fs, protocol)
    return {"score": t["score"].to_numpy(float)[sc], "cls": t["ref_class"].to_numpy(str)[sc],
            "quality": t["quality"].to_numpy(float)[sc], "lowq": t["low_quality"].to_numpy(bool)[sc],
            "r1": np.asarray(bs.noise_ratio, float)[sc], "r2": np.asarray(r2, float)[sc],
            "w": (np.zeros(len(det)) if w is None else np.asarray(w, float))[sc],
            "denoised": np.asarray(bs.denoised, bool)[sc], "on": on[np.clip(det, 0, len(on) - 1)][sc],
            "n_ref": int((np.asarray(rec.ref_samples) >= scored_from(rec.fs, protocol)).sum())}


def main(out: str) -> int:
    t0 = time.perf_counter()
    names = sorted(record_names(DATA, None, "DS1"))
    bundle = load_bundle(None)
    own = bundle.student
    noise_p, rms_p = noise_sources(NST)
    noise = {k: read_noise(NST, k) for k in NOISES}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    pairs, saved = {}, {}
    try:
        for i in range(4):
            held = names[i::4]
            train_on = [n for n in names if n not in held]
            for n in train_on:
                if n not in pairs:
                    pairs[n] = record_pairs(read_record(DATA / n), bundle, noise_p, rms_p)
            x = np.concatenate([pairs[n].x for n in train_on])
            z = np.concatenate([pairs[n].z for n in train_on])
            bundle.use_student(train_students(bundle.encoder, x, z, EPOCHS, [0], verbose=0))
            for name in held:
                rec = read_record(DATA / name)
                amps = [nst_qrs_amplitude(rec.signals[:, j], rec.ref_samples, rec.ref_symbols, rec.fs)
                        for j in range(rec.n_leads)]
                saved[(name, "clean", 0.0)] = beats_of(rec, bundle)
                for k in NOISES:
                    for snr in SNRS:
                        saved[(name, k, snr)] = beats_of(noisy(rec, noise[k][0], snr, amps, rms[k], "nst"), bundle)
                print(f"# fold {i + 1} record {name} done, {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        bundle.use_student(own)
    flat = {f"{r}|{k}|{s:g}|{f}": v for (r, k, s), d in saved.items() for f, v in d.items()}
    np.savez_compressed(out, **flat)
    print(f"# saved {len(saved)} runs to {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
