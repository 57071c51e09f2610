"""Readers: WFDB records (from a path or from uploaded bytes) and CSV files into a `Recording`.

Every problem with the input raises `InvalidRecordError(filename, problem)`; no other exception
type escapes for bad input (wfdb's own errors on corrupt files are caught and converted).
"""
from __future__ import annotations

import io
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from app.ecg.aami import is_beat_symbol
from app.ecg.errors import InvalidRecordError
from app.ecg.record import Recording

MIN_DURATION_S = 10.0
WFDB_EXTS = (".hea", ".dat", ".atr")
CSV_EXTS = (".csv", ".txt", ".tsv")
UNIT_SCALE = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}
_SLACK_BYTES = 8


# ---------------------------------------------------------------- shared checks
def default_max_duration_s() -> float:
    from app.config import get_settings  # the one place settings live

    return float(get_settings().max_duration_s)


def check_name(name) -> str:
    """A bare file name (no directory part, no traversal); the name is returned unchanged."""
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise InvalidRecordError(str(name), "empty or invalid file name")
    if "/" in name or "\\" in name or "\x00" in name or os.path.basename(name) != name \
            or re.match(r"^[A-Za-z]:", name):
        raise InvalidRecordError(name, "file name has a directory part; upload bare file names only")
    return name


def unit_scale(filename: str, units: str | None) -> float:
    """Factor that converts ``units`` to mV ('' or None means mV)."""
    u = (units or "mV").strip().lower()
    if u not in UNIT_SCALE:
        raise InvalidRecordError(filename, f"unknown signal units {units!r}; use mV, uV or V")
    return UNIT_SCALE[u]


def check_duration(filename: str, n_samples: int, fs: float, max_duration_s: float | None) -> None:
    dur = n_samples / fs
    if dur < MIN_DURATION_S:
        raise InvalidRecordError(filename, f"record is {dur:.1f} s long; at least {MIN_DURATION_S:.0f} s is needed")
    limit = default_max_duration_s() if max_duration_s is None else float(max_duration_s)
    if dur > limit:
        raise InvalidRecordError(filename, f"record is {duration_text(dur)} long; the limit is {duration_text(limit)} "
                                           "(split it, or raise ECG_MAX_DURATION_H)")


