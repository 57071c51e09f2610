"""Server-side cache of analyses (flask-caching), keyed so that keys cannot be guessed.

The browser (or an API client) holds only a key; the recording and its analysis stay here.
A key is ``HMAC-SHA256(secret, content-hash|model-id|options)``: the same upload with the
same model and options gets the same key (so it is analyzed once), but nobody can derive or
enumerate another user's key without the secret.

Backend, from ``Settings.cache_url`` (env ``ECG_CACHE_URL``):
  ""/"simple"          in-process SimpleCache (one process: ``python -m app``); under
                       gunicorn, or with a broker (``ECG_BROKER_URL``: web and Celery workers
                       alike), no URL means a FileSystemCache instead (shared by the processes
                       of one host) in ``ECG_CACHE_DIR`` or a private temp dir.
  "filesystem:///dir"  FileSystemCache in /dir (several workers on one host).
  "redis://host:port/db"  RedisCache (several hosts).
Entries kept: ``ECG_CACHE_MAX_ENTRIES`` (default 16 in memory, 64 on disk; Redis: its own
``maxmemory`` policy), timeout ``ECG_CACHE_TIMEOUT_S``.
Secret: env ``ECG_SECRET_KEY``; else a random file beside the filesystem cache, a random
value stored once in Redis, or a random value per process (simple).

Entries are stored compact (``app.compact``: ~5-7 MB per hour of a 2-lead 360 Hz record,
against ~26-31 MB/h pickled as computed), so a 24-hour analysis (~130 MB) fits Redis' 512 MB
value limit; entries over ``ECG_CACHE_MAX_ENTRY_MB`` (default 500 for Redis, no limit
otherwise) are not sent.

If the backend fails (Redis down, entry too big), the failure is logged with the entry's size
and the reason, and the analysis is served anyway from a small in-process store of the process
that computed it. A caller whose result must reach another process (a Celery or spawned job)
passes ``require_shared=True`` to ``submit`` and gets a ``StoreError`` with a message for the
user instead (``EntryTooLarge`` when the size limit refused it: trying again cannot help).
A per-process semaphore bounds the number of analyses running at once
(``Settings.max_concurrent_analyses``).

Each process also keeps its last ``ECG_CACHE_LOCAL_ENTRIES`` entries live; one that was in the
shared backend is checked against it (a cheap ``has``) on each read and dropped once the backend
no longer has it (expired, evicted), so every worker answers the same for a key.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flask_caching import Cache

from app import compact
from app.config import ConfigError, Settings, check_environment, env_number, get_settings

log = logging.getLogger(__name__)

KEY_PREFIX = "ecg:"
SUMMARY_PREFIX = "summary:"
_SECRET_KEY_NAME = "secret"
# live Entry objects kept per process (avoids re-unpickling on every callback)
_LOCAL_ENTRIES = env_number("ECG_CACHE_LOCAL_ENTRIES")
# entries kept by the backend before the oldest are dropped (a 30-min record is ~3 MB compact)
_MAX_ENTRIES = env_number("ECG_CACHE_MAX_ENTRIES")  # None: 16 in memory, 64 on disk
_LOCK_TTL_S = 600
_LOCK_WAIT_S = env_number("ECG_LOCK_WAIT_S")
_WAIT_POLL_S = 0.1


class BusyError(RuntimeError):
    """Too many analyses already running in this worker (after waiting)."""


class StoreError(RuntimeError):
    """An analysis was computed but could not be put in the shared cache (message for the user)."""


class EntryTooLarge(StoreError):
    """The analysis is larger than ECG_CACHE_MAX_ENTRY_MB: sending it again fails the same way."""


def max_entry_bytes(backend: str) -> int:
    """Largest entry sent to the backend (0: no limit); Redis refuses values over 512 MB."""
    mb = env_number("ECG_CACHE_MAX_ENTRY_MB")
    if mb is not None:
        return int(mb * 1e6)
    return 500_000_000 if backend == "redis" else 0


@dataclass
class Entry:
    """What a key resolves to: the recording as read, and its analysis."""

    recording: Any
    analysis: Any


@dataclass
class _State:
    cache: Cache
    backend: str  # "simple" | "filesystem" | "redis"
    secret: bytes
    settings: Settings
    semaphore: threading.BoundedSemaphore
    local: "OrderedDict[str, tuple[Entry, bool]]"  # key -> (entry, also in the shared backend)
    local_lock: threading.Lock
    key_locks: dict  # key -> (its lock, requests using it now); emptied as they finish
    key_locks_lock: threading.Lock
    analyses_run: int = 0  # analyses computed by this process (for logs and tests)
    probe: Any = None  # a Redis client with short timeouts for ping() (health checks)


_state: _State | None = None


# --------------------------------------------------------------------------- configuration

def under_gunicorn() -> bool:
    """True inside a gunicorn worker (gunicorn sets SERVER_SOFTWARE and imports its arbiter)."""
    return "gunicorn" in os.environ.get("SERVER_SOFTWARE", "") or "gunicorn.arbiter" in sys.modules


def default_cache_dir() -> Path:
    """A private per-user directory for the filesystem cache when ECG_CACHE_DIR is not set."""
    return Path(tempfile.gettempdir()) / f"ecg-explorer-cache-{os.getuid()}"


def backend_config(settings: Settings) -> tuple[str, dict]:
    """(backend name, flask-caching config) chosen from the settings."""
    url = (settings.cache_url or "").strip()
    base = {"CACHE_DEFAULT_TIMEOUT": int(settings.cache_timeout_s), "CACHE_KEY_PREFIX": KEY_PREFIX}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis", {
            **base,
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": url,
            "CACHE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 10},
        }
    if url.startswith("filesystem://"):
        path = url[len("filesystem://"):] or str(settings.cache_dir or default_cache_dir())
        return "filesystem", _fs_config(base, Path(path))
    if url in ("", "simple"):
        if settings.cache_dir or (url == "" and needs_shared_default(settings)):
            return "filesystem", _fs_config(base, Path(settings.cache_dir or default_cache_dir()))
        return "simple", {**base, "CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": int(_MAX_ENTRIES or 16)}
    raise ConfigError(f"ECG_CACHE_URL: unsupported cache URL {url!r} (use simple, filesystem:///dir or redis://host:port/db)")


def needs_shared_default(settings: Settings) -> bool:
    """With no ECG_CACHE_URL/ECG_CACHE_DIR: True where several processes must share the cache, so
    the default is the filesystem cache in default_cache_dir(): gunicorn workers, and every process
    of a deployment with a broker (web and Celery workers: jobs read their uploads there and
    store their results there). Only ``python -m app`` without a broker keeps SimpleCache."""
    return under_gunicorn() or bool(settings.broker_url)


def _fs_config(base: dict, root: Path) -> dict:
    return {**base, "CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(root / "entries"),
            "CACHE_THRESHOLD": int(_MAX_ENTRIES or 64)}


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise RuntimeError(f"cache directory {path} belongs to another user; set ECG_CACHE_DIR")
    os.chmod(path, 0o700)
    return path


def _file_secret(root: Path) -> bytes:
    """A random secret created once per deployment beside the filesystem cache."""
    path = root / _SECRET_KEY_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker is writing it
            data = path.read_bytes()
            if len(data) >= 32:
                return data
            time.sleep(0.02)
        raise RuntimeError(f"cache secret {path} is empty or truncated; delete it and restart")
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


def _redis_secret(cache: Cache) -> bytes:
    """A random secret stored once in Redis (shared by every host), or per process if down."""
    try:
        cache.add("__secret__", secrets.token_hex(32), timeout=0)
        value = cache.get("__secret__")
        if value:
            return str(value).encode()
    except Exception as exc:  # noqa: BLE001 - backend down: degrade, keep serving
        log.warning("cache backend unreachable while reading the key secret (%s); "
                    "using a per-process secret", exc)
    return secrets.token_bytes(32)


def init_cache(server, settings: Settings | None = None) -> Cache:
    """Attach the cache to the Flask server; call once per process (create_app does)."""
    global _state
    settings = settings or get_settings()
    backend, config = backend_config(settings)
    if backend == "filesystem":
        root = _private_dir(Path(config["CACHE_DIR"]).parent)
        _private_dir(Path(config["CACHE_DIR"]))
    cache = Cache()
    cache.init_app(server, config=config)
    env_secret = os.environ.get("ECG_SECRET_KEY", "")
    if env_secret:
        secret = env_secret.encode()
    elif backend == "filesystem":
        secret = _file_secret(root)
    elif backend == "redis":
        secret = _redis_secret(cache)
    else:
        secret = secrets.token_bytes(32)
    check_environment()  # every ECG_* number, also when ``settings`` came ready-made: a bad one fails at start-up
    _state = _State(
        cache=cache, backend=backend, secret=secret, settings=settings,
        semaphore=threading.BoundedSemaphore(max(1, int(settings.max_concurrent_analyses))),
        local=OrderedDict(), local_lock=threading.Lock(),
        key_locks={}, key_locks_lock=threading.Lock(),
    )
    server.extensions["ecg_cache"] = _state
    log.info("analysis cache: %s", backend)
    return cache


def _current() -> _State:
    if _state is None:
        raise RuntimeError("app.cache.init_cache(server, settings) was not called")
    return _state


def backend_name() -> str:
    return _current().backend


def backend_location() -> str:
    """Where the backend keeps entries, for operators' log lines: a directory, a Redis URL
    without its password, or "this process"."""
    st = _current()
    backend, config = backend_config(st.settings)
    if backend == "filesystem":
        return str(Path(config["CACHE_DIR"]).parent)
    if backend == "redis":
        from urllib.parse import urlsplit

        u = urlsplit(config["CACHE_REDIS_URL"])
        return f"{u.scheme}://{u.hostname or ''}{f':{u.port}' if u.port else ''}{u.path}"
    return "this process"


def ping(timeout: float = 1.0) -> tuple[bool, str]:
    """(reachable, problem) of the cache backend, cheaply: a Redis PING with a ``timeout``-second
    connect/read limit; a filesystem cache directory that exists and is writable; simple: always."""
    st = _current()
    if st.backend == "redis":
        try:
            if st.probe is None:
                import redis

                st.probe = redis.Redis.from_url(backend_config(st.settings)[1]["CACHE_REDIS_URL"],
                                                socket_connect_timeout=timeout, socket_timeout=timeout)
            st.probe.ping()
            return True, ""
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            return False, f"redis unreachable: {type(exc).__name__}: {exc}"
    if st.backend == "filesystem":
        path = backend_config(st.settings)[1]["CACHE_DIR"]
        if not os.path.isdir(path):
            return False, "cache directory missing"
        if not os.access(path, os.W_OK | os.X_OK):
            return False, "cache directory not writable"
    return True, ""


def current_settings() -> Settings:
    return _current().settings


def shared_cache_url() -> str:
    """A cache URL naming this process's shared backend (for a spawned job); "" when simple."""
    backend, config = backend_config(_current().settings)
    if backend == "redis":
        return config["CACHE_REDIS_URL"]
    if backend == "filesystem":
        return "filesystem://" + str(Path(config["CACHE_DIR"]).parent)
    return ""


