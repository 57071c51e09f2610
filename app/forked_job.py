"""What a job forked from a web worker lets go of first: the server's sockets.

Dash's DiskcacheManager forks the web worker for each background callback (app.jobs). The fork
inherits every file descriptor of the worker, among them its listening socket and its clients'
keep-alive connections. When the worker later closes an idle keep-alive connection (gunicorn's
gthread worker does after ``keepalive`` seconds), the connection stays open while the job still
holds it: the browser, told nothing, sends its next request on it, and no process reads it.
Measured (session 18, gunicorn, a four-hour upload): the upload page's progress polls hung until
the job ended, so the progress bar and Cancel stayed dead for the whole analysis, then the page
jumped to the result.

``release_server_sockets`` points each inherited TCP or Unix stream socket that belongs to a
listening socket of this process (the listener itself and the connections accepted on it: same
local port, or same path) at /dev/null. Pointed, not closed: a number that something in the job
still holds can then neither reach another file nor close one. Client sockets (Redis, the broker)
have other local addresses and are left alone.

``ReleasingDiskcacheManager`` (the manager app.jobs gives Dash) runs it first thing in every job it
forks, so no background callback has to remember to.

It also forks only while no thread of the web worker is inside the job cache's SQLite database
(``ForkSafeCache``). SQLite keeps each process's lock bookkeeping in the process's memory, and a
fork copies it without the locks themselves: a job forked while another thread wrote to the
database (a progress poll deletes its progress key; Cancel runs in a transaction) believes the
database stays locked by a connection it does not have, and every write it makes waits out
diskcache's timeout and fails (``diskcache.core.Timeout``). Found in session 22 by a test run on
two workers: after a Cancel, the next analysis never reported its first stage; reproduced with a
thread holding ``transact()`` across a fork (tests/server/test_forked_job.py).
"""
from __future__ import annotations

import contextlib
import functools
import os
import socket
import stat
import threading

import diskcache
from dash import DiskcacheManager

_SERVER_PID: int | None = None


def note_server_process() -> None:
    """Mark this process as a web process: ``release_server_sockets`` never runs in it."""
    global _SERVER_PID
    _SERVER_PID = os.getpid()


def _stream_sockets() -> list[tuple[int, object, bool]]:
    """(fd, local address key, listening) of this process's TCP and Unix stream sockets."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:  # not Linux: nothing is released
        return []
    found = []
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
                continue
            name = s.getsockname()
            key = name if s.family == socket.AF_UNIX else name[1]  # a Unix path, or a TCP port
            if key in ("", b"", None, 0):
                continue
            found.append((fd, (s.family == socket.AF_UNIX, key),
                          bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))))
        except OSError:
            continue
        finally:
            s.close()  # the duplicate only
    return found


def release_server_sockets() -> int:
    """In a forked job: the inherited server sockets pointed at /dev/null; how many. Does nothing
    in the web process itself (``note_server_process``)."""
    if _SERVER_PID is None or os.getpid() == _SERVER_PID:
        return 0
    socks = _stream_sockets()
    servers = {key for _, key, listening in socks if listening}
    todo = [fd for fd, key, _ in socks if key in servers]
    if not todo:
        return 0
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in todo:
            os.dup2(null, fd)
    finally:
        os.close(null)
    return len(todo)


def _released_then(job_fn, *args):
    release_server_sockets()
    return job_fn(*args)


_DB_LOCK = threading.RLock()  # held by a web-process thread inside the job cache's database, and across a fork


def _guarded(name: str):
    """``diskcache.Cache``'s method ``name`` run under its cache's ``_guard``."""
    plain = getattr(diskcache.Cache, name)

    @functools.wraps(plain)
    def method(self, *args, **kwargs):
        with self._guard():
            return plain(self, *args, **kwargs)
    return method


class ForkSafeCache(diskcache.Cache):
    """A diskcache.Cache whose operations in the process that opened it hold ``_DB_LOCK``, which
    ``ReleasingDiskcacheManager`` holds across each fork: no job is forked in the middle of another
    thread's database access. A forked job's own operations take no lock (its one thread forked
    while holding it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._opened_by = os.getpid()

    def _guard(self):
        return _DB_LOCK if os.getpid() == self._opened_by else contextlib.nullcontext()

    # the operations Dash's DiskcacheManager uses, each with the guard held
    get, set, add, delete, touch, pop, __contains__ = (
        _guarded(name) for name in ("get", "set", "add", "delete", "touch", "pop", "__contains__"))

    @contextlib.contextmanager
    def transact(self, retry=False):
        with self._guard(), super().transact(retry) as txn:
            yield txn


class ReleasingDiskcacheManager(DiskcacheManager):
    """Dash's DiskcacheManager whose every job, forked from the web worker, first lets go of the
    server's sockets (``release_server_sockets``), and is forked only while no other thread is
    inside the job cache's database (``ForkSafeCache``; give it one)."""

    def call_job_fn(self, key, job_fn, args, context):
        with _DB_LOCK:
            return super().call_job_fn(key, functools.partial(_released_then, job_fn), args, context)
