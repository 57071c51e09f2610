"""Issue 6 bad-input suite through the CLI: `python -m app score` exits 2 with one stderr line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.badinput import OUTSIDE_NAME, bad_uploads

ROOT = Path(__file__).resolve().parent.parent
# Cases that make sense for files on disk (no directory parts in names, one record each).
CLI_CASES = ["truncated-dat", "zero-byte-dat", "dat-not-uploaded", "header-names-other-file",
             "header-relative-path", "header-absolute-path", "header-declares-far-more-samples",
             "format-mismatch-16-vs-212", "unsupported-format-code", "zero-fs", "negative-fs",
             "empty-hea", "garbage-hea", "too-short-record", "flat-lead", "csv-nan", "csv-text-inside",
             "csv-binary-garbage", "csv-empty", "csv-header-only", "csv-time-not-increasing",
             "header-points-at-real-outside-file", "header-relative-to-outside-file"]


def _record_arg(case, d: Path) -> Path:
    for name, data in case.files.items():
        (d / name).write_bytes(data)
    heas = [n for n in case.files if n.endswith(".hea")]
    return d / (heas[0] if heas else next(iter(case.files)))


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    d = tmp_path_factory.mktemp("outside")
    (d / OUTSIDE_NAME).write_bytes(b"\x00\x01" * 650000)
    return d


def _run_case(case, d: Path):
    (d / "in").mkdir(parents=True)
    rec = _record_arg(case, d / "in")
    out = d / "out.csv"
    p = subprocess.run([sys.executable, "-m", "app", "score", str(rec), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    ok = (p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr
          and case.expect.lower() in lines[0].lower() and not out.exists())
    leftovers = sorted(x.name for x in d.iterdir() if x.name != "in")
    return case.id, ok and not leftovers, p.returncode, p.stderr[-300:], leftovers


def test_cli_exits_2_with_one_line_naming_the_file(tmp_path, outside):
    from concurrent.futures import ThreadPoolExecutor

    cases = {c.id: c for c in bad_uploads(outside_dir=outside)}
    with ThreadPoolExecutor(3) as ex:
        results = list(ex.map(lambda cid: _run_case(cases[cid], tmp_path / cid), CLI_CASES))
    assert len(results) == len(CLI_CASES)
    assert [r for r in results if not r[1]] == []
