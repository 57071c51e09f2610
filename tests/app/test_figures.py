"""Figure builders and viewer helpers on real signals (bundled MIT-BIH records)."""
from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest
import wfdb

from app.components import figures as F
from app.components.navigation import adjacent_anomaly, initial_window, parse_relayout, window_around
from app.components.viewdata import agreement, per_class_text, slider_range
from app.config import SAMPLES_DIR


@pytest.fixture(scope="module")
def rec100():
    sig, fields = wfdb.rdsamp(str(SAMPLES_DIR / "100"))
    ann = wfdb.rdann(str(SAMPLES_DIR / "100"), "atr")
    beats = np.isin(ann.symbol, list("NLRejAaJSVEFfQ/"))
    return sig.astype(np.float32), float(fields["fs"]), list(fields["sig_name"]), ann.sample[beats], \
        np.array(ann.symbol)[beats]


def test_minmax_keeps_extremes_and_bounds_the_size(rec100):
    sig = rec100[0][:, 0]
    idx = F.minmax_indices(0, len(sig), sig, 2000)
    assert len(idx) <= 4002
    assert np.all(np.diff(idx) >= 0)
    assert sig[idx].max() == sig.max() and sig[idx].min() == sig.min()
    # a short span comes back whole
    assert np.array_equal(F.minmax_indices(100, 1100, sig, 2000), np.arange(100, 1100))
    # the downsampled trace spans the whole record
    x, _ = F.downsample_lead(sig, 360.0, 0, len(sig) / 360.0)
    assert x[0] < 1.0 and x[-1] > len(sig) / 360.0 - 1.0


def test_whole_record_strip_update_is_well_under_500_kb(rec100):
    sig, fs = rec100[0], rec100[1]
    payload = F.lead_payloads(sig, fs, 0.0, len(sig) / fs)
    assert all(len(p["x"]) <= 4002 for p in payload)
    assert len(json.dumps(payload)) < 250_000


def test_visible_beats_prefers_flags_when_crowded():
    t = np.arange(100_000) * 0.8
    flags = np.zeros(100_000, bool)
    flags[::97] = True
    lowq = np.zeros(100_000, bool)
    idx = F.visible_beats(t, flags, lowq, 0, t[-1] + 1, max_markers=1500)
    assert len(idx) <= 1500 and flags[idx].all()
    near = F.visible_beats(t, flags, lowq, 80.0, 90.0)
    assert np.array_equal(near, np.flatnonzero((t >= 80) & (t < 90)))


def test_flagged_low_quality_beats_stay_flagged_and_show_their_quality():
    flags = np.array([True, False, True, False])
    lowq = np.array([False, False, True, True])
    assert F.beat_classes(flags, lowq).tolist() == [1, 0, 3, 2]
    m = F.marker_payload(np.arange(4), np.arange(4.0), np.zeros(4), flags, lowq)
    assert m["marker.color"] == [F.ANOMALY, F.NORMAL, F.ANOMALY, F.LOW_QUALITY]  # still red when flagged
    assert m["marker.symbol"] == ["circle", "circle", "x", "x"]  # and a cross: low quality
    assert m["hovertext"] == ["beat 0: anomaly", "beat 1: normal", "beat 2: anomaly (low quality)",
                              "beat 3: normal (low quality)"]
    # the timeline: low-quality beats are crosses coloured by the threshold (grey below, red above)
    fig = F.timeline_figure(np.arange(4.0), np.array([1.0, 0.0, 9.0, 0.5]), lowq, 5.0)
    assert fig.data[1].marker.symbol == "x" and list(fig.data[1].customdata) == [2, 3]
    assert [c[1] for c in fig.data[1].marker.colorscale] == [F.LOW_QUALITY, F.LOW_QUALITY, F.ANOMALY, F.ANOMALY]


