"""evaluation.json: the committed model's file (schema, ranges, curves, consistency with the
per-beat scores) and a quick run of training.evaluate on bundled records."""
import gzip
import json

import numpy as np
import pandas as pd
import pytest

from app.config import MODEL_STORE, DEFAULT_MODEL_ID
from app.ecg.aami import DS1, DS2, PACED
from app.model import metrics as M

BUNDLE = MODEL_STORE / DEFAULT_MODEL_ID
EVAL = BUNDLE / "evaluation.json"
SCORERS = ("recon_error", "latent_distance", "kl", "rr_score", "score")
BASELINES = ("pca", "iforest", "rr", "template_rr")
THRESHOLD_METRICS = ("accuracy", "precision", "sensitivity", "specificity", "f1", "balanced_accuracy",
                     "npv")


def check_summary(s: dict, name: str, curves: bool = True) -> None:
    assert s["n"] > 0 and 0 < s["n_anomalous"] < s["n"], name
    assert 0.0 <= s["auroc"] <= 1.0 and 0.0 <= s["average_precision"] <= 1.0, name
    at = s["at_threshold"]
    for k in THRESHOLD_METRICS:
        assert at[k] is None or 0.0 <= at[k] <= 1.0, (name, k)
    assert -1.0 <= at["mcc"] <= 1.0 and -1.0 <= at["kappa"] <= 1.0
    assert sum(at["confusion"].values()) == s["n"]
    assert at["confusion"]["tp"] + at["confusion"]["fn"] == s["n_anomalous"]
    for c in ("N", "S", "V", "F", "Q"):
        pc = s["per_class"][c]
        assert pc["rate"] is None or 0.0 <= pc["rate"] <= 1.0
        assert 0 <= pc["flagged"] <= pc["n"]
    assert sum(s["per_class"][c]["n"] for c in ("S", "V", "F", "Q")) == s["n_anomalous"]
    if curves:
        fpr, tpr = np.array(s["roc"]["fpr"]), np.array(s["roc"]["tpr"])
        assert 2 <= len(fpr) <= M.MAX_CURVE_POINTS + 2
        assert fpr[0] == 0.0 and tpr[0] == 0.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0), name
        assert np.trapezoid(tpr, fpr) == pytest.approx(s["auroc"], abs=0.01), name
        rec, prec = np.array(s["pr"]["recall"]), np.array(s["pr"]["precision"])
        assert len(rec) <= M.MAX_CURVE_POINTS + 2 and np.all(np.diff(rec) >= 0)
        assert np.all((prec >= 0) & (prec <= 1))


def check_evaluation(ev: dict, quick: bool) -> None:
    for key in ("schema_version", "model_id", "created_utc", "git_commit", "protocol", "class_counts",
                "detection", "scorers", "baselines", "per_record", "thresholds", "reference_beats",
                "intra_patient", "training", "files", "timings_s"):
        assert key in ev, key
    assert ev["quick"] is quick and ev["protocol"]["valid"] is (not quick)
    assert set(ev["scorers"]) == set(SCORERS) and set(ev["baselines"]) == set(BASELINES)
    for name, s in ev["scorers"].items():
        check_summary(s, name)
    for name, s in ev["baselines"].items():
        check_summary(s, name)
        assert s["description"]
    ref = ev["reference_beats"]
    for name, s in {**ref["scorers"], **ref["baselines"]}.items():
        check_summary(s, "reference:" + name)
    d = ev["detection"]
    assert d["matched"] + d["missed"] == d["n_reference"]
    assert d["matched"] + d["false_detections"] == d["n_detected"]
    assert ev["n_unlabelled"] == d["false_detections"]
    assert ev["scorers"]["score"]["n"] == d["matched"]
    assert sorted(r["record"] for r in ev["per_record"]) == sorted(ev["protocol"]["test_records"])
    assert sum(r["n_beats"] for r in ev["per_record"]) == ev["n_beats"]


@pytest.fixture(scope="module")
def committed():
    if not EVAL.exists():
        pytest.skip(f"{EVAL} not generated yet (python -m training.evaluate)")
    return json.loads(EVAL.read_text())


def test_committed_evaluation_schema_and_ranges(committed):
    check_evaluation(committed, quick=False)


def test_committed_evaluation_follows_the_protocol(committed):
    p = committed["protocol"]
    assert p["name"].startswith("inter-patient")
    assert sorted(p["test_records"]) == sorted(r for r in DS2 if r not in PACED)
    fit = set(p["train_records"]) | set(p["validation_records"])
    assert fit <= set(DS1) and not fit & set(DS2)
    assert not set(p["test_records"]) & set(PACED)
    assert committed["class_counts"]["N"] > 40000 and committed["class_counts"]["S"] > 1500
    assert committed["class_counts"]["V"] > 3000
    ip = committed["intra_patient"]
    assert ip["status"] in ("ok", "failed", "not run")
    if ip["status"] == "ok":
        assert "SECONDARY" in ip["label"]


