"""Rule v22 exploration: committed recipe + template_z (strict DS1 protocol, detected beats).

    python -m training.experiments.session7_template MODEL 2.25   (MODEL: model_store/cvae-v2, /tmp/foldB, /tmp/fC, /tmp/fD)

Session 7 exploration (rules written before the runs: model card); not part of the product.
"""
import sys, os
from dataclasses import replace
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from app.model import ensemble as E
from app.config import default_data_dir
from app.model.bundle import load_bundle
from app.model.scorers import robust_location_scale, robust_z
from training.config import Config, RHYTHM_Z_FEATURES, SECOND_CLUSTER, RECORD_SHIFT_Q
from training.data import load_records
from training.ds1_protocol import record_scores, protocol_metrics, table_line
E.FEATURES["template_z"] = lambda s: np.clip(s["template_z"], -10.0, 50.0)
model = sys.argv[1]; ks = [float(k) for k in sys.argv[2:]] or [2.25]
bundle = load_bundle(model)
assert not bundle.manifest["preprocessing"].get("mask_next_beat")
val = tuple(str(r) for r in bundle.manifest["split"]["validation_records"])
cfg = replace(Config(), validation_records=val)
beats = load_records(default_data_dir(), val, replace(cfg, beats="detect"))
out = {r: bundle.forward(b.windows) for r, b in beats.items()}
sc = record_scores(beats, out, {**bundle.calibration, "latent_second_cluster": SECOND_CLUSTER})
for r, b in beats.items():
    w = b.windows.reshape(len(b.windows), -1).astype(np.float64)
    lt = np.log(np.sqrt(np.mean((w - np.median(w, axis=0)) ** 2, axis=1)) + 1e-6)
    sc[r]["template_z"] = robust_z(lt, *robust_location_scale(lt))
print(f"template distance, model {bundle.model_id}, records {' '.join(val)}")
for name, names in (("committed recipe", RHYTHM_Z_FEATURES), ("(w) + template_z", RHYTHM_Z_FEATURES + ("template_z",))):
    for k in ks:
        m = protocol_metrics(sc, sc, names, 1.0, cfg.seed, k, {"record_shift_q": RECORD_SHIFT_Q})
        print(f"{name:<20} k={k:<4g} AUROC {m['auroc']:.4f} AP {m['ap']:.4f} N-FA {m['N_false_alarm']:.4f} "
              f"S {m['S_sensitivity']:.4f} V {m['V_sensitivity']:.4f} F {m['F_sensitivity']:.3f} med rec AUROC {m['median_record_auroc']:.3f}", flush=True)