def analyses_run() -> int:
    """How many analyses this process computed (cache misses)."""
    return _current().analyses_run


# --------------------------------------------------------------------------- keys

def content_hash(recording) -> str:
    """SHA-256 over everything of a Recording that can change its analysis."""
    h = hashlib.sha256()
    sig = np.ascontiguousarray(recording.signals)
    meta = {
        "name": recording.name, "fs": float(recording.fs), "leads": list(recording.leads),
        "units": list(recording.units or []), "shape": list(sig.shape), "dtype": str(sig.dtype),
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(sig.tobytes())
    if recording.ref_samples is not None:
        h.update(b"|ref|")
        h.update(np.ascontiguousarray(recording.ref_samples, dtype=np.int64).tobytes())
        h.update("".join(map(str, recording.ref_symbols if recording.ref_symbols is not None else [])).encode())
    return h.hexdigest()


def current_model_id(settings: Settings | None = None) -> str:
    """The configured model's id, read from its manifest without importing TensorFlow."""
    settings = settings or (_state.settings if _state else get_settings())
    model_dir = Path(settings.model_dir)
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text())
        return str(manifest.get("model_id") or manifest.get("id") or model_dir.name)
    except (OSError, ValueError):
        return model_dir.name


def current_model_version(settings: Settings | None = None) -> str:
    """The configured model's id and a digest of its calibration.json and of its manifest's
    ``student`` entry: what an analysis depends on (a recalibrated bundle keeps its id and weights
    but scores and flags beats differently; so does one given another student encoder, whose
    manifest entry holds the file's digest)."""
    settings = settings or (_state.settings if _state else get_settings())
    model_dir = Path(settings.model_dir)
    try:
        h = hashlib.sha256((model_dir / "calibration.json").read_bytes())
    except OSError:
        return f"{current_model_id(settings)}+none"
    try:
        student = json.loads((model_dir / "manifest.json").read_text()).get("student")
    except (OSError, ValueError, AttributeError):
        student = None
    if student:
        h.update(json.dumps(student, sort_keys=True).encode())
    return f"{current_model_id(settings)}+{h.hexdigest()[:12]}"


