"""Background work for long analyses (issue 7): the Dash background-callback manager.

``background_manager(settings)``: a ``CeleryManager`` over Redis when ``ECG_BROKER_URL`` is set
(workers: ``celery -A app.worker:celery worker --pool threads --concurrency 1``; run as many as you like, on any
host sharing the broker and the cache), else Dash's ``DiskcacheManager`` in
``<cache dir>/jobs`` (no server needed). Jobs store their analysis through ``app.cache``, so
the cache must be shared with the web workers (filesystem on one host, Redis across hosts; with a
broker and no ``ECG_CACHE_URL`` every process uses the same default filesystem cache); a job
whose result cannot be stored there fails (``cache.StoreError``: with a retry; ``EntryTooLarge``:
without, the same upload fails the same way).

API jobs (``submit_job`` / ``job_status``) are recorded in the broker's Redis
(``ecg:job:<id>``, kept as long as the job and its result), so an id this deployment never issued
answers None (404), not an endless PENDING. States:
- PENDING while queued; with ``no_worker: true`` and a ``warning`` when no worker is present
  (it stays queued and runs when a worker starts; not a failure).
- PROGRESS with ``stage`` while running; a running API job writes a heartbeat into its progress
  meta every ``ECG_JOB_HEARTBEAT_S`` (a thread, so a busy worker still beats); each worker keeps a
  presence key in the broker's Redis (``start_presence``).
- SUCCESS with ``key``.
- FAILURE with ``error`` and ``retry`` (whether sending the same upload again can succeed), and
  it is final: the task failed; its heartbeat is older than ``ECG_JOB_STALE_S`` (worker lost);
  or it succeeded but its result has left the cache. The last two are recorded
  (``ecg:job-failed:<id>``), so a later redelivery of the lost job (acks_late: the Redis broker
  hands an unacknowledged job out again after ``ECG_BROKER_VISIBILITY_TIMEOUT_S``) neither runs it
  nor turns it into a SUCCESS: the worker that gets it acknowledges it without running it.

``broker_ping`` (the health endpoint): whether the broker's Redis answers a short PING.

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

import json
import logging
import multiprocessing
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path

from app.config import Settings, env_number, get_settings

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
        result_expires=RESULT_EXPIRES_S,
        broker_connection_retry_on_startup=True,
        # Redis broker: a job taken but not acknowledged this long (its worker died) is handed out
        # again; kombu's default is 1 h. Keep it above the longest analysis, or a job still running
        # is handed to a second worker too.
        broker_transport_options={"visibility_timeout": env_number("ECG_BROKER_VISIBILITY_TIMEOUT_S")},
    )
    return app


def jobs_dir(settings: Settings) -> Path:
    base = settings.cache_dir or os.path.join(tempfile.gettempdir(), f"ecg-explorer-cache-{os.getuid()}")
    path = Path(base) / "jobs"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def background_manager(settings: Settings | None = None):
    """CeleryManager when a broker is configured, else DiskcacheManager (default; its jobs let go
    of the web worker's sockets first: app.forked_job)."""
    settings = settings or get_settings()
    if settings.broker_url:
        from dash import CeleryManager

        return CeleryManager(celery_app(settings.broker_url))
    from app.forked_job import ForkSafeCache, ReleasingDiskcacheManager

    return ReleasingDiskcacheManager(ForkSafeCache(str(jobs_dir(settings))))


# --------------------------------------------------------------------------- analysis jobs (Celery)

TASK_NAME = "ecg.analyze"
# a running job refreshes a heartbeat in its progress meta; older than this, its worker is gone
HEARTBEAT_S = env_number("ECG_JOB_HEARTBEAT_S")
STALE_S = env_number("ECG_JOB_STALE_S")
# each worker process keeps a presence key in the broker's Redis (refreshed, with a TTL)
PRESENCE_PREFIX = "ecg:worker-alive:"
PRESENCE_TTL_S = env_number("ECG_WORKER_PRESENCE_TTL_S")
# job records in the broker's Redis: submitted ids, and failures declared by job_status (final)
JOB_PREFIX = "ecg:job:"
FAILED_PREFIX = "ecg:job-failed:"
RESULT_EXPIRES_S = 6 * 3600  # Celery keeps a job's result this long after it ends
QUEUED_S = 3600  # = cache.UPLOAD_TIMEOUT_S: a job queued longer finds its upload gone and fails


class JobError(RuntimeError):
    """A job failed in a way the user is told about (one line, no traceback); sending the same
    upload again may succeed (``retry``)."""

    retry = True


class JobRejected(JobError):
    """A job failed in a way that sending the same upload again cannot change (``retry`` false)."""

    retry = False


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
    """Register the analysis task on a Celery app (the worker does this at start-up).

    Failures the user is told about are JobError/JobRejected (Celery's ``throws``: logged on one
    line, no traceback); a job already declared failed (worker lost) is not run again.
    """
    from celery.exceptions import Ignore

    @app.task(bind=True, name=TASK_NAME, acks_late=True, throws=(JobError,))
    def analyze_job(self, upload_key: str, lead=None, beats: str = "detect") -> dict:
        from app import cache
        from app.ecg.errors import InvalidRecordError

        broker_url = self.app.conf.broker_url
        job_id = self.request.id
        try:
            failed = _failed_record(broker_url, job_id)
        except Exception:  # noqa: BLE001 - cannot tell: run it
            failed = None
        if failed is not None:
            log.warning("job %s was reported failed (its worker was lost); not run again", job_id)
            raise Ignore()
        _record_job(broker_url, job_id, QUEUED_S + RESULT_EXPIRES_S)
        try:
            with _Heartbeat(self) as beat:
                beat.set_stage("loading the upload")
                recording = cache.get_upload(upload_key)
                if recording is None:
                    log.warning("job %s: its upload is not in the %s cache at %s (expired after %d s, or "
                                "this worker does not share the web workers' cache: set the same "
                                "ECG_CACHE_URL on both)", job_id, cache.backend_name(),
                                cache.backend_location(), cache.UPLOAD_TIMEOUT_S)
                    raise JobError("the upload expired before a worker took it; send it again")
                beat.set_stage("analyzing")
                # require_shared: a result the web workers cannot read fails the job
                key, cached = cache.submit(recording, lead=lead, beats=beats, progress=beat.set_stage,
                                           require_shared=True)
        except cache.EntryTooLarge as exc:
            raise JobRejected(str(exc)) from None
        except cache.StoreError as exc:
            raise JobError(str(exc)) from None
        except InvalidRecordError as exc:
            raise JobRejected(str(exc)) from None
        finally:  # the record lives as long as the result Celery keeps
            _record_job(broker_url, job_id, RESULT_EXPIRES_S + 60)
        return {"key": key, "cached": cached}


def submit_job(broker_url: str, upload_key: str, lead=None, beats: str = "detect") -> str:
    """Queue an analysis of a stored upload; returns the job id (recorded before it is sent)."""
    job_id = str(uuid.uuid4())
    _record_job(broker_url, job_id, QUEUED_S + RESULT_EXPIRES_S, required=True)
    celery_app(broker_url).send_task(TASK_NAME, args=[upload_key, lead, beats], task_id=job_id)
    return job_id


def is_job_id(job_id: str) -> bool:
    """A job id as submit_job makes them: a canonical lower-case UUID."""
    try:
        return str(uuid.UUID(job_id)) == job_id
    except (ValueError, TypeError, AttributeError):
        return False


def _record_job(broker_url: str, job_id: str, ttl_s: float, required: bool = False) -> None:
    """Note (or refresh) a submitted job id in the broker's Redis for ``ttl_s`` seconds."""
    client = _redis_client(broker_url)
    if client is None:
        return
    try:
        client.set(JOB_PREFIX + job_id, "1", ex=int(ttl_s))
    except Exception as exc:  # noqa: BLE001
        if required:
            raise
        log.warning("job record not written: %s", exc)


def _failed_record(broker_url: str, job_id: str) -> dict | None:
    """The failure job_status declared for this job (worker lost, result gone), or None;
    raises when the broker's Redis cannot be read."""
    client = _redis_client(broker_url)
    raw = client.get(FAILED_PREFIX + job_id) if client is not None else None
    return json.loads(raw) if raw else None


@lru_cache(maxsize=8)
def _redis_client(broker_url: str):
    """A client of the broker's Redis (one per URL per process), or None for another broker."""
    if not broker_url or not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=5)