def duration_text(seconds: float) -> str:
    """'90 s', '12.5 min', '26.2 h': a duration in the unit that keeps it readable (3 significant digits)."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def check_fs(filename: str, fs) -> float:
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise InvalidRecordError(filename, f"sampling rate {fs!r} is not a number") from None
    if not math.isfinite(fs) or fs <= 0:
        raise InvalidRecordError(filename, f"sampling rate must be positive, got {fs:g} Hz")
    return fs


def check_leads(filename: str, signals: np.ndarray, leads: list[str]) -> None:
    """At least one usable lead: refuse a record whose every lead is all-NaN or flat."""
    problems = lead_problems(signals)
    if all(problems):
        what = "; ".join(f"lead {name!r} is {p}" for name, p in zip(leads, problems))
        raise InvalidRecordError(filename, f"no usable ECG lead ({what})")


def lead_problems(signals: np.ndarray) -> list[str]:
    """Per lead: '' when usable, else 'all-NaN' or 'flat'."""
    out = []
    for j in range(signals.shape[1]):
        col = signals[:, j]
        ok = np.isfinite(col)
        n_ok = int(np.count_nonzero(ok))
        finite = col if n_ok == col.size else col[ok]  # no copy of a clean lead
        if n_ok == 0:
            out.append("all-NaN")
        elif n_ok < 0.5 * col.size:
            out.append("mostly NaN")
        elif float(finite.max() - finite.min()) <= 0.0:
            out.append("flat")
        else:
            out.append("")
    return out


# ---------------------------------------------------------------- WFDB
def _signal_file_names(header_path: Path) -> list[str]:
    """First token of each signal line (the signal file names), read without wfdb."""
    text = header_path.read_bytes().decode("latin-1")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [ln.split()[0] for ln in lines[1:]]


def _record_line(header_path: Path) -> list[str]:
    try:
        text = header_path.read_bytes().decode("latin-1")
    except OSError as e:
        raise InvalidRecordError(header_path.name, f"header cannot be read ({e.strerror})") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line.split()
    raise InvalidRecordError(header_path.name, "header is empty")


def _header_fs(hea_name: str, tokens: list[str]) -> float:
    if len(tokens) < 2:
        raise InvalidRecordError(hea_name, "header record line lacks the number of signals")
    if "/" in tokens[0]:
        raise InvalidRecordError(hea_name, "multi-segment records are not supported")
    if len(tokens) < 3:
        raise InvalidRecordError(hea_name, "header gives no sampling rate (third field of the record line)")
    raw = re.split(r"[/(]", tokens[2])[0]
    return check_fs(hea_name, raw)


def _expected_bytes(fmt: str, n_values: int) -> float | None:
    from wfdb.io._signal import BYTES_PER_SAMPLE

    bps = BYTES_PER_SAMPLE.get(str(fmt))
    if not bps:
        return None  # compressed (FLAC) formats: size unknown in advance
    return n_values * bps


def _check_signal_files(base: Path, hea_name: str, header, max_duration_s, uploaded: bool = True) -> None:
    """Signal files named by the header: bare names, present, and as long as the header says.
    ``uploaded``: the files came in one upload (else they are read from ``base``'s directory)."""
    n_sig = int(header.n_sig or 0)
    if n_sig < 1:
        raise InvalidRecordError(hea_name, "header declares no signals")
    sig_len = header.sig_len
    if not sig_len:
        raise InvalidRecordError(hea_name, "header gives no sample count (fourth field of the record line)")
    check_duration(hea_name, int(sig_len), float(header.fs), max_duration_s)
    names = list(header.file_name or [])
    if len(names) != n_sig or not header.fmt or len(header.fmt) != n_sig:
        raise InvalidRecordError(hea_name, "header signal lines are missing or incomplete")
    per_file: dict[str, list[int]] = {}
    for i, fname in enumerate(names):
        per_file.setdefault(fname, []).append(i)
    for fname, idx in per_file.items():
        if fname is None or fname == "~" or fname == "":
            raise InvalidRecordError(hea_name, "header names no signal file")
        if "/" in fname or "\\" in fname or os.path.basename(fname) != fname or fname in (".", ".."):
            raise InvalidRecordError(hea_name, f"header names signal file {fname!r} with a directory part")
        path = base.parent / fname
        if not path.is_file():
            raise InvalidRecordError(fname, f"signal file named by {hea_name} was not given" if uploaded else
                                     f"signal file named by {hea_name} not found in {base.parent}")
        fmts = {str(header.fmt[i]) for i in idx}
        if len(fmts) != 1:
            raise InvalidRecordError(hea_name, f"signals in {fname} mix storage formats {sorted(fmts)}")
        fmt = fmts.pop()
        spf = sum(int((header.samps_per_frame or [1] * n_sig)[i] or 1) for i in idx)
        offset = max(int((header.byte_offset or [0] * n_sig)[i] or 0) for i in idx)
        need = _expected_bytes(fmt, int(sig_len) * spf)
        if need is None:
            continue
        size = path.stat().st_size - offset
        if size < math.floor(need):
            have = int(size / (need / sig_len)) if need else 0
            raise InvalidRecordError(fname, f"signal file is truncated: {size} bytes hold about {max(have, 0)} "
                                            f"samples, the header says {sig_len}")
        if size > math.ceil(need) + _SLACK_BYTES:
            have = int(size / (need / sig_len))
            raise InvalidRecordError(fname, f"sample count mismatch: the file holds about {have} samples, "
                                            f"the header says {sig_len}")


def _read_annotations(base: Path, n_samples: int, fs: float):
    """(samples, symbols, outside): the ``.atr``'s beat annotations inside the signal, sorted, and
    how many beat annotations lie outside it."""
    atr = base.with_name(base.name + ".atr")
    if not atr.is_file():
        return None, None, 0
    import wfdb

    try:
        ann = wfdb.rdann(str(base), "atr")
    except Exception as e:  # noqa: BLE001 - wfdb raises many types on corrupt files
        raise InvalidRecordError(atr.name, f"annotation file cannot be read ({type(e).__name__})") from None
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol if ann.symbol is not None else [], dtype="<U2")
    if len(samples) != len(symbols):
        raise InvalidRecordError(atr.name, "annotation file is inconsistent")
    afs = getattr(ann, "fs", None)
    if afs and float(afs) > 0 and abs(float(afs) - fs) > 1e-6:
        samples = np.round(samples * fs / float(afs)).astype(np.int64)
    beat = np.array([is_beat_symbol(s) for s in symbols], dtype=bool) if len(symbols) else np.zeros(0, bool)
    keep = beat & (samples >= 0) & (samples < n_samples)
    order = np.argsort(samples[keep], kind="stable")
    return samples[keep][order], symbols[keep][order].astype("<U1"), int(np.count_nonzero(beat & ~keep))


