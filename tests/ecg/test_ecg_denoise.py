"""app.ecg.denoise: non-local means over neighbouring beats, on real beats with added noise."""
from __future__ import annotations

import numpy as np
import pytest

from app.ecg.denoise import K, SPAN, nlm_denoise
from app.ecg.pipeline import extract_beats


def reference_nlm(w: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """The definition, beat by beat over the whole record (slow): the K nearest of the beats
    within +-SPAN, weights exp(-max(d - d_loc, 0) / d_loc), d_loc the local median of the
    nearest-neighbour distances."""
    n = len(w)
    d = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(max(i - SPAN, 0), min(i + SPAN + 1, n)):
            if j != i:
                d[i, j] = np.mean((w[i] - w[j]) ** 2)
    nn = d.min(axis=1)
    loc = np.array([np.median(np.pad(nn, SPAN, mode="edge")[i: i + 2 * SPAN + 1]) for i in range(n)])
    out = w.copy()
    for i in np.flatnonzero(todo):
        near = np.argsort(d[i])[:K]
        wt = np.exp(-np.maximum(d[i, near] - loc[i], 0) / loc[i])
        out[i] = (w[i] + (wt[:, None] * w[near]).sum(axis=0)) / (1 + wt.sum())
    return out


@pytest.fixture(scope="module")
def beats(rec100):
    return extract_beats(rec100).windows[:400].astype(np.float64)


def test_matches_the_definition_and_leaves_other_beats_alone(beats):
    rng = np.random.default_rng(1)
    w = beats + rng.normal(0, 0.05, beats.shape)
    todo = np.zeros(len(w), bool)
    todo[[0, 3, 150, 151, 152, 399]] = True  # edges, a run, isolated beats: several segments
    out = nlm_denoise(w, todo)
    ref = reference_nlm(w, todo)
    np.testing.assert_allclose(out[todo], ref[todo], rtol=1e-5, atol=1e-6)
    assert np.array_equal(out[~todo], w[~todo].astype(np.float32))
    assert out.dtype == np.float32 and out.shape == w.shape


def test_a_long_stretch_in_pieces_gives_the_same_result(beats):
    rng = np.random.default_rng(3)
    w = beats + rng.normal(0, 0.05, beats.shape)
    todo = rng.random(len(w)) < 0.7
    whole = nlm_denoise(w, todo)
    np.testing.assert_array_equal(nlm_denoise(w, todo, chunk_rows=37), whole)
    np.testing.assert_array_equal(nlm_denoise(w, todo, chunk_rows=1), whole)


def test_noise_shrinks_and_an_odd_beat_keeps_its_shape(beats):
    rng = np.random.default_rng(2)
    truth = beats.copy()
    odd = 200
    truth[odd] = -2.0 * beats[odd]  # a beat unlike all its neighbours (inverted, larger)
    w = truth + rng.normal(0, 0.08, truth.shape)
    out = nlm_denoise(w, np.ones(len(w), bool))
    err_in = np.mean((w - truth) ** 2, axis=1)
    err_out = np.mean((out - truth) ** 2, axis=1)
    normal = np.arange(len(w)) != odd
    assert np.median(err_out[normal]) < 0.25 * np.median(err_in[normal])
    # the odd beat is not pulled towards its neighbours: it stays as it was
    assert np.allclose(out[odd], w[odd], atol=1e-3)


def test_nothing_to_do_and_tiny_inputs():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(nlm_denoise(w, np.zeros(3, bool)), w)
    assert np.array_equal(nlm_denoise(w[:1], np.ones(1, bool)), w[:1])
    assert nlm_denoise(np.zeros((0, 4)), np.zeros(0, bool)).shape == (0, 4)
    two = nlm_denoise(w[:2], np.ones(2, bool))  # two beats: each the other's only neighbour
    assert two.shape == (2, 4) and np.all(np.isfinite(two))
