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


def test_beat_classes_flag_wins_over_low_quality():
    cls = F.beat_classes(np.array([True, False, True, False]), np.array([False, False, True, True]))
    assert cls.tolist() == [1, 0, 1, 2]


def test_strip_figure_has_every_lead_and_the_window_markers(rec100):
    sig, fs, leads, samples, symbols = rec100
    t = samples / fs
    flags = np.isin(symbols, ["A", "V"])
    fig = F.strip_figure(sig, fs, leads, 0, t, samples, flags, np.zeros(len(t), bool), symbols, 60.0, 70.0)
    assert len(fig.data) == len(leads) + 1
    markers = fig.data[-1]
    assert all(60.0 <= x <= 70.0 for x in markers.x)
    assert set(markers.text) <= set(symbols)
    assert list(fig.layout.xaxis.range) == [60.0, 70.0]
    # markers sit on the analysed lead's R-peaks
    assert np.allclose(markers.y, np.round(sig[samples[(t >= 60) & (t < 70)], 0], 4))


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


def test_slider_grid_values_survive_snapping():
    from app.components.viewdata import nice_step, slider_grid

    assert nice_step(21.4, 500) == 0.05 and nice_step(1.0, 500) == 0.002 and nice_step(21.4) == 0.0005
    score = np.random.default_rng(1).normal(size=5000) * 5
    g = slider_grid(score, {"statistical": {"value": 5.349685, "param": 3.0}})
    v = g.snap(5.349685)
    assert abs(v - 5.349685) <= g.step / 2 < 1e-3
    k = (v - g.min) / g.step
    assert abs(k - round(k)) < 1e-6  # on the grid: the slider keeps it
    assert g.snap(v) == v and g.min <= v <= g.max
