"""app.ecg.align: noisy beats' R-peaks moved to where the record's QRS template fits, on real beats."""
from __future__ import annotations

import numpy as np
import pytest

from app.config import SAMPLES_DIR
from app.ecg.align import MIN_QUIET, SHIFT_S, realigned
from app.ecg.pipeline import extract_beats
from app.ecg.readers import read_record


@pytest.fixture(scope="module")
def beats_233():
    return extract_beats(read_record(SAMPLES_DIR / "233"), beats="reference")


def displaced(bs, seed=0):
    """Every third reference peak moved by up to +-15 samples (42 ms) and called noisy (ratio 0.3)."""
    p = bs.samples_model
    noisy = np.zeros(len(p), bool)
    noisy[::3] = True
    det = np.where(noisy, p + np.random.default_rng(seed).integers(-15, 16, len(p)), p)
    return det, np.where(noisy, 0.3, 0.1), noisy


def test_noisy_normal_beats_return_to_their_peaks_and_quiet_beats_stay(beats_233):
    bs = beats_233
    det, ratio, noisy = displaced(bs)
    out = realigned(bs.filtered, det, ratio, bs.fs)
    normal = noisy & (bs.ref_class == "N")
    assert np.abs(det[normal] - bs.samples_model[normal]).mean() > 7
    assert (np.abs(out[normal] - bs.samples_model[normal]) <= 2).all()
    np.testing.assert_array_equal(out[~noisy], det[~noisy])
    assert np.abs(out - det).max() <= round(SHIFT_S * bs.fs)


def test_ventricular_beats_unlike_the_template_mostly_stay(beats_233):
    """233's V beats do not fit the normal template at MIN_NCC: most are left where detected."""
    bs = beats_233
    det, ratio, noisy = displaced(bs)
    out = realigned(bs.filtered, det, ratio, bs.fs)
    v = noisy & (bs.ref_class == "V")
    assert v.sum() > 200 and (out[v] == det[v]).mean() > 0.5


def test_nothing_moves_without_enough_quiet_beats(beats_233):
    bs = beats_233
    det, ratio, _ = displaced(bs)
    ratio[:] = 0.3
    ratio[: MIN_QUIET - 1] = 0.1
    np.testing.assert_array_equal(realigned(bs.filtered, det, ratio, bs.fs), det)
    np.testing.assert_array_equal(realigned(bs.filtered, det, np.full(len(det), np.inf), bs.fs), det)
