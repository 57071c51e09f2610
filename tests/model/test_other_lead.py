"""The other lead's view where the analysed lead is noisy (app.analysis.other_lead_score,
app.model.lead_blend), on bundled MIT-BIH records."""
from __future__ import annotations

import numpy as np
import pytest

from app.analysis import PIECE_S, WHOLE_MAX_S, analyze, beat_pieces
from app.config import SAMPLES_DIR
from app.ecg.readers import read_record
from app.ecg.record import Recording
from app.model.lead_blend import NOISY_FROM


@pytest.fixture(scope="module")
def r105():
    return read_record(SAMPLES_DIR / "105")


@pytest.fixture(scope="module")
def a105(r105):
    return analyze(r105)


def test_a_clean_record_keeps_the_analysed_lead_alone():
    rec = read_record(SAMPLES_DIR / "100")
    a = analyze(rec)
    assert a.summary["other_lead"] is None and a.summary["other_lead_beats"] == 0
    assert not a.scores["other_lead_weight"].any()
    np.testing.assert_array_equal(a.table.score, analyze(rec, other_lead=False).table.score)


def test_a_noisy_record_weights_the_other_lead_in_only_where_the_analysed_lead_is_noisy(r105, a105):
    s, w, r1 = a105.summary, a105.scores["other_lead_weight"], a105.beats.noise_ratio
    assert s["lead"] == "MLII" and s["other_lead"] == "V1"
    assert s["other_lead_beats"] == int((w > 0).sum()) > 200
    assert ((w >= 0) & (w <= 1)).all() and not w[r1 <= NOISY_FROM].any()
    alone = analyze(r105, other_lead=False).table.score.to_numpy()
    score = a105.table.score.to_numpy()
    np.testing.assert_allclose(score[w == 0], alone[w == 0])
    assert np.abs(score[w > 0] - alone[w > 0]).mean() > 0.1
    assert (a105.table.anomaly.to_numpy() == (score > a105.threshold)).all()


def test_a_short_noisy_record_scores_the_other_lead_with_the_fallback_model(r105):
    """50 s of 105 (under a minute: the fallback model, which reads the reconstruction error): the
    other lead's pass then runs the decoder too (a 30-minute record's runs the encoder alone), and
    the weighted beats' scores are finite."""
    from app.analysis import other_lead_score
    from app.model.bundle import load_bundle

    sig = r105.signals[int(600 * r105.fs):int(650 * r105.fs)]
    rec = Recording(name="105-short", signals=sig, fs=r105.fs, leads=r105.leads, units=r105.units)
    a = analyze(rec)
    assert a.summary["short_record_fallback"] and a.summary["other_lead_beats"] > 0
    other = other_lead_score(rec, a.beats, load_bundle())  # the analysis' own beats, not extracted again
    assert other is not None and (other.weight > 0).sum() == a.summary["other_lead_beats"]
    assert np.isfinite(other.score).all() and np.isfinite(a.table.score).all()


def test_raised_by_explains_the_blended_score(r105, a105):
    """The shape and timing parts are blended as the score is, so what raised_by names adds up to
    the score shown: score - shape - timing is the analysed lead's constant where w = 0 and moves
    linearly towards the other lead's constant with w."""
    from app.analysis import other_lead_score
    from app.model.bundle import load_bundle
    from app.model.ensemble import part_contributions, reasons
    from app.model.lead_blend import blend

    bundle = load_bundle()
    w, ensemble = a105.scores["other_lead_weight"], bundle.calibration["ensemble"]
    other = other_lead_score(r105, a105.beats, bundle)
    np.testing.assert_array_equal(other.weight, w)
    shape, timing = (blend(p1, p2, w) for p1, p2 in zip(part_contributions(a105.scores, ensemble),
                                                         (other.shape, other.timing)))
    score = a105.table.score.to_numpy()
    rest = score - shape - timing
    c1 = rest[w == 0]
    np.testing.assert_allclose(c1, c1[0], atol=1e-9)
    slope = (rest[w > 0.05] - c1[0]) / w[w > 0.05]
    np.testing.assert_allclose(slope, slope[0], atol=1e-6)
    assert (a105.table.raised_by.to_numpy() == reasons(shape, timing)).all()
    alone = analyze(r105, other_lead=False)
    same = a105.table.raised_by.to_numpy() == alone.table.raised_by.to_numpy()
    assert same[w == 0].all() and not same[w > 0].all()


def test_pieces_of_a_long_record():
    t = np.arange(0, 5 * 3600, 0.8)
    assert beat_pieces(t[t < WHOLE_MAX_S], WHOLE_MAX_S) == [(0, int((t < WHOLE_MAX_S).sum()))]
    pieces = beat_pieces(t, 5 * 3600.0)
    assert len(pieces) == 10 and pieces[0][0] == 0 and pieces[-1][1] == len(t)
    assert all(b == c for (_, b), (c, _) in zip(pieces[:-1], pieces[1:]))  # contiguous
    assert all(t[b - 1] - t[a] <= PIECE_S for a, b in pieces)


def test_a_long_record_is_scored_per_piece(r105):
    """Five copies of 105 (2.5 h): the other lead is scored per 30-min piece against the piece's
    own statistics; each piece then weights it in as the 30-minute record does."""
    n = r105.n_samples
    sig = np.tile(r105.signals, (5, 1))
    long = Recording(name="105x5", signals=sig, fs=r105.fs, leads=r105.leads, units=r105.units)
    a = analyze(long)
    w, r1 = a.scores["other_lead_weight"], a.beats.noise_ratio
    assert a.summary["other_lead"] == "V1" and not w[r1 <= NOISY_FROM].any()
    t = a.table.time_s.to_numpy()
    for k in range(5):  # every copy is weighted in about as much as the record alone
        in_copy = (t >= k * n / r105.fs + 60) & (t < (k + 1) * n / r105.fs - 60)
        assert (w[in_copy] > 0).sum() > 0.8 * (w > 0).sum() / 5


def test_the_other_lead_lifts_ventricular_beats_above_normal_ones_in_motion_noise():
    """Bundled 233 with the Noise Stress Test's electrode-motion noise at 6 dB (nst's protocol):
    in the noisy segments, V beats rank above N beats better with the other lead's view (the
    encoder alone, no student encoder: measured 0.848 -> 0.932 on 2026-11-26)."""
    from dataclasses import replace

    from app.model.bundle import load_bundle
    from tests.conftest import nst_noisy_sample, v_vs_n_auroc

    r, on = nst_noisy_sample("233", "em", 6.0)
    bundle = replace(load_bundle(), student=None, _fns={})
    auc = [v_vs_n_auroc(analyze(r, bundle=bundle, other_lead=other_lead).table, on) for other_lead in (False, True)]
    assert auc[1] > auc[0] + 0.04
