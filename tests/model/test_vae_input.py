"""What the VAE sees: the next beat kept out of the window when the bundle was trained so."""
import numpy as np

from app.ecg.pipeline import AFTER, BEFORE, MODEL_FS
from app.model.vae_input import MASK_MARGIN_S, MASK_TAPER, mask_next_beat, vae_input, wants_mask
from training.data import tail_masked


def _windows(n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, BEFORE + AFTER)).astype(np.float32) + 1.0


def test_mask_keeps_the_next_beat_out_of_the_window_only_where_it_is_inside():
    w = _windows()
    t = np.array([0.0, 0.3, 1.3])  # beat 0's next beat after 0.3 s (inside), beat 1's after 1.0 s
    m = mask_next_beat(w, t)
    stop = int(BEFORE + (0.3 - MASK_MARGIN_S) * MODEL_FS)
    assert np.all(m[0, stop:] == 0.0)
    np.testing.assert_array_equal(m[0, :stop - MASK_TAPER], w[0, :stop - MASK_TAPER])
    assert np.all(np.abs(m[0, stop - MASK_TAPER:stop]) <= np.abs(w[0, stop - MASK_TAPER:stop]))  # the taper
    np.testing.assert_array_equal(m[1:], w[1:])  # next beat outside the window; the last beat has none
    assert np.all(w[0, stop:] != 0.0)  # the input is left alone


def test_the_mask_never_reaches_the_r_peak():
    w = _windows(2)
    m = mask_next_beat(w, np.array([0.0, 0.05]))  # a next "beat" 50 ms later (closer than the margin)
    np.testing.assert_array_equal(m[0, :BEFORE + 1], w[0, :BEFORE + 1])
    assert np.all(m[0, BEFORE + 2:] == 0.0)


def test_vae_input_follows_the_bundle_manifest():
    w, t = _windows(), np.array([0.0, 0.3, 1.3])
    assert not wants_mask({}) and wants_mask({"preprocessing": {"mask_next_beat": True}})
    assert vae_input(w, t, {"preprocessing": {}}) is w
    np.testing.assert_array_equal(vae_input(w, t, {"preprocessing": {"mask_next_beat": True}}), mask_next_beat(w, t))


def test_training_tail_masks_hit_the_requested_fraction_after_150_ms():
    w = _windows(2000, seed=1)
    m = tail_masked(w, np.random.default_rng(0), 0.3)
    masked = np.any(m != w, axis=1)
    assert 0.25 < masked.mean() < 0.35
    first = np.argmax(m[masked] != w[masked], axis=1)
    assert first.min() >= BEFORE + int(0.15 * MODEL_FS) - MASK_TAPER - 1
    np.testing.assert_array_equal(tail_masked(w, np.random.default_rng(0), 0.0), w)


def test_the_window_geometry_matches_the_pipeline():
    import app.model.vae_input as V

    assert (V.BEFORE, V.FS) == (BEFORE, MODEL_FS)
