"""Browser tests: the URL of the app under test (page actions are in ui_helpers.py).

The app is the session's real ``python -m app`` process (``python_app`` in tests/conftest.py);
set ECG_TEST_APP_URL to drive an already running server instead.
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def app_url(request) -> str:
    url = os.environ.get("ECG_TEST_APP_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("python_app").url
