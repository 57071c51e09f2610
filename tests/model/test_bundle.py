"""Bundle save/load: the committed default model round-trips to identical outputs; clear errors."""
import json
import shutil

import numpy as np
import pytest

from app.config import MODEL_STORE, DEFAULT_MODEL_ID, SAMPLES_DIR
from app.ecg.pipeline import extract_beats
from app.ecg.readers import read_record
from app.model.bundle import ModelBundleError, load_bundle, save_bundle

DEFAULT = MODEL_STORE / DEFAULT_MODEL_ID


@pytest.fixture(scope="module")
def windows():
    return extract_beats(read_record(SAMPLES_DIR / "100"))


def test_default_bundle_has_manifest_and_calibration():
    b = load_bundle(DEFAULT)
    assert b.model_id == DEFAULT_MODEL_ID
    assert b.manifest["window"]["length"] == 256 and b.manifest["fs"] == 360.0
    assert set(b.manifest["split"]["validation_records"]).isdisjoint(b.manifest["split"]["train_records"])
    assert {"global", "ensemble", "thresholds"} <= set(b.calibration)
    assert load_bundle(DEFAULT) is b  # cached per process


def test_save_load_round_trip_gives_identical_outputs(tmp_path, windows):
    b = load_bundle(DEFAULT)
    out = save_bundle(b, tmp_path / "copy", history={"loss": [1.0]})
    b2 = load_bundle(out)
    assert b2 is not b and b2.model_id == DEFAULT_MODEL_ID
    assert b2.calibration == b.calibration
    x = windows.windows[:700]  # crosses the fixed forward batch (512): padding must not matter
    for a1, a2 in zip(b.forward(x), b2.forward(x)):
        np.testing.assert_array_equal(a1, a2)
    z, _, rec = b.forward(x)
    assert z.shape == (700, 16) and rec.shape == (700, 256)
    np.testing.assert_allclose(b.forward(x[:3])[0], z[:3], atol=1e-5)  # batch-independent


def test_the_encoder_alone_gives_the_forward_pass_latents(windows):
    b = load_bundle(DEFAULT)
    x = windows.windows[:700]
    z_mean, z_log_var, _ = b.forward(x)
    e_mean, e_log_var = b.encode(x)
    np.testing.assert_allclose(e_mean, z_mean, atol=1e-6)
    np.testing.assert_allclose(e_log_var, z_log_var, atol=1e-6)
    assert [a.shape for a in b.encode(x[:0])] == [(0, 16), (0, 16)]
    assert [a.shape for a in b.forward(x[:0])] == [(0, 16), (0, 16), (0, 256)]


def test_missing_bundle_error_names_the_path(tmp_path):
    with pytest.raises(ModelBundleError, match=str(tmp_path / "nope")):
        load_bundle(tmp_path / "nope")


def test_corrupt_bundle_error_names_the_path(tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(DEFAULT, bad, ignore=shutil.ignore_patterns("checkpoints", "logs", "*.npz", "*.pkl"))
    (bad / "encoder.keras").write_bytes(b"not a keras file")
    with pytest.raises(ModelBundleError, match="corrupt") as err:
        load_bundle(bad)
    assert str(bad) in str(err.value)
    bad2 = tmp_path / "bad2"
    shutil.copytree(bad, bad2)
    (bad2 / "manifest.json").write_text("{")
    with pytest.raises(ModelBundleError, match="corrupt"):
        load_bundle(bad2)
    json.loads((DEFAULT / "manifest.json").read_text())  # the original is untouched
