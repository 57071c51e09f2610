"""Lead choice: MLII / II when present, else the first usable ECG lead; the caller may override."""
from __future__ import annotations

import re

from app.ecg.errors import InvalidRecordError
from app.ecg.readers import lead_problems
from app.ecg.record import Recording

_PREFERRED = ("MLII", "II", "ML2", "LEADII", "ECGII", "ECG2", "LII")
_NOT_ECG = re.compile(r"(RESP|ABP|ART|PAP|CVP|PLETH|SPO2|SAO2|PPG|BP|TEMP|EEG|EMG|EOG|CO2|FLOW)", re.I)


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-:.]", "", str(name)).upper()


def choose_lead(recording: Recording, override: str | int | None = None) -> int:
    """Index of the lead to analyse. ``override``: a lead index or name (case-insensitive)."""
    names = list(recording.leads)
    if override is not None and override != "":
        if isinstance(override, (int,)) and not isinstance(override, bool):
            idx = int(override)
        elif isinstance(override, str) and override.strip().lstrip("-").isdigit() \
                and _norm(override) not in map(_norm, names):
            idx = int(override.strip())
        else:
            matches = [i for i, n in enumerate(names) if _norm(n) == _norm(str(override))]
            if not matches:
                raise InvalidRecordError(recording.name, f"no lead named {override!r}; leads are {names}")
            idx = matches[0]
        if not 0 <= idx < recording.n_leads:
            raise InvalidRecordError(recording.name, f"no lead {idx} (lead #{idx + 1}, counting from 1): the record "
                                                     f"has {recording.n_leads}: {names}")
        problem = lead_problems(recording.signals[:, idx:idx + 1])[0]
        if problem:
            raise InvalidRecordError(recording.name, f"lead {names[idx]!r} is {problem}; choose another lead")
        return idx
    problems = lead_problems(recording.signals)
    usable = [i for i, p in enumerate(problems) if not p]
    if not usable:
        raise InvalidRecordError(recording.name, "no usable ECG lead (all are flat or NaN)")
    for pref in _PREFERRED:
        for i in usable:
            if _norm(names[i]) == pref:
                return i
    ecg = [i for i in usable if not _NOT_ECG.search(names[i])]
    return (ecg or usable)[0]


def helper_leads(recording: Recording, index: int) -> list[int]:
    """Usable ECG leads other than ``index`` (they help the R-peak detector in noise)."""
    names = list(recording.leads)
    ecg = [i for i in range(recording.n_leads) if i != index and not _NOT_ECG.search(names[i])]
    return [i for i in ecg if not lead_problems(recording.signals[:, i:i + 1])[0]]  # views, no copies