def test_strip_figure_has_every_lead_and_the_window_markers(rec100):
    sig, fs, leads, samples, symbols = rec100
    t = samples / fs
    flags = np.isin(symbols, ["A", "V"])
    fig = F.strip_figure(sig, fs, leads, 0, t, samples, flags, np.zeros(len(t), bool), symbols, 60.0, 70.0)
    assert len(fig.data) == len(leads) + 2  # the leads, the markers, the reference labels
    markers, labels = fig.data[len(leads)], fig.data[len(leads) + 1]
    assert all(60.0 <= x <= 70.0 for x in markers.x)
    assert list(fig.layout.xaxis.range) == [60.0, 70.0]
    # markers sit on the analysed lead's R-peaks
    assert np.allclose(markers.y, np.round(sig[samples[(t >= 60) & (t < 70)], 0], 4))
    # the labels are the window's reference symbols, each at its beat, in a band of their own
    window = (t >= 60) & (t < 70)
    assert list(labels.text) == symbols[window].tolist() and np.allclose(labels.x, np.round(t[window], 4))
    assert labels.mode == "text" and labels.xaxis == "x" and labels.yaxis == "y3"
    band, lead_axis = fig.layout.yaxis3.domain, fig.layout.yaxis.domain
    assert band[0] == pytest.approx(lead_axis[1]) and band[1] > band[0]  # right above the trace, not on it
    assert list(fig.layout.yaxis3.range) == [0, 1] and fig.layout.yaxis3.visible is False


def test_strip_labels_of_the_second_lead_and_crowded_windows(rec100):
    sig, fs, leads, samples, symbols = rec100
    t = samples / fs
    none = np.zeros(len(t), bool)
    fig = F.strip_figure(sig, fs, leads, 1, t, samples, none, none, symbols, 0.0, 10.0)
    assert fig.data[-1].xaxis == "x2" and fig.layout.yaxis3.domain[0] == pytest.approx(fig.layout.yaxis2.domain[1])
    # a whole-record window has far too many beats to label; a record without reference has none
    assert F.label_payload(t, symbols, 0.0, 1805.0)["text"] == []
    assert F.label_payload(t, None, 0.0, 10.0)["text"] == []
    no_ref = F.strip_figure(sig, fs, leads, 1, t, samples, none, none, None, 0.0, 10.0)
    assert not no_ref.data[-1].text
    # no band axis without a reference: a zero-height one gets plotly.js's default domain [0, 1]
    # and its background hid the analysed lead of every CSV upload
    assert no_ref.data[-1].yaxis == "y2" and "yaxis3" not in no_ref.layout.to_plotly_json()
    assert all(no_ref.layout[f"yaxis{i}"].domain[1] - no_ref.layout[f"yaxis{i}"].domain[0] > 0.3 for i in ("", 2))


def test_threshold_colorscale_splits_at_the_threshold():
    cs = F.threshold_colorscale(2.0, 0.0, 4.0)
    assert [c[0] for c in cs] == sorted(c[0] for c in cs)
    assert cs[1] == [pytest.approx(0.5), F.NORMAL] and cs[2] == [pytest.approx(0.5), F.ANOMALY]
    assert F.threshold_colorscale(99.0, 0.0, 4.0)[1][0] < 1.0  # clipped inside the scale


def test_timeline_reduces_long_records_but_keeps_peaks():
    rng = np.random.default_rng(0)
    score = rng.normal(size=100_000)
    score[54_321] = 50.0
    idx = F.timeline_points(np.arange(100_000) * 0.8, score)
    assert len(idx) <= F.MAX_TIMELINE + 2 and 54_321 in idx
    fig = F.timeline_figure(np.arange(100_000) * 0.8, score, np.zeros(100_000, bool), 3.0, (10.0, 20.0))
    assert fig.layout.shapes[0].y0 == 3.0 and fig.layout.shapes[1].x0 == 10.0
    assert len(pio.to_json(fig)) < 2_000_000


