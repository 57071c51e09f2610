"""Under /api/ the real servers answer JSON: 404 for unknown paths, 405 (with Allow) for a known
path and another method, never Dash's index page; /api/v1/health reports the cache backend."""
from __future__ import annotations

import pytest
import requests

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module", params=["python", "gunicorn"])
def server(request):
    return request.getfixturevalue("python_app" if request.param == "python" else "gunicorn_app")


def _json_error(r: requests.Response, status: int) -> dict:
    assert r.status_code == status, (r.request.method, r.url, r.status_code, r.text[:200])
    assert r.headers["Content-Type"].startswith("application/json"), r.headers["Content-Type"]
    assert "_dash-config" not in r.text and "<html" not in r.text.lower()
    body = r.json()
    assert body["status"] == status and body["error"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/analyses/", "/api/v1/nothing", "/api/v1/jobs/", "/api/v2/analyses",
                                  "/api/", "/api/v1/analyses/" + "0" * 64 + "/other.csv",
                                  "/api/v1/analyses/..%2F..%2Fetc%2Fpasswd"])
def test_unknown_api_paths_are_json_404(server, path):
    for method in ("GET", "POST", "DELETE"):
        _json_error(requests.request(method, server.url + path, timeout=30), 404)


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/api/v1/analyses", {"POST"}),
    ("GET", "/api/v1/jobs", {"POST"}),
    ("PUT", "/api/v1/analyses", {"POST"}),
    ("POST", "/api/v1/health", {"GET"}),
    ("DELETE", "/api/v1/analyses/" + "0" * 64, {"GET"}),
    ("POST", "/api/v1/analyses/" + "0" * 64 + "/beats.csv", {"GET"}),
    ("DELETE", "/api/v1/jobs/00000000-0000-0000-0000-000000000000", {"GET"}),
])
def test_known_api_paths_with_another_method_are_json_405_with_allow(server, method, path, allowed):
    r = requests.request(method, server.url + path, timeout=30)
    _json_error(r, 405)
    listed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed <= listed and method not in listed, r.headers["Allow"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # still hardened


def test_api_routes_and_pages_still_answer(server):
    h = requests.get(server.url + "/api/v1/health", timeout=30)
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["cache_ok"] is True
    assert "cache_error" not in h.json()
    assert requests.head(server.url + "/api/v1/health", timeout=30).status_code == 200
    assert requests.options(server.url + "/api/v1/analyses", timeout=30).status_code == 200
    # the key endpoints keep their own JSON 404
    assert "expired analysis key" in _json_error(
        requests.get(server.url + "/api/v1/analyses/" + "0" * 64, timeout=30), 404)["error"]
    for path in ["/", "/signal", "/no-such-page", "/apix"]:  # Dash still owns everything outside /api/
        r = requests.get(server.url + path, timeout=30)
        assert r.status_code == 200 and "_dash-config" in r.text, path
