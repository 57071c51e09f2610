"""app.cache with the real analyze(): computed once per (content, model, options), then served."""
from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from flask import Flask

from app import cache
from app.config import SAMPLES_DIR, get_settings
from app.ecg.readers import read_record


@pytest.fixture(scope="module")
def model_ready():
    s = get_settings()
    if not (s.model_dir / "manifest.json").exists():
        pytest.skip(f"no model bundle at {s.model_dir}")
    return s


@pytest.fixture
def fresh_cache(model_ready, tmp_path):
    saved = cache._state
    cache.init_cache(Flask("cache-test"), get_settings(cache_url=f"filesystem://{tmp_path}/c", cache_dir=""))
    yield cache._state
    cache._state = saved


@pytest.fixture(scope="module")
def rec233():
    return read_record(SAMPLES_DIR / "233")


def _cut(rec, seconds, gain=1.0):
    r = copy.deepcopy(rec)
    r.signals = (rec.signals[: int(seconds * rec.fs)] * np.float32(gain)).astype(np.float32)
    r.ref_samples = r.ref_symbols = None
    return r


def test_submit_computes_once_then_hits(fresh_cache, rec233):
    rec = _cut(rec233, 120)
    runs = cache.analyses_run()
    key, cached = cache.submit(rec)
    assert cached is False and cache.analyses_run() == runs + 1
    key2, cached2 = cache.submit(copy.deepcopy(rec))
    assert (key2, cached2) == (key, True) and cache.analyses_run() == runs + 1
    entry = cache.get_entry(key)
    assert entry.analysis.summary["n_beats"] == len(entry.analysis.table) > 100
    assert np.array_equal(entry.recording.signals, rec.signals)
    # another worker process sees the same entry through the filesystem backend
    fresh_cache.local.clear()
    again = cache.get_entry(key)
    assert again is not None and again.analysis.table["score"].equals(entry.analysis.table["score"])
    # options are part of the key
    key_ref, cached_ref = cache.submit(rec, lead=1)
    assert key_ref != key and cached_ref is False
    assert fresh_cache.key_locks == {}


def test_concurrent_identical_submits_run_the_model_once(fresh_cache, rec233):
    rec = _cut(rec233, 90, gain=1.01)
    runs = cache.analyses_run()
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: cache.submit(copy.deepcopy(rec)), range(4)))
    assert len({k for k, _ in results}) == 1
    assert sorted(c for _, c in results) == [False, True, True, True]
    assert cache.analyses_run() == runs + 1
    assert fresh_cache.key_locks == {}  # a key's lock lives only while requests use it


def test_bad_recording_raises_and_caches_nothing(fresh_cache, rec233):
    from app.ecg.errors import InvalidRecordError

    flat = _cut(rec233, 30)
    flat.signals = np.zeros_like(flat.signals)
    with pytest.raises(InvalidRecordError):
        cache.submit(flat)
    key = cache.recording_key(flat)
    assert cache.get_entry(key) is None
    assert fresh_cache.key_locks == {}  # released on the error too


def test_lock_left_by_a_killed_worker_is_taken_over(fresh_cache, rec233):
    import socket
    import subprocess
    import sys

    rec = _cut(rec233, 60, gain=1.02)
    key = cache.recording_key(rec)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free: a worker that died while holding the lock
    fresh_cache.cache.set(key + ":computing", f"{socket.gethostname()}:{dead.pid}", timeout=600)
    got, cached = cache.submit(rec)
    assert (got, cached) == (key, False)
    assert cache.get_entry(key) is not None


def test_an_entry_that_left_the_shared_cache_is_dropped_here_too(fresh_cache, rec233):
    # another worker process would not find it: this one must not keep answering from memory
    rec = _cut(rec233, 60, gain=1.03)
    key, _ = cache.submit(rec)
    assert cache.get_entry(key) is not None and cache.get_summary(key) is not None
    fresh_cache.cache.delete(key)  # what expiry or eviction does; the small summary key stays
    assert cache.get_summary(key) is None  # not answered from the summary key alone either
    assert cache.get_entry(key) is None and cache.has_entry(key) is False
    assert key not in fresh_cache.local
    assert cache.find_analysis(rec) is None
    assert cache.submit(rec) == (key, False)  # computed again, and stored again
    assert fresh_cache.cache.has(key)


def test_an_entry_too_large_for_the_cache_is_kept_here_and_a_job_is_told_not_to_retry(fresh_cache, rec233,
                                                                                   monkeypatch):
    monkeypatch.setenv("ECG_CACHE_MAX_ENTRY_MB", "0.05")
    rec = _cut(rec233, 60, gain=1.04)
    key, cached = cache.submit(rec)  # a web worker's own analysis: still served by this process
    assert cached is False and not fresh_cache.cache.has(key)
    assert cache.get_entry(key) is not None and cache.get_summary(key)["n_beats"] > 50
    assert cache.has_entry(key) is True
    other = _cut(rec233, 60, gain=1.05)
    with pytest.raises(cache.EntryTooLarge, match="could not be saved in the shared cache"):
        cache.submit(other, require_shared=True)  # a job's analysis: deterministic, no retry