# Bumped when what an analysis holds changes for the same recording and model, so that entries
# cached by an older version are not served (2: summary["missing_samples"]; 3: "ref_outside").
ANALYSIS_VERSION = 3


def options_string(lead=None, beats: str = "detect") -> str:
    return f"v{ANALYSIS_VERSION}|lead={'' if lead is None else lead}|beats={beats}"


def analysis_key(chash: str, model_id: str, options: str, secret: bytes | None = None) -> str:
    """HMAC-SHA256 of content hash, model id and options: 64 hex characters."""
    secret = secret if secret is not None else _current().secret
    msg = f"{chash}|{model_id}|{options}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def is_valid_key(key: str) -> bool:
    return isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)


# --------------------------------------------------------------------------- storage

def _remember(st: _State, key: str, entry: Entry, shared: bool) -> None:
    """Keep a live entry in this process; ``shared``: it is also in the shared backend (so it is
    dropped here too once it leaves the backend, see _local_entry)."""
    with st.local_lock:
        st.local[key] = (entry, shared and st.backend != "simple")
        st.local.move_to_end(key)
        while len(st.local) > _LOCAL_ENTRIES:
            st.local.popitem(last=False)


def _in_backend(st: _State, key: str) -> bool | None:
    """Whether the shared backend holds the key's entry (without reading it); None: cannot tell
    (SimpleCache, or the backend is failing)."""
    if st.backend == "simple":
        return None
    try:
        return bool(st.cache.has(key))
    except Exception as exc:  # noqa: BLE001
        log.warning("cache backend has() failed (%s): %s", st.backend, exc)
        return None


