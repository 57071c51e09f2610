"""Background work for long analyses (issue 7): the Dash background-callback manager.

``background_manager(settings)``: a ``CeleryManager`` over Redis when ``ECG_BROKER_URL`` is set
(workers: ``celery -A app.worker:celery worker --pool threads --concurrency 1``; run as many as you like, on any
host sharing the broker and the cache), else Dash's ``DiskcacheManager`` in
``<cache dir>/jobs`` (no server needed). Jobs store their analysis through ``app.cache``, so
the cache must be shared with the web workers (filesystem on one host, Redis across hosts); a
job whose result cannot be stored there fails with a retry (``cache.StoreError``).

Liveness (``job_status``): a running API job writes a heartbeat into its progress meta every
``ECG_JOB_HEARTBEAT_S`` (a thread, so a busy worker still beats); each worker keeps a presence key
in the broker's Redis (``start_presence``). A queued job fails only when no worker is present, a
running one when its heartbeat is older than ``ECG_JOB_STALE_S``.

The rule for the UI's analysis callback (``ui_mode``), decided once per process by create_app:
- ``"celery"`` when ``ECG_BROKER_URL`` is set: a background callback run by a Celery worker,
  which keeps the model loaded between jobs and stores the analysis in the shared cache.
- ``"diskcache"`` when the cache is shared (filesystem or Redis; the default under gunicorn):
  a background callback; DiskcacheManager forks the web worker for the job, and TensorFlow is
  not fork-safe once initialised (the web worker may have loaded it for the JSON API), so the
  forked job never touches TensorFlow: it runs the analysis in a freshly *spawned* process
  (``multiprocessing`` "spawn"), which stores it in the shared cache and reports its stages.
  Cancel kills the forked job and the spawned process with it.
- ``None`` with the in-process SimpleCache (``python -m app``): a spawned or forked job could
  not store its result where the web process reads it, so the analysis stays an ordinary
  in-process callback (no progress bar, no cancel).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from app.config import Settings, get_settings

log = logging.getLogger(__name__)


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
# a running job refreshes a heartbeat in its progress meta; older than this, its worker is gone
HEARTBEAT_S = float(os.environ.get("ECG_JOB_HEARTBEAT_S", 5))
STALE_S = float(os.environ.get("ECG_JOB_STALE_S", 30))
# each worker process keeps a presence key in the broker's Redis (refreshed, with a TTL)
PRESENCE_PREFIX = "ecg:worker-alive:"
PRESENCE_TTL_S = float(os.environ.get("ECG_WORKER_PRESENCE_TTL_S", 15))


class _Heartbeat:
    """Writes {stage, heartbeat: time} into a task's PROGRESS meta on each stage and every HEARTBEAT_S.

    A thread keeps writing while the task computes, so a busy worker still looks alive (a control
    ping has to be answered by the worker's consumer, which a loaded machine can delay past any
    short timeout); a killed worker stops writing, and ``job_status`` reports the job failed.
    """

    def __init__(self, task, interval: float = HEARTBEAT_S):
        self.task, self.interval = task, interval
        self.task_id = task.request.id  # the request is thread-local: read it in the task's thread
        self.stage = "starting"
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ecg-job-heartbeat", daemon=True)

    def _write(self) -> None:
        with self.lock:
            if self.stop_event.is_set() and threading.current_thread() is self.thread:
                return  # never after stop: the task's final state must not be overwritten
            try:
                self.task.update_state(task_id=self.task_id, state="PROGRESS", meta={"stage": self.stage, "heartbeat": time.time()})
            except Exception as exc:  # noqa: BLE001 - a missed beat is not fatal
                log.warning("job heartbeat not written: %s", exc)

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._write()

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self._write()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        with self.lock:
            self.stop_event.set()
        self.thread.join(timeout=5)
        return False


def register_tasks(app) -> None:
    """Register the analysis task on a Celery app (the worker does this at start-up)."""

    @app.task(bind=True, name=TASK_NAME, acks_late=True)
    def analyze_job(self, upload_key: str, lead=None, beats: str = "detect") -> dict:
        from app import cache

        with _Heartbeat(self) as beat:
            beat.set_stage("loading the upload")
            recording = cache.get_upload(upload_key)
            if recording is None:
                raise RuntimeError("the upload expired before a worker took it; send it again")
            beat.set_stage("analyzing")
            # require_shared: a result the web workers cannot read fails the job (with a retry)
            key, cached = cache.submit(recording, lead=lead, beats=beats, progress=beat.set_stage,
                                       require_shared=True)
        return {"key": key, "cached": cached}


def submit_job(broker_url: str, upload_key: str, lead=None, beats: str = "detect") -> str:
    """Queue an analysis of a stored upload; returns the job id."""
    result = celery_app(broker_url).send_task(TASK_NAME, args=[upload_key, lead, beats])
    return result.id


def _redis_client(broker_url: str):
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=5)


def start_presence(broker_url: str, name: str | None = None) -> threading.Event:
    """Keep ``PRESENCE_PREFIX<host:pid>`` alive in the broker's Redis while this process runs.

    Returns an Event: set it to stop (the key is then deleted at once; join ``.thread`` to wait). A worker calls this when
    ready (app.worker); a web process counts these keys instead of pinging the workers.
    """
    stop = threading.Event()
    client = _redis_client(broker_url)
    if client is None:
        return stop
    key = PRESENCE_PREFIX + (name or f"{socket.gethostname()}:{os.getpid()}")

    def write():
        try:
            client.set(key, str(time.time()), px=int(PRESENCE_TTL_S * 1000))
        except Exception as exc:  # noqa: BLE001 - broker down: try again next time
            log.warning("worker presence not written: %s", exc)

    def run():
        while not stop.wait(PRESENCE_TTL_S / 3):
            write()
        try:
            client.delete(key)
        except Exception:  # noqa: BLE001
            pass

    write()  # before returning: the worker counts as alive from now on
    stop.thread = threading.Thread(target=run, name="ecg-worker-presence", daemon=True)
    stop.thread.start()
    return stop


def workers_present(broker_url: str) -> bool | None:
    """True/False from the workers' presence keys; None when unknown (not Redis, or unreachable)."""
    client = _redis_client(broker_url)
    if client is None:
        return None
    try:
        return next(iter(client.scan_iter(match=PRESENCE_PREFIX + "*", count=1000)), None) is not None
    except Exception:  # noqa: BLE001
        return None


