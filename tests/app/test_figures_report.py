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


def test_report_names_the_threshold_method_only_for_its_own_value(view233):
    """A threshold set by hand is 'custom', even when the page says which method was picked last."""
    from app.components.viewdata import ordinal, threshold_text
    from app.report import build_report

    v = view233
    stat, k = float(v.thresholds["statistical"]["value"]), float(v.thresholds["statistical"]["param"])
    text = build_report(v, flags_at(v, 9.0), 9.0, "statistical")
    assert "above <b>9</b> (custom: set by hand; the model's default, statistical, is " \
           f"{threshold_text(stat)})" in text
    assert "statistical method" not in text
    text = build_report(v, flags_at(v, stat), stat, "statistical")
    assert f"above <b>{threshold_text(stat)}</b> (statistical method: mean + {k:g} sd of normal beats&#x27; scores)" \
        in text
    pct, p = float(v.thresholds["percentile"]["value"]), float(v.thresholds["percentile"]["param"])
    assert f"(percentile method: {ordinal(p)} percentile of normal beats&#x27; scores)" in \
        build_report(v, flags_at(v, pct), pct)  # no method passed: found from the value


def test_report_fits_narrow_screens_and_gives_the_residual_room(view233):
    from app.report import BEAT_HEIGHT, build_report

    v = view233
    text = build_report(v, flags_at(v, v.threshold), v.threshold)
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in text
    assert "padding:0 1rem" in text and "box-sizing:border-box" in text  # never touches the edges
    assert "<div class='scroll'><table>" in text  # wide tables scroll in their box, not the page
    assert BEAT_HEIGHT >= 360 and f'"height":{BEAT_HEIGHT}' in text
    assert '"nticks":4' in text  # the residual panel's ticks are few enough to read


def test_the_inspector_says_when_a_beats_timing_was_measured_across_a_noisy_detection():
    """Record 105 (noisy), as the cache keeps it (compacted): the inspector title's note for a beat
    whose previous detection was skipped for its scores names that detection's time; other beats
    get none (app.pages.signal.inspector_title appends it)."""
    from app.analysis import analyze, skipped_detections
    from app.cache import Entry
    from app.compact import compact_analysis
    from app.ecg.readers import read_record
    from app.components.viewdata import timing_note

    rec = read_record(str(SAMPLES_DIR / "105"))
    v = build_view("k" * 64, Entry(recording=rec, analysis=compact_analysis(analyze(rec))))
    skipped = {b: skipped_detections(v.analysis, b) for b in range(v.n_beats)}
    b = next(b for b, s in skipped.items() if s == [b - 1])
    assert timing_note(v, b) == f" (timing measured across the noisy detection at {v.time_s[b - 1]:.2f} s)"
    b = next(b for b, s in skipped.items() if len(s) == 2)  # a beat between two skipped detections
    assert timing_note(v, b).endswith(f"at {v.time_s[b - 1]:.2f} s and {v.time_s[b + 1]:.2f} s)")
    assert timing_note(v, next(b for b, s in skipped.items() if not s)) == ""


@pytest.fixture(scope="module")
def view105():
    """Record 105 (noisy stretches) from a compacted cache entry."""
    from app.analysis import analyze
    from app.cache import Entry
    from app.compact import compact_analysis
    from app.ecg.readers import read_record

    rec = read_record(str(SAMPLES_DIR / "105"))
    return build_view("o" * 64, Entry(recording=rec, analysis=compact_analysis(analyze(rec))))


def test_inspector_title_names_the_other_lead_where_it_was_weighted_in(view105):
    """A compacted cache entry keeps the other lead's weights, and the inspector title names the
    lead and its weight on exactly the beats that have one."""
    from app.components.viewdata import other_lead_note

    v = view105
    w = v.analysis.scores["other_lead_weight"]
    b = int(np.argmax(w))
    assert w[b] > 0.3
    assert other_lead_note(v, b) == f" (scored with V1 as well, weight {w[b]:.2f}: MLII is noisy here)"
    assert all(other_lead_note(v, i) == "" for i in np.flatnonzero(w == 0)[:50])
    assert sum(other_lead_note(v, i) != "" for i in range(v.n_beats)) == v.analysis.summary["other_lead_beats"]


def test_noisy_stretches_are_shaded_on_the_timeline_and_in_the_report(view105, view233):
    """105's noisy stretches (from the compacted entry's noise ratios) are grey bands behind the
    score timeline, in the viewer and in the report (7 bands, 93 s, on 2026-11-26); 233, clean but
    full of ventricular beats, has 6 s in two short bands."""
    from app.components import figures as F
    from app.report import build_report

    spans = view105.noisy_spans
    assert 3 <= len(spans) <= F.MAX_NOISY_SPANS and sum(b - a for a, b in spans) > 60
    assert sum(b - a for a, b in view233.noisy_spans) < 0.01 * view233.duration_s
    r = view105.analysis.beats.noise_ratio
    inside = F.in_spans(view105.time_s, spans)
    assert (r[inside] > F.NOISY_RATIO).mean() > 0.9  # the bands hold noisy beats ...
    assert (r[~inside] > F.NOISY_RATIO).mean() < 0.05  # ... and few noisy beats are left outside
    fig = F.timeline_figure(view105.time_s, view105.score, view105.low_quality, view105.threshold, None, spans)
    bands = fig.layout.shapes[2:]
    assert [(b.x0, b.x1) for b in bands] == spans and all(b.layer == "below" for b in bands)
    html = build_report(view105, flags_at(view105, view105.threshold), view105.threshold)
    assert html.count(F.NOISY_FILL) == len(spans)


def test_the_inspector_says_when_a_beat_lies_in_a_noisy_stretch(view105):
    """Inside a grey band the inspector's noise note is the other lead's where its view was weighted
    in (on 105, every band beat: the other lead counts from noise ratio 0.2), else ' (in a noisy
    stretch: it may be noise)': 105's MLII alone, without a second lead, gets the band note."""
    from app.analysis import analyze
    from app.cache import Entry
    from app.components import figures as F
    from app.components.viewdata import noise_note, other_lead_note
    from app.ecg.record import Recording

    band = " (in a noisy stretch: it may be noise)"
    inside = np.flatnonzero(F.in_spans(view105.time_s, view105.noisy_spans))
    assert all(noise_note(view105, int(b)) == other_lead_note(view105, int(b)) != "" for b in inside)
    rec = view105.entry.recording
    alone = Recording(name="105-mlii", signals=rec.signals[:, :1], fs=rec.fs, leads=rec.leads[:1], units=rec.units[:1])
    v = build_view("m" * 64, Entry(recording=alone, analysis=analyze(alone)))
    inside = F.in_spans(v.time_s, v.noisy_spans)
    assert inside.sum() > 50 and v.analysis.summary["other_lead"] is None
    assert all(noise_note(v, int(b)) == band for b in np.flatnonzero(inside))
    assert all(noise_note(v, int(b)) == "" for b in np.flatnonzero(~inside))
