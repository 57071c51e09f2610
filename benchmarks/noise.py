"""Noise stress test: MIT-BIH records with MIT-BIH Noise Stress Test noise added at given SNRs.

    python -m benchmarks.noise [--data-dir ../shared/data/mitdb] [--nst-dir ../shared/data/nstdb]
                               [--set DS2|DS1 | --records 100 ...] [--without 232 ...] [--snr 24 18 12 6 0]
                               [--noise em bw ma] [--protocol nst|whole] [--no-model] [--model DIR]

Each noise record (nstdb ``em``, ``bw``, ``ma``) is added alone to each record, noise channel i to
record lead i, as the WFDB ``nst`` program does (``app.ecg.nst``, shared with ``training.student``) (Moody, Muldrow & Mark 1984; nst.c and sigamp.c
of the WFDB software; checked against the published nstdb record 118e00 in the tests):
- gain per lead = nsr * A / N with nsr = 10^(-snr/20) * sqrt(2) / 4 (SNR = 10 log10(S/N) with
  S = A^2/8, N = RMS^2); A = trimmed mean (5 % cut at each end) of the peak-to-peak amplitude
  within +-50 ms of the first 300 "normal" reference beats (WFDB map1: every beat but V E r F);
  N = trimmed mean of the RMS (mean removed) of the noise in its first 300 one-second windows.
- protocol ``nst`` (default; nst's own protocol, the one of the EC57 noise stress test records
  such as 118e06): no noise for the first 5 minutes, then noise switched on and off every 2
  minutes (on 5:00-7:00, off 7:00-9:00, ...); beats are scored from 5:00 on, as ``bxb`` does.
  Protocol ``whole`` (a harsher variant): noise over the whole record, scored over the whole record.
- the noise sample added at time t is the noise record's sample at t (tiled if the record is
  longer), with its own offset, as nst adds it.

Per (noise, SNR), pooled over records: R-peak Se and +P (150 ms, app.ecg.matching), also within
the noisy segments only (``*_noisy``); ensemble AUROC (AAMI N vs S/V/F/Q of the matched reference)
on beats not flagged low_quality; the fraction of beats flagged (all scored beats, and in the noisy
and clean segments), and of the false detections (``lowq_false_det``: scored detections matched to
no reference beat); the fraction of beats inside the signal viewer's grey "noisy lead" bands
(``shaded``; app.components.figures.noisy_spans) and of the false detections (``false_shaded``).
Detections inside ventricular flutter episodes are not compared (as in benchmarks.rpeaks).
analyze() runs with its default lead choice and detector; ``--no-model`` runs only the signal
pipeline (detector and quality index; no AUROC). ``--xqrs`` also runs wfdb's
XQRS (single lead: the analysed one) on the same noisy records: a reference point for the R-peak
figures (columns ``xqrs_se``, ``xqrs_ppv``). Default records: every DS2 record present (DS1 is for
tuning, ``--set DS1``).
LAST line: ``TOTAL snr6_se=<> snr6_ppv=<> snr6_auroc_drop=<> snr6_lowq_frac=<>`` (6 dB, pooled
over the noises; auroc_drop = clean AUROC - 6 dB AUROC), preceded by a line naming the protocol.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.ecg.nst import (NST_MEASUREMENTS, NST_NORMAL, NST_PERIOD_S, NST_START_S, added_noise,  # noqa: F401
                         noise_on, noise_segment, noisy, nst_gain, nst_noise_rms, nst_qrs_amplitude, read_noise,
                         scored_from, trimmed_mean)
from benchmarks._util import data_dir_arg, format_table, load_average

PROTOCOLS = ("nst", "whole")
NOISES = ("em", "bw", "ma")  # nstdb's noise records, `em` foremost as in EC57


@dataclass
class Outcome:
    """What one analysed (noisy or clean) record contributes to the pooled figures."""

    tp: int
    n_det: int
    n_ref: int
    tp_noisy: int
    n_det_noisy: int
    n_ref_noisy: int
    labels: np.ndarray      # 1 = S/V/F/Q, 0 = N; matched, scored, not low_quality beats
    scores: np.ndarray
    n_lowq: int
    n_beats: int
    n_lowq_noisy: int
    n_beats_noisy: int
    n_false: int = 0       # scored detections matched to no reference beat ...
    n_false_lowq: int = 0  # ... and those of them flagged low_quality
    n_shaded: int = 0        # scored beats inside the viewer's noisy bands (figures.noisy_spans) ...
    n_false_shaded: int = 0  # ... and the false detections among them
    classes: np.ndarray | None = None  # the AAMI class (N S V F Q) of each beat of ``labels``


def scored_match(det: np.ndarray, recording, protocol: str, vf: list[tuple[int, int]] | None = None):
    """(match of the detections to the reference beats, detections compared, reference beats
    compared): both from the protocol's scoring start on, detections inside ventricular-flutter
    episodes ``vf`` left out; 150 ms window."""
    from app.ecg.matching import excluded_mask, match_beats

    start = scored_from(recording.fs, protocol)
    ref = np.asarray(recording.ref_samples, dtype=np.int64)
    d_ok = (det >= start) & ~(excluded_mask(det, vf) if vf else np.zeros(len(det), bool))
    r_ok = ref >= start
    return match_beats(det[d_ok], ref[r_ok], recording.fs, 0.15), d_ok, r_ok


def outcome(recording, bundle, protocol: str, vf: list[tuple[int, int]] | None = None) -> Outcome:
    """Detection, quality and (with a bundle) ensemble scores of one record, in the scored part."""
    from app.components.figures import in_spans, noisy_spans
    from app.model.metrics import labelled_mask, labels_from_classes

    if bundle is None:
        from app.ecg.pipeline import extract_beats

        b = extract_beats(recording)
        det, lowq, cls = b.samples, b.low_quality, b.ref_class
        score = np.zeros(len(det))
        ratio = b.noise_ratio
    else:
        from app.analysis import analyze

        a = analyze(recording, bundle=bundle)
        t = a.table
        det, lowq, cls = t["sample"].to_numpy(), t["low_quality"].to_numpy(bool), t["ref_class"].to_numpy()
        score = t["score"].to_numpy(float)
        ratio = a.beats.noise_ratio
    ref = np.asarray(recording.ref_samples, dtype=np.int64)
    start = scored_from(recording.fs, protocol)
    on = noise_on(recording.n_samples, recording.fs, protocol)
    m, d_ok, r_ok = scored_match(det, recording, protocol, vf)
    d_noisy = on[np.clip(det[d_ok], 0, len(on) - 1)]
    r_noisy = on[np.clip(ref[r_ok], 0, len(on) - 1)]
    tp_noisy = int(r_noisy[m.ref_index].sum())
    sc = det >= start
    keep = sc & labelled_mask(cls) & ~lowq
    beats_noisy = sc & on[np.clip(det, 0, len(on) - 1)]
    false = np.ones(int(d_ok.sum()), bool)
    false[m.det_index] = False
    det_s = det / recording.fs
    shaded = in_spans(det_s, noisy_spans(det_s, ratio))
    return Outcome(m.tp, m.n_detected, m.n_reference, tp_noisy, int(d_noisy.sum()), int(r_noisy.sum()),
                   labels_from_classes(cls[keep]), score[keep], int((lowq & sc).sum()), int(sc.sum()),
                   int((lowq & beats_noisy).sum()), int(beats_noisy.sum()),
                   int(false.sum()), int((lowq[d_ok] & false).sum()),
                   int((shaded & sc).sum()), int((shaded[d_ok] & false).sum()), cls[keep].astype(str))


def xqrs_counts(recording, protocol: str, vf: list[tuple[int, int]] | None = None) -> tuple[int, int, int]:
    """(true positives, detections, reference beats) of wfdb's XQRS on the analysed lead, scored
    as ``outcome`` scores the app's detector."""
    from app.ecg.leads import choose_lead
    from benchmarks.rpeaks import run_xqrs

    det = run_xqrs(recording.signals[:, choose_lead(recording)].astype(np.float64), recording.fs)
    m, _, _ = scored_match(det, recording, protocol, vf)
    return m.tp, m.n_detected, m.n_reference


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def pooled(outs: list[Outcome]) -> dict:
    from app.model.metrics import auroc

    tot = {k: sum(getattr(o, k) for o in outs) for k in
           ("tp", "n_det", "n_ref", "tp_noisy", "n_det_noisy", "n_ref_noisy", "n_lowq", "n_beats",
            "n_lowq_noisy", "n_beats_noisy", "n_false", "n_false_lowq", "n_shaded", "n_false_shaded")}
    y = np.concatenate([o.labels for o in outs])
    s = np.concatenate([o.scores for o in outs])
    au = auroc(y, s) if len(set(y.tolist())) == 2 and np.ptp(s) > 0 else None
    return {"se": _ratio(tot["tp"], tot["n_ref"]), "ppv": _ratio(tot["tp"], tot["n_det"]),
            "se_noisy": _ratio(tot["tp_noisy"], tot["n_ref_noisy"]),
            "ppv_noisy": _ratio(tot["tp_noisy"], tot["n_det_noisy"]),
            "auroc": float("nan") if au is None else au,
            "lowq": _ratio(tot["n_lowq"], tot["n_beats"]),
            "lowq_noisy": _ratio(tot["n_lowq_noisy"], tot["n_beats_noisy"]),
            "lowq_clean": _ratio(tot["n_lowq"] - tot["n_lowq_noisy"], tot["n_beats"] - tot["n_beats_noisy"]),
            "lowq_false": _ratio(tot["n_false_lowq"], tot["n_false"]),
            "shaded": _ratio(tot["n_shaded"], tot["n_beats"]),
            "false_shaded": _ratio(tot["n_false_shaded"], tot["n_false"]),
            "beats": tot["n_beats"]}


