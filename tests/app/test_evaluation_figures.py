"""Evaluation-page builders and readers, on a synthetic evaluation written with training.evaluate's
own summariser (same schema), and on the committed model_store evaluation when it is there."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from app.components import evaluation_figures as EF
from app.config import MODEL_STORE, DEFAULT_MODEL_ID
from training import evaluate as TE

COMMITTED = MODEL_STORE / DEFAULT_MODEL_ID


def _scores_frame(mode: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 600
    cls = np.array(["N"] * 480 + ["V"] * 60 + ["S"] * 40 + ["F"] * 5 + [""] * 15)
    anomalous = np.isin(cls, ["S", "V", "F"])
    df = pd.DataFrame({"beats": mode, "record": np.where(np.arange(n) % 2, "100", "105"),
                       "sample": np.arange(n) * 300, "time_s": np.arange(n) * 0.8,
                       "ref_symbol": cls, "ref_class": cls, "quality": 1.0, "low_quality": False})
    for i, name in enumerate(TE.SCORERS):
        df[name] = np.round(rng.normal(size=n) + anomalous * (1.0 + i * 0.5), 3)
    df["anomaly"] = df["score"] > 1.5
    df["baseline_pca"] = np.round(rng.normal(size=n) + anomalous * 0.5, 3)
    df["baseline_rr"] = np.round(rng.normal(size=n) + anomalous * 1.2, 3)
    return df


THRESHOLDS = {**{n: 1.5 for n in TE.SCORERS}, "baseline_pca": 1.0, "baseline_rr": 1.25}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A model directory with evaluation.json, ds2_scores.csv.gz, history.json and MODEL_CARD.md."""
    d = tmp_path_factory.mktemp("model")
    frames = {m: _scores_frame(m, seed) for m, seed in (("detect", 1), ("reference", 2))}
    det = {"100": {"n_reference": 300, "n_detected": 302, "matched": 299, "missed": 1, "false_detections": 3,
                   "se": 299 / 300, "ppv": 299 / 302}}
    summ = {m: TE.summarise(df, THRESHOLDS, det if m == "detect" else {}) for m, df in frames.items()}
    ev = {"schema_version": 1, "model_id": "synthetic", "quick": False,
          "protocol": {"name": "inter-patient (de Chazal 2004)", "valid": True, "train_records": ["101"]},
          **summ["detect"], "thresholds": THRESHOLDS, "reference_beats": {**summ["reference"], "thresholds": THRESHOLDS},
          "intra_patient": {"status": "not run", "reason": "disabled"}, "files": {"scores": TE.SCORES_FILE}}
    ev = TE._clean_nans(json.loads(json.dumps(ev, default=TE.jsonable)))
    (d / EF.EVALUATION_FILE).write_text(json.dumps(ev))
    TE.write_scores(pd.concat(frames.values(), ignore_index=True), d / TE.SCORES_FILE)
    (d / EF.HISTORY_FILE).write_text(json.dumps({"epoch": [1, 2, 3], "loss": [9, 5, 4], "val_loss": [10, 6, 5], "lr": [1e-3, 1e-3, 5e-4]}))
    (d / EF.MODEL_CARD_FILE).write_text("# Model card\n\nResearch only.\n")
    return d, ev


def test_metrics_rows_cover_every_scorer_and_baseline_ensemble_first(synthetic):
    _, ev = synthetic
    rows = EF.metrics_rows(ev)
    assert [r["key"] for r in rows][:1] == ["score"]
    assert {r["key"] for r in rows} == set(TE.SCORERS) | {"baseline_pca", "baseline_rr"}
    ens = rows[0]
    assert ens["auroc"] == f"{ev['scorers']['score']['auroc']:.3f}"
    assert ens["mcc"] == f"{ev['scorers']['score']['at_threshold']['mcc']:.3f}"
    assert [r["scorer"] for r in rows if r["kind"] == "baseline"] == ["Baseline: pca", "Baseline: rr"]


def test_reference_beat_set_is_separate(synthetic):
    _, ev = synthetic
    ref = EF.beat_set(ev, "reference")
    assert ref["scorers"]["score"]["auroc"] != ev["scorers"]["score"]["auroc"]
    assert EF.metrics_rows(ref)[0]["auroc"] == f"{ref['scorers']['score']['auroc']:.3f}"


