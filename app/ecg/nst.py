"""The MIT-BIH Noise Stress Test's way of adding noise to a record (the WFDB ``nst`` program).

Each noise record (nstdb ``em``, ``bw``, ``ma``) is added alone, noise channel i to record lead i
(Moody, Muldrow & Mark 1984; nst.c and sigamp.c of the WFDB software; checked against the
published nstdb record 118e00 in tests/benchmarks/test_noise_nst.py):
- gain per lead = nsr * A / N with nsr = 10^(-snr/20) * sqrt(2) / 4 (SNR = 10 log10(S/N) with
  S = A^2/8, N = RMS^2); A = trimmed mean (5 % cut at each end) of the peak-to-peak amplitude
  within +-50 ms of the first 300 "normal" reference beats (WFDB map1: every beat but V E r F);
  N = trimmed mean of the RMS (mean removed) of the noise in its first 300 one-second windows.
- protocol ``nst``: no noise for the first 5 minutes, then noise switched on and off every 2
  minutes (on 5:00-7:00, off 7:00-9:00, ...); ``whole``: noise over the whole record.
- the noise sample added at time t is the noise record's sample at t (tiled if the record is
  longer), as nst adds it.
Used by ``python -m benchmarks.noise`` (the stress test) and ``python -m training.student`` (which
adds noise only where nst's protocol adds none, so the stress test's noise samples stay unseen).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

NST_START_S, NST_PERIOD_S = 300.0, 120.0  # nst: noise from 5:00, toggled every 2:00
NST_MEASUREMENTS = 300  # sigamp's NMAX: beats / one-second windows measured
NST_NORMAL = frozenset("NLRaJASj/QBen")  # WFDB map1() == NORMAL


def trimmed_mean(values) -> float:
    """Mean after dropping the lowest and highest 5 % (sigamp's trimmed mean)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        return 0.0
    lo = v.size // 20
    return float(v[lo: v.size - lo].mean())


def nst_qrs_amplitude(signal: np.ndarray, ref_samples, ref_symbols, fs: float) -> float:
    """nst's A: trimmed mean peak-to-peak within +-50 ms of the first 300 normal beats."""
    h = max(int(round(0.05 * fs)), 1)
    s = np.asarray(ref_samples, dtype=np.int64)
    normal = np.isin(np.asarray(ref_symbols).astype(str), list(NST_NORMAL))
    s = s[normal & (s - h >= 0) & (s + h < len(signal))][:NST_MEASUREMENTS]
    if s.size == 0:
        return 0.0
    seg = signal[s[:, None] + np.arange(-h, h + 1)]
    return trimmed_mean(seg.max(axis=1) - seg.min(axis=1))


def nst_noise_rms(noise: np.ndarray, fs: float) -> float:
    """nst's noise amplitude: trimmed mean RMS (mean removed) of the first 300 one-second windows."""
    w = int(round(fs))
    k = min(len(noise) // w, NST_MEASUREMENTS)
    seg = np.asarray(noise[: k * w], dtype=np.float64).reshape(k, w)
    seg = seg - seg.mean(axis=1, keepdims=True)
    return trimmed_mean(np.sqrt(np.mean(seg * seg, axis=1)))


def nst_gain(amplitude: float, noise_rms: float, snr_db: float) -> float:
    """nst: gain = nsr * A / N, nsr = 10^(-snr/20) sqrt(2) / 4 (i.e. S = A^2/8, N = RMS^2)."""
    if noise_rms <= 0:
        return 0.0
    return float(10 ** (-snr_db / 20.0) * np.sqrt(2.0) / 4.0 * amplitude / noise_rms)


def noise_on(n_samples: int, fs: float, protocol: str) -> np.ndarray:
    """True where noise is added: everywhere (``whole``) or nst's 2-minute segments from 5:00."""
    if protocol == "whole":
        return np.ones(n_samples, dtype=bool)
    t = np.arange(n_samples) / fs - NST_START_S
    return (t >= 0) & (np.floor(t / NST_PERIOD_S) % 2 == 0)


def scored_from(fs: float, protocol: str) -> int:
    """First scored sample: 5:00 under nst's protocol (bxb's default start), else 0."""
    return int(round(NST_START_S * fs)) if protocol == "nst" else 0


def noise_segment(noise: np.ndarray, n_samples: int) -> np.ndarray:
    """The noise, tiled or cut to ``n_samples`` rows."""
    reps = -(-n_samples // len(noise))
    return np.tile(noise, (reps, 1))[:n_samples]


def added_noise(noise: np.ndarray, gain: float, on: np.ndarray) -> np.ndarray:
    """What nst adds to one lead: ``gain * noise`` where ``on``, shifted at every switch so that the
    output stays continuous (nst's offset ``z``): a switched-off segment keeps a constant offset."""
    out = np.where(on, gain * noise, 0.0)
    switches = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
    for a, b in zip(switches, np.append(switches[1:], len(on))):  # a dozen segments per record
        g = gain if on[a] else 0.0
        out[a:b] += out[a - 1] - g * noise[a - 1]
    return out


def noisy(recording, noise: np.ndarray, snr_db: float, amps: list[float], rms: list[float],
          protocol: str = "nst", on: np.ndarray | None = None):
    """A copy of ``recording`` with ``noise`` (channel i on lead i) added at ``snr_db`` per lead,
    where the ``protocol`` adds it (or where the boolean mask ``on`` says, one value per sample)."""
    seg = noise_segment(noise, recording.n_samples)
    on = noise_on(recording.n_samples, recording.fs, protocol) if on is None else on
    sig = recording.signals.astype(np.float64).copy()
    for i in range(min(recording.n_leads, seg.shape[1])):
        g = nst_gain(amps[i], rms[i], snr_db)
        x = seg[:, i] - seg[:, i].mean() if protocol == "whole" else seg[:, i]
        sig[:, i] += added_noise(x, g, on)
    return replace(recording, signals=sig.astype(np.float32))


def read_noise(nst_dir: Path, name: str) -> tuple[np.ndarray, float]:
    import wfdb

    r = wfdb.rdrecord(str(nst_dir / name))
    return np.asarray(r.p_signal, np.float64), float(r.fs)
