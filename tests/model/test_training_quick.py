"""`python -m training --quick` end to end into a temporary directory; the bundle it writes loads and scores."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_training_writes_a_usable_bundle(tmp_path):
    out = tmp_path / "cvae-quick"
    p = subprocess.run([sys.executable, "-m", "training", "--quick", "--skip-eval", "--seed", "7", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    for name in ("encoder.keras", "decoder.keras", "manifest.json", "calibration.json", "history.json"):
        assert (out / name).is_file(), name
    man = json.loads((out / "manifest.json").read_text())
    assert man["model_id"] == "cvae-quick" and man["training"]["epochs_run"] == 2
    assert man["training"]["config"]["seed"] == 7  # --seed: the same recipe trained again, recorded
    assert set(man["split"]["train_records"]).isdisjoint(man["split"]["validation_records"])
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["loss"]) == 2 and len(hist["val_recon"]) == 2
    assert not (out / "checkpoints").exists()  # --quick keeps its logs/checkpoints in a temp dir

    from app.analysis import analyze
    from app.config import SAMPLES_DIR
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle

    a = analyze(read_record(SAMPLES_DIR / "105"), bundle=load_bundle(out))
    assert a.model_id == "cvae-quick" and np.isfinite(a.table.score).all()


def test_swap_split_trains_on_the_validation_records_and_skips_ds2():
    from training.__main__ import config_for, parse_args

    plain = config_for(parse_args(["--quick", "--out", "x"]))
    a = parse_args(["--quick", "--swap-split", "--out", "x"])
    swapped = config_for(a)
    assert swapped.train_records == plain.validation_records
    assert swapped.validation_records == plain.train_records
    assert a.skip_eval  # a second DS1 fold: DS2 is not read


def test_seed_overrides_the_configured_seed_only():
    from dataclasses import replace

    from training.__main__ import config_for, parse_args

    plain = config_for(parse_args(["--quick", "--out", "x"]))
    seeded = config_for(parse_args(["--quick", "--seed", "2", "--out", "x"]))
    assert plain.seed != 2 and seeded == replace(plain, seed=2)


def test_validation_records_makes_another_ds1_fold(mitdb_dir, tmp_path):
    from app.ecg.aami import DS1
    from training.__main__ import config_for, parse_args

    a = parse_args(["--validation-records", "209", "101", "--data-dir", str(mitdb_dir), "--out", "x"])
    cfg = config_for(a)
    assert cfg.validation_records == ("101", "209")
    assert set(cfg.train_records) == set(DS1) - {"101", "209"}
    assert a.skip_eval
    for bad in (["100"], list(DS1)):  # a DS2 record; every DS1 record (nothing left to train on)
        with pytest.raises(SystemExit):
            parse_args(["--validation-records", *bad, "--data-dir", str(mitdb_dir), "--out", "x"])
    with pytest.raises(SystemExit):  # no database: not even --quick falls back to the bundled samples
        parse_args(["--quick", "--validation-records", "101", "--data-dir", str(tmp_path), "--out", "x"])
