"""Rule v21 exploration: masked VAE + the same VAE's latent distance of the unmasked window (strict DS1 protocol).

    python -m training.experiments.session7_twoview /tmp/mA 2 2.25 2.5 2.75 3

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
from app.model.vae_input import vae_input
from training.config import Config, RHYTHM_Z_FEATURES, SECOND_CLUSTER, RECORD_SHIFT_Q
from training.data import load_records
from training.ds1_protocol import record_scores, protocol_metrics, table_line
E.FEATURES["log_latent_distance_u"] = lambda s: np.log1p(s["latent_distance_u"])
model = sys.argv[1]; ks = [float(k) for k in sys.argv[2:]] or [2.25]
bundle = load_bundle(model)
assert bundle.manifest["preprocessing"].get("mask_next_beat")
val = tuple(str(r) for r in bundle.manifest["split"]["validation_records"])
cfg = replace(Config(), validation_records=val)
cal = {**bundle.calibration, "latent_second_cluster": SECOND_CLUSTER}
sc = {}
for mode in ("reference", "detect") if False else ("detect",):
    beats = load_records(default_data_dir(), val, replace(cfg, beats=mode))
    out_m = {r: bundle.forward(vae_input(b.windows, b.time_s, bundle.manifest)) for r, b in beats.items()}
    out_u = {r: bundle.forward(b.windows) for r, b in beats.items()}
    sm, su = record_scores(beats, out_m, cal), record_scores(beats, out_u, cal)
    for r in sm:
        sm[r]["latent_distance_u"] = su[r]["latent_distance"]
    sc[mode] = sm
print(f"two views, model {bundle.model_id}, records {' '.join(val)}")
for name, names in (("masked, committed recipe", RHYTHM_Z_FEATURES),
                    ("(u) masked + unmasked latent distance", RHYTHM_Z_FEATURES + ("log_latent_distance_u",))):
    for k in ks:
        m = protocol_metrics(sc["detect"], sc["detect"], names, 1.0, cfg.seed, k, {"record_shift_q": RECORD_SHIFT_Q})
        print(table_line(name, k, m).replace("AUROC", "AUROC").replace(f"AUROC {m['auroc']:.3f}", f"AUROC {m['auroc']:.4f}")
              .replace(f"AP {m['ap']:.3f}", f"AP {m['ap']:.4f}").replace(f"N-FA {m['N_false_alarm']:.3f}", f"N-FA {m['N_false_alarm']:.4f}")[:200], flush=True)
