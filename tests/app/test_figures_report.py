"""The HTML report and the viewer's View on a real analysis of a bundled record."""
from __future__ import annotations

import re

import numpy as np
import pytest

from app.components.viewdata import agreement, build_view, flags_at, sorted_order
from app.config import SAMPLES_DIR


@pytest.fixture(scope="module")
def view233():
    from app.analysis import analyze
    from app.cache import Entry
    from app.ecg.readers import read_record

    rec = read_record(str(SAMPLES_DIR / "233"))
    return build_view("k" * 64, Entry(recording=rec, analysis=analyze(rec)))


def test_view_matches_the_analysis(view233):
    v = view233
    t = v.analysis.table
    assert v.n_beats == len(t) and v.leads == ["MLII", "V1"] and v.lead_index == 0
    assert np.all(np.diff(v.time_s) >= 0)
    assert np.array_equal(flags_at(v, v.threshold), t["anomaly"].to_numpy())
    hi = flags_at(v, float(np.max(v.score)))
    assert hi.sum() == 0
    order = sorted_order(v, "score", ascending=False)
    assert t["score"].iloc[order[0]] == t["score"].max()
    a = agreement(flags_at(v, v.threshold), v.ref_class)
    assert a["tp"] + a["fn"] > 800  # 233 has 831 V beats among its matched beats
    flagged_v, n_v = a["per_class"]["V"]
    assert n_v > 800 and flagged_v / n_v > 0.95  # its V beats are found
    assert sum(k for k, _ in a["per_class"].values()) == a["tp"] + a["fp"]  # the classes add up to the flags


def test_report_is_self_contained_and_lists_flagged_beats(view233):
    from app.report import TABLE_ROWS, build_report

    v = view233
    flags = flags_at(v, v.threshold)
    text = build_report(v, flags, v.threshold, "statistical")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "<script src=" not in text and "<link " not in text  # nothing fetched when opened
    assert "Flagged by reference class: N " in text and " · V " in text
    assert text.count("Plotly.newPlot") == 1 + min(6, int(flags.sum()))  # timeline + top beats
    assert len(re.findall(r'<tr class="anom">', text)) == min(TABLE_ROWS, int(flags.sum()))
    assert f"{int(flags.sum()):,} of {v.n_beats:,} beats" in text
    assert "Sensitivity" in text  # reference annotations came with the record
