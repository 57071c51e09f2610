"""Rule v23 exploration: ensemble + threshold fit on the other 21 DS1 records (each scored out-of-fold).

    python -m training.experiments.session7_pool22 model_store/cvae-v2 /tmp/foldB 2 2.25 2.5 2.75 3

Session 7 exploration (rules written before the runs: model card); not part of the product.
"""
import sys, os
from dataclasses import replace
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from app.config import default_data_dir
from app.model.bundle import load_bundle
from training.config import Config, RHYTHM_Z_FEATURES, SECOND_CLUSTER, RECORD_SHIFT_Q
from training.data import load_records
from training.ds1_protocol import record_scores
from training.calibrate import leave_one_record_out, summary_metrics
sc = {}
groups = {}
for g, model in (("A", sys.argv[1]), ("B", sys.argv[2])):
    bundle = load_bundle(model)
    val = tuple(str(r) for r in bundle.manifest["split"]["validation_records"])
    cfg = replace(Config(), validation_records=val)
    beats = load_records(default_data_dir(), val, replace(cfg, beats="detect"))
    out = {r: bundle.forward(b.windows) for r, b in beats.items()}
    s = record_scores(beats, out, {**bundle.calibration, "latent_second_cluster": SECOND_CLUSTER})
    sc.update(s); groups[g] = set(val)
ks = [float(k) for k in sys.argv[3:]] or [2.25]
for k in ks:
    params = {"statistical": k, "percentile": 99.0, "fixed": 0.0}
    score, y, cls, rec, thr = leave_one_record_out(sc, RHYTHM_Z_FEATURES, 1.0, 1234, params, "statistical",
                                                   test_scores=sc, ensemble_extra={"record_shift_q": RECORD_SHIFT_Q})
    for g, recs in groups.items():
        m = np.isin(rec, list(recs))
        mm = summary_metrics(score[m], y[m], cls[m], thr[m])
        print(f"pool22 group {g} k={k:<4g} AUROC {mm['auroc']:.4f} AP {mm['ap']:.4f} N-FA {1 - mm['N_specificity']:.4f} "
              f"S {mm['S_sensitivity']:.4f} V {mm['V_sensitivity']:.4f} F {mm['F_sensitivity']:.3f}", flush=True)
    mm = summary_metrics(score, y, cls, thr)
    print(f"pool22 all 22  k={k:<4g} AUROC {mm['auroc']:.4f} AP {mm['ap']:.4f} N-FA {1 - mm['N_specificity']:.4f} S {mm['S_sensitivity']:.4f} V {mm['V_sensitivity']:.4f}")
