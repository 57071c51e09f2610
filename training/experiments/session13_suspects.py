"""Session 13, rule v40 (DS1 only; written before its runs): which detections count as suspects
for ``scorers.skip_suspects`` (RR intervals measured across a detection that splits the rhythm).

    PYTHONPATH=. .venv/bin/python training/experiments/session13_suspects.py VARIANT

Today the suspects are the denoised beats (quality < 0.8). A false detection whose quality is
0.8 or more still makes the next true beat look premature. Candidates (VARIANT):
  q95  - denoised, or quality (as the models see it) below 0.95;
  all  - every detection (the skip's own rhythm test alone decides).
Measure: ``benchmarks.noise --set DS1 --snr 6`` (this script runs it with the variant in place).
Baseline (measured today, 2026-11-26 about 11:16 UTC): drop 0.0640, clean DS1 AUROC 0.98833.
Adopt the variant with the lowest drop if: drop down >= 0.005, clean DS1 AUROC down <= 0.0005,
and the existing tests pass (record 233's V-vs-N ranking among them). Otherwise nothing changes.
DS2 is run only after the choice, to report.
"""
import sys
from dataclasses import replace

import numpy as np

import app.ecg.pipeline as pipeline
from benchmarks import noise

VARIANT = sys.argv[1]
_extract = pipeline.extract_beats


def extract_beats(*a, **k):
    bs = _extract(*a, **k)
    if VARIANT == "q95":
        sus = bs.denoised | (bs.quality < 0.95)
    elif VARIANT == "all":
        sus = np.ones(bs.n_beats, bool)
    else:
        raise SystemExit(f"unknown variant {VARIANT}")
    return replace(bs, denoised=sus)


pipeline.extract_beats = extract_beats

if __name__ == "__main__":
    sys.exit(noise.main(["--set", "DS1", "--snr", "6"]))
