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


try:  # a gunicorn worker prints an AppImportError as its one line and the master stops
    from gunicorn.errors import AppImportError as _BootError
except ImportError:  # pragma: no cover - gunicorn is a runtime requirement
    _BootError = Exception


class ConfigError(ValueError, _BootError):
    """A bad environment setting; the message names the variable and the value, on one line.

    It is also gunicorn's AppImportError, so ``gunicorn app:server`` prints just this line and
    stops ("App failed to load") instead of a traceback in every worker it respawns.
    """


# Every numeric environment setting: name -> (default, kind, smallest value accepted, strictly above it?)
NUMERIC_ENV: dict[str, tuple[float | int | None, type, float, bool]] = {
    "ECG_CACHE_TIMEOUT_S": (6 * 3600, int, 0, False),
    "ECG_MAX_DURATION_H": (48.0, float, 0, True),
    "ECG_MAX_REQUEST_MB": (200.0, float, 0, True),
    "ECG_MAX_FILE_MB": (150.0, float, 0, True),
    "ECG_MAX_CONCURRENT": (2, int, 1, False),
    "ECG_CACHE_LOCAL_ENTRIES": (4, int, 0, False),
    "ECG_CACHE_MAX_ENTRIES": (None, int, 1, False),     # unset: 16 in memory, 64 on disk
    "ECG_CACHE_MAX_ENTRY_MB": (None, float, 0, True),   # unset: 500 with Redis, no limit otherwise
    "ECG_LOCK_WAIT_S": (120.0, float, 0, False),
    "ECG_QUEUE_TIMEOUT_S": (300.0, float, 0, True),
    "ECG_JOB_HEARTBEAT_S": (5.0, float, 0, True),
    "ECG_JOB_STALE_S": (30.0, float, 0, True),
    "ECG_WORKER_PRESENCE_TTL_S": (15.0, float, 0, True),
    "ECG_BROKER_VISIBILITY_TIMEOUT_S": (3600.0, float, 0, True),  # Redis broker: redelivery of unacked jobs
}


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_number(name: str):
    """The value of a numeric setting of NUMERIC_ENV (its default when unset or empty).

    Raises ConfigError("NAME: not a number: 'abc'") (or "not a whole number", "must be > 0").
    """
    default, kind, low, strict = NUMERIC_ENV[name]
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: not a {'whole ' if kind is int else ''}number: {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name}: not a finite number: {raw!r}")
    if value < low or (strict and value == low):
        raise ConfigError(f"{name}: must be {'>' if strict else '>='} {low}, got {raw!r}")
    return value


def check_environment() -> None:
    """Raise ConfigError for the first bad numeric setting (every process calls it at start-up)."""
    for name in NUMERIC_ENV:
        env_number(name)


@dataclass
class Settings:
    model_dir: Path = field(default_factory=lambda: Path(_env("ECG_MODEL_DIR", str(MODEL_STORE / DEFAULT_MODEL_ID))))
    cache_url: str = field(default_factory=lambda: _env("ECG_CACHE_URL", ""))  # "", simple, filesystem:///path, redis://...
    cache_dir: str = field(default_factory=lambda: _env("ECG_CACHE_DIR", ""))
    cache_timeout_s: int = field(default_factory=lambda: env_number("ECG_CACHE_TIMEOUT_S"))
    broker_url: str = field(default_factory=lambda: _env("ECG_BROKER_URL", ""))
    max_duration_h: float = field(default_factory=lambda: env_number("ECG_MAX_DURATION_H"))
    max_request_mb: float = field(default_factory=lambda: env_number("ECG_MAX_REQUEST_MB"))
    max_file_mb: float = field(default_factory=lambda: env_number("ECG_MAX_FILE_MB"))
    max_concurrent_analyses: int = field(default_factory=lambda: env_number("ECG_MAX_CONCURRENT"))
    debug: bool = field(default_factory=lambda: _env("ECG_DEBUG", "0") == "1")

    @property
    def max_duration_s(self) -> float:
        return self.max_duration_h * 3600.0


def get_settings(**overrides) -> Settings:
    """Settings from the environment (and overrides); ConfigError names a bad variable."""
    check_environment()
    s = Settings()
    for k, v in overrides.items():
        setattr(s, k, v)
    return s
