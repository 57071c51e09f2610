"""AAMI EC57 beat classes and the de Chazal (2004) inter-patient split of MIT-BIH."""
from __future__ import annotations

import numpy as np

AAMI_MAP: dict[str, str] = {
    **{s: "N" for s in "NLRej"},
    **{s: "S" for s in "AaJS"},
    **{s: "V" for s in "VE"},
    "F": "F",
    **{s: "Q" for s in "/fQ"},
}
AAMI_CLASSES = ("N", "S", "V", "F", "Q")
ANOMALOUS_CLASSES = ("S", "V", "F", "Q")

DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124",
       "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212",
       "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")
PACED = ("102", "104", "107", "217")


def is_beat_symbol(symbol: str) -> bool:
    return symbol in AAMI_MAP


def aami_class(symbols) -> np.ndarray:
    """Map WFDB beat symbols to AAMI classes; non-beat symbols map to ''."""
    return np.array([AAMI_MAP.get(str(s), "") for s in symbols], dtype="<U1")