def _backend_get(st: _State, key: str):
    try:
        return st.cache.get(key)
    except Exception as exc:  # noqa: BLE001 - backend down: degrade, keep serving
        log.warning("cache backend get failed (%s): %s", st.backend, exc)
        return None


def _backend_set(st: _State, key: str, value, timeout=None) -> bool:
    try:
        return bool(st.cache.set(key, value, timeout=timeout))
    except Exception as exc:  # noqa: BLE001
        log.warning("cache backend set failed (%s): %s", st.backend, exc)
        return False


def _backend_add(st: _State, key: str, value, timeout=None) -> bool | None:
    """True if added, False if present, None if the backend failed."""
    try:
        return bool(st.cache.add(key, value, timeout=timeout))
    except Exception as exc:  # noqa: BLE001
        log.warning("cache backend add failed (%s): %s", st.backend, exc)
        return None


def _backend_delete(st: _State, key: str) -> None:
    try:
        st.cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        log.warning("cache backend delete failed (%s): %s", st.backend, exc)


def _as_entry(value) -> Entry | None:
    """An Entry from what the backend returned (compact bytes, or an Entry of an older version)."""
    if isinstance(value, Entry):
        return value
    try:
        parts = compact.entry_from_bytes(value)
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign value counts as missing
        log.warning("unreadable cache entry ignored (%s: %s)", type(exc).__name__, exc)
        return None
    return None if parts is None else Entry(*parts)


