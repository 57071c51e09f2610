"""Celery worker entry point: ``celery -A app.worker:celery worker --pool threads --concurrency 1``.

Builds the Dash app once (registering its background callbacks as Celery tasks, and the
analysis cache) and the JSON API's analysis task; the model loads lazily on the first job and
stays loaded between jobs. Needs ``ECG_BROKER_URL`` and a shared ``ECG_CACHE_URL`` (Redis).
"""
from __future__ import annotations

from app import create_app
from app.config import get_settings
from app.jobs import celery_app, register_tasks

_settings = get_settings()
if not _settings.broker_url:
    raise SystemExit("ECG_BROKER_URL is not set: the Celery worker needs a broker (e.g. redis://127.0.0.1:6379/1)")
dash_app = create_app()
celery = celery_app(_settings.broker_url)
register_tasks(celery)
