"""Issue 6 bad-input suite through the JSON API of a real `python -m app` process.

Every case answers 400 with the reader's message (413 for the size limit), the process stays up
and no temporary file is left in its TMPDIR.
"""
from __future__ import annotations

import os

import pytest
import requests

from tests.badinput import _sample, bad_uploads
from tests.server.apiclient import oversize_status, post_analysis

pytestmark = [pytest.mark.server]

CASES = bad_uploads()


def _wire_name(name: str) -> str:
    """The filename as it must go into the quoted Content-Disposition parameter so that the server
    receives `name` itself: Werkzeug reads a backslash there as a quoted-string escape, and
    urllib3 2 sends backslashes unescaped (1.26 escaped them)."""
    return name.replace("\\", "\\\\")


def _parts(files: dict[str, bytes]):
    return [("files", (_wire_name(name), data, "application/octet-stream")) for name, data in files.items()]


def test_every_bad_upload_is_a_400_with_its_message(python_app):
    tmpdir = python_app.env["TMPDIR"]
    before = set(os.listdir(tmpdir))
    failures = []
    for case in CASES:
        r = post_analysis(python_app.url, _parts(case.files), case.form, timeout=60)
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
        if r.status_code != 400 or case.expect.lower() not in body.get("error", "").lower():
            failures.append((case.id, r.status_code, r.text[:200]))
        assert python_app.proc.poll() is None, f"server died on {case.id}"
    assert failures == []
    assert set(os.listdir(tmpdir)) - before == set()
    assert requests.get(python_app.url + "/api/v1/health", timeout=30).status_code == 200


def test_duplicate_file_names_are_refused(python_app):
    files = _sample("100")
    parts = _parts(files) + [("files", ("100.dat", files["100.dat"], "application/octet-stream"))]
    r = post_analysis(python_app.url, parts)
    assert r.status_code == 400 and "100.dat" in r.json()["error"]


def test_upload_above_the_size_limit_is_413(python_app):
    status, body = oversize_status("127.0.0.1", python_app.port, 1024 * 1024 * 1024)
    assert status == 413 and "too large" in body["error"]
    assert requests.get(python_app.url + "/", timeout=30).status_code == 200