def _backend_entry(st: _State, key: str) -> Entry | None:
    return _as_entry(_backend_get(st, key))


def _store(st: _State, key: str, entry: Entry, timeout=None) -> tuple[bool, int, str, bool]:
    """Put an entry in the backend, compact: (stored, size in bytes, reason if not, too large:
    the size limit refused it, so trying again cannot help); logs failures on one line."""
    t0 = time.perf_counter()
    data = compact.entry_bytes(entry.recording, entry.analysis)
    size, pack_s = len(data), time.perf_counter() - t0
    hours = float(getattr(entry.recording, "duration_s", 0.0)) / 3600.0
    limit = max_entry_bytes(st.backend)
    if limit and size > limit:
        reason = f"entry of {size / 1e6:.3g} MB exceeds the limit of {limit / 1e6:.3g} MB (ECG_CACHE_MAX_ENTRY_MB)"
        log.error("cache entry not stored (%s): %s", st.backend, reason)
        return False, size, reason, True
    reason = ""
    for attempt in range(2):  # one retry: a transient connection error should not lose a long analysis
        try:
            if st.cache.set(key, data, timeout=timeout):
                # the summary also under a small key: a summary read on another worker does not
                # fetch and decode the whole entry (~130 MB at 24 h)
                _backend_set(st, SUMMARY_PREFIX + key, dict(entry.analysis.summary), timeout=timeout)
                log.info("cache entry stored (%s): %.1f MB for %.2f h of recording (packed in %.2f s)",
                         st.backend, size / 1e6, hours, pack_s)
                return True, size, "", False
            reason = "the backend refused the write"
        except Exception as exc:  # noqa: BLE001 - logged with size and reason below
            reason = f"{type(exc).__name__}: {exc}"
        if attempt == 0:
            time.sleep(1.0)
    log.error("cache entry not stored (%s): %.1f MB for %.2f h of recording: %s",
              st.backend, size / 1e6, hours, reason)
    return False, size, reason, False


def _local_entry(st, key: str, touch: bool = False) -> Entry | None:
    """The entry in this process's LRU, or None; ``touch`` marks it as most recently used.

    An entry that was in the shared backend and has left it (expired, evicted) is dropped here
    too, so that every worker answers the same for a key; one the backend never took (too large,
    backend down when stored) or a failing backend keeps the local copy serving.
    """
    with st.local_lock:
        item = st.local.get(key)
        if item is not None and touch:
            st.local.move_to_end(key)
    if item is None:
        return None
    entry, shared = item
    if shared and _in_backend(st, key) is False:
        with st.local_lock:
            if st.local.get(key) is item:
                del st.local[key]
        log.info("analysis %s... left the shared cache (expired or evicted): local copy dropped", key[:8])
        return None
    return entry


def get_entry(key: str) -> Entry | None:
    """The cached Entry for a key, or None (unknown, expired, malformed key)."""
    if not is_valid_key(key):
        return None
    st = _current()
    entry = _local_entry(st, key, touch=True)
    if entry is not None:
        return entry
    entry = _backend_entry(st, key)
    if entry is not None:
        _remember(st, key, entry, shared=True)
    return entry


