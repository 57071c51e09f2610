"""Session 13, rule v41 (DS1 only; written before its runs): denoise more beats for the models.

    PYTHONPATH=. .venv/bin/python training/experiments/session13_denoise_all.py BELOW

Today beats of quality < 0.8 are denoised (app.ecg.denoise: non-local mean of similar
neighbours). Session 11 measured "< 0.95" before the RR skip (drop 0.076 -> 0.072). Candidates
(BELOW = app.ecg.pipeline.DENOISE_BELOW): 0.9, and 1.01 (every beat; the weights leave a beat
unlike its neighbours as it is).
Measure: ``benchmarks.noise --set DS1 --snr 6`` (baseline today: drop 0.0640, clean DS1 AUROC
0.98833, flagged 0.1052). Adopt the candidate with the lowest drop if: drop down >= 0.008, clean
DS1 AUROC down <= 0.0005, flagged fraction <= 0.1052 + 0.005, and the existing tests pass; its
speed cost is measured after (benchmarks.analyze) and reported. Otherwise nothing changes.
"""
import sys

import app.ecg.pipeline as pipeline
from benchmarks import noise

pipeline.DENOISE_BELOW = float(sys.argv[1])

if __name__ == "__main__":
    sys.exit(noise.main(["--set", "DS1", "--snr", "6"]))