def _guarded(filename: str, fn, *args, **kwargs):
    """Call ``fn``; any exception other than InvalidRecordError becomes one naming ``filename``."""
    try:
        return fn(*args, **kwargs)
    except (InvalidRecordError, ImportError):
        raise  # ImportError: a broken installation, not a bad file
    except MemoryError:
        raise InvalidRecordError(filename, "record is too large to read into memory") from None
    except OSError as e:
        raise InvalidRecordError(filename, f"cannot be read ({e.strerror or type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - corrupt input makes libraries raise many types
        raise InvalidRecordError(filename, f"file is corrupt or not a valid record ({type(e).__name__})") from None


def _read_wfdb_base(base: Path, display: str, max_duration_s=None, source: str = "") -> Recording:
    """Read the record whose header is ``base``.hea, signal files beside it."""
    return _guarded(base.name + ".hea", _read_wfdb_base_unguarded, base, display, max_duration_s, source)


def _read_wfdb_base_unguarded(base: Path, display: str, max_duration_s=None, source: str = "") -> Recording:
    import wfdb

    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        where = "" if source == "upload" else f" ({hea})"
        raise InvalidRecordError(display, f"WFDB header (.hea) not found{where}")
    tokens = _record_line(hea)
    fs = _header_fs(hea.name, tokens)
    for fname in _signal_file_names(hea):
        if "/" in fname or "\\" in fname or fname in (".", ".."):
            raise InvalidRecordError(hea.name, f"header names signal file {fname!r} with a directory part")
    try:
        header = wfdb.rdheader(str(base))
    except InvalidRecordError:
        raise
    except Exception as e:  # noqa: BLE001
        raise InvalidRecordError(hea.name, f"header cannot be parsed ({type(e).__name__}: {e})") from None
    if not hasattr(header, "file_name") or getattr(header, "n_seg", None):
        raise InvalidRecordError(hea.name, "multi-segment records are not supported")
    header.fs = fs
    _check_signal_files(base, hea.name, header, max_duration_s, uploaded=source == "upload")
    try:
        rec = wfdb.rdrecord(str(base), physical=True, return_res=32)  # float32 signals: half the memory
    except Exception as e:  # noqa: BLE001
        raise InvalidRecordError(hea.name, f"signal data cannot be read ({type(e).__name__}: {e})") from None
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] != int(header.sig_len):
        got = 0 if sig is None else sig.shape[0]
        raise InvalidRecordError(hea.name, f"sample count mismatch: read {got}, the header says {header.sig_len}")
    leads = [str(s) if s else f"lead{i + 1}" for i, s in enumerate(rec.sig_name or [None] * sig.shape[1])]
    units = list(rec.units or ["mV"] * sig.shape[1])
    out = np.empty(sig.shape, dtype=np.float32)
    for j in range(sig.shape[1]):
        try:
            scale = unit_scale(hea.name, units[j] or "mV")
        except InvalidRecordError:
            scale = 1.0  # unknown units: keep the values as they are (assume mV)
        out[:, j] = sig[:, j] * scale
    check_leads(hea.name, out, leads)
    ref_s, ref_y, ref_outside = _read_annotations(base, out.shape[0], fs)
    return Recording(name=base.name, signals=out, fs=fs, leads=leads, units=["mV"] * len(leads),
                     ref_samples=ref_s, ref_symbols=ref_y, source=source, ref_outside=ref_outside)


