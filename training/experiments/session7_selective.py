"""Rule v24 exploration: masked VAE, next beat masked only for beats that are not premature.

    python -m training.experiments.session7_selective /tmp/mA 2 2.25 2.5 2.75 3

Session 7 exploration (rule written before the run: model card); not part of the product.
"""
import sys, os
from dataclasses import replace
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from app.config import default_data_dir
from app.model.bundle import load_bundle
from app.model.vae_input import mask_next_beat
from training.config import Config, RHYTHM_Z_FEATURES, SECOND_CLUSTER, RECORD_SHIFT_Q
from training.data import load_records
from training.ds1_protocol import record_scores, protocol_metrics
RUN_ON, RUN_BASE_BEATS, RUN_MAX_BEATS, TAU = 0.15, 8, 300, 0.10
def run_prematurity(lrr):  # as at commit a06c0b3 (app.model.scorers.run_prematurity)
    n = len(lrr); out = np.zeros(n)
    if n < 2: return out
    k = RUN_BASE_BEATS
    pad = np.concatenate([np.full(k, lrr[0]), lrr])
    base = np.median(np.lib.stride_tricks.sliding_window_view(pad[:-1], k), axis=1)
    ref, left = 0.0, 0
    for i in range(n):
        if left > 0 and lrr[i] < ref - RUN_ON / 2: left -= 1
        elif lrr[i] < base[i] - RUN_ON: ref, left = base[i], RUN_MAX_BEATS - 1
        else: ref, left = base[i], 0
        out[i] = ref - lrr[i]
    return out
def selective(windows, time_s):
    t = np.asarray(time_s, np.float64)
    rr = np.maximum(np.diff(t), 0.05); rr_prev = np.concatenate([[rr[0]], rr]) if len(t) > 1 else np.ones(len(t))
    prem = run_prematurity(np.log(rr_prev))
    m = mask_next_beat(windows, time_s)
    keep = prem >= TAU
    m[keep] = windows[keep]
    return m, keep.mean()
model = sys.argv[1]; ks = [float(k) for k in sys.argv[2:]] or [2.25]
bundle = load_bundle(model)
assert bundle.manifest["preprocessing"].get("mask_next_beat")
val = tuple(str(r) for r in bundle.manifest["split"]["validation_records"])
cfg = replace(Config(), validation_records=val)
beats = load_records(default_data_dir(), val, replace(cfg, beats="detect"))
out, frac = {}, []
for r, b in beats.items():
    x, f = selective(b.windows, b.time_s); frac.append(f)
    out[r] = bundle.forward(x)
sc = record_scores(beats, out, {**bundle.calibration, "latent_second_cluster": SECOND_CLUSTER})
print(f"selective mask, model {bundle.model_id}, records {' '.join(val)}; unmasked (premature) fraction per record {np.round(frac, 3)}")
for k in ks:
    m = protocol_metrics(sc, sc, RHYTHM_Z_FEATURES, 1.0, cfg.seed, k, {"record_shift_q": RECORD_SHIFT_Q})
    print(f"(y) k={k:<4g} AUROC {m['auroc']:.4f} AP {m['ap']:.4f} N-FA {m['N_false_alarm']:.4f} S {m['S_sensitivity']:.4f} "
          f"V {m['V_sensitivity']:.4f} F {m['F_sensitivity']:.3f} med rec {m['median_record_auroc']:.3f} "
          f"N-FA next in window {m['N_false_alarm_next_in_window']:.3f} / other {m['N_false_alarm_other']:.4f}", flush=True)
