"""Background work for long analyses (issue 7): the Dash background-callback manager.

``background_manager(settings)``: a ``CeleryManager`` over Redis when ``ECG_BROKER_URL`` is set
(workers: ``celery -A app.worker:celery worker --pool threads --concurrency 1``; run as many as you like, on any
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


# --------------------------------------------------------------------------- analysis jobs (Celery)

TASK_NAME = "ecg.analyze"


def register_tasks(app) -> None:
    """Register the analysis task on a Celery app (the worker does this at start-up)."""

    @app.task(bind=True, name=TASK_NAME, acks_late=True)
    def analyze_job(self, upload_key: str, lead=None, beats: str = "detect") -> dict:
        from app import cache

        self.update_state(state="PROGRESS", meta={"stage": "loading the upload"})
        recording = cache.get_upload(upload_key)
        if recording is None:
            raise RuntimeError("the upload expired before a worker took it; send it again")
        self.update_state(state="PROGRESS", meta={"stage": "analyzing"})
        key, cached = cache.submit(recording, lead=lead, beats=beats)
        return {"key": key, "cached": cached}


def submit_job(broker_url: str, upload_key: str, lead=None, beats: str = "detect") -> str:
    """Queue an analysis of a stored upload; returns the job id."""
    result = celery_app(broker_url).send_task(TASK_NAME, args=[upload_key, lead, beats])
    return result.id


def workers_alive(broker_url: str, timeout: float = 1.0) -> bool:
    """True when at least one Celery worker answers a ping."""
    try:
        return bool(celery_app(broker_url).control.ping(timeout=timeout))
    except Exception:  # noqa: BLE001 - broker down counts as no worker
        return False


def job_status(broker_url: str, job_id: str) -> dict:
    """{state, stage?, key?, cached?, error?} of a job; waiting with no live worker is a failure."""
    from celery.result import AsyncResult

    res = AsyncResult(job_id, app=celery_app(broker_url))
    state = res.state
    if state == "SUCCESS":
        return {"state": "SUCCESS", **(res.result or {})}
    if state == "FAILURE":
        return {"state": "FAILURE", "error": str(res.result), "retry": True}
    out = {"state": state}
    if isinstance(res.info, dict) and "stage" in res.info:
        out["stage"] = res.info["stage"]
    if not workers_alive(broker_url):
        out.update(state="FAILURE", error="no analysis worker is running; the job stays queued and "
                   "will run when a worker starts, or send it again later", retry=True)
    return out
