"""Issue 6 bad-input suite through app.ecg.readers.read_upload (in-process).

Each case raises InvalidRecordError naming the file; no file outside the upload is opened
(checked with a Python audit hook on every `open`), and no temporary file is left behind.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading

import pytest

from app.ecg.errors import InvalidRecordError
from app.ecg.readers import read_upload
from tests.badinput import OUTSIDE_NAME, bad_uploads


class OpenRecorder:
    """Records every path this thread opens while active (sys.addaudithook cannot be removed)."""

    def __init__(self):
        self.active = False
        self.thread = None
        self.paths: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if self.active and event == "open" and threading.get_ident() == self.thread and args and args[0]:
            path = args[0]
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            if isinstance(path, (str, os.PathLike)):
                self.paths.append(os.fspath(path))

    def __enter__(self):
        self.paths = []
        self.thread = threading.get_ident()
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


_RECORDER = None


@pytest.fixture(scope="module")
def recorder():
    global _RECORDER
    if _RECORDER is None:
        _RECORDER = OpenRecorder()
    return _RECORDER


@pytest.fixture(scope="module")
def outside_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("outside")
    (d / OUTSIDE_NAME).write_bytes(b"\x00\x01" * 650000)
    return d


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point tempfile at an empty directory so leftovers can be seen."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


CASES = bad_uploads(outside_dir=None)
CASE_IDS = [c.id for c in CASES]


def _read(case):
    fs = float(case.form["fs"]) if "fs" in case.form else None
    return read_upload(case.files, fs=fs, units=case.form.get("units", "mV"))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bad_upload_raises_invalid_record_error_naming_the_file(case, private_tmp, recorder):
    with recorder, pytest.raises(InvalidRecordError) as err:
        _read(case)
    assert case.expect.lower() in str(err.value).lower(), str(err.value)
    assert "Traceback" not in str(err.value) and len(str(err.value)) < 2000
    assert os.listdir(private_tmp) == [], "temporary files left behind"
    # allowed: the upload's temporary directory, and what libraries open lazily on first use
    allowed = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix}) + (
        str(private_tmp), "/usr/share/", "/usr/lib/", "/sys/", "/proc/", "/dev/")
    opened_outside = [p for p in recorder.paths if not os.path.abspath(p).startswith(allowed)]
    assert opened_outside == []


def test_headers_pointing_outside_the_upload_never_open_the_target(outside_dir, private_tmp, recorder):
    cases = [c for c in bad_uploads(outside_dir=outside_dir) if "outside" in c.id]
    assert len(cases) == 2
    for case in cases:
        with recorder, pytest.raises(InvalidRecordError):
            _read(case)
        assert not [p for p in recorder.paths if OUTSIDE_NAME in p], case.id
        # what the reader did open: only the uploaded files in its own temporary directory
        uploads = [p for p in recorder.paths if os.path.basename(p) in case.files]
        assert uploads and all(os.path.abspath(p).startswith(str(private_tmp)) for p in uploads)
    assert os.listdir(private_tmp) == []


def test_a_good_upload_still_reads_and_cleans_up(private_tmp, recorder):
    from tests.badinput import _sample

    with recorder:
        rec = read_upload(_sample("100"))
    assert rec.n_samples == 650000 and rec.has_reference
    assert os.listdir(private_tmp) == []
