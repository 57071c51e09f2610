"""Celery worker entry point: ``celery -A app.worker:celery worker --pool threads --concurrency 1``.

Builds the Dash app once (registering its background callbacks as Celery tasks, and the
analysis cache) and the JSON API's analysis task; the model loads lazily on the first job and
stays loaded between jobs. While it runs, the worker keeps a presence key in the broker's Redis
(``app.jobs.start_presence``): web workers tell "no worker" from "workers busy" by it, not by a
control ping that a busy worker can miss. Needs ``ECG_BROKER_URL`` and a shared ``ECG_CACHE_URL`` (Redis).
"""
from __future__ import annotations

from celery.signals import worker_ready, worker_shutdown

from app import create_app
from app.config import get_settings
from app.jobs import celery_app, register_tasks, start_presence

_settings = get_settings()
if not _settings.broker_url:
    raise SystemExit("ECG_BROKER_URL is not set: the Celery worker needs a broker (e.g. redis://127.0.0.1:6379/1)")
dash_app = create_app()
celery = celery_app(_settings.broker_url)
register_tasks(celery)

_presence = {}


@worker_ready.connect(weak=False)
def _announce(**_kwargs):
    _presence["stop"] = start_presence(_settings.broker_url)


@worker_shutdown.connect(weak=False)
def _withdraw(**_kwargs):
    stop = _presence.pop("stop", None)
    if stop is not None:
        stop.set()
        thread = getattr(stop, "thread", None)
        if thread is not None:
            thread.join(timeout=2)  # its key is deleted before the process exits