def test_curves_overlay_every_scorer_with_operating_points(synthetic):
    _, ev = synthetic
    roc = EF.curves_figure(ev, "roc")
    lines = [t for t in roc.data if t.mode == "lines" and t.showlegend is not False]
    assert len(lines) == 7
    ens = lines[0]
    assert ens.name.startswith("Ensemble (VAE) (") and ens.line.width == 3
    assert list(ens.x) == ev["scorers"]["score"]["roc"]["fpr"]
    markers = [t for t in roc.data if t.mode == "markers"]
    assert len(markers) == 7 and markers[0].x[0] == pytest.approx(ev["scorers"]["score"]["operating_point"]["fpr"])
    pr = EF.curves_figure(ev, "pr")
    assert list(pr.data[0].x) == ev["scorers"]["score"]["pr"]["recall"]
    assert next(t for t in pr.data if "pca" in (t.name or "")).line.dash == "dot"


def test_saved_scores_reproduce_the_json_at_its_thresholds(synthetic):
    d, ev = synthetic
    for mode in ("detect", "reference"):
        bs = EF.beat_set(ev, mode)
        for key, _, _, summ in EF.all_summaries(bs):
            y, s, cls = EF.labelled_scores(d, mode, key)
            th = EF.default_threshold(ev, mode, key)
            assert th == summ["at_threshold"]["threshold"]
            rep = EF.threshold_report(y, s, cls, th)
            assert rep["confusion"] == summ["at_threshold"]["confusion"]
            assert rep["per_class"]["V"]["rate"] == pytest.approx(summ["per_class"]["V"]["rate"])
    assert EF.labelled_scores(d, "detect", "no_such_scorer") is None


def test_threshold_report_moves_with_the_threshold(synthetic):
    d, _ = synthetic
    y, s, cls = EF.labelled_scores(d, "detect", "score")
    lo, hi = EF.threshold_bounds(s, 1.5)
    assert lo < 1.5 < hi
    low, high = EF.threshold_report(y, s, cls, lo), EF.threshold_report(y, s, cls, hi)
    assert low["sensitivity"] > high["sensitivity"] and low["specificity"] < high["specificity"]
    assert sum(low["confusion"].values()) == len(y) == 585  # 15 unmatched beats left out
    rows = dict(EF.threshold_rows(high))
    assert "V detection rate" in rows and rows["N false-alarm rate"].endswith("/480)")
    assert EF.threshold_bounds(np.array([2.0, 2.0])) == (2.0, 3.0)


def test_confusion_figure_counts_and_row_shares():
    fig = EF.confusion_figure({"tp": 30, "fp": 10, "tn": 90, "fn": 10})
    hm = fig.data[0]
    assert np.allclose(hm.z, [[0.9, 0.1], [0.25, 0.75]])
    assert hm.text[1][1].startswith("30<br>(75.0%)")


def test_per_class_and_per_record_rows(synthetic):
    _, ev = synthetic
    pcs = EF.per_class_rows(ev)
    v = ev["scorers"]["score"]["per_class"]["V"]
    assert pcs[0]["V"] == f"{v['rate']:.3f} ({v['flagged']:,}/{v['n']:,})" and pcs[0]["Q"] == "\u2013"
    recs = EF.per_record_rows(ev, "baseline_rr")
    assert [r["record"] for r in recs] == ["100", "105"]
    assert recs[0]["det_se"] == round(299 / 300, 3) and recs[1]["det_se"] is None
    assert recs[0]["auroc"] == round(ev["per_record"][0]["metrics"]["baseline_rr"]["auroc"], 3)


def test_history_model_card_and_missing_files(synthetic, tmp_path):
    d, _ = synthetic
    fig = EF.history_figure(EF.load_history(d))
    names = [t.name for t in fig.data]
    assert names == ["loss", "val_loss", "lr"] and fig.data[2].yaxis == "y2"
    assert EF.load_model_card(d).startswith("# Model card")
    assert EF.load_evaluation(tmp_path) is None and EF.load_history(tmp_path) is None
    assert EF.load_model_card(tmp_path) is None and EF.load_scores(tmp_path) is None