def class_auroc(outs: list[Outcome], cls: str) -> float:
    """AUROC of the AAMI class ``cls`` against N alone, pooled over ``outs`` (their other classes left out)."""
    from app.model.metrics import auroc

    c = np.concatenate([o.classes for o in outs])
    s = np.concatenate([o.scores for o in outs])
    keep = (c == cls) | (c == "N")
    au = auroc((c[keep] == cls).astype(np.int8), s[keep]) if 0 < (c[keep] == cls).sum() < keep.sum() else None
    return float("nan") if au is None else au


def record_names(data_dir: Path, wanted: list[str] | None, which: str = "DS2",
                 without: list[str] | None = None) -> list[str]:
    """``wanted`` (each must be in ``data_dir``), else every record of ``which`` present there; less
    ``without`` (each must be among them: a report without a record names one it would have run)."""
    from app.ecg.aami import DS1, DS2

    present = [str(n) for n in (DS1 if which == "DS1" else DS2) if (data_dir / f"{n}.hea").is_file()]
    if wanted:
        missing = [n for n in wanted if not (data_dir / f"{n}.hea").is_file()]
        if missing:
            print(f"records not found in {data_dir}: {' '.join(missing)}", file=sys.stderr)
            raise SystemExit(2)
        present = list(wanted)
    without = without or []
    unknown = [n for n in without if n not in present]
    if unknown:
        print(f"--without names records that would not run: {' '.join(unknown)}", file=sys.stderr)
        raise SystemExit(2)
    names = [n for n in present if n not in without]
    if not names:
        print("no records left to run" if present else f"no {which} records found in {data_dir}", file=sys.stderr)
        raise SystemExit(2)
    return names