def test_beat_figure_and_breakdown():
    w = np.sin(np.linspace(0, 3, 256)).astype(np.float32)
    r = w * 0.9
    fig = F.beat_figure(w, r)
    assert [d.name for d in fig.data] == ["beat", "VAE reconstruction", "residual"]
    assert np.allclose(fig.data[2].y, w - r)
    assert fig.data[0].x[90] == 0.0  # R-peak at 90 samples into the window
    assert not fig.layout.shapes  # no neighbours given: no marks
    ranks = F.percentile_ranks(np.array([0.0, 5.0, 10.0]), np.arange(10.0))
    assert ranks.tolist() == [0.0, 50.0, 100.0]


def test_beat_figure_of_a_denoised_beat_shows_what_was_scored():
    w = np.sin(np.linspace(0, 3, 256)).astype(np.float32)
    noisy = w + np.random.default_rng(0).normal(0, 0.2, 256).astype(np.float32)
    r = w * 0.9
    fig = F.beat_figure(noisy, r, scored=w, scored_name="as scored (denoised, drift removed)")
    assert [d.name for d in fig.data] == ["beat as recorded", "as scored (denoised, drift removed)",
                                          "VAE reconstruction", "residual"]
    assert np.allclose(fig.data[3].y, w - r)  # the residual is of what the VAE saw
    assert fig.data[0].line.color == F.RECORDED and np.allclose(fig.data[0].y, noisy)


def test_neighbouring_beats_inside_the_window_are_marked():
    t = np.array([1.0, 1.2, 1.5, 3.0])
    assert F.neighbour_beats_ms(t, 0) == pytest.approx({"next beat": 200.0})  # the first beat has no previous one
    assert F.neighbour_beats_ms(t, 3) == pytest.approx({"previous beat": -1500.0})
    w = np.zeros(256, np.float32)
    inside = F.beat_figure(w, w, neighbours=F.neighbour_beats_ms(t, 1))  # -200 ms and +300 ms: both in the window
    assert {round(sh.x0) for sh in inside.layout.shapes} == {-200, 300}  # on the beat and the residual panels
    assert [a.text for a in inside.layout.annotations] == ["previous beat", "next beat"]  # labelled once
    outside = F.beat_figure(w, w, neighbours=F.neighbour_beats_ms(t, 2))  # -300 ms and +1500 ms: both outside
    assert not outside.layout.shapes


def test_navigation_helpers():
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    flags = np.array([False, True, False, True, False])
    assert adjacent_anomaly(t, flags, 2.0, forward=True) == 3
    assert adjacent_anomaly(t, flags, 4.0, forward=False) == 1
    assert adjacent_anomaly(t, flags, 4.5, forward=True) is None
    assert initial_window(t, flags, 1800.0) == (0.0, 10.0)
    assert window_around(1799.0, 10.0, 1800.0) == (1790.0, 1800.0)
    assert parse_relayout({"xaxis2.range[0]": 5, "xaxis2.range[1]": 25}, 100.0) == (5.0, 25.0)
    assert parse_relayout({"xaxis.autorange": True}, 100.0) == (0.0, 100.0)
    assert parse_relayout({"xaxis.range": [-5, 500]}, 100.0) == (0.0, 100.0)
    assert parse_relayout({"autosize": True}, 100.0) is None


def test_agreement_counts_against_reference_classes():
    ref = np.array(["N", "N", "V", "S", "", "N"])
    flags = np.array([True, False, True, False, True, False])
    a = agreement(flags, ref)
    assert (a["tp"], a["fn"], a["fp"], a["tn"]) == (1, 1, 1, 2)
    assert a["matched"] == 5 and a["unmatched"] == 1
    assert a["sensitivity"] == 0.5 and a["specificity"] == pytest.approx(2 / 3)
    assert a["per_class"] == {"N": (1, 3), "S": (0, 1), "V": (1, 1)}  # only the classes present, in AAMI order
    assert per_class_text(a["per_class"]) == "N 1 of 3 · S 0 of 1 · V 1 of 1"
    assert agreement(flags, None) is None


def test_slider_range_covers_every_method_threshold():
    score = np.linspace(0, 1, 1000)
    lo, hi = slider_range(score, {"fixed": {"value": 5.0, "param": 5.0}, "percentile": {"value": -1.0, "param": 1}})
    assert lo < -1.0 and hi > 5.0


