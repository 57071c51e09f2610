"""End-to-end analysis speed on the DS2 records, against XQRS alone and the model forward alone.

    python -m benchmarks.analyze [--data-dir DIR] [--repeats N] [--records 100 103 ...]

For each record (default: the 22 DS2 records of MIT-BIH), warm (model loaded and traced first),
the median over N repeats of:
  read_s     app.ecg.readers.read_record (shown, not part of analyze_s)
  analyze_s  app.analysis.analyze on the read record: filter, detect, segment, forward, score, ensemble
  beats_s    app.ecg.pipeline.extract_beats alone (the signal part of analyze_s)
  xqrs_s     wfdb.processing.XQRS on the same lead at 360 Hz
  model_s    the bundle's compiled forward (ModelBundle.forward) on that record's beat windows
x_xqrs = analyze_s / xqrs_s and x_model = analyze_s / model_s. The LAST line is:

    TOTAL median_s=<s> ratio_vs_xqrs=<median ratio> ratio_vs_model=<median ratio>
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks._util import data_dir_arg, format_table, load_average, median, median_time

HEADER = ["record", "beats", "read_s", "analyze_s", "beats_s", "xqrs_s", "model_s", "x_xqrs", "x_model",
          "beats/s"]


def lead_at_model_rate(rec) -> np.ndarray:
    """The analyzed lead resampled to 360 Hz (what XQRS gets)."""
    from app.config import MODEL_FS
    from app.ecg.filters import fill_nan, resample
    from app.ecg.leads import choose_lead

    return resample(fill_nan(rec.signals[:, choose_lead(rec)]), rec.fs, MODEL_FS)


def run_xqrs(x: np.ndarray, fs: float) -> np.ndarray:
    import logging

    from wfdb import processing

    logging.getLogger("wfdb").setLevel(logging.ERROR)
    xq = processing.XQRS(sig=x, fs=fs)
    xq.detect(verbose=False)
    return np.asarray(xq.qrs_inds, dtype=np.int64)


def record_row(base, bundle, repeats: int, xqrs: bool) -> list:
    from app.analysis import analyze
    from app.config import MODEL_FS
    from app.ecg.pipeline import extract_beats
    from app.ecg.readers import read_record

    rec, read_s = median_time(read_record, repeats, base)
    a, analyze_s = median_time(analyze, repeats, rec, bundle=bundle)
    _, beats_s = median_time(extract_beats, repeats, rec)
    _, model_s = median_time(bundle.forward, repeats, a.windows)
    xqrs_s = float("nan")
    if xqrs:
        _, xqrs_s = median_time(run_xqrs, repeats, lead_at_model_rate(rec), MODEL_FS)
    n = int(a.summary["n_beats"])
    return [base.name, n, read_s, analyze_s, beats_s, xqrs_s, model_s, analyze_s / xqrs_s,
            analyze_s / model_s, f"{n / analyze_s:.0f}"]


def main(argv: list[str] | None = None) -> int:
    from app.ecg.aami import DS2

    ap = argparse.ArgumentParser(prog="python -m benchmarks.analyze", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--records", nargs="*", default=None, help="record names (default: DS2)")
    ap.add_argument("--no-xqrs", action="store_true", help="skip XQRS (ratio reported as nan)")
    args = ap.parse_args(argv)
    data_dir = data_dir_arg(args.data_dir)
    names = [n for n in (args.records or DS2) if (data_dir / f"{n}.hea").is_file()]
    if not names:
        print(f"no records found in {data_dir}", file=sys.stderr)
        return 2

    from app.analysis import analyze
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle

    bundle = load_bundle()
    analyze(read_record(data_dir / names[0]), bundle=bundle)  # warm: load, trace, first-call costs
    print(f"# {load_average()} (start); repeats={args.repeats}; model {bundle.model_id}", flush=True)
    rows = []
    for name in names:
        rows.append(record_row(data_dir / name, bundle, args.repeats, not args.no_xqrs))
        print(f"# {name}: analyze {rows[-1][3]:.3f} s", file=sys.stderr, flush=True)
    print(format_table(HEADER, rows))
    print(f"# {load_average()} (end)")
    print(f"TOTAL median_s={median(r[3] for r in rows):.3f} ratio_vs_xqrs={median(r[7] for r in rows):.3f} "
          f"ratio_vs_model={median(r[8] for r in rows):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
