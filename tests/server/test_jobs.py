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