def test_committed_scores_file_matches_the_json(committed):
    path = BUNDLE / committed["files"]["scores"]
    with gzip.open(path, "rt") as fh:
        df = pd.read_csv(fh, keep_default_na=False, dtype={"record": str})
    det = df[df["beats"] == "detect"]
    assert len(det) == committed["n_beats"]
    assert len(df[df["beats"] == "reference"]) == committed["reference_beats"]["n_beats"]
    lab = M.labelled_mask(det["ref_class"])
    y = M.labels_from_classes(det["ref_class"][lab])
    for name in SCORERS:
        assert M.auroc(y, det[name][lab]) == pytest.approx(committed["scorers"][name]["auroc"], abs=2e-3)
    for name in BASELINES:
        got = M.auroc(y, det[f"baseline_{name}"][lab])
        assert got == pytest.approx(committed["baselines"][name]["auroc"], abs=2e-3)
    # the saved flags are the ensemble at the bundle threshold (scores are saved to 5 digits)
    recomputed = det["score"] > committed["thresholds"]["score"]
    assert (recomputed != det["anomaly"].astype(bool)).mean() < 1e-3
    assert det["anomaly"].sum() == committed["detection"]["false_detections_flagged_by_ensemble"] + sum(
        committed["scorers"]["score"]["at_threshold"]["confusion"][k] for k in ("tp", "fp"))


def test_summary_without_records_recomputes_from_the_saved_scores(committed):
    from training.evaluate import SCORES_FILE, summary_without

    # nothing left out: the headline figures of evaluation.json come back (scores saved to 5 digits)
    same = summary_without(committed, BUNDLE / SCORES_FILE, [])
    assert same["class_counts"] == committed["class_counts"]
    for name in SCORERS:
        assert same["scorers"][name]["auroc"] == pytest.approx(committed["scorers"][name]["auroc"], abs=2e-3)
        assert same["scorers"][name]["average_precision"] == pytest.approx(
            committed["scorers"][name]["average_precision"], abs=2e-3)
    # one record left out: exactly its beats go, at the same thresholds
    row = next(r for r in committed["per_record"] if r["record"] == "232")
    sub = summary_without(committed, BUNDLE / SCORES_FILE, ["232"])
    assert sub["n_labelled"] == committed["n_labelled"] - row["n_labelled"]
    for c, n in row["class_counts"].items():
        assert sub["class_counts"][c] == committed["class_counts"][c] - n
    assert "232" not in {r["record"] for r in sub["per_record"]}
    flagged = committed["scorers"]["score"]["per_class"]["S"]["flagged"] - row["metrics"]["score"]["flagged"]
    # 232's flags left with it (a beat or two may sit on the threshold at 5 saved digits)
    assert abs(sub["scorers"]["score"]["per_class"]["S"]["flagged"] - flagged) <= 2
    check_summary(sub["scorers"]["score"], "score without 232")


def test_show_without_on_the_command_line(capsys):
    from training.evaluate import main

    assert main(["--show", str(EVAL), "--without", "232", "233"]) == 0
    out = capsys.readouterr().out
    assert "without record(s) 232 233" in out and "baseline:template_rr" in out.split("without record(s)")[1]
    assert main(["--show", str(EVAL), "--without", "999"]) == 2
    got = capsys.readouterr()
    err = got.err.strip().splitlines()
    assert len(err) == 1 and "999" in err[0] and "ds2_scores.csv.gz" in err[0]
    assert got.out == ""  # checked before anything is printed
    with pytest.raises(SystemExit) as exc:
        main(["--without", "232"])
    assert exc.value.code == 2


def test_ranking_ceiling_splits_the_pooled_auroc_by_record(committed):
    from training.evaluate import SCORES_FILE, ranking_ceiling

    c = ranking_ceiling(BUNDLE / SCORES_FILE, ["232"])
    row = next(r for r in committed["per_record"] if r["record"] == "232")
    assert c["n_kept"] == row["class_counts"]["S"] + row["class_counts"].get("V", 0) + row["class_counts"].get(
        "F", 0) + row["class_counts"].get("Q", 0)
    assert c["n_anomalous"] == committed["scorers"]["score"]["n_anomalous"]
    assert c["auroc"] == pytest.approx(committed["scorers"]["score"]["auroc"], abs=2e-3)
    # the pooled AUROC is the size-weighted mean of the two groups' AUROCs against all normal beats
    n, k = c["n_anomalous"], c["n_kept"]
    assert c["auroc"] == pytest.approx((k * c["kept_auroc"] + (n - k) * c["others_auroc"]) / n, abs=1e-9)
    # ... so the needed figure gives back the target, and the ceiling is that mean with the others at 1
    assert (k * c["kept_auroc_needed"] + (n - k) * c["others_auroc"]) / n == pytest.approx(c["target"])
    assert c["auroc_ceiling"] == pytest.approx((k * c["kept_auroc"] + (n - k)) / n, abs=1e-9)
    assert c["auroc"] < c["auroc_ceiling"] < 1 and c["average_precision"] < c["ap_ceiling"] < 1