@lru_cache(maxsize=8)
def _probe_client(broker_url: str, timeout: float):
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=timeout, socket_timeout=timeout)


def broker_ping(broker_url: str, timeout: float = 1.0) -> tuple[bool | None, str]:
    """(reachable, problem) of the broker: a Redis PING with a ``timeout``-second connect/read
    limit; (None, "not checked ...") for a broker other than Redis. Never raises."""
    if _redis_client(broker_url) is None:
        return None, "not checked (only a Redis broker is)"
    try:
        _probe_client(broker_url, timeout).ping()
        return True, ""
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        return False, f"redis unreachable: {type(exc).__name__}: {exc}"


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
              "starts (or send it again later)")
_WORKER_LOST = ("the worker running this analysis stopped (no sign of life for {age:.0f} s); "
                "send it again")
_RESULT_GONE = ("the analysis finished, but its result is no longer in the shared cache (expired or "
                "evicted); send it again")


def job_known(broker_url: str, job_id: str) -> bool:
    """True when this deployment submitted ``job_id`` (and its record has not expired); raises
    when the broker's Redis cannot be read. Brokers other than Redis keep no record: True."""
    client = _redis_client(broker_url)
    return True if client is None else bool(client.exists(JOB_PREFIX + job_id))


def _final_failure(broker_url: str, job_id: str, error: str, retry: bool) -> dict:
    """Record a failure declared here (not by the task) so that it stays the answer."""
    out = {"state": "FAILURE", "error": error, "retry": retry}
    client = _redis_client(broker_url)
    if client is not None:
        try:
            client.set(FAILED_PREFIX + job_id, json.dumps(out), ex=RESULT_EXPIRES_S + 60)
        except Exception as exc:  # noqa: BLE001 - reported anyway
            log.warning("job failure not recorded: %s", exc)
    return out


