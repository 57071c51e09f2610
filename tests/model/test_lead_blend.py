"""app.model.lead_blend: the other lead's weight where the analysed lead is noisy."""
from __future__ import annotations

import numpy as np
import pytest

from app.model.lead_blend import NOISY_FROM, RAMP, blend, needs_other_lead, other_lead_weight


def test_no_weight_where_the_analysed_lead_is_clean():
    r1 = np.array([0.05, 0.1, NOISY_FROM])
    assert other_lead_weight(r1, np.full(3, 0.01)).tolist() == [0.0, 0.0, 0.0]
    assert not needs_other_lead(r1).any()


def test_full_lead_weighting_beyond_the_ramp():
    r1 = np.array([NOISY_FROM + RAMP, 0.6, 0.6])
    r2 = np.array([NOISY_FROM + RAMP, 0.3, 1.2])
    # the detector's weighting 1/r^2: equal leads share equally, a cleaner other lead counts more
    assert other_lead_weight(r1, r2) == pytest.approx([0.5, 0.8, 0.2])


def test_ramp_rises_linearly():
    r1 = np.array([NOISY_FROM + RAMP / 4, NOISY_FROM + RAMP / 2])
    assert other_lead_weight(r1, r1) == pytest.approx([0.125, 0.25])  # ramp x 1/2 (equal leads)


def test_missing_statistics_give_no_weight():
    # inf: a lead without statistics (flat, or no other lead); nan never propagates
    w = other_lead_weight(np.array([0.5, np.inf, np.nan, 0.5]), np.array([np.inf, 0.1, 0.1, np.nan]))
    assert w.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_blend_moves_the_score_by_the_weight():
    s1, s2 = np.array([1.0, 1.0, 5.0]), np.array([9.0, 9.0, -1.0])
    assert blend(s1, s2, np.array([0.0, 0.25, 0.5])).tolist() == [1.0, 3.0, 2.0]
