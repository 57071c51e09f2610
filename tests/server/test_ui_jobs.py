"""app.jobs UI rule and the DiskcacheManager job path: the analysis runs in a spawned process
(its own TensorFlow) and lands in the shared cache where the web process reads it."""
from __future__ import annotations

import os
import tempfile

import pytest
from flask import Flask

from app import cache, jobs
from app.config import get_settings
from app.ecg.errors import InvalidRecordError
from app.ecg.readers import read_record
from tests.conftest import SAMPLES

pytestmark = pytest.mark.server


def test_ui_mode_follows_the_broker_and_the_cache_backend(tmp_path):
    assert jobs.ui_mode(get_settings(broker_url="redis://127.0.0.1:6399/1")) == "celery"
    assert jobs.ui_mode(get_settings(broker_url="", cache_url="simple", cache_dir="")) is None
    assert jobs.ui_mode(get_settings(broker_url="", cache_url="", cache_dir=str(tmp_path))) == "diskcache"
    assert jobs.ui_mode(get_settings(broker_url="", cache_url="redis://127.0.0.1:6399/0")) == "diskcache"


@pytest.fixture
def diskcache_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_state", cache._state)  # restored after the test
    monkeypatch.setattr(jobs, "_UI_MODE", "diskcache")
    cache.init_cache(Flask("ui-jobs-test"), get_settings(cache_url=f"filesystem://{tmp_path}/c", cache_dir=""))


def test_spawned_job_reports_stages_and_stores_the_analysis(diskcache_mode, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))  # what a spawned process would use by default
    rec = read_record(str(SAMPLES / "105"))
    stages = []
    key, cached = jobs.run_ui_analysis(rec, progress=stages.append)
    assert cached is False
    assert stages == ["detecting beats", "scoring", "done"]
    assert cache.analyses_run() == 0  # computed in the spawned process, not here
    entry = cache.get_entry(key)  # ... and readable here from the shared cache
    assert entry is not None and entry.analysis.summary["n_beats"] > 2000
    assert jobs.run_ui_analysis(rec) == (key, True)  # found at once the second time
    assert os.listdir(tmp) == []  # the job's temporary files (TensorFlow's autograph) are gone


def test_spawned_job_passes_bad_input_errors_back(diskcache_mode):
    rec = read_record(str(SAMPLES / "100"))
    with pytest.raises(InvalidRecordError, match="no lead 5"):  # raised in the spawned process
        jobs.run_ui_analysis(rec, lead=5)