def job_status(broker_url: str, job_id: str) -> dict | None:
    """{state, stage?, key?, cached?, error?, retry?, no_worker?, warning?} of a job; None when
    this deployment never submitted it (or its record expired with its result). Raises when the
    broker cannot be reached.

    PENDING (queued) with ``no_worker``/``warning`` when no worker is alive: it runs when one
    starts. FAILURE is final, with ``retry`` (whether sending the upload again can succeed): the
    task failed (JobRejected: retry false); it was running and its heartbeat stopped (worker
    killed); or it succeeded but its result is not in the cache any more (never a SUCCESS whose
    key answers 404).
    """
    from celery.result import AsyncResult

    failed = _failed_record(broker_url, job_id)
    if failed is not None:
        return failed
    if not job_known(broker_url, job_id):
        return None
    res = AsyncResult(job_id, app=celery_app(broker_url))
    state = res.state
    if state == "SUCCESS":
        out = {"state": "SUCCESS", **(res.result or {})}
        if out.get("key") and not _result_present(out["key"]):
            return _final_failure(broker_url, job_id, _RESULT_GONE, retry=True)
        return out
    if state == "FAILURE":
        exc = res.result
        return {"state": "FAILURE", "error": str(exc), "retry": bool(getattr(exc, "retry", True))}
    out = {"state": state}
    info = res.info if isinstance(res.info, dict) else {}
    if "stage" in info:
        out["stage"] = info["stage"]
    beat = info.get("heartbeat")
    if state in ("STARTED", "PROGRESS") and beat is not None:
        age = time.time() - float(beat)
        if age > STALE_S:
            return _final_failure(broker_url, job_id, _WORKER_LOST.format(age=age), retry=True)
        return out
    if not workers_alive(broker_url):
        out.update(no_worker=True, warning=_NO_WORKER)
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
    from app.forked_job import note_server_process

    global _UI_MODE
    _UI_MODE = ui_mode(settings)
    note_server_process()  # jobs forked from this process let go of its sockets (app.forked_job)
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