def test_slider_step_is_a_usable_keyboard_step():
    from app.components.viewdata import nice_step, slider_grid

    assert nice_step(21.4, 500) == 0.05 and nice_step(1.0, 500) == 0.002
    assert nice_step(17.0) == 0.01 and nice_step(21.4) == 0.02  # about 2,000 positions, not 100,000
    score = np.random.default_rng(1).normal(size=5000) * 5
    g = slider_grid(score, {"statistical": {"value": 5.349685, "param": 3.0}})
    assert g.step == 0.02 and g.min <= 5.349685 <= g.max
    k = (g.max - g.min) / g.step
    assert abs(k - round(k)) < 1e-6  # the bounds are on the grid
    v = g.snap(5.349685)
    assert abs(v - 5.349685) <= g.step / 2 and g.snap(v) == v
    assert g.clip(1e9) == g.max and g.clip(-1e9) == g.min


THRESHOLDS = {"statistical": {"value": 5.29586, "param": 2.25}, "percentile": {"value": 8.1839, "param": 99.0},
              "fixed": {"value": 5.0, "param": 5.0}}


def test_threshold_method_is_named_only_for_its_own_value():
    from app.components.viewdata import CUSTOM, matching_method, method_description, ordinal, threshold_text

    assert matching_method(5.29586, THRESHOLDS) == "statistical"
    assert matching_method(5.0, THRESHOLDS) == "fixed"
    assert matching_method(9.0, THRESHOLDS) == CUSTOM
    assert matching_method(5.296, THRESHOLDS) == CUSTOM  # not its value, only close to it
    assert matching_method(5.296, THRESHOLDS, tol=5e-4) == "statistical"  # within the 3 decimals shown
    same = {"a": {"value": 1.0}, "b": {"value": 1.0}}
    assert matching_method(1.0, same) == "a" and matching_method(1.0, same, preferred="b") == "b"
    assert threshold_text(5.29586) == "5.296" and threshold_text(9.0) == "9" and threshold_text(-1.5) == "-1.5"
    assert [ordinal(p) for p in (1, 2, 3, 11, 12, 13, 21, 99, 99.5)] == \
        ["1st", "2nd", "3rd", "11th", "12th", "13th", "21st", "99th", "99.5th"]
    assert method_description("percentile", THRESHOLDS) == "percentile method: 99th percentile of normal beats' scores"
    assert method_description("statistical", THRESHOLDS) == "statistical method: mean + 2.25 sd of normal beats' scores"
    assert method_description(CUSTOM, THRESHOLDS) == "custom: set by hand"


def test_strip_leads_keeps_small_records_whole_and_bounds_the_others():
    assert F.strip_leads(2, 0) == [0, 1] and F.strip_leads(2, 1) == [0, 1]  # MIT-BIH: both leads, as before
    assert F.strip_leads(1, 0) == [0] and F.strip_leads(3, 2) == [0, 1, 2]
    assert F.strip_leads(12, 1) == [0, 1, 2]        # 12-lead, II analysed: I, II, III
    assert F.strip_leads(12, 10) == [0, 1, 10]      # V5 analysed: I, II and V5
    assert F.strip_leads(12, 1, ["6", "10"]) == [1, 6, 10]
    assert F.strip_leads(12, 1, ["0", "6", "10"]) == [1, 6, 10]  # the last two asked for
    assert F.strip_leads(12, 1, ["1", "6", "6", "99", "-1"]) == [1, 6]  # the analysed lead, repeats, strangers
    assert F.strip_leads(12, 1, []) == [1]