def workers_alive(broker_url: str, timeout: float = 2.0) -> bool:
    """True when at least one Celery worker is alive: a presence key, else an answered ping."""
    if workers_present(broker_url):
        return True
    try:
        return bool(celery_app(broker_url).control.ping(timeout=timeout))
    except Exception:  # noqa: BLE001 - broker down counts as no worker
        return False


_NO_WORKER = ("no analysis worker is running; the job stays queued and will run when a worker "
              "starts, or send it again later")
_WORKER_LOST = ("the worker running this analysis stopped (no sign of life for {age:.0f} s); "
                "send it again")
_RESULT_GONE = ("the analysis finished, but its result is no longer in the shared cache (expired or "
                "evicted); send it again")


def job_status(broker_url: str, job_id: str) -> dict:
    """{state, stage?, key?, cached?, error?, retry?} of a job.

    FAILURE with ``retry`` when: the task failed (e.g. its result could not be stored); it waits
    and no worker is alive; it was running and its heartbeat stopped (worker killed); or it
    succeeded but its result is not in the cache any more (never a SUCCESS whose key answers 404).
    """
    from celery.result import AsyncResult

    res = AsyncResult(job_id, app=celery_app(broker_url))
    state = res.state
    if state == "SUCCESS":
        out = {"state": "SUCCESS", **(res.result or {})}
        if out.get("key") and not _result_present(out["key"]):
            return {"state": "FAILURE", "error": _RESULT_GONE, "retry": True}
        return out
    if state == "FAILURE":
        return {"state": "FAILURE", "error": str(res.result), "retry": True}
    out = {"state": state}
    info = res.info if isinstance(res.info, dict) else {}
    if "stage" in info:
        out["stage"] = info["stage"]
    beat = info.get("heartbeat")
    if state in ("STARTED", "PROGRESS") and beat is not None:
        age = time.time() - float(beat)
        if age > STALE_S:
            out.update(state="FAILURE", error=_WORKER_LOST.format(age=age), retry=True)
        return out
    if not workers_alive(broker_url):
        out.update(state="FAILURE", error=_NO_WORKER, retry=True)
    return out


def _result_present(key: str) -> bool:
    try:
        from app import cache

        return cache.has_entry(key)
    except RuntimeError:  # no cache in this process (not a web worker): cannot tell
        return True


