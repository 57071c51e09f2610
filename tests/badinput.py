"""Hostile and broken uploads, generated from the bundled samples (nothing large is committed).

``bad_uploads()`` -> list of BadCase(id, files, form, expect): ``files`` is what a user uploads
(name -> bytes), ``form`` the extra fields (fs, units), ``expect`` a word the error message must
contain (the offending file name, usually). Shared by the reader, CLI, API and UI suites.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.config import SAMPLES_DIR

# The name of a file outside the upload that a hostile header tries to make the reader open.
OUTSIDE_NAME = "outside-secret.dat"


@dataclass
class BadCase:
    id: str
    files: dict[str, bytes]
    form: dict = field(default_factory=dict)
    expect: str = ""  # substring of the error message (case-insensitive)


def _sample(record: str = "100") -> dict[str, bytes]:
    return {f"{record}{e}": (SAMPLES_DIR / f"{record}{e}").read_bytes() for e in (".hea", ".dat", ".atr")}


def _hea(record: str = "100") -> str:
    return (SAMPLES_DIR / f"{record}.hea").read_text()


def _with_header(text: str, record: str = "100", drop_atr: bool = True) -> dict[str, bytes]:
    files = _sample(record)
    files[f"{record}.hea"] = text.encode()
    if drop_atr:
        files.pop(f"{record}.atr")
    return files


def _csv(values, header: str = "MLII") -> bytes:
    return (header + "\n" + "\n".join(str(v) for v in values) + "\n").encode()


def _short_hea(n_samples: int, fs: str = "360", fmt: str = "16", fname: str = "x.dat") -> str:
    return f"x 1 {fs} {n_samples}\n{fname} {fmt} 200 11 0 0 0 0 MLII\n"


def bad_uploads(outside_dir=None) -> list[BadCase]:
    """Every bad-input case of issue 6 item 1. ``outside_dir``: a directory holding OUTSIDE_NAME."""
    hea = _hea()
    dat = (SAMPLES_DIR / "100.dat").read_bytes()
    cases = [
        # WFDB: signal file problems
        BadCase("truncated-dat", {**_with_header(hea), "100.dat": dat[: len(dat) // 3]}, expect="100"),
        BadCase("zero-byte-dat", {**_with_header(hea), "100.dat": b""}, expect="100"),
        BadCase("dat-not-uploaded", {"100.hea": hea.encode()}, expect="100"),
        BadCase("header-names-other-file", _with_header(hea.replace("100.dat", "other.dat")), expect="other.dat"),
        BadCase("header-relative-path", _with_header(hea.replace("100.dat", "../../etc/passwd")), expect="100"),
        BadCase("header-absolute-path", _with_header(hea.replace("100.dat", "/etc/passwd")), expect="100"),
        BadCase("header-declares-far-more-samples", _with_header(hea.replace("650000", "65000000")), expect="100"),
        BadCase("format-mismatch-16-vs-212", _with_header(hea.replace(" 212 ", " 16 ")), expect="100"),
        BadCase("unsupported-format-code", _with_header(hea.replace(" 212 ", " 999 ")), expect="100"),
        BadCase("zero-fs", _with_header(hea.replace("100 2 360 650000", "100 2 0 650000")), expect="100"),
        BadCase("negative-fs", _with_header(hea.replace("100 2 360 650000", "100 2 -360 650000")), expect="100"),
        BadCase("absurd-fs", _with_header(hea.replace("100 2 360 650000", "100 2 1e12 650000")), expect="100"),
        BadCase("empty-hea", {"100.hea": b"", "100.dat": dat}, expect="100"),
        BadCase("garbage-hea", {"100.hea": bytes(range(256)) * 4, "100.dat": dat}, expect="100"),
        BadCase("too-short-record", {"x.hea": _short_hea(360 * 5).encode(), "x.dat": b"\x00\x01" * (360 * 5)},
                expect="x"),
        BadCase("flat-lead", {"x.hea": _short_hea(360 * 20).encode(), "x.dat": b"\x05\x00" * (360 * 20)},
                expect="x"),
        BadCase("two-headers", {**_sample("100"), "105.hea": _hea("105").encode()}, expect="hea"),
        BadCase("dat-only", {"100.dat": dat}, expect="100.dat"),
        # names
        BadCase("name-with-directory", {"../100.hea": hea.encode(), "100.dat": dat}, expect="100.hea"),
        BadCase("absolute-name", {"/tmp/100.hea": hea.encode(), "100.dat": dat}, expect="100.hea"),
        BadCase("backslash-name", {"..\\100.hea": hea.encode(), "100.dat": dat}, expect="100.hea"),
        BadCase("odd-unicode-name", {"ü ñ 記録 \u202e.csv": _csv([0.1] * 10)}, form={"fs": "360"}, expect="記録"),
        # CSV
        BadCase("csv-nan", {"nan.csv": _csv(["nan"] * 5000)}, form={"fs": "360"}, expect="nan.csv"),
        BadCase("csv-inf", {"inf.csv": _csv(["inf", "-inf"] * 2500)}, form={"fs": "360"}, expect="inf.csv"),
        BadCase("csv-text-inside", {"text.csv": _csv(["0.1", "0.2", "abc", "0.3"] * 1200)}, form={"fs": "360"},
                expect="text.csv"),
        BadCase("csv-binary-garbage", {"garbage.csv": bytes(range(256)) * 64}, form={"fs": "360"},
                expect="garbage.csv"),
        BadCase("csv-empty", {"empty.csv": b""}, form={"fs": "360"}, expect="empty.csv"),
        BadCase("csv-header-only", {"head.csv": b"time,MLII\n"}, form={"fs": "360"}, expect="head.csv"),
        BadCase("csv-zero-fs", {"z.csv": _csv([0.1, 0.2] * 5000)}, form={"fs": "0"}, expect="z.csv"),
        BadCase("csv-no-fs", {"nofs.csv": _csv([0.1, 0.2] * 5000)}, expect="nofs.csv"),
        BadCase("csv-absurd-fs", {"big.csv": _csv([0.1, 0.2] * 5000)}, form={"fs": "1e15"}, expect="big.csv"),
        BadCase("csv-too-short", {"short.csv": _csv([0.1, 0.2] * 500)}, form={"fs": "360"}, expect="short.csv"),
        BadCase("csv-flat", {"flat.csv": _csv([0.5] * 7200)}, form={"fs": "360"}, expect="flat.csv"),
        BadCase("csv-bad-units", {"u.csv": _csv([0.1, 0.2] * 5000)}, form={"fs": "360", "units": "furlongs"},
                expect="u.csv"),
        BadCase("csv-time-not-increasing", {"t.csv": ("time_s,MLII\n" + "\n".join(
            f"{1.0 - i / 360:.5f},{(i % 7) / 10}" for i in range(7200)) + "\n").encode()}, expect="t.csv"),
        BadCase("many-files", {f"f{i}.dat": b"\x00" * 10 for i in range(60)}, expect="f"),
    ]
    if outside_dir is not None:
        target = str(outside_dir) + "/" + OUTSIDE_NAME
        cases.append(BadCase("header-points-at-real-outside-file", _with_header(hea.replace("100.dat", target)),
                             expect="100"))
        cases.append(BadCase("header-relative-to-outside-file",
                             _with_header(hea.replace("100.dat", "../" + OUTSIDE_NAME)), expect="100"))
    return cases
