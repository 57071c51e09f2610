"""Real `python -m app` and `gunicorn app:server -w 2` processes on loopback: pages and JSON API."""
from __future__ import annotations

import os
import time

import pytest
import requests

from tests.server.apiclient import (CLI_COLUMNS, KEY_RE, PAGES, csv_rows, csv_upload, dash_page_content,
                                    oversize_status, post_analysis, wfdb_upload)

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module", params=["python", "gunicorn"])
def server(request):
    """Each test below runs against both real server kinds (session-scoped processes)."""
    return request.getfixturevalue("python_app" if request.param == "python" else "gunicorn_app")


def test_every_page_is_served_and_renders_its_layout(server):
    for path in PAGES:
        r = requests.get(server.url + path, timeout=30)
        assert r.status_code == 200, path
        assert "_dash-config" in r.text and "react-entry-point" in r.text, path
        content = dash_page_content(server.url, path)
        assert content.status_code == 200, (path, content.text[:300])
        body = content.json()
        assert "404 - Page not found" not in content.text, path
        assert body["response"]["_pages_content"]["children"], path
    assert requests.get(server.url + "/_dash-layout", timeout=30).status_code == 200
    health = requests.get(server.url + "/api/v1/health", timeout=30).json()
    assert health["status"] == "ok"
    assert health["cache"] == ("simple" if "gunicorn" not in server.cmd[0] else "filesystem")


def test_csv_upload_with_gaps_counts_its_missing_samples(server):
    files, data = csv_upload("100", 60.0)
    name, payload, ctype = files[0][1]
    lines = payload.decode().splitlines()
    lines[500:502] = ["", "nan"]  # a blank line and a NaN between data rows
    r = post_analysis(server.url, [("files", (name, ("\n".join(lines) + "\n").encode(), ctype))], data)
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["missing_samples"] == 2


def test_wfdb_upload_then_cached_summary_and_beats_csv(server):
    r1 = post_analysis(server.url, wfdb_upload("105"))
    assert r1.status_code == 200, r1.text
    body = r1.json()
    assert KEY_RE.match(body["key"])
    summary = body["summary"]
    assert summary["n_beats"] > 1500  # record 105: about 2,570 reference beats in 30 min
    assert summary["has_reference"] is True
    assert abs(summary["duration_s"] - 1805.6) < 1.0
    assert summary["missing_samples"] == 0

    r2 = post_analysis(server.url, wfdb_upload("105"))
    assert r2.status_code == 200 and r2.json()["cached"] is True
    assert r2.json()["key"] == body["key"] and r2.json()["summary"] == summary

    g = requests.get(f"{server.url}/api/v1/analyses/{body['key']}", timeout=30)
    assert g.status_code == 200 and g.json()["summary"] == summary

    c = requests.get(f"{server.url}/api/v1/analyses/{body['key']}/beats.csv", timeout=60)
    assert c.status_code == 200 and c.headers["Content-Type"].startswith("text/csv")
    rows = csv_rows(c.text)
    assert len(rows) == summary["n_beats"]
    assert set(CLI_COLUMNS + ["ref_symbol", "ref_class"]) <= set(rows[0])
    assert sum(row["anomaly"] == "True" for row in rows) == summary["n_anomalies"]

    # options are part of the key: reference beats are another analysis
    r3 = post_analysis(server.url, wfdb_upload("105"), data={"beats": "reference"})
    assert r3.status_code == 200 and r3.json()["key"] != body["key"]


def test_csv_upload_computed_once_then_cached(server):
    # a unique gain makes this content new to the (session-long) server
    files, data = csv_upload("100", seconds=60, gain=1.0 + (time.time_ns() % 997) / 1e5)
    r1 = post_analysis(server.url, files, data)
    assert r1.status_code == 200, r1.text
    assert r1.json()["cached"] is False
    assert 60 <= r1.json()["summary"]["n_beats"] <= 90  # 100: about 75 beats per minute
    r2 = post_analysis(server.url, files, data)
    assert r2.status_code == 200 and r2.json()["cached"] is True and r2.json()["key"] == r1.json()["key"]
    rows = csv_rows(requests.get(f"{server.url}/api/v1/analyses/{r1.json()['key']}/beats.csv", timeout=30).text)
    assert len(rows) == r1.json()["summary"]["n_beats"]
    assert set(CLI_COLUMNS) <= set(rows[0])


def test_unknown_and_malformed_keys_are_404_json(server):
    for key in ["0" * 64, "f" * 64, "not-a-key", "A" * 64]:
        for suffix in ["", "/beats.csv"]:
            r = requests.get(f"{server.url}/api/v1/analyses/{key}{suffix}", timeout=30)
            assert r.status_code == 404, (key, suffix)
            assert r.headers["Content-Type"].startswith("application/json")
            assert "error" in r.json()
    # a traversal-looking "key" never reaches a file: it is not an API route at all
    r = requests.get(f"{server.url}/api/v1/analyses/..%2F..%2F..%2Fetc%2Fpasswd", timeout=30)
    assert "root:x:0:0" not in r.text and "n_beats" not in r.text


def test_bad_input_is_400_with_the_message(server):
    r = post_analysis(server.url, wfdb_upload("100", exts=(".hea",)))  # .dat missing
    assert r.status_code == 400 and "100" in r.json()["error"]
    r = post_analysis(server.url, [("files", ("junk.csv", b"hello,world\nfoo,bar\n", "text/csv"))], {"fs": "360"})
    assert r.status_code == 400 and "junk.csv" in r.json()["error"]
    files, data = csv_upload("100", seconds=30)
    r = post_analysis(server.url, files, {"fs": "-5"})
    assert r.status_code == 400 and "sampling rate (fs)" in r.json()["error"] and "100_cut.csv" in r.json()["error"]
    r = post_analysis(server.url, files, {**data, "beats": "everything"})
    assert r.status_code == 400 and "beats" in r.json()["error"]
    r = requests.post(f"{server.url}/api/v1/analyses", timeout=30)
    assert r.status_code == 400 and "files" in r.json()["error"]
    # the server is still fine afterwards
    assert requests.get(server.url + "/api/v1/health", timeout=30).status_code == 200


def test_oversize_request_is_413_json(server):
    status, body = oversize_status("127.0.0.1", server.port, 400 * 1024 * 1024)
    assert status == 413 and "too large" in body["error"]
    assert requests.get(server.url + "/", timeout=30).status_code == 200


def test_uploads_leave_no_temporary_files(server):
    tmpdir = server.env["TMPDIR"]
    before = set(os.listdir(tmpdir))
    files, data = csv_upload("213", seconds=40, gain=1.0 + (time.time_ns() % 991) / 1e5)
    assert post_analysis(server.url, files, data).status_code == 200
    assert post_analysis(server.url, wfdb_upload("233")).status_code == 200
    assert post_analysis(server.url, wfdb_upload("233", exts=(".hea",))).status_code == 400
    assert set(os.listdir(tmpdir)) - before == set()


def test_security_headers_on_pages_and_api(server):
    for path in ["/", "/signal", "/api/v1/health", "/api/v1/analyses/" + "0" * 64]:
        h = requests.get(server.url + path, timeout=30).headers
        assert h["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
        assert h["Referrer-Policy"] == "no-referrer", path
    assert requests.get(server.url + "/api/v1/health", timeout=30).headers["Cache-Control"] == "no-store"
