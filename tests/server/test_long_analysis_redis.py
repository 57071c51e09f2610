"""Issue 7: a multi-hour analysis round-trips through a real Redis, compact, and another server reads it."""
from __future__ import annotations

import redis
import requests

from benchmarks.holter import write_long_record
from tests.conftest import SAMPLES, start_app
from tests.server.apiclient import post_analysis

HOURS = 2.0
MAX_MB_PER_HOUR = 10.0  # measured ~5-7 MB/h compact (naive pickle: 26-31 MB/h, 24 h over Redis' 512 MB)


def long_upload(tmp, hours: float) -> list[tuple]:
    """A ``hours`` 2-lead WFDB record (format 16) concatenated from the bundled records."""
    base, _ = write_long_record(SAMPLES, tmp, hours)
    return [("files", (base.name + ext, base.with_suffix(ext).read_bytes(), "application/octet-stream"))
            for ext in (".hea", ".dat")]


def test_long_analysis_is_stored_compact_in_redis_and_served_by_another_server(redis_server, tmp_path):
    (tmp_path / "rec").mkdir()
    files = long_upload(tmp_path / "rec", HOURS)
    env = {"ECG_CACHE_URL": redis_server.url}
    web = start_app("gunicorn", tmp_path / "a", workers=2, threads=2, env=env)
    other = None
    try:
        r = post_analysis(web.url, files, timeout=600)
        assert r.status_code == 200, r.text
        key, summary = r.json()["key"], r.json()["summary"]
        assert abs(summary["duration_s"] - HOURS * 3600) < 1 and summary["n_beats"] > 8000
        client = redis.Redis.from_url(redis_server.url)
        size = client.strlen("ecg:" + key)
        assert 0 < size <= MAX_MB_PER_HOUR * 1e6 * HOURS, size
        assert 0 < client.strlen("ecg:summary:" + key) < 10_000  # what a summary GET reads
        # another server process, sharing only Redis, serves it: summary, per-beat table, a cache hit
        other = start_app("python", tmp_path / "b", env=env)
        g = requests.get(f"{other.url}/api/v1/analyses/{key}", timeout=120)
        assert g.status_code == 200 and g.json()["summary"] == summary
        csv_a = requests.get(f"{web.url}/api/v1/analyses/{key}/beats.csv", timeout=120)
        csv_b = requests.get(f"{other.url}/api/v1/analyses/{key}/beats.csv", timeout=120)
        assert csv_b.status_code == 200 and csv_b.text == csv_a.text
        again = post_analysis(other.url, files, timeout=600)
        assert again.status_code == 200 and again.json()["cached"] is True and again.json()["key"] == key
        assert "not stored" not in web.log_tail(50000) + other.log_tail(50000)
    finally:
        if other is not None:
            other.stop()
        web.stop()
