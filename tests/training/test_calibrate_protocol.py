"""The strict DS1 leave-one-record-out protocol: ensemble and threshold come from the other records."""
import numpy as np
import pytest

from app.model.ensemble import ensemble_score, fit_ensemble
from training.calibrate import _xy, leave_one_record_out, per_record_false_alarm, summary_metrics

NAMES = ("log_latent_distance",)
PARAMS = {"statistical": 2.0, "percentile": 99.0, "fixed": 0.0}


def _record(rng, shift, n=400, n_v=40):
    d = rng.gamma(4.0, 1.0, n) + shift
    d[:n_v] += 15.0
    cls = np.array(["V"] * n_v + ["N"] * (n - n_v))
    return {"latent_distance": d, "ref_class": cls}


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    return {"a": _record(rng, 0.0), "b": _record(rng, 0.5), "c": _record(rng, 1.0), "noisy": _record(rng, 6.0)}


def test_each_records_threshold_comes_from_the_other_records_only(records):
    score, y, cls, rec, thr = leave_one_record_out(records, NAMES, 1.0, 0, PARAMS, "statistical")
    for r in records:
        others = {q: v for q, v in records.items() if q != r}
        ens = fit_ensemble(*_xy(others, NAMES)[:2], NAMES)
        normals = np.concatenate([ensemble_score(v, ens)[v["ref_class"] == "N"] for v in others.values()])
        assert thr[rec == r][0] == pytest.approx(normals.mean() + 2.0 * normals.std())
        np.testing.assert_allclose(score[rec == r], ensemble_score(records[r], ens))


def test_a_record_unlike_the_others_gets_more_false_alarms_than_its_own_threshold_would_give(records):
    score, y, cls, rec, thr = leave_one_record_out(records, NAMES, 1.0, 0, PARAMS, "statistical")
    fa = per_record_false_alarm(score > thr, cls, rec)
    assert fa["noisy"] > 0.2 > max(fa["a"], fa["b"], fa["c"])
    m = summary_metrics(score, y, cls, thr)
    assert m["threshold"] is None and m["V_sensitivity"] == 1.0
    assert m["N_specificity"] == pytest.approx(1.0 - np.mean((score > thr)[cls == "N"]))


def test_test_scores_score_another_beat_set_of_the_same_records(records):
    shifted = {r: {**s, "latent_distance": s["latent_distance"] + 100.0} for r, s in records.items()}
    score, *_ = leave_one_record_out(records, NAMES, 1.0, 0, PARAMS, "statistical")
    score2, *_ = leave_one_record_out(records, NAMES, 1.0, 0, PARAMS, "statistical", test_scores=shifted)
    assert (score2 > score).all()  # same fits, the shifted beats scored


def test_the_record_shift_puts_a_shifted_record_back_in_line(records):
    # the "noisy" record's normal beats sit higher than the others': with each record's score
    # counted from its own 25th percentile, its false alarms vanish and the pooled ones fall
    runs = {}
    for name, extra in (("plain", None), ("shift", {"record_shift_q": 25.0})):
        score, y, cls, rec, thr = leave_one_record_out(records, NAMES, 1.0, 0, PARAMS, "statistical",
                                                       ensemble_extra=extra)
        runs[name] = (per_record_false_alarm(score > thr, cls, rec), summary_metrics(score, y, cls, thr))
    assert runs["plain"][0]["noisy"] > 0.2 and runs["shift"][0]["noisy"] < 0.02
    assert runs["shift"][1]["N_specificity"] > runs["plain"][1]["N_specificity"]
    assert runs["shift"][1]["V_sensitivity"] > 0.9
