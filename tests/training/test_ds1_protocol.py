"""training.ds1_protocol: the next-beat window test."""
import pytest

from app.ecg.pipeline import AFTER, MODEL_FS
from training.ds1_protocol import next_beat_in_window_s


def test_next_beat_in_window_is_the_window_tail():
    assert next_beat_in_window_s() == pytest.approx(AFTER / MODEL_FS)
