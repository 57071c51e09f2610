"""Celery worker entry point: ``celery -A app.worker:celery worker --pool solo``.

Builds the Dash app once (registering its background callbacks as Celery tasks) and the
analysis cache; the model loads lazily on the first job and stays loaded between jobs.
"""
from __future__ import annotations

from app import create_app
from app.config import get_settings
from app.jobs import celery_app

_settings = get_settings()
if not _settings.broker_url:
    raise SystemExit("ECG_BROKER_URL is not set: the Celery worker needs a broker (e.g. redis://127.0.0.1:6379/1)")
dash_app = create_app()
celery = celery_app(_settings.broker_url)