def test_fmt_and_scalar_rows():
    assert EF.fmt(None) == "\u2013" and EF.fmt(0.97449) == "0.974" and EF.fmt(12345) == "12,345"
    rows = dict(EF.scalar_rows({"auroc": 0.9512, "n": 10, "status": "ok", "nested": {"ap": 0.5},
                                "records": ["100", "101"], "curve": [{"x": 1}]}))
    assert rows == {"auroc": "0.951", "n": "10", "status": "ok", "nested.ap": "0.500", "records": "100, 101"}


def test_committed_evaluation_renders_and_its_scores_reproduce_it():
    ev = EF.load_evaluation(COMMITTED)
    assert ev is not None, f"{COMMITTED / EF.EVALUATION_FILE} is missing"
    rows = EF.metrics_rows(ev)
    assert rows[0]["key"] == "score" and rows[0]["auroc"] == EF.fmt(ev["scorers"]["score"]["auroc"])
    assert len(EF.curves_figure(ev, "roc").data) > 2
    for mode in ("detect", "reference"):
        for key, _, _, summ in EF.all_summaries(EF.beat_set(ev, mode)):
            y, s, cls = EF.labelled_scores(COMMITTED, mode, key, ev["files"]["scores"])
            assert len(y) == summ["n"], (mode, key)
            rep = EF.threshold_report(y, s, cls, EF.default_threshold(ev, mode, key))
            saved = summ["at_threshold"]["confusion"]
            # the saved scores are rounded to 6 significant digits: a beat may sit on the threshold
            assert all(abs(rep["confusion"][k] - saved[k]) <= 2 for k in saved), (mode, key)


def test_intra_patient_block_lists_baselines_among_its_scorers(synthetic):
    _, ev = synthetic
    s = ev["scorers"]["recon_error"]
    intra = {"label": "SECONDARY", "scorers": {"kl_z": s, "baseline_pca": s, "ensemble": "not reported"}}
    rows = EF.all_summaries(intra)
    assert [(k, label, base) for k, label, base, _ in rows] == [
        ("kl_z", "VAE KL divergence (z in record)", False), ("baseline_pca", "Baseline: pca", True)]


# --------------------------------------------------------------------------- threshold slider

def test_slider_grid_has_a_thousand_steps_and_one_lands_on_the_ds1_threshold():
    lo, hi, step = EF.anchored_slider_grid(-9.506, 24.873, 5.295852647359893)
    assert step == pytest.approx((24.873 + 9.506) / 1000)
    assert lo <= -9.506 and lo > -9.506 - step and hi >= 24.873 and hi < 24.873 + step
    k = round((5.295852647359893 - lo) / step)  # the slider's own snapping: min + k * step
    assert abs(lo + k * step - 5.295852647359893) < 1e-9
    assert 999 <= round((hi - lo) / step) <= 1001
    # no anchor (or one outside the range): the plain range
    assert EF.anchored_slider_grid(0.0, 2.0) == (0.0, 2.0, 0.002)
    assert EF.anchored_slider_grid(0.0, 2.0, 5.0) == (0.0, 2.0, 0.002)
    assert EF.anchored_slider_grid(1.0, 1.0)[1] == 2.0  # an empty range still gives a slider


def test_slider_marks_keep_the_end_labels_inside_the_track_and_mark_ds1():
    marks = EF.slider_marks(-9.52, 24.89, 5.2958)
    assert marks[-9.52]["label"] == "-9.52" and marks[24.89]["label"] == "24.89"
    assert marks[-9.52]["style"]["transform"] == "none"             # left edge at the track's start
    assert marks[24.89]["style"]["transform"] == "translateX(-100%)"  # right edge at the track's end
    assert marks[5.2958]["label"] == "DS1"
    assert set(EF.slider_marks(0.0, 1.0)) == {0.0, 1.0}


def test_threshold_slider_of_the_committed_evaluation_reaches_every_scorers_ds1_threshold():
    ev = EF.load_evaluation(COMMITTED)
    assert ev is not None
    for key, _, _, _ in EF.all_summaries(ev):
        _, s, _ = EF.labelled_scores(COMMITTED, "detect", key, ev["files"]["scores"])
        default = EF.default_threshold(ev, "detect", key)
        lo, hi, step = EF.anchored_slider_grid(*EF.threshold_bounds(s, default), default)
        assert 999 <= round((hi - lo) / step) <= 1001, key
        assert abs(lo + round((default - lo) / step) * step - default) < 1e-9 * max(1.0, abs(default)), key