def run(data_dir: Path, nst_dir: Path, names: list[str], snrs: list[float], noises: list[str],
        protocol: str = "nst", use_model: bool = True, model_dir: str | None = None, xqrs: bool = False):
    """Rows [noise, snr, se, ppv, se_noisy, ppv_noisy, auroc, lowq, lowq_noisy, lowq_clean, lowq_false, shaded,
    false_shaded, beats (, xqrs_se, xqrs_ppv)]: clean first, then noise x SNR; and the outcomes by (noise, snr)."""
    from app.ecg.readers import read_record
    from benchmarks.rpeaks import vf_episodes

    bundle = None
    if use_model:
        from app.model.bundle import load_bundle

        bundle = load_bundle(model_dir)
    noise = {k: read_noise(nst_dir, k) for k in noises}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    res: dict[tuple, list[Outcome]] = {}
    xq: dict[tuple, np.ndarray] = {}  # (noise, snr) -> summed XQRS (tp, detections, reference)

    def add_xqrs(key, rec_):
        if xqrs:
            xq[key] = xq.get(key, np.zeros(3, np.int64)) + xqrs_counts(rec_, protocol, vf)
    for name in names:
        rec = read_record(data_dir / name)
        vf = vf_episodes(data_dir / name)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
                for i in range(rec.n_leads)]
        res.setdefault(("clean", ""), []).append(outcome(rec, bundle, protocol, vf))
        add_xqrs(("clean", ""), rec)
        for k in noises:
            for snr in snrs:
                nrec = noisy(rec, noise[k][0], snr, amps, rms[k], protocol)
                res.setdefault((k, snr), []).append(outcome(nrec, bundle, protocol, vf))
                add_xqrs((k, snr), nrec)
        print(f"# record {name} done ({load_average()})", file=sys.stderr, flush=True)
    rows = []
    for (k, snr), outs in res.items():
        p = pooled(outs)
        rows.append([k, snr, p["se"], p["ppv"], p["se_noisy"], p["ppv_noisy"], p["auroc"], p["lowq"],
                     p["lowq_noisy"], p["lowq_clean"], p["lowq_false"], p["shaded"], p["false_shaded"], p["beats"]])
        if xqrs:
            tp, n_det, n_ref = (int(v) for v in xq[(k, snr)])
            rows[-1] += [_ratio(tp, n_ref), _ratio(tp, n_det)]
    return rows, res


