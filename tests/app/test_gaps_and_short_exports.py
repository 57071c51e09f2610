"""Stretches without beats (electrode off, pauses) and the report of short device exports."""
from __future__ import annotations

import numpy as np
import pytest

from app.components.viewdata import beat_gaps, build_view, flags_at, gap_note
from app.ecg.readers import read_csv_bytes, read_record
from app.config import SAMPLES_DIR
from tests.ecg import device_exports as dev


def _view(export: dev.Export):
    from app.analysis import analyze
    from app.cache import Entry

    rec = read_csv_bytes(export.data, export.name, **export.form)
    return build_view("k" * 64, Entry(recording=rec, analysis=analyze(rec)))


@pytest.fixture(scope="module")
def off_view():
    return _view(dev.electrode_off())


def test_electrode_off_stretch_is_one_flat_gap_named_in_the_note(off_view):
    v = off_view
    gaps = beat_gaps(v.time_s, v.signals[:, v.lead_index], v.fs)
    assert len(gaps) == 1
    g = gaps[0]
    assert g.flat and 17.0 < g.t0 <= 18.0 and 27.0 <= g.t1 < 28.0  # the electrode was off from 18 to 27 s
    note = gap_note(gaps, "ECG")
    assert "0:18-0:27" in note and "flat signal" in note and "lead ECG" in note


def test_real_pauses_are_gaps_but_not_flat_and_regular_records_have_none():
    from app.ecg.pipeline import extract_beats

    rec = read_record(SAMPLES_DIR / "232")  # sinus bradycardia with pauses of 3-6 s
    b = extract_beats(rec)
    gaps = beat_gaps(b.time_s, rec.signals[:, b.lead_index], rec.fs)
    assert len(gaps) > 10 and not any(g.flat for g in gaps)
    assert all(g.t1 - g.t0 >= 3.0 for g in gaps)
    rec = read_record(SAMPLES_DIR / "100")
    b = extract_beats(rec)
    assert beat_gaps(b.time_s, rec.signals[:, b.lead_index], rec.fs) == []
    assert gap_note([], "MLII") == ""


def test_report_of_a_short_export_gives_seconds_the_fallback_and_the_gap(off_view):
    from app.report import build_report

    v = off_view
    text = build_report(v, flags_at(v, v.threshold), v.threshold)
    assert "<b>45 s</b>" in text or ">45 s<" in text  # was "0.8 min"
    assert "under a minute" in text
    assert "Gaps:" in text and "0:18-0:27" in text and "flat signal" in text
    assert "500 Hz" in text and "360 Hz" not in text
