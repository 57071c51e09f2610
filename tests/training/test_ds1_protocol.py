"""training.ds1_protocol: the next-beat window test, the fold means, and a real run on the committed model."""
import re

import pytest

from app.ecg.pipeline import AFTER, MODEL_FS
from training.ds1_protocol import by_fold, fold_means, main, mean_line, next_beat_in_window_s, seed_ranges


def test_next_beat_in_window_is_the_window_tail():
    assert next_beat_in_window_s() == pytest.approx(AFTER / MODEL_FS)


def test_fold_means_average_each_recipe_and_k_over_the_folds():
    keys = ("auroc", "ap", "N_false_alarm", "S_sensitivity", "V_sensitivity")
    a = {("r", 2.0): dict(zip(keys, (0.9, 0.8, 0.04, 0.7, 0.9)), worst_record="101")}
    b = {("r", 2.0): dict(zip(keys, (0.8, 0.6, 0.02, 0.5, 1.0)), worst_record="209")}
    m = fold_means([a, b])[("r", 2.0)]
    assert m == pytest.approx(dict(zip(keys, (0.85, 0.7, 0.03, 0.6, 0.95))))


def test_seeds_of_one_fold_are_grouped_and_each_fold_weighs_once():
    keys = ("auroc", "ap", "N_false_alarm", "S_sensitivity", "V_sensitivity")

    def run(auroc):
        return {("r", 2.25): dict(zip(keys, (auroc, 0.8, 0.04, 0.7, 0.9)))}

    runs = [(("101", "209"), run(0.98)), (("106",), run(0.90)), (("101", "209"), run(0.96))]
    folds = by_fold(runs)
    assert list(folds) == [("101", "209"), ("106",)] and len(folds["101", "209"]) == 2
    assert seed_ranges(folds["101", "209"])["r", 2.25]["auroc"] == pytest.approx((0.96, 0.98))
    overall = fold_means([fold_means(seeds) for seeds in folds.values()])["r", 2.25]
    assert overall["auroc"] == pytest.approx((0.97 + 0.90) / 2)  # not the mean of the three runs (0.9467)
    line = mean_line("r", 2.25, fold_means(folds["101", "209"])["r", 2.25], seed_ranges(folds["101", "209"])["r", 2.25])
    assert "AUROC 0.9700 [0.9600, 0.9800]" in line


@pytest.mark.slow
def test_strict_protocol_on_the_committed_model(mitdb_dir, capsys):
    """The committed model's own fold (its 8 DS1 validation records, each scored by an ensemble and
    threshold fit on the other 7) ranks and flags ectopic beats: the DS1 figures of the model card."""
    assert main(["--model", "model_store/cvae-v2", "--data-dir", str(mitdb_dir), "--k", "2.25",
                 "--recipes", "committed"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("committed")][0]
    auroc, ap = (float(re.search(rf"{key} ([0-9.]+)", line).group(1)) for key in ("AUROC", "AP"))
    v_sens = float(re.search(r" V ([0-9.]+)", line).group(1))
    assert auroc > 0.97 and ap > 0.9 and v_sens > 0.95


def test_a_missing_bundle_is_one_line_and_exit_2(mitdb_dir, tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nope"), "--data-dir", str(mitdb_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "not found" in err[0]
