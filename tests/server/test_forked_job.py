"""app.forked_job: a process forked from a server lets go of the server's sockets, and only those;
and it is forked only between the web process's accesses to the job cache's database.

Real sockets on loopback and a real fork: the server side closes a connection while the forked
child is alive, and the client must see the close (before the fix it saw nothing until the child
ended: the upload page's progress polls hung for a whole analysis)."""
from __future__ import annotations

import os
import socket
import sys
import threading
import time

import pytest

from app import forked_job

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")


def _pair():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    served, _ = listener.accept()
    return listener, client, served


def _fork_holding(release: bool, outside: socket.socket) -> tuple[int, int]:
    """Fork a child that (maybe) releases, reports (released count, whether ``outside`` is still a
    socket in it) through a pipe, and lives on for 10 s. Returns (pid, read end)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery, only os calls, then os._exit
        try:
            n = forked_job.release_server_sockets() if release else 0
            kept = int(socket.socket(fileno=os.dup(outside.fileno())).type == socket.SOCK_STREAM)
            os.write(w, f"{n} {kept}\n".encode())
            os.close(w)
            import time
            time.sleep(10)
        finally:
            os._exit(0)
    os.close(w)
    return pid, r


def _closed_seen(client: socket.socket, timeout: float) -> bool:
    client.settimeout(timeout)
    try:
        return client.recv(1) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize("release", [True, False])
def test_a_connection_the_server_closes_is_closed_for_the_client_while_the_fork_lives(release):
    forked_job.note_server_process()
    listener, client, served = _pair()
    other = socket.create_server(("127.0.0.1", 0))  # another service (Redis, say) ...
    outside = socket.create_connection(other.getsockname())  # ... and the server's client socket to it
    pid, r = _fork_holding(release, outside)
    try:
        n, kept = map(int, os.read(r, 64).split())
        served.close()  # the worker closes an idle keep-alive connection
        if release:
            # the two listeners and the served connection; the client socket to the other service
            # (its local port is neither listener's) is kept
            assert n == 3 and kept == 1
            assert _closed_seen(client, 5.0)
        else:  # the bug the module removes: the fork keeps the connection open
            assert not _closed_seen(client, 1.0)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(r)
        for s in (listener, client, other, outside):
            s.close()


def test_nothing_is_released_in_the_server_process_itself():
    forked_job.note_server_process()
    listener, client, served = _pair()
    try:
        assert forked_job.release_server_sockets() == 0
        served.sendall(b"x")
        assert client.recv(1) == b"x"
    finally:
        for s in (listener, client, served):
            s.close()


def _report_listener(key, progress_key, args, context):
    """A background job: writes whether the listener's number is still a socket in the job."""
    import stat

    fd, out = args
    with open(out, "w") as f:
        f.write("socket" if stat.S_ISSOCK(os.fstat(fd).st_mode) else "released")


def test_every_job_the_app_s_diskcache_manager_forks_lets_go_first(tmp_path):
    """app.jobs.background_manager's DiskcacheManager: the job function itself asks for nothing."""
    from app.config import Settings
    from app.jobs import background_manager

    forked_job.note_server_process()
    listener, client, served = _pair()
    manager = background_manager(Settings(cache_dir=str(tmp_path), broker_url=""))
    assert isinstance(manager, forked_job.ReleasingDiskcacheManager)
    out = tmp_path / "job.txt"
    try:
        pid = manager.call_job_fn("k", _report_listener, (listener.fileno(), str(out)), {})
        os.waitpid(pid, 0)  # a real fork of this process (multiprocess.Process)
        assert out.read_text() == "released"
        served.sendall(b"x")  # this process's sockets are untouched
        assert client.recv(1) == b"x"
    finally:
        for s in (listener, client, served):
            s.close()
        manager.handle.close()


# SQLite keeps a process's lock bookkeeping in its memory and a fork copies it without the locks: a
# job forked during another thread's write found the database locked for good, and every write it
# made failed after diskcache's timeout (with a plain diskcache.Cache in place of ForkSafeCache:
# Timeout after 3 s, measured in session 22). The manager forks only between database accesses.

def _job(key, progress_key, args, context):  # Dash's job_fn signature; runs in the forked process
    cache = args
    cache.set(progress_key, "reading")
    cache.set(key, os.getpid())


def test_a_job_forked_beside_a_writing_thread_can_still_write(tmp_path):
    cache = forked_job.ForkSafeCache(str(tmp_path / "jobs"), timeout=3)
    manager = forked_job.ReleasingDiskcacheManager(cache)
    inside, released = threading.Event(), threading.Event()

    def writer():  # as Cancel does (DiskcacheManager.terminate_job)
        with cache.transact():
            cache.set("other", 1)
            inside.set()
            time.sleep(0.5)
        released.set()

    t = threading.Thread(target=writer)
    t.start()
    assert inside.wait(10)
    pid = manager.call_job_fn("result", _job, cache, None)
    forked_after_release = released.is_set()
    t.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert forked_after_release  # the fork waited for the other thread's transaction
    assert cache.get("result") == pid and cache.get("result-progress") == "reading"
    cache.close()


def test_the_forked_job_itself_takes_no_lock(tmp_path):
    """In the forked process the cache is not its opener's: its writes never wait on the web
    process's lock (a thread of the job may write while the job's main thread waits)."""
    cache = forked_job.ForkSafeCache(str(tmp_path / "jobs"), timeout=3)
    manager = forked_job.ReleasingDiskcacheManager(cache)

    def threaded_job(key, progress_key, args, context):
        t = threading.Thread(target=lambda: cache.set(key, "from a thread"))
        t.start()
        t.join(10)
        os._exit(0 if not t.is_alive() else 1)

    pid = manager.call_job_fn("result", threaded_job, None, None)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("result") == "from a thread"
    cache.close()
