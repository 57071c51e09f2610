"""Holter-scale runs: long records through `python -m app score` as fresh processes.

    python -m benchmarks.holter [--data-dir DIR] [--hours 0.5 2 8 24]

Each record of the given length is built by concatenating MIT-BIH records (the MLII lead and the
other lead of each; 114's leads swapped; 102 and 104, which have no MLII, left out; the list
cycled when more than its 45 records are needed), written as a 2-lead WFDB record (format 16,
360 Hz, no annotations) into a temporary directory that is removed afterwards. Each record is then
scored by `python -m app score REC --out tmp.csv` in a fresh process: wall time (process start,
TensorFlow import and model load included), CPU time (user + system), peak RSS (the kernel's
ru_maxrss of the child) and beats per second of wall time. The LAST line is:

    TOTAL h24_s=<s> h24_rss_mb=<MB> scaling_exponent=<slope of log time vs log hours>

(h24_* are the longest run's: the 24-hour record by default; a line before TOTAL says so when the
longest run is shorter.)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._util import child_env, data_dir_arg, format_table, load_average, run_child

FS = 360
GAIN = 200.0
SOURCE_LEN = 650000  # samples of one MIT-BIH record (30 min 5 s)
HEADER = ["hours", "samples", "dat_mb", "beats", "wall_s", "cpu_s", "rss_mb", "beats/s"]


def source_records(data_dir: Path) -> list[str]:
    """MIT-BIH records with an MLII lead, in database order."""
    from app.ecg.aami import DS1, DS2

    names = sorted(set(DS1) | set(DS2) | {"102", "104", "107", "217"})
    return [n for n in names if n not in ("102", "104") and (data_dir / f"{n}.hea").is_file()]


def mlii_first(data_dir: Path, name: str) -> np.ndarray:
    """(n, 2) int16 digital samples (baseline removed, gain 200/mV), MLII first."""
    import wfdb

    rec = wfdb.rdrecord(str(data_dir / name), physical=False)
    d = rec.d_signal.astype(np.int64) - np.asarray(rec.baseline, np.int64)
    d = np.round(d * (GAIN / np.asarray(rec.adc_gain, np.float64))).astype(np.int64)
    order = [rec.sig_name.index("MLII")] + [i for i in range(d.shape[1]) if rec.sig_name[i] != "MLII"][:1]
    return np.clip(d[:, order], -32767, 32767).astype(np.int16)


def write_long_record(data_dir: Path, out_dir: Path, hours: float) -> tuple[Path, int]:
    """A 2-lead format-16 WFDB record of ``hours`` built from MIT-BIH records; (path, samples)."""
    name = f"holter_{str(hours).replace('.', 'p')}h"
    want = int(round(hours * 3600 * FS))
    sources = source_records(data_dir)
    n, first, checksum = 0, None, np.zeros(2, np.int64)
    with open(out_dir / f"{name}.dat", "wb") as f:
        i = 0
        while n < want:
            d = mlii_first(data_dir, sources[i % len(sources)])[: want - n]
            first = d[0] if first is None else first
            checksum += d.sum(axis=0, dtype=np.int64)
            f.write(d.astype("<i2").tobytes())
            n += len(d)
            i += 1
    cks = [int((c + 32768) % 65536 - 32768) for c in checksum]
    lines = [f"{name} 2 {FS} {n}",
             f"{name}.dat 16 {GAIN:g} 16 0 {int(first[0])} {cks[0]} 0 MLII",
             f"{name}.dat 16 {GAIN:g} 16 0 {int(first[1])} {cks[1]} 0 V1"]
    (out_dir / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return out_dir / name, n


def long_record_data_dir(data_dir_option) -> Path | None:
    """The MIT-BIH directory for long records, or None after saying on stderr why it cannot serve."""
    data_dir = data_dir_arg(data_dir_option)
    if not source_records(data_dir):
        print(f"no MIT-BIH records with an MLII lead in {data_dir}", file=sys.stderr)
        return None
    return data_dir


def score_run(record: Path, out_csv: Path):
    """`python -m app score RECORD --out CSV` in a fresh process: ChildRun and the beat count."""
    res = run_child([sys.executable, "-m", "app", "score", str(record), "--out", str(out_csv)], env=child_env())
    if res.returncode != 0:
        raise RuntimeError(f"score failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    with open(out_csv, "rb") as f:
        beats = sum(1 for _ in f) - 1
    out_csv.unlink()
    return res, beats


def scaling_exponent(hours: list[float], seconds: list[float]) -> float:
    if len(hours) < 2:
        return float("nan")
    return float(np.polyfit(np.log(hours), np.log(seconds), 1)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.holter", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--hours", type=float, nargs="+", default=[0.5, 2, 8, 24])
    args = ap.parse_args(argv)
    data_dir = long_record_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    print(f"# {load_average()} (start)", flush=True)
    rows, hours, walls = [], [], []
    with tempfile.TemporaryDirectory(prefix="ecg-holter-") as tmp:
        tmp = Path(tmp)
        for h in sorted(args.hours):
            rec, n = write_long_record(data_dir, tmp, h)
            dat_mb = (tmp / f"{rec.name}.dat").stat().st_size / 2**20
            res, beats = score_run(rec, tmp / "tmp.csv")
            for p in tmp.glob(f"{rec.name}.*"):
                p.unlink()
            rows.append([f"{h:g}", n, dat_mb, beats, res.wall_s, res.cpu_s, res.peak_rss_mb,
                         f"{beats / res.wall_s:.0f}"])
            hours.append(h)
            walls.append(res.wall_s)
            print(f"# {h:g} h: {res.wall_s:.1f} s, {res.peak_rss_mb:.0f} MB ({load_average()})",
                  file=sys.stderr, flush=True)
    print(format_table(HEADER, rows))
    print(f"# {load_average()} (end)")
    big = max(range(len(hours)), key=lambda i: hours[i])
    if hours[big] != 24:
        print(f"# h24_* below are the longest run's: {hours[big]:g} h, not 24 h")
    print(f"TOTAL h24_s={walls[big]:.2f} h24_rss_mb={rows[big][6]:.0f} "
          f"scaling_exponent={scaling_exponent(hours, walls):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
