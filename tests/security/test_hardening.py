"""app.security.harden: limits, headers, errors without tracebacks; and on the real server."""
from __future__ import annotations

import io

import pytest
import requests
from flask import Flask

from app.config import get_settings
from app.security import harden


@pytest.fixture
def hardened():
    server = Flask("hardened-test")

    @server.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/shadow")

    @server.post("/echo")
    def echo():
        from flask import request

        return {"n": len(request.get_data())}

    harden(server, get_settings(max_request_mb=0.5, debug=False))
    return server.test_client()


def test_unexpected_error_is_generic_json_without_traceback(hardened):
    r = hardened.get("/boom")
    assert r.status_code == 500
    assert r.json == {"error": "internal server error", "status": 500}
    assert b"Traceback" not in r.data and b"shadow" not in r.data


def test_request_size_limit_is_413_json(hardened):
    assert hardened.post("/echo", data=b"x" * 1000).status_code == 200
    r = hardened.post("/echo", data={"f": (io.BytesIO(b"x" * 600_000), "big.csv")})
    assert r.status_code == 413 and "too large" in r.json["error"]


def test_headers_and_json_404(hardened):
    r = hardened.get("/nowhere")
    assert r.status_code == 404 and r.is_json
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"


@pytest.mark.server
def test_real_server_runs_without_debug_and_leaks_nothing(python_app):
    base = python_app.url
    # Dash dev tools (hot reload, error overlay, props check) are off unless asked for
    import json
    import re

    html = requests.get(base + "/", timeout=30).text
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    assert config["ui"] is False and config["props_check"] is False
    assert "hot_reload" not in config
    # a malformed callback request does not echo a traceback
    r = requests.post(base + "/_dash-update-component", data=b"{not json", timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code >= 400 and "Traceback" not in r.text and 'File "' not in r.text
    r = requests.post(base + "/api/v1/analyses", files=[("files", ("x.hea", b"\x00\xff" * 10))], timeout=30)
    assert r.status_code == 400 and "Traceback" not in r.text
    for path in ["/", "/_dash-layout"]:
        h = requests.get(base + path, timeout=30).headers
        assert "'unsafe-eval'" in h["Content-Security-Policy"]  # what Dash needs, nothing broader
        assert "*" not in h["Content-Security-Policy"]
