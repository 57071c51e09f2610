"""The bundled MIT-BIH sample records (app/samples) and what each shows."""
from __future__ import annotations

from pathlib import Path

from app.config import SAMPLES_DIR

SAMPLES: dict[str, str] = {
    "100": "Normal sinus rhythm with a few atrial premature beats (33 A, 1 V).",
    "105": "Very noisy tape: normal beats, 41 uniform PVCs and noise bursts.",
    "213": "Many fusion (362 F) and ventricular beats (220 V) among normal ones.",
    "232": "Sick sinus: right bundle branch block, 1,382 atrial premature beats, long pauses.",
    "233": "Frequent multiform PVCs (831 V), couplets and some fusion beats.",
}


def sample_path(record: str) -> Path:
    """Path (without extension) of a bundled record; only the names above are accepted."""
    if record not in SAMPLES:
        raise KeyError(record)
    return SAMPLES_DIR / record
