"""The intra-patient (BeatGAN) split: pooled normals split at random, every anomalous beat in test."""
import numpy as np

from training.intra_patient import TRAIN_FRACTION, split_normals


def test_split_normals_partitions_the_normal_beats_and_tests_every_anomaly():
    cls = np.array(["N"] * 1000 + ["S"] * 30 + ["V"] * 50 + ["F"] * 5 + ["Q"] * 2 + [""] * 7)
    train, test = split_normals(cls, seed=3)
    assert not np.any(train & test)
    assert train.sum() == round(TRAIN_FRACTION * 1000)
    assert np.all(cls[train] == "N")
    assert np.all(test[np.isin(cls, ["S", "V", "F", "Q"])])
    assert (test & (cls == "N")).sum() == 1000 - train.sum()
    assert not np.any((train | test)[cls == ""])  # unlabelled beats are in neither
    again, _ = split_normals(cls, seed=3)
    other, _ = split_normals(cls, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
