"""Fixtures for the signal-core tests: the bundled DS2 records, read once per session."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.ecg.readers import read_record

from app.config import SAMPLES_DIR as SAMPLES
BUNDLED = ("100", "105", "213", "232", "233")


def _sample_bytes(record: str, exts=(".hea", ".dat", ".atr")) -> dict[str, bytes]:
    return {f"{record}{e}": (SAMPLES / f"{record}{e}").read_bytes() for e in exts}


def _write_csv(path: Path, columns: list[np.ndarray], header: list[str] | None = None, sep: str = ",",
              fmt: str = "%.6f") -> Path:
    arr = np.column_stack(columns)
    lines = [sep.join(header)] if header else []
    lines += [sep.join(fmt % v for v in row) for row in arr]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def records():
    """name -> Recording for every bundled record."""
    return {r: read_record(SAMPLES / r) for r in BUNDLED}


@pytest.fixture(scope="session")
def rec100(records):
    return records["100"]


@pytest.fixture(scope="session")
def beats100(rec100):
    from app.ecg.pipeline import extract_beats

    return extract_beats(rec100)


@pytest.fixture(scope="session")
def sample_bytes():
    """``sample_bytes("100", exts)`` -> {file name: bytes} of a bundled record."""
    return _sample_bytes


@pytest.fixture(scope="session")
def write_csv():
    """``write_csv(path, columns, header=None, sep=",", fmt="%.6f")`` -> path."""
    return _write_csv


@pytest.fixture(scope="session")
def samples_dir():
    return SAMPLES
