"""Celery worker entry point: ``celery -A app.worker:celery worker --pool threads --concurrency 1``.

Builds the Dash app once (registering its background callbacks as Celery tasks, and the
analysis cache) and the JSON API's analysis task; the model loads lazily on the first job and
stays loaded between jobs. While it runs, the worker keeps a presence key in the broker's Redis
(``app.jobs.start_presence``): web workers tell "no worker" from "workers busy" by it, not by a
control ping that a busy worker can miss.

Needs ``ECG_BROKER_URL`` and a cache shared with the web workers. With no ``ECG_CACHE_URL`` it
uses the same default as gunicorn's web workers: the filesystem cache in ``ECG_CACHE_DIR`` or
the per-user temp dir (right for web and worker on one host, same user and TMPDIR; across hosts
set ``ECG_CACHE_URL=redis://...`` everywhere). ``ECG_CACHE_URL=simple`` (in-process) is refused.
A bad setting stops it with one line naming the variable (SystemExit), never a traceback.
"""
from __future__ import annotations

import logging

from celery.signals import worker_ready, worker_shutdown

from app.config import ConfigError, get_settings

log = logging.getLogger(__name__)


def _startup():
    """(settings, dash app, celery app), or SystemExit with one line for the operator."""
    try:
        settings = get_settings()
        if not settings.broker_url:
            raise ConfigError("ECG_BROKER_URL is not set: the Celery worker needs a broker "
                              "(e.g. redis://127.0.0.1:6379/1)")
        from app.cache import backend_config

        if backend_config(settings)[0] == "simple":
            raise ConfigError("ECG_CACHE_URL=simple: a Celery worker needs the cache the web workers use "
                              "(redis://host:port/db, or filesystem:///dir on one host)")
        from app import create_app
        from app.jobs import celery_app, register_tasks

        dash_app = create_app()
        celery = celery_app(settings.broker_url)
        register_tasks(celery)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    return settings, dash_app, celery


_settings, dash_app, celery = _startup()

_presence = {}


def _cache_line() -> str:
    from app import cache

    where = cache.backend_location()
    line = f"analysis cache: {cache.backend_name()} at {where}"
    if not _settings.cache_url and not _settings.cache_dir:
        line += (" (default: no ECG_CACHE_URL; shared only with web workers on this host run with the "
                 "same user and TMPDIR; across hosts set ECG_CACHE_URL=redis://...)")
    return line


@worker_ready.connect(weak=False)
def _announce(**_kwargs):
    from app.jobs import start_presence

    default = not _settings.cache_url and not _settings.cache_dir
    log.log(logging.WARNING if default else logging.INFO, _cache_line())
    _presence["stop"] = start_presence(_settings.broker_url)


@worker_shutdown.connect(weak=False)
def _withdraw(**_kwargs):
    stop = _presence.pop("stop", None)
    if stop is not None:
        stop.set()
        thread = getattr(stop, "thread", None)
        if thread is not None:
            thread.join(timeout=2)  # its key is deleted before the process exits