# --------------------------------------------------------------------------- figures: legend, axes

def test_curve_legends_sit_below_the_plot_in_two_columns(synthetic):
    _, ev = synthetic
    for kind in ("roc", "pr"):
        legend = EF.curves_figure(ev, kind).layout.legend
        assert legend.orientation == "h" and legend.y < 0 and legend.yanchor == "top"
        assert legend.entrywidth == 0.5 and legend.entrywidthmode == "fraction"


def test_learning_rate_axis_ticks_are_the_schedule_values(synthetic):
    d, _ = synthetic
    axis = EF.history_figure(EF.load_history(d)).layout.yaxis2
    assert list(axis.tickvals) == [0.0005, 0.001] and axis.tickformat == "~g" and axis.type == "log"
    # the committed history: float32 learning rates (0.0010000000474974513) read as 0.001 and 0.0005
    history = EF.load_history(COMMITTED)
    if history is not None and "learning_rate" in history:
        assert list(EF.history_figure(history).layout.yaxis2.tickvals) == [0.0005, 0.001]
    # a schedule with many values: compact exponent labels instead of plotly's dense decimals
    assert EF.secondary_ticks([list(np.geomspace(1e-3, 1e-4, 20))]) == {"tickformat": ".1e"}


# --------------------------------------------------------------------------- the model card as Markdown

LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]")  # an unescaped [...] that a Markdown parser may read as a link


def test_escaped_markdown_leaves_real_markdown_and_escapes_the_rest():
    md = ("See [the docs](https://example.org/a_(b) \"t\") and ![img](x.png); mean [min, max] = [0.98, 0.99].\n"
          "  >= 0.95 and V sensitivity\n"
          "> a real quote\n"
          "Code `x[0] >= 1` and\n```\n[1, 2]\n>= 3\n```\n"
          "Already \\[escaped\\]; [label] and [text][label] are defined.\n\n[label]: https://example.org\n")
    out = EF.escaped_markdown(md)
    assert "[the docs](https://example.org/a_(b) \"t\")" in out and "![img](x.png)" in out
    assert "mean \\[min, max\\] = \\[0.98, 0.99\\]." in out
    assert "\n  \\>= 0.95 and V" in out and "\n> a real quote" in out
    assert "`x[0] >= 1`" in out and "```\n[1, 2]\n>= 3\n```" in out
    assert "Already \\[escaped\\];" in out
    assert "[label] and [text][label]" in out and "\n[label]: https://example.org" in out
    assert EF.escaped_markdown(out) == out  # idempotent: escaped text stays as it is


def test_escaped_markdown_of_the_committed_model_card():
    """The real card: no bracket pair left for the parser to read as a (dead) link, the ">= 0.95"
    line not a blockquote, and the card's text otherwise unchanged."""
    md = EF.load_model_card(COMMITTED)
    assert md is not None, f"{COMMITTED / EF.MODEL_CARD_FILE} is missing"
    out = EF.escaped_markdown(md)
    code = re.compile(r"`[^`]*`")
    assert not LINK.findall(code.sub("", out).replace("\n", " "))
    assert not [line for line in out.splitlines() if re.match(r"\s*>(?!\s)", line)]  # no ">=" quote
    assert len(LINK.findall(code.sub("", md).replace("\n", " "))) >= 14  # what the walkthrough saw
    assert "\\[0.9826, 0.9848\\]" in out and "\\[min, max\\]" in out
    assert out.replace("\\[", "[").replace("\\]", "]").replace("\\>", ">") == md


def test_card_parts_split_the_lead_from_the_full_text():
    lead, rest = EF.card_parts("# Card\n\nIntro.\n\n## Data\n- a\n\n## Results\nx\n")
    assert lead == "# Card\n\nIntro." and rest.startswith("## Data") and rest.endswith("x")
    assert EF.card_parts("# Only a title\n") == ("# Only a title", "")
    md = EF.load_model_card(COMMITTED)
    lead, rest = EF.card_parts(md)
    assert "Intended use" in lead and "not diagnosis" in lead and len(lead) < len(md) / 10
    assert rest.startswith("## ") and lead in md and rest in md
