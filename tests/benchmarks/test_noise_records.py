"""Which records benchmarks.noise runs: --set, --records and --without (on the bundled samples)."""
from __future__ import annotations

import pytest

from benchmarks._util import ROOT
from benchmarks.noise import record_names

SAMPLES = ROOT / "app" / "samples"


def test_without_leaves_a_record_out_of_the_set():
    assert record_names(SAMPLES, None, "DS2") == ["100", "105", "213", "232", "233"]
    assert record_names(SAMPLES, None, "DS2", ["232"]) == ["100", "105", "213", "233"]
    assert record_names(SAMPLES, ["233", "100"], "DS2", ["233"]) == ["100"]


@pytest.mark.parametrize("wanted, without, message", [
    (None, ["101"], "--without names records that would not run: 101"),  # 101 is DS1, not in the set
    (["100"], ["100"], "no records left to run"),
    (["999"], None, "records not found in"),
])
def test_bad_record_choices_exit_2_with_one_line(capsys, wanted, without, message):
    with pytest.raises(SystemExit) as e:
        record_names(SAMPLES, wanted, "DS2", without)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_set_with_no_record_present_says_so(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        record_names(tmp_path, None, "DS1")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "no DS1 records found in" in err and err.count("\n") == 1