def get_summary(key: str) -> dict | None:
    """The analysis summary of a key without reading the whole entry where the backend has it."""
    if not is_valid_key(key):
        return None
    st = _current()
    entry = _local_entry(st, key)
    if entry is not None:
        return dict(entry.analysis.summary)
    if _in_backend(st, key) is False:  # the entry is gone: its summary key must not answer alone
        return None
    summary = _backend_get(st, SUMMARY_PREFIX + key)
    if isinstance(summary, dict):
        return summary
    entry = get_entry(key)
    return None if entry is None else dict(entry.analysis.summary)


def has_entry(key: str) -> bool:
    """True when the key's entry is in this process or in the backend (without reading it)."""
    if not is_valid_key(key):
        return False
    st = _current()
    with st.local_lock:
        item = st.local.get(key)
    if item is not None and not item[1]:
        return True  # only here (the backend never took it)
    present = _in_backend(st, key)
    if present is None:  # SimpleCache, or the backend is failing
        present = item is not None or (st.backend == "simple" and bool(st.cache.has(key)))
    elif not present and item is not None:
        _local_entry(st, key)  # drops the stale local copy
    return present


def recording_key(recording, lead=None, beats: str = "detect") -> str:
    """The analysis key of a recording with the current model and these options."""
    return analysis_key(content_hash(recording), current_model_version(_current().settings),
                        options_string(lead, beats))


@contextmanager
def _key_lock(st: _State, key: str):
    """Hold the lock of ``key`` (one analysis of a key at a time in this process). A key's lock
    lives while a request uses it: a long-running worker does not keep one per key it has seen."""
    with st.key_locks_lock:
        lock, users = st.key_locks.get(key, (None, 0))
        st.key_locks[key] = (lock := lock or threading.Lock(), users + 1)
    try:
        with lock:
            yield
    finally:
        with st.key_locks_lock:
            users = st.key_locks[key][1] - 1
            if users:
                st.key_locks[key] = (lock, users)
            else:
                del st.key_locks[key]


def _compute(st: _State, recording, lead, beats, progress=None):
    from app.analysis import analyze  # lazy: pulls the model (TensorFlow) on first use

    if not st.semaphore.acquire(timeout=env_number("ECG_QUEUE_TIMEOUT_S")):
        raise BusyError("the server is busy with other analyses; try again shortly")
    try:
        t0 = time.perf_counter()
        analysis = analyze(recording, lead=lead, beats=beats, progress=progress)
        st.analyses_run += 1
        log.info("analyzed %s in %.2f s", getattr(recording, "name", "?"), time.perf_counter() - t0)
        return analysis
    finally:
        st.semaphore.release()


def _lock_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner) -> bool:
    """True when the lock holder is a process of this host that no longer exists."""
    host, _, pid = str(owner).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host: only the wait limit applies
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _wait_for_other_worker(st: _State, key: str, lock_key: str) -> Entry | None:
    """Another process is computing this key: wait for its result.

    Returns None (the caller computes) when the lock goes away, when its holder died (a killed
    worker on this host), or after ECG_LOCK_WAIT_S seconds (a holder on another host that died).
    """
    deadline = time.monotonic() + _LOCK_WAIT_S
    while time.monotonic() < deadline:
        entry = _backend_entry(st, key)
        if entry is not None:
            return entry
        try:
            owner = st.cache.get(lock_key)
        except Exception:  # noqa: BLE001
            return None
        if owner is None:
            return _backend_entry(st, key)
        if _owner_is_dead(owner):
            log.warning("analysis lock held by dead process %s; taking over", owner)
            _backend_delete(st, lock_key)
            return None
        time.sleep(_WAIT_POLL_S)
    log.warning("waited %.0f s for another worker's analysis; computing here", _LOCK_WAIT_S)
    return None


