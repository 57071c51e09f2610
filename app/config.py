"""Settings from environment variables, in one place.

Every knob the app, the CLI and the workers read is here, with its default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
MODEL_STORE = ROOT / "model_store"
DEFAULT_MODEL_ID = "cvae-v2"
MODEL_FS = 360.0  # the rate every record is resampled to before beats are cut


def default_data_dir() -> Path | None:
    """The full MIT-BIH database beside the checkout, when it is there."""
    cand = ROOT.parent / "shared" / "data" / "mitdb"
    return cand if cand.is_dir() else None


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class Settings:
    model_dir: Path = field(default_factory=lambda: Path(_env("ECG_MODEL_DIR", str(MODEL_STORE / DEFAULT_MODEL_ID))))
    cache_url: str = field(default_factory=lambda: _env("ECG_CACHE_URL", ""))  # "", simple, filesystem:///path, redis://...
    cache_dir: str = field(default_factory=lambda: _env("ECG_CACHE_DIR", ""))
    cache_timeout_s: int = field(default_factory=lambda: _env_int("ECG_CACHE_TIMEOUT_S", 6 * 3600))
    broker_url: str = field(default_factory=lambda: _env("ECG_BROKER_URL", ""))
    max_duration_h: float = field(default_factory=lambda: _env_float("ECG_MAX_DURATION_H", 48.0))
    max_request_mb: float = field(default_factory=lambda: _env_float("ECG_MAX_REQUEST_MB", 200.0))
    max_file_mb: float = field(default_factory=lambda: _env_float("ECG_MAX_FILE_MB", 150.0))
    max_concurrent_analyses: int = field(default_factory=lambda: _env_int("ECG_MAX_CONCURRENT", 2))
    debug: bool = field(default_factory=lambda: _env("ECG_DEBUG", "0") == "1")

    @property
    def max_duration_s(self) -> float:
        return self.max_duration_h * 3600.0


def get_settings(**overrides) -> Settings:
    s = Settings()
    for k, v in overrides.items():
        setattr(s, k, v)
    return s
