"""The signal work's thread pool: independent numpy/scipy steps of one record run side by side.

numpy and scipy's filters release the GIL, so two such steps share the two cores. The pool is
made on first use in each process; a forked child forgets its parent's (whose threads it does
not have) and makes its own.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _forget_in_child() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def signal_pool() -> ThreadPoolExecutor:
    """This process's 2-thread pool for signal work."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ecg-signal")
        return _pool


def submit_or_run(executor: ThreadPoolExecutor | None, fn, *args) -> Future:
    """``fn(*args)`` on ``executor``, or here and now when it is None; a Future either way."""
    if executor is not None:
        return executor.submit(fn, *args)
    done: Future = Future()
    done.set_result(fn(*args))
    return done
