"""ECG Anomaly Explorer.

``create_app()`` builds the Dash app; ``server`` (the Flask server, for ``gunicorn app:server``)
is made lazily on first access so that ``import app.ecg`` (training, CLI) never builds the UI.
"""
from __future__ import annotations

__version__ = "0.1.0"


def create_app(**overrides):
    from app.ui import create_app as _create_app  # lazy: Dash, pages, cache

    return _create_app(**overrides)


_server = None


def __getattr__(name):
    global _server
    if name == "server":
        if _server is None:
            _server = create_app().server
        return _server
    raise AttributeError(f"module 'app' has no attribute {name!r}")
