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


@pytest.mark.parametrize("option, shown", [("uV", "uV"), ("UV", "uV"), ("V", "V"), ("v", "V")])
def test_unit_conflict_names_units_as_people_write_them(option, shown):
    """'is in mV, but the units option says uV' (was 'is in mv', and the option echoed as typed)."""
    k = dev.kardia_like()  # header "ECG (mV)"
    with pytest.raises(InvalidRecordError) as exc:
        read_csv_bytes(k.data, k.name, units=option)
    assert f"column 'ECG (mV)' is in mV, but the units option says {shown}; set the units" in str(exc.value)
    e = dev.twelve_lead()
    header = "time," + ",".join(f"{n} [uV]" for n in dev.TWELVE_LEADS)
    with pytest.raises(InvalidRecordError) as exc:
        read_csv_bytes(_renamed(e.data, header), e.name, units="V")
    assert "column 'I [uV]' is in uV, but the units option says V;" in str(exc.value)


@pytest.mark.parametrize("header", [True, False])
def test_missing_sampling_rate_names_the_field_of_every_surface(header):
    """The message reaches the upload page, the API and the CLI: each finds its own name for the
    sampling rate ('Sampling rate (CSV)' on the form, fs in the API, --fs on the command line)."""
    e = dev.no_time_column()
    data = e.data if header else e.data.split(b"\n", 1)[1]
    with pytest.raises(InvalidRecordError) as exc:
        read_csv_bytes(data, e.name)
    msg = str(exc.value)
    assert msg.startswith(f"{e.name}: missing sampling rate: ")
    assert "'Sampling rate (CSV)' field" in msg and "API: fs" in msg and "--fs" in msg
    assert "the fs field" not in msg and "\n" not in msg
    indexed = b"sample,MLII\n" + b"".join(f"{i},{v}\n".encode() for i, v in
                                          enumerate(np.sin(np.arange(5000) / 10).round(4)))
    with pytest.raises(InvalidRecordError) as exc:
        read_csv_bytes(indexed, "idx.csv")
    assert str(exc.value).startswith("idx.csv: missing sampling rate (the first column looks like sample numbers): ")
