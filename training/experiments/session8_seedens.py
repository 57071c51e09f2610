"""(Session 8 exploration, not part of the product; run from the repository root as python -m training.experiments.<name>.)
Rule v27 exploration: three-seed VAE ensemble per DS1 fold, committed recipe (f), strict protocol.
Usage: exp8_seedens.py K1,K2,... FOLD:m1,m2,m3 [FOLD:...]"""
import sys, os
from dataclasses import replace
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from app.model.bundle import load_bundle
from training.config import Config, RHYTHM_Z_FEATURES
from training.data import load_records, with_vae_input
from training.ds1_protocol import COMMITTED_SHIFT, TWO_REFERENCES, protocol_metrics, record_scores

ks = [float(k) for k in sys.argv[1].split(",")]
for spec in sys.argv[2:]:
    fold, models = spec.split(":")
    bundles = [load_bundle(m) for m in models.split(",")]
    vals = {tuple(map(str, b.manifest["split"]["validation_records"])) for b in bundles}
    assert len(vals) == 1, vals
    val = vals.pop()
    cfg = replace(Config(), validation_records=val)
    beats = with_vae_input(load_records(Path(os.environ.get("MITDB", "../shared/data/mitdb")), val, replace(cfg, beats="detect")), cfg)
    members = [record_scores(beats, {r: b.forward(x.windows) for r, x in beats.items()},
                             {**b.calibration, **TWO_REFERENCES}) for b in bundles]
    single = members[0]
    ens = {}
    for r in single:
        s = dict(single[r])
        s["latent_distance"] = np.expm1(np.mean([np.log1p(m[r]["latent_distance"]) for m in members], axis=0))
        for k in ("recon_z", "kl_z"):
            s[k] = np.mean([m[r][k] for m in members], axis=0)
        ens[r] = s
    for label, sc in (("single seed 1234", single), ("3-seed ensemble", ens)):
        for k in ks:
            m = protocol_metrics(sc, sc, RHYTHM_Z_FEATURES, 1.0, cfg.seed, k, COMMITTED_SHIFT)
            print(f"fold {fold} {label:<18} k={k:<4g} AUROC {m['auroc']:.4f} AP {m['ap']:.4f} N-FA {m['N_false_alarm']:.4f} "
                  f"S {m['S_sensitivity']:.3f} V {m['V_sensitivity']:.3f} F {m['F_sensitivity']:.3f}", flush=True)
