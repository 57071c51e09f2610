"""Background work for long analyses (issue 7): the Dash background-callback manager.

``background_manager(settings)``: a ``CeleryManager`` over Redis when ``ECG_BROKER_URL`` is set
(workers: ``celery -A app.worker:celery worker --pool solo``; run as many as you like, on any
host sharing the broker and the cache), else Dash's ``DiskcacheManager`` in
``<cache dir>/jobs`` (no server needed). Jobs store their analysis through ``app.cache``, so
the cache must be shared with the web workers (filesystem on one host, Redis across hosts).
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from app.config import Settings, get_settings


@lru_cache(maxsize=4)
def celery_app(broker_url: str):
    """A Celery app on ``broker_url`` (also its result backend); one per URL per process."""
    from celery import Celery

    app = Celery("ecg_explorer", broker=broker_url, backend=broker_url)
    app.conf.update(
        task_acks_late=True,             # a job whose worker dies is given to another worker
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,    # long jobs: take one at a time
        result_expires=6 * 3600,
        broker_connection_retry_on_startup=True,
    )
    return app


def jobs_dir(settings: Settings) -> Path:
    base = settings.cache_dir or os.path.join(tempfile.gettempdir(), f"ecg-explorer-cache-{os.getuid()}")
    path = Path(base) / "jobs"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def background_manager(settings: Settings | None = None):
    """CeleryManager when a broker is configured, else DiskcacheManager (default)."""
    settings = settings or get_settings()
    if settings.broker_url:
        from dash import CeleryManager

        return CeleryManager(celery_app(settings.broker_url))
    import diskcache
    from dash import DiskcacheManager

    return DiskcacheManager(diskcache.Cache(str(jobs_dir(settings))))
