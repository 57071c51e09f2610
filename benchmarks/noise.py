"""Noise stress test: DS2 records with MIT-BIH Noise Stress Test noise added at given SNRs.

    python -m benchmarks.noise [--data-dir ../shared/data/mitdb] [--nst-dir ../shared/data/nstdb]
                               [--records 100 ...] [--snr 24 18 12 6 0] [--noise em bw ma]

Each noise record (nstdb ``em``, ``bw``, ``ma``, read with wfdb) is added alone to each record,
noise channel i to record lead i, scaled as WFDB ``nst`` does (Moody, Muldrow & Mark 1984, "A
noise stress test for arrhythmia detectors"; https://physionet.org/physiotools/wag/nst-1.htm):
signal power S = A^2 / 8 with A the peak-to-peak QRS amplitude, noise power N = mean square of the
noise, gain a = sqrt(S / (N * 10^(snr/10))). Per (noise, SNR), pooled over records: R-peak Se and
+P (app.ecg.matching.match_beats, 150 ms, against the reference beats), ensemble AUROC (AAMI N vs
S/V/F/Q of the matched reference) on beats not flagged low_quality, and the fraction flagged.

Simplifications (stated, not hidden): noise is added over the whole record (nst alternates clean
and noisy 2-min segments after the first 5 min); A is the median over reference beats of the
peak-to-peak of the raw lead within +-50 ms of the beat, per lead (nst measures it on its own
QRS windows); N is the mean square of the mean-removed noise segment used (tiled if the record
is longer); analyze() runs with its default lead choice and detector. Default records: all DS2
records present (22 records x 16 conditions: 226 s on 2 shared cores, load ~2.5).
LAST line: ``TOTAL snr6_se=<> snr6_ppv=<> snr6_auroc_drop=<> snr6_lowq_frac=<>`` (6 dB, pooled
over the noises; auroc_drop = clean AUROC - 6 dB AUROC).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks._util import data_dir_arg, format_table, load_average

@dataclass
class Outcome:
    """What one analysed (noisy or clean) record contributes to the pooled figures."""

    tp: int
    n_det: int
    n_ref: int
    labels: np.ndarray      # 1 = S/V/F/Q, 0 = N; matched, not low_quality beats
    scores: np.ndarray
    n_lowq: int
    n_beats: int


def qrs_ptp(signal: np.ndarray, ref_samples: np.ndarray, fs: float, half_s: float = 0.05) -> float:
    """Median peak-to-peak amplitude of one lead around the reference beats (nst's A)."""
    h = max(int(round(half_s * fs)), 1)
    ptp = [float(np.ptp(signal[max(s - h, 0): s + h + 1])) for s in np.asarray(ref_samples, int)
           if 0 <= s < len(signal)]
    return float(np.median(ptp)) if ptp else 0.0


def nst_gain(ptp: float, noise: np.ndarray, snr_db: float) -> float:
    """nst scaling: a = sqrt(S / (N 10^(snr/10))), S = A^2/8, N = mean square of the noise."""
    s = ptp ** 2 / 8.0
    n = float(np.mean(np.square(noise - noise.mean())))
    return float(np.sqrt(s / (n * 10 ** (snr_db / 10.0)))) if n > 0 else 0.0


def noise_segment(noise: np.ndarray, n_samples: int) -> np.ndarray:
    """The noise, tiled or cut to ``n_samples`` rows."""
    reps = -(-n_samples // len(noise))
    return np.tile(noise, (reps, 1))[:n_samples]


def noisy(recording, noise: np.ndarray, snr_db: float, ptps: list[float]):
    """A copy of ``recording`` with ``noise`` (channel i on lead i) scaled to ``snr_db`` per lead."""
    seg = noise_segment(noise, recording.n_samples)
    sig = recording.signals.astype(np.float64).copy()
    for i in range(min(recording.n_leads, seg.shape[1])):
        sig[:, i] += nst_gain(ptps[i], seg[:, i], snr_db) * (seg[:, i] - seg[:, i].mean())
    return replace(recording, signals=sig.astype(np.float32))


def outcome(recording, bundle) -> Outcome:
    from app.analysis import analyze
    from app.ecg.matching import match_beats
    from app.model.metrics import labelled_mask, labels_from_classes

    a = analyze(recording, bundle=bundle)
    t = a.table
    m = match_beats(t["sample"].to_numpy(), recording.ref_samples, recording.fs, 0.15)
    lowq = t["low_quality"].to_numpy(bool)
    keep = labelled_mask(t["ref_class"].to_numpy()) & ~lowq
    return Outcome(m.tp, m.n_detected, m.n_reference, labels_from_classes(t["ref_class"].to_numpy()[keep]),
                   t["score"].to_numpy(float)[keep], int(lowq.sum()), len(t))


def pooled(outs: list[Outcome]) -> dict:
    from app.model.metrics import auroc

    tp, nd, nr = (sum(getattr(o, k) for o in outs) for k in ("tp", "n_det", "n_ref"))
    y = np.concatenate([o.labels for o in outs])
    s = np.concatenate([o.scores for o in outs])
    au = auroc(y, s) if len(set(y.tolist())) == 2 else None
    nb = sum(o.n_beats for o in outs)
    return {"se": tp / nr if nr else float("nan"), "ppv": tp / nd if nd else float("nan"),
            "auroc": float("nan") if au is None else au,
            "lowq": sum(o.n_lowq for o in outs) / nb if nb else float("nan"), "beats": nb}


def read_noise(nst_dir: Path, name: str) -> np.ndarray:
    import wfdb

    return np.asarray(wfdb.rdrecord(str(nst_dir / name)).p_signal, np.float64)


def record_names(data_dir: Path, wanted: list[str] | None) -> list[str]:
    from app.ecg.aami import DS2

    present = [str(n) for n in DS2 if (data_dir / f"{n}.hea").is_file()]
    if wanted:
        missing = [n for n in wanted if not (data_dir / f"{n}.hea").is_file()]
        if missing:
            print(f"records not found in {data_dir}: {' '.join(missing)}", file=sys.stderr)
            raise SystemExit(2)
        return wanted
    return present


def run(data_dir: Path, nst_dir: Path, names: list[str], snrs: list[float], noises: list[str]) -> list[list]:
    """Rows [noise, snr, se, ppv, auroc, lowq_frac, beats]: clean first, then noise x SNR."""
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle

    bundle = load_bundle()
    noise = {k: read_noise(nst_dir, k) for k in noises}
    res: dict[tuple, list[Outcome]] = {}
    for name in names:
        rec = read_record(data_dir / name)
        ptps = [qrs_ptp(rec.signals[:, i], rec.ref_samples, rec.fs) for i in range(rec.n_leads)]
        res.setdefault(("clean", ""), []).append(outcome(rec, bundle))
        for k in noises:
            for snr in snrs:
                res.setdefault((k, snr), []).append(outcome(noisy(rec, noise[k], snr, ptps), bundle))
        print(f"# record {name} done ({load_average()})", file=sys.stderr, flush=True)
    rows = []
    for (k, snr), outs in res.items():
        p = pooled(outs)
        rows.append([k, snr, p["se"], p["ppv"], p["auroc"], p["lowq"], p["beats"]])
    return rows, res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.noise", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--nst-dir", default=None, help="nstdb directory (default ../shared/data/nstdb)")
    ap.add_argument("--records", nargs="+", default=None,
                    help="record names (default: every DS2 record present in --data-dir)")
    ap.add_argument("--snr", nargs="+", type=float, default=[24, 18, 12, 6, 0])
    ap.add_argument("--noise", nargs="+", default=["em", "bw", "ma"], choices=["em", "bw", "ma"])
    args = ap.parse_args(argv)
    data_dir = data_dir_arg(args.data_dir)
    nst_dir = Path(args.nst_dir) if args.nst_dir else data_dir.parent / "nstdb"
    if not all((nst_dir / f"{k}.hea").is_file() for k in args.noise):
        print(f"noise records not found in {nst_dir}; pass --nst-dir", file=sys.stderr)
        return 2
    names = record_names(data_dir, args.records)
    snrs = [float(s) for s in args.snr]
    t0 = time.perf_counter()
    print(f"# records: {' '.join(names)}; noises: {' '.join(args.noise)}; SNR dB: {' '.join(f'{s:g}' for s in snrs)}")
    print(f"# {load_average()} (start)", flush=True)
    rows, res = run(data_dir, nst_dir, names, snrs, args.noise)
    shown = [[k, "" if s == "" else f"{s:g}", se, ppv, au, lq, nb] for k, s, se, ppv, au, lq, nb in rows]
    print(format_table(["noise", "snr_db", "se", "ppv", "auroc_ok_beats", "lowq_frac", "beats"], shown))
    clean = pooled(res[("clean", "")])
    at6 = [o for (k, s), outs in res.items() if k != "clean" and s == 6.0 for o in outs]
    print(f"# runtime {time.perf_counter() - t0:.0f} s; {load_average()} (end)")
    if at6:
        p6 = pooled(at6)
        print(f"TOTAL snr6_se={p6['se']:.4f} snr6_ppv={p6['ppv']:.4f} "
              f"snr6_auroc_drop={clean['auroc'] - p6['auroc']:.4f} snr6_lowq_frac={p6['lowq']:.4f}")
    else:
        print("TOTAL snr6_se=nan snr6_ppv=nan snr6_auroc_drop=nan snr6_lowq_frac=nan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