def read_wfdb_files(files: dict[str, bytes], max_duration_s: float | None = None) -> Recording:
    """A WFDB record from uploaded files (name -> bytes): one ``.hea``, its signal files, optional ``.atr``.

    Files are written only into a temporary directory that is removed afterwards; names with a
    directory part and headers naming a signal file that was not given are refused.
    """
    if not files:
        raise InvalidRecordError("upload", "no files given")
    for name in files:
        check_name(name)
    headers = [n for n in files if n.lower().endswith(".hea")]
    if not headers:
        raise InvalidRecordError(", ".join(sorted(files)), "no WFDB header (.hea) among the files")
    if len(headers) > 1:
        raise InvalidRecordError(", ".join(sorted(headers)), "several headers given; upload one record at a time")
    stem = headers[0][:-4]
    if not stem:
        raise InvalidRecordError(headers[0], "header file has no record name")
    with tempfile.TemporaryDirectory(prefix="ecg-upload-") as tmp:
        for name, data in files.items():
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise InvalidRecordError(name, "file content is not bytes")
            target = Path(tmp) / name
            if target.resolve().parent != Path(tmp).resolve():
                raise InvalidRecordError(name, "file name has a directory part; upload bare file names only")
            target.write_bytes(bytes(data))
        base = Path(tmp) / stem
        if headers[0] != stem + ".hea":  # e.g. upper-case extension
            (Path(tmp) / headers[0]).rename(base.with_name(stem + ".hea"))
        rec = _read_wfdb_base(base, headers[0], max_duration_s, source="upload")
    return rec


def _wfdb_base(path: Path) -> Path:
    if path.suffix.lower() in WFDB_EXTS:
        return path.with_suffix("")
    return path


def read_record(path, fs: float | None = None, units: str = "mV",
                max_duration_s: float | None = None) -> Recording:
    """A record from a path: WFDB (with or without extension) or a CSV/TXT file."""
    p = Path(path)
    if p.suffix.lower() in CSV_EXTS:
        try:
            data = p.read_bytes()
        except OSError as e:
            raise InvalidRecordError(p.name, f"cannot be read ({e.strerror})") from None
        return read_csv_bytes(data, p.name, fs=fs, units=units, max_duration_s=max_duration_s)
    base = _wfdb_base(p)
    rec = _read_wfdb_base(base, p.name, max_duration_s, source=str(base))
    return rec


# ---------------------------------------------------------------- CSV
_TIME_NAME = re.compile(r"^(t|time|times|timestamp|elapsed|sec|secs|seconds|s|ms|msec|milliseconds)\b"
                        r"|^time[\s_\-(\[]|\btime\b")
_INDEX_NAME = re.compile(r"^(sample|samples|index|idx|n|#|sample\s*#|sample_?no|sample_?number)$")


def _clean_name(s: str) -> str:
    return s.strip().strip("'\"").strip()


def _sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        return "\\s+" if len(line.split()) > 1 else ","
    return best


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return tok.strip().lower() in ("", "nan", "na")


def _time_unit_from_name(name: str) -> str | None:
    n = name.lower()
    if re.search(r"(\bms\b|msec|milli|\(ms\)|_ms\b|\[ms\])", n):
        return "ms"
    if re.search(r"(\(s\)|\[s\]|_s\b|\bsec|\bseconds?\b|^s$)", n):
        return "s"
    return None


def _looks_like_time(col: np.ndarray) -> bool:
    if len(col) < 3 or not np.all(np.isfinite(col)):
        return False
    d = np.diff(col)
    return bool(np.all(d > 0) and np.median(d) > 0)


def read_csv_bytes(data: bytes, name: str, fs: float | None = None, units: str = "mV",
                   max_duration_s: float | None = None) -> Recording:
    """A CSV/TXT record: optional header, `,` `;` or tab, optional time column (s or ms) or ``fs``."""
    return _guarded(name, _read_csv_unguarded, data, name, fs, units, max_duration_s)


