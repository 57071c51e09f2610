"""Bad environment settings stop the web server and the Celery worker with one line naming the
variable and the value (no traceback); a worker refuses a cache it cannot share."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from app.config import NUMERIC_ENV, ConfigError, get_settings
from tests.conftest import ROOT, VENV_BIN, free_port

APP_FRAME = re.compile(re.escape(f'File "{ROOT / "app"}/'))  # a traceback frame in this project's app/


@pytest.mark.parametrize("name", sorted(NUMERIC_ENV))
def test_every_numeric_setting_names_itself_and_the_bad_value(name, monkeypatch):
    monkeypatch.setenv(name, "abc")
    with pytest.raises(ConfigError) as err:
        get_settings()
    kind = "whole number" if NUMERIC_ENV[name][1] is int else "number"
    assert str(err.value) == f"{name}: not a {kind}: 'abc'"
    monkeypatch.setenv(name, "-1")
    with pytest.raises(ConfigError, match=f"^{name}: must be >=? 0|^{name}: must be >= 1"):
        get_settings()


def test_good_values_and_empty_ones_are_read(monkeypatch):
    monkeypatch.setenv("ECG_MAX_REQUEST_MB", " 12.5 ")
    monkeypatch.setenv("ECG_MAX_CONCURRENT", "3")
    monkeypatch.setenv("ECG_CACHE_TIMEOUT_S", "")  # empty: the default
    s = get_settings()
    assert (s.max_request_mb, s.max_concurrent_analyses, s.cache_timeout_s) == (12.5, 3, 6 * 3600)
    monkeypatch.setenv("ECG_MAX_DURATION_H", "nan")
    with pytest.raises(ConfigError, match="ECG_MAX_DURATION_H: not a finite number: 'nan'"):
        get_settings()


def _run(cmd: list[str], env: dict, tmp_path) -> subprocess.CompletedProcess:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    full = {**os.environ, "ECG_CACHE_URL": "", "ECG_CACHE_DIR": "", "ECG_BROKER_URL": "",
            "TMPDIR": str(tmp_path / "tmp"), **env}
    return subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.server
def test_gunicorn_stops_with_one_line_on_a_bad_number(tmp_path):
    cmd = [str(VENV_BIN / "gunicorn"), "app:server", "-w", "2", "-b", f"127.0.0.1:{free_port()}"]
    out = _run(cmd, {"ECG_MAX_REQUEST_MB": "abc"}, tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode != 0  # the master stops ("App failed to load"), no respawn loop
    assert "ECG_MAX_REQUEST_MB: not a number: 'abc'" in text
    # no traceback through the app (gunicorn's master itself may print one when two workers
    # fail at once: its HaltServer raised again while halting, a gunicorn race)
    assert not APP_FRAME.search(text) and "could not convert" not in text, text[-3000:]
    out = _run(cmd, {"ECG_CACHE_URL": "bogus"}, tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "ECG_CACHE_URL: unsupported cache URL 'bogus'" in text
    assert not APP_FRAME.search(text), text[-3000:]


@pytest.mark.server
@pytest.mark.parametrize("env, line", [
    ({"ECG_BROKER_URL": "redis://127.0.0.1:9/1", "ECG_JOB_STALE_S": "soon"},
     "error: ECG_JOB_STALE_S: not a number: 'soon'"),
    ({"ECG_BROKER_URL": "redis://127.0.0.1:9/1", "ECG_CACHE_URL": "simple"},
     "error: ECG_CACHE_URL=simple: a Celery worker needs the cache the web workers use"),
    ({}, "error: ECG_BROKER_URL is not set"),
])
def test_celery_worker_refuses_to_start_with_one_line(env, line, tmp_path):
    cmd = [str(VENV_BIN / "celery"), "-A", "app.worker:celery", "worker", "--pool", "threads",
           "--concurrency", "1", "--without-gossip", "--without-mingle"]
    out = _run(cmd, env, tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and line in text, text[-2000:]
    assert "Traceback" not in text
