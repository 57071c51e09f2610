"""Every bad-input case raises InvalidRecordError naming the file and the problem."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ecg.errors import InvalidRecordError
from app.ecg.readers import read_csv_bytes, read_record, read_upload, read_wfdb_files
from tests.hypothesis_budget import budget

HEADER_100 = "100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n100.dat 212 200 11 1024 1011 20052 0 V5\n"


def raises(fn, *args, file=None, problem=None, **kwargs) -> InvalidRecordError:
    with pytest.raises(InvalidRecordError) as ei:
        fn(*args, **kwargs)
    err = ei.value
    if file is not None:
        assert file in err.filename, str(err)
    if problem is not None:
        assert problem.lower() in err.problem.lower(), str(err)
    assert str(err).startswith(err.filename)
    return err


@pytest.fixture(scope="module")
def dat100(samples_dir):
    return (samples_dir / "100.dat").read_bytes()


def test_header_names_signal_file_not_given(dat100):
    raises(read_wfdb_files, {"100.hea": HEADER_100.encode(), "other.dat": dat100},
           file="100.dat", problem="was not given")


@pytest.mark.parametrize("name", ["../100.hea", "sub/100.dat", "..\\100.dat", "C:evil.dat", "/etc/100.hea", ".."])
def test_directory_part_in_uploaded_name(dat100, name):
    files = {"100.hea": HEADER_100.encode(), "100.dat": dat100, name: b"x"}
    raises(read_wfdb_files, files, file=name if name != ".." else "..")
    raises(read_upload, files)


def test_header_names_signal_file_with_directory_part(dat100):
    hea = HEADER_100.replace("100.dat", "../100.dat")
    raises(read_wfdb_files, {"100.hea": hea.encode(), "100.dat": dat100}, file="100.hea",
           problem="directory part")


def test_missing_dat_from_path(tmp_path, samples_dir):
    (tmp_path / "100.hea").write_bytes((samples_dir / "100.hea").read_bytes())
    raises(read_record, tmp_path / "100", file="100.dat", problem=f"not found in {tmp_path}")


def test_missing_record_path(tmp_path):
    raises(read_record, tmp_path / "nothing", file="nothing", problem=f"header (.hea) not found ({tmp_path / 'nothing.hea'})")


def test_truncated_dat(dat100):
    raises(read_wfdb_files, {"100.hea": HEADER_100.encode(), "100.dat": dat100[: len(dat100) // 2]},
           file="100.dat", problem="truncated")


def test_sample_count_mismatch(dat100):
    hea = HEADER_100.replace("650000", "400000")
    raises(read_wfdb_files, {"100.hea": hea.encode(), "100.dat": dat100}, file="100.dat",
           problem="sample count mismatch")


@pytest.mark.parametrize("record_line,problem", [
    ("100 2", "no sampling rate"), ("100 2 0 650000", "positive"), ("100 2 -360 650000", "positive"),
])
def test_missing_or_non_positive_fs(dat100, record_line, problem):
    hea = HEADER_100.replace("100 2 360 650000", record_line)
    raises(read_wfdb_files, {"100.hea": hea.encode(), "100.dat": dat100}, file="100.hea", problem=problem)


def test_csv_missing_or_non_positive_fs():
    data = "\n".join(str(np.sin(i / 10)) for i in range(5000)).encode()
    raises(read_csv_bytes, data, "x.csv", file="x.csv", problem="missing sampling rate")
    raises(read_csv_bytes, data, "x.csv", fs=0, file="x.csv", problem="positive")
    raises(read_csv_bytes, data, "x.csv", fs=-250, file="x.csv", problem="positive")
    raises(read_csv_bytes, data, "x.csv", fs=float("nan"), file="x.csv", problem="positive")


def test_shorter_than_10_s(dat100):
    hea = HEADER_100.replace("650000", "3000")  # 8.3 s
    raises(read_wfdb_files, {"100.hea": hea.encode(), "100.dat": dat100[:4500]}, file="100.hea",
           problem="at least 10 s")
    data = "\n".join(f"{np.sin(i / 10):.4f}" for i in range(250 * 9)).encode()
    raises(read_csv_bytes, data, "short.csv", fs=250, file="short.csv", problem="at least 10 s")


def test_longer_than_max_duration(samples_dir, monkeypatch):
    raises(read_record, samples_dir / "100", max_duration_s=600, file="100", problem="limit")
    monkeypatch.setenv("ECG_MAX_DURATION_H", "0.25")  # the Settings default applies without the kwarg
    raises(read_record, samples_dir / "100", file="100", problem="limit is 15 min")


@pytest.mark.parametrize("column,problem", [
    (np.full(3000, np.nan), "all-NaN"), (np.full(3000, 0.7), "flat"),
])
def test_all_nan_or_flat_lead(column, problem):
    text = "ecg\n" + "\n".join(f"{v}" for v in column)  # NaN is written as 'nan'
    raises(read_csv_bytes, text.encode(), "bad.csv", fs=250, file="bad.csv", problem=problem)


def test_non_numeric_csv():
    rows = ["time,ecg"] + [f"{i / 250},{np.sin(i / 9):.3f}" for i in range(3000)]
    rows[1500] = "6.0,abc"
    raises(read_csv_bytes, "\n".join(rows).encode(), "words.csv", file="words.csv",
           problem="line 1501: 'abc' is not a number")
    # the line as the user's editor counts it: comment lines included
    raises(read_csv_bytes, ("# exported\n" + "\n".join(rows)).encode(), "words.csv", file="words.csv",
           problem="line 1502: 'abc'")


def test_a_csv_of_words_names_the_first_word_and_its_line():
    text = "this is not an ecg\n" + "just some words\n" * 50
    raises(read_csv_bytes, text.encode(), "words.csv", fs=250, file="words.csv",
           problem="line 2: 'just' is not a number")


def test_duration_limit_message_in_a_readable_unit():
    from app.ecg.readers import check_duration, duration_text

    assert [duration_text(s) for s in (90, 720, 36.0 * 3600, 0.25 * 3600)] == ["90 s", "12 min", "36 h", "15 min"]
    err = raises(check_duration, "long.csv", 360 * 120, 360.0, 36.0, file="long.csv")
    assert "record is 2 min long; the limit is 36 s" in err.problem  # not "0.0 h ... 0.0 h"


def test_lead_index_out_of_range_says_how_it_counts(samples_dir):
    from app.ecg.leads import choose_lead
    from app.ecg.readers import read_record

    err = raises(choose_lead, read_record(samples_dir / "100"), 2, file="100")
    assert "no lead 2 (lead #3, counting from 1)" in err.problem and "has 2" in err.problem


def test_a_csv_with_an_annotation_file_is_told_to_come_alone():
    err = raises(read_upload, {"a.csv": b"1\n2\n", "a.atr": b"\x00"}, file="a.csv",
                 problem="upload a.csv alone")
    assert "a.atr" in err.problem and "WFDB" in err.problem


def test_binary_garbage_as_csv():
    raises(read_upload, {"x.csv": bytes(range(256)) * 40}, fs=250, file="x.csv")


def test_garbage_header_and_annotation(dat100, samples_dir):
    raises(read_wfdb_files, {"100.hea": b"\xff\xfe garbage \x00\x01", "100.dat": dat100}, file="100")
    files = {"100.hea": HEADER_100.encode(), "100.dat": dat100, "100.atr": b"\x00\x01\x02" * 7}
    raises(read_wfdb_files, files, file="100.atr")


def test_no_header_or_empty_upload(dat100):
    raises(read_upload, {}, problem="no files")
    raises(read_upload, {"100.dat": dat100}, problem="unsupported")
    raises(read_wfdb_files, {"a.hea": b"a 1 360 5000\n", "b.hea": b"b 1 360 5000\n"}, problem="several headers")


@settings(**budget(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.binary(max_size=300), dat=st.binary(max_size=3000))
def test_random_wfdb_bytes_only_raise_invalid_record(header, dat):
    with pytest.raises(InvalidRecordError):
        read_wfdb_files({"r.hea": header, "r.dat": dat})


@settings(**budget(40), deadline=None)
@given(text=st.text(max_size=400))
def test_random_csv_text_only_raises_invalid_record(text):
    with pytest.raises(InvalidRecordError):
        read_csv_bytes(text.encode(), "r.csv", fs=250)  # too short to be valid, whatever it holds
