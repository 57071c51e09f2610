"""Latent-page figure builders: pure arrays in, plotly figures out."""
from __future__ import annotations

import numpy as np
import pytest

from app.components import latent_figures as LF


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.normal(size=(n, 2))
    idx = np.arange(0, 2 * n, 2)  # shown beats are a subsample: customdata carries the beat index
    score = rng.random(n)
    flags = score > 0.8
    cls = np.array(["N"] * (n - 6) + ["V"] * 4 + ["", "S"])
    return xy, idx, rng.normal(size=(100, 2)), score, flags, np.arange(n) * 0.8, cls


def test_scatter_by_score_has_reference_cloud_and_beat_indices():
    xy, idx, ref, score, flags, t, cls = _data()
    fig = LF.latent_scatter(xy, idx, ref, "PCA", "score", score, flags, t, cls)
    ref_trace, beats, legend = fig.data
    assert ref_trace.name == "training normals (DS1)" and len(ref_trace.x) == 100
    assert list(beats.customdata) == idx.tolist()
    assert np.allclose(beats.marker.color, score) and beats.marker.showscale
    assert fig.layout.dragmode == "lasso" and "PCA" in fig.layout.title.text


def test_scatter_by_score_legend_shows_a_neutral_marker_not_a_scale_colour():
    """The score-coloured beats are in the legend as one neutral entry that names the colour bar."""
    xy, idx, ref, score, flags, t, cls = _data()
    _, beats, legend = LF.latent_scatter(xy, idx, ref, "PCA", "score", score, flags, t, cls).data
    assert beats.showlegend is False and legend.showlegend is not False
    assert legend.name == LF.SCORE_LEGEND == "this record's beats (colour: score)"
    assert beats.marker.colorbar.title.text == "score"  # the colours are read on the bar
    assert legend.marker.color == "white" and legend.marker.line.color == "#495057"
    assert list(legend.x) == [None] and legend.hoverinfo == "skip"  # draws nothing on the plot
    assert beats.legendgroup == legend.legendgroup == "record"  # its legend entry still hides the beats


def test_scatter_by_flag_splits_flagged_beats():
    xy, idx, ref, score, flags, t, cls = _data()
    fig = LF.latent_scatter(xy, idx, ref, "UMAP", "flag", score, flags, t, cls)
    names = [tr.name for tr in fig.data]
    assert names[1] == f"not flagged ({(~flags).sum()})" and names[2] == f"flagged ({flags.sum()})"
    assert sorted(list(fig.data[1].customdata) + list(fig.data[2].customdata)) == idx.tolist()
    assert fig.data[2].marker.color == LF.ANOMALY
    many = np.zeros(2500, bool)
    many[:1234] = True
    big = LF.latent_scatter(np.zeros((2500, 2)), np.arange(2500), ref, "PCA", "flag", np.zeros(2500), many,
                            np.zeros(2500))
    assert [tr.name for tr in big.data[1:]] == ["not flagged (1,266)", "flagged (1,234)"]  # thousands commas


def test_scatter_by_class_one_trace_per_present_class():
    xy, idx, ref, score, flags, t, cls = _data()
    fig = LF.latent_scatter(xy, idx, np.empty((0, 2)), "t-SNE", "ref_class", score, flags, t, cls)
    names = [tr.name for tr in fig.data]
    assert names == ["N (normal) (34)", "S (supraventricular) (1)", "V (ventricular) (4)", "no reference beat (1)"]
    v = fig.data[2]
    assert list(v.customdata) == idx[cls == "V"].tolist() and "ref V" in v.text[0]
    with pytest.raises(ValueError):
        LF.latent_scatter(xy, idx, ref, "PCA", "colour", score, flags, t, cls)


def test_selected_beats_prefers_lasso_and_ignores_reference_points():
    sel = {"points": [{"customdata": 12, "curveNumber": 1}, {"curveNumber": 0, "pointIndex": 3},
                      {"customdata": 4, "curveNumber": 2}, {"customdata": 12, "curveNumber": 1}]}
    click = {"points": [{"customdata": 99}]}
    assert LF.selected_beats(sel, click) == [4, 12]
    assert LF.selected_beats(None, click) == [99]
    assert LF.selected_beats({"points": [{"curveNumber": 0}]}, None) == []
    assert LF.selected_beats(None, None) == []


def test_beats_overlay_draws_chosen_windows_and_their_mean():
    w = np.tile(np.sin(np.linspace(0, 6, 256)), (10, 1)) * np.arange(1, 11)[:, None]
    flags = np.zeros(10, bool)
    flags[3] = True
    fig = LF.beats_overlay(w, [1, 3], flags)
    assert len(fig.data) == 3 and "2 beats chosen" in fig.layout.title.text
    assert fig.data[1].line.color == LF.ANOMALY and fig.data[0].line.color == LF.NORMAL
    assert np.allclose(fig.data[2].y, w[[1, 3]].mean(axis=0))
    assert fig.data[0].x[90] == 0.0  # R-peak at sample 90 is 0 ms
    assert fig.layout.legend.y < 0  # below the plot, clear of the title
    many = LF.beats_overlay(np.zeros((200, 256)), list(range(200)), max_beats=20)
    assert len(many.data) == 21 and "20 drawn" in many.layout.title.text
    assert "1,000 beats chosen" in LF.beats_overlay(np.zeros((1000, 256)), list(range(1000))).layout.title.text
    empty = LF.beats_overlay(w, [])
    assert len(empty.data) == 0 and "lasso" in empty.layout.annotations[0].text


def test_one_chosen_beat_is_named_and_drawn_alone():
    """A click chooses one beat: its number, time, score and flag in the title, its curve named
    for it in its flag colour, and no "mean of the chosen beats"."""
    w = np.tile(np.sin(np.linspace(0, 6, 256)), (2000, 1))
    flags = np.zeros(2000, bool)
    flags[1914] = True
    time_s = np.arange(2000) * 0.797
    score = np.linspace(-2, 9, 2000)
    cls = np.array(["N"] * 1914 + ["V"] + ["N"] * 85)
    fig = LF.beats_overlay(w, [1914], flags, time_s=time_s, score=score, ref_class=cls)
    assert [tr.name for tr in fig.data] == ["beat 1,914"]
    assert fig.data[0].line.color == LF.ANOMALY and np.allclose(fig.data[0].y, w[1914])
    assert fig.layout.showlegend is True and fig.layout.legend.y < 0  # below the plot: the title is long
    title = fig.layout.title.text
    assert title == ("Beat 1,914 at 25:25.46 (1,525.46 s), score 8.53, flagged (default threshold), "
                     "reference V (ventricular)")
    assert "mean" not in title and "chosen" not in title
    # without the per-beat columns: the number still, coloured by its flag
    plain = LF.beats_overlay(w, [7], np.zeros(2000, bool))
    assert plain.layout.title.text == "Beat 7, not flagged (default threshold)"
    assert plain.data[0].line.color == LF.NORMAL


def test_beat_caption_formats_time_as_minutes_and_seconds():
    assert LF.beat_caption(5) == "beat 5"
    assert LF.beat_caption(12, 61.5, 0.5012, False) == "beat 12 at 1:01.50 (61.50 s), score 0.501, not flagged (default threshold)"
    assert LF.beat_caption(3, 3725.25, None, None, "") == "beat 3 at 62:05.25 (3,725.25 s)"
