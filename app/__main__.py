"""Command line: `python -m app` serves the app; `python -m app score RECORD... --out FILE.csv`.

Bad input (a record that cannot be read, a missing model) exits with status 2 and one line on
stderr naming the file and the problem; never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description="Serve the ECG Anomaly Explorer "
                                "(or `python -m app score RECORD... --out FILE.csv` to score records).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--debug", action="store_true", help="Dash debug mode (off unless asked)")
    return p


def score_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app score", description="Score every beat of ECG "
                                "records and write one CSV row per beat.")
    p.add_argument("records", nargs="+", metavar="RECORD", help="WFDB record path (with or without "
                   "extension) or a CSV file")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.add_argument("--model", default=None, metavar="DIR", help="model bundle directory "
                   "(default: the app's default model)")
    p.add_argument("--beats", choices=("detect", "reference"), default="detect",
                   help="detected beats (default) or the reference annotation positions")
    p.add_argument("--threshold", type=float, default=None, help="ensemble-score threshold "
                   "(default: the model's default method)")
    p.add_argument("--lead", default=None, help="lead name or index (default: MLII/II, else the first)")
    p.add_argument("--fs", type=float, default=None, metavar="HZ",
                   help="sampling rate of a CSV without a time column (WFDB headers carry their own)")
    p.add_argument("--units", default="mV", help="signal units of a CSV: mV (default), uV or V "
                   "(WFDB headers carry their own)")
    return p


class CliError(Exception):
    """One line for stderr; exit status 2."""


def _lead(value):
    return int(value) if value is not None and value.isdigit() else value


def short_record_note(record: str, summary: dict) -> str:
    """The stderr line for a record scored against the training statistics (under 60 s)."""
    return (f"{record}: note: {float(summary['duration_s']):.0f} s long (under a minute): no reliable "
            "dominant rhythm, so it was scored against the training statistics instead of its own "
            "beats; treat its flags with more caution")


def score(args) -> int:
    from app.analysis import analyze, beats_csv, missing_note, reference_note
    from app.ecg import InvalidRecordError
    from app.ecg.readers import read_record
    from app.model.bundle import ModelBundleError, load_bundle_async

    from app.config import get_settings

    get_settings()  # a bad ECG_* setting is one line now, not a record's error later
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CliError(f"{out}: cannot write the output, directory {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    bundle = load_bundle_async(args.model)  # TensorFlow's import overlaps reading and beat extraction
    short = []  # the short-record notes, for stderr
    try:
        wrote_header = False
        for path in args.records:
            try:
                rec = read_record(path, fs=args.fs, units=args.units)
            except InvalidRecordError as exc:
                raise CliError(str(exc)) from None
            except OSError as exc:
                raise CliError(f"{path}: cannot read ({exc.strerror or exc})") from None
            try:
                a = analyze(rec, bundle=bundle, lead=_lead(args.lead), beats=args.beats,
                            threshold=args.threshold)
            except (InvalidRecordError, ModelBundleError) as exc:
                raise CliError(str(exc)) from None
            with open(tmp, "a" if wrote_header else "w", encoding="utf-8", newline="") as fh:
                fh.write(beats_csv(a, header=not wrote_header))
            wrote_header = True
            print(f"{a.record}: {a.summary['n_beats']} beats, {a.summary['n_anomalies']} anomalies "
                  f"(lead {a.lead}, threshold {a.threshold:.3f})")
            for note in (missing_note(a.summary), reference_note(a.summary)):
                if note:
                    print(f"{a.record}: note: {note}")
            if a.summary.get("short_record_fallback"):
                short.append(short_record_note(a.record, a.summary))
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    for line in short:  # once every record is scored: bad input stays one line on stderr
        print(line, file=sys.stderr)
    print(f"wrote {out}")
    return 0


def serve(args) -> int:
    from app import create_app

    dash_app = create_app(debug=args.debug) if args.debug else create_app()
    dash_app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # the real stderr, kept now: TensorFlow's quiet import (a thread of `score`) points fd 2 at
    # /dev/null for a few seconds, and an error found meanwhile must still be seen
    real_stderr = os.dup(2)
    try:
        if argv and argv[0] == "score":
            return score(score_parser().parse_args(argv[1:]))
        return serve(serve_parser().parse_args(argv))
    except CliError as exc:
        sys.stderr.flush()
        os.write(real_stderr, f"error: {exc}\n".encode("utf-8", "replace"))
        return 2
    except ValueError as exc:
        from app.config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        sys.stderr.flush()
        os.write(real_stderr, f"error: {exc}\n".encode("utf-8", "replace"))  # a bad ECG_* setting
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        os.close(real_stderr)


def exit_now(code: int) -> None:
    """Exit with ``code`` without waiting for threads: after bad input (status 2), ``score``'s
    model load (a thread importing TensorFlow, several seconds) is not waited for. Its output so
    far is flushed; its partial output file is already gone."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    status = main()
    if status == 2:
        exit_now(status)
    sys.exit(status)