def submit(recording, lead=None, beats: str = "detect", progress=None,
           require_shared: bool = False) -> tuple[str, bool]:
    """Analyze ``recording`` (or find its analysis): returns (key, cached).

    ``progress``: optional callable given the stage names ("detecting beats", "scoring", "done").
    ``require_shared``: the result must reach other processes (a background job): raise
    StoreError when the shared backend could not take it (it is still kept in this process).

    ``analyze`` runs at most once per (content hash, model id, options) across the processes
    sharing the backend. Raises what ``analyze`` raises (InvalidRecordError for bad input).
    """
    st = _current()
    key = recording_key(recording, lead, beats)
    with _key_lock(st, key):
        if get_entry(key) is not None:
            return key, True
        lock_key = key + ":computing"
        shared = st.backend != "simple"
        added = _backend_add(st, lock_key, _lock_owner(), timeout=_LOCK_TTL_S) if shared else None
        if added is False:  # another worker holds it
            entry = _wait_for_other_worker(st, key, lock_key)
            if entry is not None:
                _remember(st, key, entry, shared=True)
                return key, True
        try:
            analysis = _compute(st, recording, lead, beats, progress)
            entry = Entry(recording=recording, analysis=compact.compact_analysis(analysis))
            _remember(st, key, entry, shared=False)
            stored, size, reason, too_large = _store(st, key, entry)
            if stored:
                _remember(st, key, entry, shared=True)
        finally:
            if shared and added:
                _backend_delete(st, lock_key)
    if not stored and shared and require_shared:
        what = (f"the analysis of {getattr(recording, 'name', 'the record')} finished, but its result "
                f"({size / 1e6:.3g} MB) could not be saved in the shared cache ({reason}); ")
        if too_large:
            raise EntryTooLarge(what + "sending it again gives the same result: send a shorter record, "
                                "or ask the server's operator to raise the limit")
        raise StoreError(what + "try again, and if it keeps failing tell the server's operator")
    return key, False


def put_entry(entry: Entry, lead=None, beats: str = "detect") -> str:
    """Store an already computed analysis (e.g. from a background job); returns its key."""
    st = _current()
    key = recording_key(entry.recording, lead, beats)
    entry = Entry(recording=entry.recording, analysis=compact.compact_analysis(entry.analysis))
    _remember(st, key, entry, shared=False)
    if _store(st, key, entry)[0]:
        _remember(st, key, entry, shared=True)
    return key


# --------------------------------------------------------------------------- uploads for jobs

UPLOAD_TIMEOUT_S = 3600
UPLOAD_PREFIX = "upload:"


def upload_key(recording) -> str:
    """Key of a parsed upload waiting for a background job (HMAC, like analysis keys)."""
    return analysis_key(content_hash(recording), "upload", "recording")


def put_upload(recording) -> str:
    """Keep a validated Recording for a background worker; returns its key."""
    st = _current()
    key = upload_key(recording)
    data = compact.recording_bytes(recording)
    if not _backend_set(st, UPLOAD_PREFIX + key, data, timeout=UPLOAD_TIMEOUT_S):
        log.error("upload of %.1f MB not stored (%s)", len(data) / 1e6, st.backend)
        raise RuntimeError("the shared cache is unavailable; background jobs need it")
    return key


def get_upload(key: str):
    """The Recording stored by put_upload, or None."""
    if not is_valid_key(key):
        return None
    value = _backend_get(_current(), UPLOAD_PREFIX + key)
    return value if not isinstance(value, (bytes, bytearray)) else compact.recording_from_bytes(value)


def find_analysis(recording, lead=None, beats: str = "detect") -> str | None:
    """The key of an already cached analysis of this recording and options, else None (the entry
    itself is not read: at 24 h it is ~130 MB, and the caller needs only the key)."""
    key = recording_key(recording, lead, beats)
    return key if has_entry(key) else None
