"""app.cache keys and backend choice, in-process (no model needed)."""
from __future__ import annotations

import stat

import numpy as np
import pytest
from flask import Flask

from app import cache
from app.config import SAMPLES_DIR, get_settings
from app.ecg.readers import read_record


@pytest.fixture(autouse=True)
def _keep_process_cache_state():
    """These tests re-initialise the module's state; restore it for in-process app tests."""
    saved = cache._state
    yield
    cache._state = saved


@pytest.fixture(scope="module")
def rec100():
    return read_record(SAMPLES_DIR / "100")


def test_content_hash_is_stable_and_sensitive_to_one_sample(rec100):
    import copy

    same = copy.deepcopy(rec100)
    assert cache.content_hash(same) == cache.content_hash(rec100)
    changed = copy.deepcopy(rec100)
    changed.signals = changed.signals.copy()
    changed.signals[1000, 0] += np.float32(0.001)
    assert cache.content_hash(changed) != cache.content_hash(rec100)
    renamed = copy.deepcopy(rec100)
    renamed.name = "other"
    assert cache.content_hash(renamed) != cache.content_hash(rec100)


def test_keys_depend_on_secret_model_and_options(rec100):
    h = cache.content_hash(rec100)
    k = cache.analysis_key(h, "m1", cache.options_string(None, "detect"), secret=b"s" * 32)
    assert cache.is_valid_key(k)
    assert k == cache.analysis_key(h, "m1", cache.options_string(None, "detect"), secret=b"s" * 32)
    others = {
        cache.analysis_key(h, "m1", cache.options_string(None, "detect"), secret=b"t" * 32),
        cache.analysis_key(h, "m2", cache.options_string(None, "detect"), secret=b"s" * 32),
        cache.analysis_key(h, "m1", cache.options_string(None, "reference"), secret=b"s" * 32),
        cache.analysis_key(h, "m1", cache.options_string("V1", "detect"), secret=b"s" * 32),
    }
    assert k not in others and len(others) == 4
    # entries of an older analysis version (what an analysis holds) are not served
    assert cache.options_string(None, "detect").startswith(f"v{cache.ANALYSIS_VERSION}|")
    # the key is not a plain hash of what a client knows: content hash, model id, options
    import hashlib

    assert k != hashlib.sha256(f"{h}|m1|{cache.options_string(None, 'detect')}".encode()).hexdigest()


def test_a_recalibrated_model_gets_new_analysis_keys(tmp_path):
    """Same model id and weights, another calibration.json: cached scores must not be reused."""
    import shutil

    model = get_settings().model_dir
    for name in ("manifest.json", "calibration.json"):
        shutil.copy(model / name, tmp_path / name)
    settings = get_settings(model_dir=tmp_path)
    before = cache.current_model_version(settings)
    assert before.startswith(cache.current_model_id(settings) + "+")
    assert before == cache.current_model_version(get_settings())  # the copy: same version
    cal = tmp_path / "calibration.json"
    cal.write_text(cal.read_text().replace('"statistical"', '"statistical" ', 1))
    assert cache.current_model_version(settings) != before
    assert cache.current_model_id(settings) == cache.current_model_id(get_settings())


@pytest.mark.parametrize("key", ["", "abc", "../../etc/passwd", "G" * 64, "0" * 63, "0" * 65, None])
def test_malformed_keys_are_rejected(key):
    assert not cache.is_valid_key(key)


def test_backend_config_from_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    monkeypatch.setattr(cache, "under_gunicorn", lambda: False)
    assert cache.backend_config(get_settings(cache_url="", cache_dir=""))[0] == "simple"
    assert cache.backend_config(get_settings(cache_url="simple", cache_dir=""))[0] == "simple"
    name, cfg = cache.backend_config(get_settings(cache_url=f"filesystem://{tmp_path}/c", cache_dir=""))
    assert name == "filesystem" and cfg["CACHE_DIR"] == f"{tmp_path}/c/entries"
    name, cfg = cache.backend_config(get_settings(cache_url="", cache_dir=str(tmp_path)))
    assert name == "filesystem" and cfg["CACHE_DIR"] == f"{tmp_path}/entries"
    name, cfg = cache.backend_config(get_settings(cache_url="redis://127.0.0.1:6390/2", cache_dir=""))
    assert name == "redis" and cfg["CACHE_TYPE"] == "RedisCache" and cfg["CACHE_REDIS_URL"].endswith("/2")
    with pytest.raises(ValueError, match="ECG_CACHE_URL"):
        cache.backend_config(get_settings(cache_url="memcached://x", cache_dir=""))
    # several gunicorn workers and no configuration: a shared filesystem cache, not per-process memory
    monkeypatch.setattr(cache, "under_gunicorn", lambda: True)
    assert cache.backend_config(get_settings(cache_url="", cache_dir=""))[0] == "filesystem"


def test_filesystem_workers_share_one_private_secret(tmp_path, rec100, monkeypatch):
    monkeypatch.delenv("ECG_SECRET_KEY", raising=False)
    settings = get_settings(cache_url=f"filesystem://{tmp_path}/cache", cache_dir="")
    cache.init_cache(Flask("w1"), settings)
    secret1 = cache._current().secret
    key1 = cache.analysis_key(cache.content_hash(rec100), "m", "o")
    cache.init_cache(Flask("w2"), settings)  # a second worker on the same host
    assert cache._current().secret == secret1 and len(secret1) == 32
    assert cache.analysis_key(cache.content_hash(rec100), "m", "o") == key1
    root = tmp_path / "cache"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "secret").stat().st_mode) == 0o600
    assert cache.get_entry(key1) is None


def test_env_secret_is_used(tmp_path, rec100, monkeypatch):
    monkeypatch.setenv("ECG_SECRET_KEY", "deployment-secret")
    cache.init_cache(Flask("w"), get_settings(cache_url="simple", cache_dir=""))
    assert cache._current().secret == b"deployment-secret"
