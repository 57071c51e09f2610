"""Example budgets of the property tests: as written (derandomized where the test says so) in CI;
``HYPOTHESIS_SCALE=N`` multiplies them and draws fresh random examples, for a longer search:

    HYPOTHESIS_SCALE=40 .venv/bin/python -m pytest -q tests/test_badinput_hypothesis.py \
        tests/test_badinput_analyze_hypothesis.py tests/ecg/test_ecg_bad_input.py
"""
from __future__ import annotations

import os

SCALE = max(1, int(os.environ.get("HYPOTHESIS_SCALE", "1") or 1))


def budget(max_examples: int, derandomize: bool = False) -> dict:
    """settings() arguments: ``max_examples`` x SCALE; derandomized only at the CI budget."""
    return {"max_examples": max_examples * SCALE, "derandomize": derandomize and SCALE == 1}