def test_show_ceiling_on_the_command_line(capsys):
    from training.evaluate import main

    assert main(["--show", str(EVAL), "--ceiling", "232"]) == 0
    out = capsys.readouterr().out.split("ranking ceiling of score with record(s) 232")
    assert len(out) == 2 and "every other anomalous beat ranked first: AUROC" in out[1]
    assert main(["--show", str(EVAL), "--ceiling", "101"]) == 2  # a DS1 record has no DS2 scores
    assert "101" in capsys.readouterr().err


@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "missing.json", "cannot read"),
    (lambda d: d, "cannot read"),
    (lambda d: (d / "t.json").write_text("not json {") and d / "t.json", "not JSON"),
    (lambda d: (d / "m.json").write_text('{"model_id": "x"}') and d / "m.json", "not an evaluation.json"),
    (lambda d: (d / "p.json").write_text('{"protocol": {"name": "x"}, "scorers": {}, "baselines": {}, '
                                         '"thresholds": {}}') and d / "p.json", "not a complete"),
])
def test_show_of_a_bad_file_is_one_line_and_exit_2(tmp_path, capsys, make, needle):
    from training.evaluate import main

    path = make(tmp_path)
    assert main(["--show", str(path)]) == 2
    got = capsys.readouterr()
    err = got.err.strip().splitlines()
    assert got.out == "" and len(err) == 1 and str(path) in err[0] and needle in err[0]


@pytest.mark.slow
def test_quick_evaluation_on_bundled_records(tmp_path):
    from training.evaluate import SCORES_FILE, run_evaluation

    if not (BUNDLE / "manifest.json").exists():
        pytest.skip(f"no model bundle at {BUNDLE}")
    ev = run_evaluation(BUNDLE, quick=True, out_dir=tmp_path)
    on_disk = json.loads((tmp_path / "evaluation.json").read_text())
    assert on_disk["scorers"]["score"]["auroc"] == ev["scorers"]["score"]["auroc"]
    check_evaluation(on_disk, quick=True)
    assert on_disk["protocol"]["test_records"] == ["213", "233"]
    assert on_disk["intra_patient"]["status"] == "not run"
    # 213 and 233 hold hundreds of V beats: the ensemble ranks them far above normal beats
    assert on_disk["scorers"]["score"]["per_class"]["V"]["auroc_vs_N"] > 0.9
    assert on_disk["baselines"]["template_rr"]["per_class"]["V"]["auroc_vs_N"] > 0.9
    with gzip.open(tmp_path / SCORES_FILE, "rt") as fh:
        df = pd.read_csv(fh, keep_default_na=False, dtype={"record": str})
    assert set(df["record"]) == {"213", "233"} and set(df["beats"]) == {"detect", "reference"}
    assert {"sample", "ref_class", *SCORERS, "baseline_template_rr"} <= set(df.columns)
    saved = df[(df["beats"] == "detect") & (df["record"] == "233")].reset_index(drop=True)
    # deterministic: scoring the record again gives the same per-beat scores as the saved ones
    from app.ecg.readers import read_record
    from app.model.bundle import load_bundle
    from app.config import SAMPLES_DIR
    from training.baselines import beat_data, fit_baselines
    from training.evaluate import beatset_for, score_record

    fit_bs = [beatset_for(read_record(SAMPLES_DIR / r), "detect") for r in ("100", "105")]
    baselines = fit_baselines(beat_data(fit_bs), seed=0)
    again, _ = score_record(read_record(SAMPLES_DIR / "233"), load_bundle(BUNDLE), baselines, "detect")
    assert len(again) == len(saved)
    np.testing.assert_array_equal(again["sample"].to_numpy(), saved["sample"].to_numpy())
    for c in (*SCORERS, "baseline_pca", "baseline_iforest", "baseline_template_rr"):
        np.testing.assert_allclose(again[c].to_numpy(float), saved[c].to_numpy(float), rtol=1e-4, atol=1e-6)