# --------------------------------------------------------------------------- the UI's analysis job

STAGES = {"reading": 10, "detecting beats": 35, "scoring": 75, "done": 100}
_UI_MODE: str | None = None


def ui_mode(settings: Settings) -> str | None:
    """"celery", "diskcache" or None (in-process callback): see the module docstring."""
    if settings.broker_url:
        return "celery"
    from app.cache import backend_config

    return "diskcache" if backend_config(settings)[0] != "simple" else None


def configure_ui(settings: Settings) -> str | None:
    """Fix this process's UI mode (create_app calls it before the pages are imported)."""
    global _UI_MODE
    _UI_MODE = ui_mode(settings)
    return _UI_MODE


def current_ui_mode() -> str | None:
    return _UI_MODE


_JOB_TMP_PREFIX = "ecg-job-"


def _sweep_job_dirs(base: str) -> None:
    """Remove the temp dirs of jobs whose process is gone (a cancelled job is killed)."""
    for d in Path(base).glob(_JOB_TMP_PREFIX + "*"):
        pid = d.name[len(_JOB_TMP_PREFIX):].split("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _spawned_analysis(recording, lead, beats, cache_url: str, settings: Settings, messages,
                      job_tmp: str | None = None) -> None:
    """Entry point of the spawned process: a fresh interpreter, its own TensorFlow.

    Temporary files go to ``job_tmp`` (TensorFlow's autograph files are removed only by atexit,
    which a multiprocessing child skips), removed by the job afterwards.
    """
    from dataclasses import replace

    if job_tmp:
        os.environ["TMPDIR"] = job_tmp
        tempfile.tempdir = job_tmp

    from flask import Flask

    from app import cache
    from app.ecg.errors import InvalidRecordError

    try:
        cache.init_cache(Flask("ecg-analysis-job"), replace(settings, cache_url=cache_url))
        key, cached = cache.submit(recording, lead=lead, beats=beats,
                                   progress=lambda stage: messages.put(("stage", stage)), require_shared=True)
        messages.put(("done", key, cached))
    except InvalidRecordError as exc:
        messages.put(("invalid", exc.filename, exc.problem))
    except cache.StoreError as exc:
        messages.put(("failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the user as a failure
        messages.put(("error", type(exc).__name__, str(exc)))


class JobFailed(RuntimeError):
    """The spawned analysis process failed or died."""


def run_ui_analysis(recording, lead=None, beats: str = "detect", progress=None) -> tuple[str, bool]:
    """Analyze for a UI job; returns (key, cached). ``progress(stage)`` gets the STAGES names.

    Celery (or no background): in this process. DiskcacheManager's forked job: in a spawned
    process (see the module docstring); InvalidRecordError is re-raised here.
    """
    from app import cache
    from app.ecg.errors import InvalidRecordError

    progress = progress or (lambda stage: None)
    if _UI_MODE != "diskcache":
        try:  # Celery: the web workers read the result from the shared cache, so it must get there
            return cache.submit(recording, lead=lead, beats=beats, progress=progress,
                                require_shared=_UI_MODE == "celery")
        except cache.StoreError as exc:
            raise JobFailed(str(exc)) from None
    base = tempfile.gettempdir()
    _sweep_job_dirs(base)
    key = cache.find_analysis(recording, lead=lead, beats=beats)
    if key is not None:
        return key, True
    job_tmp = tempfile.mkdtemp(prefix=f"{_JOB_TMP_PREFIX}{os.getpid()}-", dir=base)
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    proc = ctx.Process(target=_spawned_analysis, daemon=True,
                       args=(recording, lead, beats, cache.shared_cache_url(), cache.current_settings(), messages,
                             job_tmp))
    proc.start()
    try:
        while True:
            try:
                msg = messages.get(timeout=0.5)
            except queue.Empty:
                if not proc.is_alive():
                    raise JobFailed(f"the analysis process ended unexpectedly (exit code {proc.exitcode})") from None
                continue
            if msg[0] == "stage":
                progress(msg[1])
            elif msg[0] == "done":
                return msg[1], msg[2]
            elif msg[0] == "invalid":
                raise InvalidRecordError(msg[1], msg[2])
            elif msg[0] == "failed":
                raise JobFailed(msg[1])
            else:
                raise JobFailed(f"{msg[1]}: {msg[2]}")
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
        shutil.rmtree(job_tmp, ignore_errors=True)