def _read_csv_unguarded(data: bytes, name: str, fs: float | None, units: str,
                        max_duration_s: float | None) -> Recording:
    import pandas as pd

    scale = unit_scale(name, units)
    if fs is not None:
        fs = check_fs(name, fs)
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = bytes(data).decode("latin-1")
        except Exception:  # noqa: BLE001
            raise InvalidRecordError(name, "not a text file") from None
    if "\x00" in text[:4096]:
        raise InvalidRecordError(name, "not a text file (binary content)")
    lines = (ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
    first = next(lines, None)
    if first is None:
        raise InvalidRecordError(name, "file is empty")
    delim = _sniff_delimiter(first)
    tokens = re.split(delim, first.strip()) if delim == "\\s+" else first.split(delim)
    has_header = not all(_is_number(t.strip()) for t in tokens)
    decimal = "."
    if delim == ";" and "," in text[:20000] and "." not in re.sub(r"[^\d.,;\n]", "", text[:20000]):
        decimal = ","
    # blank lines between data rows are missing samples (all-NaN rows, counted and interpolated
    # downstream), not rows to skip: skipping one would shift every later sample of a CSV without a
    # time column; comment lines and the blank lines before and after the data carry nothing
    raw_lines = text.splitlines()
    body = [ln for ln in raw_lines if not ln.lstrip().startswith("#")]
    filled = [i for i, ln in enumerate(body) if ln.strip()]
    text = "\n".join(body[filled[0]:filled[-1] + 1]) + "\n"
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, header=0 if has_header else None, comment="#",
                         skip_blank_lines=False, skipinitialspace=True, decimal=decimal,
                         engine="c" if delim != "\\s+" else "python", dtype=np.float64,
                         na_values=["", "nan", "NaN", "NA"])
    except ValueError as e:
        msg = str(e).split("\n")[0][:120]
        where = _bad_cell(raw_lines, delim, has_header, decimal)
        raise InvalidRecordError(name, where or f"non-numeric value in the data ({msg})") from None
    except Exception as e:  # noqa: BLE001 - pandas parser errors
        msg = str(e).split("\n")[0][:120]
        raise InvalidRecordError(name, f"cannot be parsed as CSV ({msg})") from None
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InvalidRecordError(name, "no data rows")
    arr = df.to_numpy(dtype=np.float64)
    names = [_clean_name(str(c)) for c in df.columns] if has_header else [""] * arr.shape[1]
    time_col, index_col = None, None
    if has_header:
        for j, c in enumerate(names):
            lc = c.lower()
            if _INDEX_NAME.match(lc):
                index_col = j
            elif time_col is None and _TIME_NAME.search(lc):
                time_col = j
    if time_col is None and index_col is None and arr.shape[1] >= 2:
        first_col = arr[~np.isnan(arr).all(axis=1), 0]  # without the blank lines
        if _looks_like_time(first_col):
            d = np.diff(first_col)
            integer_steps = np.allclose(first_col, np.round(first_col)) and np.allclose(d, 1.0)
            if integer_steps:
                index_col = 0
            else:
                time_col = 0
    if time_col is not None and np.isnan(arr[:, time_col]).any():
        arr = arr[~np.isnan(arr[:, time_col])]  # a row without a time has no place: blank lines
    drop = {j for j in (time_col, index_col) if j is not None}
    lead_idx = [j for j in range(arr.shape[1]) if j not in drop]
    if not lead_idx:
        raise InvalidRecordError(name, "no signal column besides the time column")
    if fs is None:
        if time_col is None:
            hint = " (the first column looks like sample numbers)" if index_col is not None else ""
            raise InvalidRecordError(name, f"missing sampling rate{hint}: add a time column, or give the sampling "
                                     "rate in Hz (upload page: the 'Sampling rate (CSV)' field; API: fs; "
                                     "command line: --fs)")
        t = arr[:, time_col]
        if not _looks_like_time(t):
            raise InvalidRecordError(name, f"time column {names[time_col] or 1!s} is not strictly increasing")
        span = float(t[-1] - t[0])
        unit = _time_unit_from_name(names[time_col]) if has_header else None
        if unit is None:
            unit = "ms" if np.median(np.diff(t)) > 0.05 else "s"
        if unit == "ms":
            span /= 1000.0
        est = (len(t) - 1) / span
        # a rate within 10 ppm of a whole number is that number (times written to a few decimals)
        fs = check_fs(name, float(round(est)) if abs(est - round(est)) <= 1e-5 * est else est)
    named = [_unit_in_name(names[j]) for j in lead_idx]  # "ECG (uV)" -> ("ECG", "uv")
    scales = np.array([_column_scale(name, names[j], u, units, scale) for j, (_, u) in zip(lead_idx, named)])
    with np.errstate(over="ignore"):  # beyond float32 range -> inf: a missing sample, counted in the summary
        sig = (arr[:, lead_idx] * scales).astype(np.float32)
    leads = [base or (f"lead{k + 1}" if len(lead_idx) > 1 else "ECG") for k, (base, _) in enumerate(named)]
    check_duration(name, sig.shape[0], fs, max_duration_s)
    check_leads(name, sig, leads)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return Recording(name=stem, signals=sig, fs=float(fs), leads=leads, units=["mV"] * len(leads),
                     source="csv")


