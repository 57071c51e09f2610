"""app.jobs: the background-callback manager follows the configuration."""
from __future__ import annotations

from dash import CeleryManager, DiskcacheManager

from app.config import get_settings
from app.jobs import background_manager, celery_app


def test_diskcache_manager_by_default_in_the_cache_dir(tmp_path):
    m = background_manager(get_settings(broker_url="", cache_dir=str(tmp_path)))
    assert isinstance(m, DiskcacheManager)
    assert (tmp_path / "jobs").is_dir()
    assert (tmp_path / "jobs").stat().st_mode & 0o077 == 0


def test_celery_manager_when_a_broker_is_configured():
    url = "redis://127.0.0.1:6399/3"
    m = background_manager(get_settings(broker_url=url))
    assert isinstance(m, CeleryManager)
    app = celery_app(url)
    assert app.conf.broker_url == url and app.conf.task_acks_late is True
    assert celery_app(url) is app  # one per process


def test_the_redis_visibility_timeout_is_an_hour_unless_set(monkeypatch):
    # a job taken but never acknowledged (its worker died) is handed out again after this long
    assert celery_app("redis://127.0.0.1:6399/5").conf.broker_transport_options == {"visibility_timeout": 3600.0}
    monkeypatch.setenv("ECG_BROKER_VISIBILITY_TIMEOUT_S", "2.5")
    assert celery_app("redis://127.0.0.1:6399/6").conf.broker_transport_options["visibility_timeout"] == 2.5


def test_broker_ping_answers_for_redis_only_and_never_raises():
    from app.jobs import broker_ping
    from tests.conftest import free_port

    ok, problem = broker_ping(f"redis://127.0.0.1:{free_port()}/1", timeout=1.0)  # nothing listens there
    assert ok is False and problem.startswith("redis unreachable: ConnectionError")
    assert broker_ping("amqp://guest@127.0.0.1:5672//") == (None, "not checked (only a Redis broker is)")
