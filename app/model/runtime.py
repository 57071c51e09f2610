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
