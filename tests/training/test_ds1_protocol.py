"""training.ds1_protocol helpers: the next-beat window test and the next-beat mask experiment."""
import numpy as np
import pytest

from app.ecg.pipeline import AFTER, BEFORE, MODEL_FS
from training.ds1_protocol import MASK_MARGIN_S, mask_next_beat, next_beat_in_window_s


def test_next_beat_in_window_is_the_window_tail():
    assert next_beat_in_window_s() == pytest.approx(AFTER / MODEL_FS)


def test_mask_keeps_the_next_beat_out_of_the_window_only_where_it_is_inside():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, BEFORE + AFTER)).astype(np.float32) + 1.0
    t = np.array([0.0, 0.3, 1.3])  # beat 0's next beat after 0.3 s (inside), beat 1's after 1.0 s
    m = mask_next_beat(w, t)
    stop = int(BEFORE + (0.3 - MASK_MARGIN_S) * MODEL_FS)
    assert np.all(m[0, stop:] == 0.0) and np.all(m[0, :stop - 10] == w[0, :stop - 10])
    assert np.all(np.abs(m[0, stop - 10:stop]) <= np.abs(w[0, stop - 10:stop]))  # the taper
    np.testing.assert_array_equal(m[1:], w[1:])  # next beat outside the window; last beat has none
    assert m is not w and np.all(w[0, stop:] != 0.0)  # the input is left alone