_UNIT_SUFFIX = re.compile(r"^(.*?)[\s_]*(?:[(\[]\s*(mv|uv|µv|μv|v|nv)\s*[)\]]|_(mv|uv|µv|μv))$", re.I)


def _unit_in_name(name: str) -> tuple[str, str | None]:
    """(lead name, unit) of a column header that names its unit: 'ECG (mV)', 'II [uV]', 'V1_uV'."""
    m = _UNIT_SUFFIX.match(name or "")
    if not m or not m.group(1):
        return name, None
    return m.group(1), (m.group(2) or m.group(3)).lower()


def _column_scale(filename: str, column: str, header_unit: str | None, units: str | None, scale: float) -> float:
    """To-mV factor of one column: the unit its header names, else the units option. A header unit
    that contradicts a units option other than the default mV is an error naming both."""
    if header_unit is None:
        return scale
    given = (units or "mV").strip().lower()
    if given != "mv" and UNIT_SCALE[header_unit] != scale:
        raise InvalidRecordError(filename, f"column {column!r} is in {_unit_text(header_unit)}, but the units "
                                 f"option says {_unit_text(given)}; set the units to match the file")
    return UNIT_SCALE[header_unit]


def _unit_text(unit: str) -> str:
    """A unit as people write it: 'mv' -> 'mV', 'uv' -> 'uV', 'v' -> 'V' (for messages)."""
    u = unit.strip().lower()
    return u[:-1] + "V" if u.endswith("v") and u in UNIT_SCALE else unit


def _bad_cell(lines: list[str], delim: str, has_header: bool, decimal: str = ".") -> str:
    """"line N: 'x' is not a number" for the first data cell that is neither a number nor empty
    (lines counted as in the file, comment lines included), or "" when there is none."""
    missing = {"", "nan", "na"}
    header_seen = not has_header
    for i, ln in enumerate(lines, 1):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        if not header_seen:
            header_seen = True
            continue
        cells = re.split(delim, ln.strip()) if delim == "\\s+" else ln.split(delim)
        for c in cells:
            v = c.strip().strip('"')
            if v.lower() not in missing and not _is_number(v.replace(decimal, ".") if decimal != "." else v):
                return f"line {i}: {v!r} is not a number"
    return ""


def read_upload(files: dict[str, bytes], fs: float | None = None, units: str = "mV",
                max_duration_s: float | None = None) -> Recording:
    """Dispatch an upload: a single .csv/.txt file -> CSV, otherwise WFDB files."""
    if not files:
        raise InvalidRecordError("upload", "no files given")
    for n in files:
        check_name(n)
    if len(files) == 1:
        (n, data), = files.items()
        if n.lower().endswith(CSV_EXTS):
            return read_csv_bytes(data, n, fs=fs, units=units, max_duration_s=max_duration_s)
    csvs = [n for n in files if n.lower().endswith(CSV_EXTS)]
    if len(csvs) == 1 and not any(n.lower().endswith(".hea") for n in files):
        others = sorted(n for n in files if n not in csvs)
        raise InvalidRecordError(", ".join(sorted(files)), f"a CSV is read on its own ({', '.join(others)} "
                                 "cannot go with it: reference annotations need a WFDB record); upload "
                                 f"{csvs[0]} alone")
    if csvs and not any(n.lower().endswith(".hea") for n in files):
        raise InvalidRecordError(", ".join(sorted(files)), "upload one CSV file at a time")
    if not any(n.lower().endswith(".hea") for n in files):
        raise InvalidRecordError(", ".join(sorted(files)),
                                 "unsupported upload: give a .hea with its .dat (optional .atr), or one .csv")
    return read_wfdb_files(files, max_duration_s=max_duration_s)