def pooled_at(res: dict, snr: float) -> tuple[dict, dict | None]:
    """(the clean records pooled, every noise at ``snr`` dB pooled; None when none ran at ``snr``),
    from ``run``'s outcomes: the two sides of the TOTAL line's AUROC drop."""
    noisy = [o for (k, s), outs in res.items() if k != "clean" and s == snr for o in outs]
    return pooled(res[("clean", "")]), pooled(noisy) if noisy else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.noise", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--nst-dir", default=None, help="nstdb directory (default ../shared/data/nstdb)")
    ap.add_argument("--set", dest="which", default="DS2", choices=["DS1", "DS2"],
                    help="record set when --records is not given (default DS2: report; DS1: tune)")
    ap.add_argument("--records", nargs="+", default=None, help="record names (default: every record of --set)")
    ap.add_argument("--without", nargs="+", default=None, metavar="RECORD",
                    help="leave these records out (a report, as training.evaluate --without: DS2 chooses nothing)")
    ap.add_argument("--snr", nargs="+", type=float, default=[24, 18, 12, 6, 0])
    ap.add_argument("--noise", nargs="+", default=list(NOISES), choices=NOISES)
    ap.add_argument("--protocol", default="nst", choices=PROTOCOLS,
                    help="nst: 2-min noisy segments from 5:00, scored from 5:00 (default); whole: noise everywhere")
    ap.add_argument("--no-model", action="store_true", help="signal pipeline only (no AUROC)")
    ap.add_argument("--model", default=None, help="model bundle directory (default: the app's)")
    ap.add_argument("--xqrs", action="store_true",
                    help="also wfdb's XQRS on the analysed lead (a reference point for Se and +P; slow)")
    args = ap.parse_args(argv)
    data_dir = data_dir_arg(args.data_dir)
    nst_dir = Path(args.nst_dir) if args.nst_dir else data_dir.parent / "nstdb"
    if not all((nst_dir / f"{k}.hea").is_file() for k in args.noise):
        print(f"noise records not found in {nst_dir}; pass --nst-dir", file=sys.stderr)
        return 2
    names = record_names(data_dir, args.records, args.which, args.without)
    snrs = [float(s) for s in args.snr]
    t0 = time.perf_counter()
    print(f"# protocol: {args.protocol}; records: {' '.join(names)}; noises: {' '.join(args.noise)}; "
          f"SNR dB: {' '.join(f'{s:g}' for s in snrs)}")
    print(f"# {load_average()} (start)", flush=True)
    rows, res = run(data_dir, nst_dir, names, snrs, args.noise, args.protocol, not args.no_model, args.model,
                    args.xqrs)
    shown = [[r[0], "" if r[1] == "" else f"{r[1]:g}", *r[2:]] for r in rows]
    print(format_table(["noise", "snr_db", "se", "ppv", "se_noisy", "ppv_noisy", "auroc_ok_beats", "lowq_frac",
                        "lowq_noisy", "lowq_clean", "lowq_false_det", "shaded", "false_shaded", "beats"]
                       + (["xqrs_se", "xqrs_ppv"] if args.xqrs else []),
                       shown))
    clean, p6 = pooled_at(res, 6.0)
    print(f"# runtime {time.perf_counter() - t0:.0f} s; {load_average()} (end)")
    print(f"# TOTAL below: protocol {args.protocol}, records {args.records and 'given' or args.which}"
          + (f" without {' '.join(args.without)}" if args.without else ""))
    if p6 is not None:
        print(f"TOTAL snr6_se={p6['se']:.4f} snr6_ppv={p6['ppv']:.4f} "
              f"snr6_auroc_drop={clean['auroc'] - p6['auroc']:.4f} snr6_lowq_frac={p6['lowq']:.4f}")
    else:
        print("TOTAL snr6_se=nan snr6_ppv=nan snr6_auroc_drop=nan snr6_lowq_frac=nan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
