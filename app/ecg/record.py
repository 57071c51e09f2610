"""`Recording`: one ECG record in memory, whatever file it came from."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Recording:
    """Signals in mV, shape (n_samples, n_leads), float32; sampling rate in Hz.

    ``ref_samples``/``ref_symbols`` hold reference beat annotations (sample index at ``fs``,
    WFDB beat symbol) when an ``.atr`` file came with the record; only beat annotations are
    kept (rhythm and noise annotations are dropped by the reader). ``ref_outside`` counts the beat
    annotations that lie outside the signal (a record cut shorter than its ``.atr``): not used,
    and reported to the user.
    """

    name: str
    signals: np.ndarray
    fs: float
    leads: list[str]
    units: list[str] = field(default_factory=list)
    ref_samples: np.ndarray | None = None
    ref_symbols: np.ndarray | None = None
    source: str = ""
    ref_outside: int = 0

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[0])

    @property
    def n_leads(self) -> int:
        return int(self.signals.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.fs)

    @property
    def has_reference(self) -> bool:
        return self.ref_samples is not None and len(self.ref_samples) > 0