def test_twelve_lead_strip_draws_three_leads_at_a_third_of_the_height():
    """A 12-lead strip was 170 + 12 x 150 = 1,970 px with all twelve traces; now the analysed lead and
    two others: 620 px, and about a quarter of the data."""
    from app.ecg.readers import read_csv_bytes
    from tests.ecg import device_exports as dev

    e = dev.twelve_lead()
    rec = read_csv_bytes(e.data, e.name, **e.form)
    sig, fs, leads = rec.signals, rec.fs, rec.leads
    t = e.ref_samples / fs
    none = np.zeros(len(t), bool)
    fig = F.strip_figure(sig, fs, leads, 10, t, e.ref_samples, none, none, None, 0.0, 10.0)  # V5 analysed
    lines = [d for d in fig.data if d.mode == "lines"]
    assert [d.name for d in lines] == ["I", "II", "V5"] and fig.layout.height == 620
    markers = fig.data[3]
    assert markers.name == "beats" and markers.yaxis == "y3"  # on V5's panel, the third
    assert np.allclose(markers.y, np.round(sig[e.ref_samples, 10], 4))
    assert fig.layout.yaxis3.title.text == "V5 (mV)" and "yaxis4" not in fig.layout.to_plotly_json()
    picked = F.strip_figure(sig, fs, leads, 1, t, e.ref_samples, none, none, None, 0.0, 10.0,
                            shown=F.strip_leads(12, 1, ["6", "9"]))
    assert [d.name for d in picked.data if d.mode == "lines"] == ["II", "V1", "V4"]
    assert picked.data[3].yaxis == "y"  # II is now the first panel
    everything = F.strip_figure(sig, fs, leads, 1, t, e.ref_samples, none, none, None, 0.0, 10.0,
                                shown=list(range(12)))
    assert everything.layout.height == 1970
    assert len(pio.to_json(fig)) < 0.3 * len(pio.to_json(everything))


def test_two_lead_strip_is_unchanged_by_the_lead_choice(rec100):
    sig, fs, leads, samples, symbols = rec100
    t = samples / fs
    flags = np.isin(symbols, ["A", "V"])
    for analysed in (0, 1):
        default = F.strip_figure(sig, fs, leads, analysed, t, samples, flags, flags, symbols, 60.0, 70.0)
        both = F.strip_figure(sig, fs, leads, analysed, t, samples, flags, flags, symbols, 60.0, 70.0,
                              shown=[0, 1])
        assert pio.to_json(default) == pio.to_json(both) and default.layout.height == 470


def test_noisy_spans_are_runs_of_noisy_beats():
    t = np.arange(20.0)
    r = np.full(20, 0.1)
    r[2:5], r[8:10], r[12:18] = 0.4, 0.5, 0.35  # runs of 3, 2 (too short) and 6 beats ...
    r[15] = np.nan  # ... the last split by a beat without a ratio into 3 and 2
    assert F.noisy_spans(t, r) == [(2.0, 4.0), (12.0, 14.0)]
    assert F.noisy_spans(t, r, min_beats=2) == [(2.0, 4.0), (8.0, 9.0), (12.0, 14.0), (16.0, 17.0)]
    assert F.noisy_spans(t, r, min_beats=2, max_spans=2) == [(2.0, 4.0), (8.0, 17.0)]  # closest merged
    assert F.noisy_spans(t, r, max_spans=1) == [(2.0, 14.0)]
    assert F.noisy_spans(t, None) == [] and F.noisy_spans(t, r[:5]) == [] and F.noisy_spans(t[:0], r[:0]) == []
    assert F.in_spans(np.array([1.9, 2.0, 3.0, 4.0, 4.1, 13.0]), [(2.0, 4.0), (12.0, 14.0)]).tolist() == \
        [False, True, True, True, False, True]
    assert not F.in_spans(t, []).any()


def test_timeline_keeps_its_first_two_shapes_with_noisy_bands():
    fig = F.timeline_figure(np.arange(10.0), np.zeros(10), np.zeros(10, bool), 2.0, (1.0, 3.0), [(4.0, 6.0)])
    assert fig.layout.shapes[0].y0 == 2.0 and fig.layout.shapes[1].x0 == 1.0  # the patched ones
    assert (fig.layout.shapes[2].x0, fig.layout.shapes[2].x1, fig.layout.shapes[2].layer) == (4.0, 6.0, "below")
