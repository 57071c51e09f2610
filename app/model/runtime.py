"""Import TensorFlow/Keras once, quietly.

TensorFlow's C++ runtime writes start-up lines (abseil, oneDNN) straight to file descriptor 2,
before ``TF_CPP_MIN_LOG_LEVEL`` can act on them; the CLI promises one clear line on stderr, so
the first import runs with fd 2 pointed at /dev/null. Real import errors still raise.
"""
from __future__ import annotations

import os
import sys


def import_keras():
    """Return the ``keras`` module, importing TensorFlow (its backend) silently the first time."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow  # noqa: F401
            import keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return keras


_BLAS_LIMITED = False


def single_threaded_blas() -> None:
    """Keep numpy/scipy's OpenBLAS to one thread in this process (once; idempotent).

    The scoring code's BLAS calls are tiny (matrix-vector products, 16 x 16 solves), gaining
    nothing from threads, but OpenBLAS' idle worker threads spin after each call and take the
    cores from TensorFlow's forward pass that follows: on the 2-core machine a 30-minute record's
    analysis took 0.32 s with them and 0.27 s without. TensorFlow's own threads are unaffected.
    """
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _BLAS_LIMITED = True
