"""training.baselines on bundled records: fit on some, score others, known answers for the parts."""
import math

import numpy as np
import pytest

from app.ecg.pipeline import extract_beats
from app.ecg.readers import read_record
from app.model.metrics import auroc, labelled_mask, labels_from_classes
from training import baselines as B


@pytest.fixture(scope="module")
def beats(samples_dir):
    return {r: extract_beats(read_record(samples_dir / r), beats="reference") for r in ("100", "105", "233")}


@pytest.fixture(scope="module")
def fitted(beats):
    return B.fit_baselines(B.beat_data([beats["100"], beats["105"]]), seed=0)


def test_robust_z_within_groups_known_answer():
    v = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 10.0, 10.0, 12.0])
    g = np.array(["a"] * 5 + ["b"] * 3)
    z = B.robust_z_within(v, g)
    # group a: median 3, MAD 1; group b: median 10, MAD 0 -> falls back to the sd
    assert z[:5] == pytest.approx((v[:5] - 3.0) / 1.4826)
    assert z[5:] == pytest.approx((v[5:] - 10.0) / np.std(v[5:]))


def test_rr_score_known_answer():
    d = B.BeatData(record=np.array(["x", "x"]), windows=np.zeros((2, 256), np.float32),
                   rr_prev_s=np.array([0.5, 1.0], np.float32), rr_next_s=np.array([1.5, 1.0], np.float32),
                   rr_local_s=np.array([1.0, 1.0], np.float32), ref_class=np.array(["S", "N"]))
    # premature by log 2, then a pause 3 times the previous interval: log 2 + log 3
    assert B.rr_score(d) == pytest.approx([math.log(6.0), 0.0], abs=1e-6)


def test_fit_uses_normals_only_and_is_deterministic(beats, fitted):
    d = B.beat_data([beats["100"], beats["105"]])
    assert fitted.fit_info["n_fit_normals"] == int(np.sum(d.ref_class == "N")) < len(d)
    assert fitted.fit_info["iforest_fit_on"] == "DS1 normal (N) beats"
    assert fitted.template_weight in B.WEIGHT_GRID
    again = B.fit_baselines(d, seed=0)
    test = B.beat_data([beats["233"]])
    s1, s2 = fitted.score(test), again.score(test)
    for name in B.BASELINE_NAMES:
        np.testing.assert_array_equal(s1[name], s2[name])


def test_baselines_rank_ventricular_beats_of_an_unseen_record(beats, fitted):
    d = B.beat_data([beats["233"]])  # 233: about 830 V beats among about 2,200 N
    scores = fitted.score(d)
    assert set(scores) == set(B.BASELINE_NAMES)
    lab = labelled_mask(d.ref_class)
    sel = lab & np.isin(d.ref_class, ["N", "V"])
    y = labels_from_classes(d.ref_class[sel])
    assert y.sum() > 500
    for name, s in scores.items():
        assert s.shape == (len(d),) and np.all(np.isfinite(s)), name
    # the morphology baselines separate V from N on a record none of them saw
    assert auroc(y, scores["template_rr"][sel]) > 0.95
    assert auroc(y, scores["pca"][sel]) > 0.8
    assert auroc(y, scores["iforest"][sel]) > 0.8


def test_template_distance_is_per_record(beats):
    a = B.beat_data([beats["100"]])
    both = B.beat_data([beats["100"], beats["105"]])
    # scoring two records together gives each record the same distances as alone
    np.testing.assert_allclose(B.template_distance(both)[: len(a)], B.template_distance(a))
