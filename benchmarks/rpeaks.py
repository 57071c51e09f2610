"""R-peak detection benchmark on MIT-BIH: accuracy against the reference and speed against XQRS.

    python -m benchmarks.rpeaks [--data-dir DIR] [--records 100 101 ...] [--no-xqrs] [--single-lead]

One row per record: reference beats, detections, TP, FN, FP, Se, +P, milliseconds for our detector
and for wfdb's XQRS on the same lead (timed in the same run). Beats are compared beat by beat with a
150 ms window (bxb / ANSI-AAMI EC57); reference beats are the AAMI beat annotations; as in EC57,
ventricular flutter/fibrillation episodes (between '[' and ']' annotations, record 207) are left out
of the comparison, and the detections inside them are counted on a separate line. Our detector gets
the record's other ECG lead as the app's pipeline gives it (``--single-lead``: the analysed lead only,
as XQRS). The LAST line is:

    TOTAL se=<0..1> ppv=<0..1> f1=<0..1> speedup_vs_xqrs=<median ratio>
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from app.ecg.errors import InvalidRecordError
from app.ecg.leads import choose_lead, helper_leads
from app.ecg.matching import excluded_mask, match_beats
from app.ecg.readers import read_record
from app.ecg.rpeaks import detect_rpeaks
from benchmarks._util import load_average

WINDOW_S = 0.15


def vf_episodes(base: Path) -> list[tuple[int, int]]:
    """(start, end) sample pairs of ventricular flutter/fibrillation episodes ('[' ... ']')."""
    import wfdb

    try:
        ann = wfdb.rdann(str(base), "atr")
    except Exception:  # noqa: BLE001 - no or unreadable annotations: nothing to exclude
        return []
    out, start = [], None
    for s, sym in zip(ann.sample, ann.symbol):
        if sym == "[":
            start = int(s)
        elif sym == "]" and start is not None:
            out.append((start, int(s)))
            start = None
    if start is not None:
        out.append((start, int(ann.sample[-1]) + 1))
    return out


def time_call(fn, *args) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000.0


def run_xqrs(x: np.ndarray, fs: float) -> np.ndarray:
    import logging

    from wfdb import processing

    logging.getLogger("wfdb").setLevel(logging.ERROR)
    xq = processing.XQRS(sig=x, fs=fs)
    xq.detect(verbose=False)
    return np.asarray(xq.qrs_inds, dtype=np.int64)


def record_names(data_dir: Path, records: list[str] | None) -> list[str]:
    if records:
        return records
    listing = data_dir / "RECORDS"
    if listing.is_file():
        return listing.read_text().split()
    return sorted(p.stem for p in data_dir.glob("*.hea"))


def main(argv: list[str] | None = None) -> int:
    from app.config import default_data_dir

    ap = argparse.ArgumentParser(prog="python -m benchmarks.rpeaks", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--records", nargs="*", default=None)
    ap.add_argument("--no-xqrs", action="store_true", help="skip XQRS (speed-up reported as nan)")
    ap.add_argument("--single-lead", action="store_true", help="our detector on the analysed lead only")
    args = ap.parse_args(argv)
    if args.data_dir is None or not Path(args.data_dir).is_dir():
        print(f"data directory not found: {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2
    names = record_names(Path(args.data_dir), args.records)
    print(f"# {load_average()} (start)", flush=True)
    head = f"{'record':>6} {'lead':>5} {'ref':>6} {'det':>6} {'TP':>6} {'FN':>4} {'FP':>4} {'Se':>7} {'+P':>7}" \
           f" {'ms_ours':>8} {'ms_xqrs':>8} {'x':>6} {'xqrs_Se':>7} {'xqrs_+P':>7} {'vf_det':>6}"
    print(head)
    tp = fn = fp = 0
    tp_all = fp_all = 0
    ratios, ms_ours_all = [], []
    warm = False
    for name in names:
        base = Path(args.data_dir) / name
        try:
            rec = read_record(base)
        except InvalidRecordError as e:
            print(f"{name:>6} skipped: {e}", file=sys.stderr)
            continue
        li = choose_lead(rec)
        x = rec.signals[:, li].astype(np.float64)
        # as the pipeline: the other ECG leads (detect_rpeaks uses at most MAX_LEADS - 1 of them)
        others = [] if args.single_lead else [rec.signals[:, j] for j in helper_leads(rec, li)]
        if not warm:
            detect_rpeaks(x[: int(60 * rec.fs)], rec.fs)
            warm = True
        det, ms = time_call(detect_rpeaks, x, rec.fs, others)
        ref = rec.ref_samples if rec.ref_samples is not None else np.zeros(0, np.int64)
        vf = vf_episodes(base)
        in_vf = excluded_mask(det, vf) if vf else np.zeros(len(det), bool)
        m = match_beats(det[~in_vf], ref, rec.fs, WINDOW_S)
        m_all = match_beats(det, ref, rec.fs, WINDOW_S)
        tp, fn, fp = tp + m.tp, fn + m.fn, fp + m.fp
        tp_all, fp_all = tp_all + m_all.tp, fp_all + m_all.fp
        ms_ours_all.append(ms)
        xs = "nan"
        xq_ms, xq_se, xq_ppv = float("nan"), float("nan"), float("nan")
        if not args.no_xqrs:
            xq, xq_ms = time_call(run_xqrs, x, rec.fs)
            mx = match_beats(xq[~excluded_mask(xq, vf)] if vf else xq, ref, rec.fs, WINDOW_S)
            xq_se, xq_ppv = mx.se, mx.ppv
            ratios.append(xq_ms / ms)
            xs = f"{xq_ms / ms:.1f}"
        print(f"{name:>6} {rec.leads[li]:>5} {len(ref):>6} {m.n_detected:>6} {m.tp:>6} {m.fn:>4} {m.fp:>4}"
              f" {m.se:7.4f} {m.ppv:7.4f} {ms:8.1f} {xq_ms:8.1f} {xs:>6} {xq_se:7.4f} {xq_ppv:7.4f}"
              f" {int(in_vf.sum()):>6}", flush=True)
    if not ms_ours_all:
        print("no record could be read", file=sys.stderr)
        return 2
    se = tp / (tp + fn) if tp + fn else 1.0
    ppv = tp / (tp + fp) if tp + fp else 1.0
    f1 = 2 * tp / (2 * tp + fn + fp) if tp else 0.0
    speed = float(np.median(ratios)) if ratios else float("nan")
    ppv_all = tp_all / (tp_all + fp_all) if tp_all + fp_all else 1.0
    print(f"beats={tp + fn} TP={tp} FN={fn} FP={fp} median_ms_ours={np.median(ms_ours_all):.1f}"
          f" (without the VF-episode exclusion: FP={fp_all} ppv={ppv_all:.5f})")
    print(f"# {load_average()} (end)")
    print(f"TOTAL se={se:.5f} ppv={ppv:.5f} f1={f1:.5f} speedup_vs_xqrs={speed:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
