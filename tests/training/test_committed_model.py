"""The committed model is what `python -m training` with the committed config would build."""
import json

from app.config import ROOT
from training.config import Config

BUNDLE = ROOT / "model_store" / "cvae-v2"


def test_committed_bundle_was_built_with_the_current_config():
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    built_with = manifest["training"]["config"]
    current = json.loads(json.dumps(Config().to_dict()))  # tuples as JSON lists, like the manifest
    assert {k: built_with.get(k) for k in current} == current


def test_committed_calibration_scores_as_the_config_says():
    cfg = Config()
    cal = json.loads((BUNDLE / "calibration.json").read_text())
    assert tuple(cal["ensemble"]["features"]) == cfg.ensemble_features
    assert tuple(cal["ensemble"]["fallback"]["features"]) == cfg.fallback_ensemble_features
    assert cal["latent_second_cluster"] == cfg.latent_second_cluster
    assert cal["ensemble"].get("record_shift_q") == cfg.record_shift_q
    assert cal["thresholds"]["params"]["fixed"] == cfg.fixed_threshold
