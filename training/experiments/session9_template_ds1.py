"""DS1 folds: template + RR baseline (weight 0.85, the committed baseline's, chosen on all DS1) on each
fold's validation records, detected beats, pooled AUROC / AP: to set beside the strict-protocol ensemble."""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "/work/main")
from app.ecg.readers import read_record
from app.ecg.pipeline import extract_beats
from training import baselines as B
from app.model.metrics import auroc, average_precision, labelled_mask, labels_from_classes
folds = {"A": "106 118 124 201 208 209 220 223", "B": "101 108 109 112 114 115 116 119 122 203 205 207 215 230",
         "C": "101 108 112 115 118 122 201 205 208 215 223", "D": "106 109 114 116 119 124 203 207 209 220 230"}
cache = {}
for f, recs in folds.items():
    bss = []
    for r in recs.split():
        if r not in cache:
            cache[r] = extract_beats(read_record(Path("/work/shared/data/mitdb") / r), beats="detect")
        bss.append(cache[r])
    d = B.beat_data(bss)
    s = B.template_rr_score(d, 0.85)
    cls = np.asarray(d.ref_class, str); lab = labelled_mask(cls); y = labels_from_classes(cls[lab])
    print(f"fold {f}: template+RR AUROC {auroc(y, s[lab]):.4f} AP {average_precision(y, s[lab]):.4f}")
