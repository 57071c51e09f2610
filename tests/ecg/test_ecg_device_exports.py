"""Device-style CSV exports (rates other than 360 Hz, 12 leads, microvolts, electrode off), made at
run time from bundled records: read, lead choice and R-peaks against the mapped reference beats."""
from __future__ import annotations

import numpy as np
import pytest

from app.ecg.errors import InvalidRecordError
from app.ecg.leads import choose_lead
from app.ecg.matching import match_beats
from app.ecg.pipeline import extract_beats
from app.ecg.readers import read_csv_bytes
from tests.ecg import device_exports as dev


@pytest.mark.parametrize("make", [dev.kardia_like, dev.twelve_lead, dev.no_time_column, dev.electrode_off],
                         ids=["kardia-300hz", "12-lead-500hz-uV", "250hz-no-time", "electrode-off-500hz"])
def test_export_is_read_at_its_rate_and_every_reference_beat_is_found(make):
    e = make()
    rec = read_csv_bytes(e.data, e.name, **e.form)
    assert rec.fs == e.fs and rec.n_leads == e.n_leads
    assert 0.2 < float(np.nanmax(np.abs(rec.signals[:, choose_lead(rec)]))) < 10  # mV, whatever the file's units
    b = extract_beats(rec)
    m = match_beats(b.samples, e.ref_samples, e.fs)
    assert m.fn == 0 and m.fp == 0, (m.tp, m.fn, m.fp)  # measured: Se = +P = 1 on all four
    assert np.allclose(b.time_s, b.samples / e.fs)


def test_twelve_lead_export_analyses_lead_ii():
    e = dev.twelve_lead()
    rec = read_csv_bytes(e.data, e.name, **e.form)
    assert rec.leads == list(dev.TWELVE_LEADS) and rec.leads[choose_lead(rec)] == "II"


def _renamed(data: bytes, header: str) -> bytes:
    return (header + "\n").encode() + data.split(b"\n", 1)[1]


def test_units_named_in_the_header_apply_and_leave_the_lead_name():
    e = dev.twelve_lead()
    plain = read_csv_bytes(e.data, e.name, units="uV")
    header = "time," + ",".join(f"{n} (uV)" for n in dev.TWELVE_LEADS)
    named = read_csv_bytes(_renamed(e.data, header), e.name)  # units option left at mV
    assert named.leads == list(dev.TWELVE_LEADS) and np.array_equal(named.signals, plain.signals)
    k = dev.kardia_like()  # header "ECG (mV)"
    assert read_csv_bytes(k.data, k.name).leads == ["ECG"]
    with pytest.raises(InvalidRecordError) as exc:
        read_csv_bytes(k.data, k.name, units="uV")  # the header says mV: which one is meant?
    assert k.name in str(exc.value) and "'ECG (mV)'" in str(exc.value) and "uV" in str(exc.value)
