"""Session 13, rule v43 (DS1 only; written before its run): the other lead's view of a noisy beat.

    PYTHONPATH=. .venv/bin/python training/experiments/session13_twolead.py

Why: the nstdb noise channels are nearly independent after the 0.5-40 Hz band-pass (correlation
of the two channels: em 0.15, ma 0.04, bw -0.13), and nst adds channel i to lead i, so an artefact
that makes a normal beat look abnormal in the analysed lead rarely does so in the other lead at
the same beat; a ventricular beat looks abnormal in both. The ensemble score is measured against
the record's own beats (robust statistics), so the same VAE can score the other lead's windows of
the same detections against that lead's own beats. Combined score: min(analysed lead's ensemble
score, other lead's) where a gate holds, else the analysed lead's.
Candidates (gate): (a) the beat was denoised in the analysed lead (quality < 0.8);
(b) its quality (as the models see it) < 0.95; (c) every beat.
Measured here as ``benchmarks.noise --set DS1 --snr 6`` measures it (nst protocol, scored from
5:00, AUROC on beats not flagged low-quality, flags from the analysed lead); the analysed lead alone
must reproduce the benchmark (drop 0.0640, clean 0.98833).
Adopt the candidate with the lowest drop if: drop down >= 0.01, clean DS1 AUROC down <= 0.0005.
Otherwise nothing changes. DS2 only after the choice, to report.

Result (2026-11-26 11:27-11:29 UTC): analysed lead alone: clean 0.98818, em 0.8149, bw 0.9803, ma 0.9708,
drop 0.0640 (reproduced); (a) clean 0.96888, em 0.8829, drop 0.0261; (b) clean 0.96703, em 0.8922,
drop 0.0183; (c) clean 0.96566, em 0.8975, drop 0.0109. None passes (clean AUROC down 0.019-0.023):
REJECTED. Quality conflates ectopy with noise: a clean record's low-quality beats are mostly
ectopic, and the minimum lowers their scores where the other lead shows them less.

Rule v44 (written after v43's result, before its run): gate on noise, not on quality. The analysed
lead's noise ratio at the beat (``fusion.noise_ratio_at`` of its own QRS feature's block
statistics, as ``drop_extra_beats`` uses it) above a limit. Candidates:
  (d) ratio > 0.2 (NOISY_RATIO), min(s1, s2);  (e) ratio > 0.2, mean(s1, s2);
  (f) ratio > 0.25 (FUSE_RATIO), min(s1, s2).
Same adoption test as v43 (drop down >= 0.01, clean DS1 AUROC down <= 0.0005).

Result (11:29-11:31 UTC): (d) clean 0.97250, drop 0.0276; (e) clean 0.98685, em 0.8779, ma 0.9786,
drop 0.0387; (f) clean 0.97441, drop 0.0305. None passes: REJECTED. The clean records with many
beats above ratio 0.2 are the ectopy-rich ones (203: 25 %, 207: 22 %, 208: 19 %, 209: 11 %, 108: 9 %),
where both leads are "noisy" by this measure and the minimum or the mean lowers ectopic beats.

Rule v45 (written after v44's result, before its run): take the other lead's view only where it
is the cleaner one. r1, r2: the two leads' own noise ratios at the beat (same measure).
  (g) r1 > 0.2 and r2 < 0.5 r1: the other lead's score replaces the analysed lead's;
  (h) r1 > 0.2: the two scores averaged with the detector's lead weights 1/r^2
      (c2 = r1^2 / (r1^2 + r2^2));
  (i) as (g), with min(s1, s2).
Same adoption test (drop down >= 0.01, clean DS1 AUROC down <= 0.0005).

Result (11:31-11:33 UTC): (g) clean 0.98825, drop 0.0620 (it rarely switches); (h) clean 0.98753,
em 0.8830, ma 0.9788, drop 0.0379; (i) clean 0.98824, drop 0.0630. None passes ((h) misses the
clean test by 0.00015): REJECTED.
Then, before rule v46 (/tmp/ratios.py, DS1, nst protocol, scored from 5:00): the analysed lead's
ratio at the beats, quantiles 10/50/90 %: clean records 0.059 / 0.103 / 0.184 (above 0.2: 6.3 %,
0.3: 1.1 %, 0.4: 0.3 %); em noisy segments 0.238 / 0.351 / 0.452 (above 0.2: 96 %, 0.3: 72 %);
ma 0.123 / 0.250 / 0.366; bw 0.079 / 0.120 / 0.201.

Rule v46 (written after the figures above, before its run): (h)'s weighted mean, where the
analysed lead is noisier:
  (j) r1 > 0.3;  (l) r1 > 0.25;
  (k) everywhere, with the other lead's weight multiplied by a ramp clip((r1 - 0.2) / 0.2, 0, 1).
Same adoption test (drop down >= 0.01, clean DS1 AUROC down <= 0.0005).
Result (11:33-11:35 UTC): (j) clean 0.98789 (-0.00029), em 0.8675, bw 0.9798, ma 0.9749, drop 0.0450;
(l) clean 0.98721 (-0.00097), drop 0.0405; (k) clean 0.98783 (-0.00035), em 0.8684, bw 0.9800,
ma 0.9764, drop 0.0437. (j) and (k) pass; the lower drop is (k): ADOPTED (k).
The app's implementation (app.model.lead_blend, app.analysis.other_lead_score) gives the same
scores as (k) here (max difference 5e-7 on 101, 203, 208, clean and em 6 dB), and
``benchmarks.noise --set DS1 --snr 6`` gives drop 0.0437 (em 0.868, bw 0.980, ma 0.976).
Speed gate, written before its run: a record (a 2-h piece of a longer one) is scored with the
other lead only if 2 % of its beats or more are above ratio 0.2 (MIN_SHARE); accepted if the
benchmark's DS1 drop stays <= 0.0457 and clean AUROC within 0.0003 of 0.98783.
Result: drop 0.0437, clean 0.98784 (benchmark code; the same code at 2e1aefd gives 0.98818): accepted.
Cost: a 30-minute noisy record +0.4-0.5 s (other lead: quality index 85-98 ms and denoising 62-80 ms,
V1 beats being mostly below quality 0.8; noise statistics 27-29 ms; forward 170-230 ms); 24 h
(benchmarks.holter, concatenated MIT-BIH records) 21.8 -> 38.4 s wall, 2,191 MB.
Speed variant s1, written before its run: the other lead's windows scored as filtered, without
the quality index and the denoising. Accepted if the benchmark's DS1 drop <= 0.0457 and clean
AUROC >= 0.98754 (the implemented figure 0.98784 - 0.0003).
Result (11:50 UTC, /tmp script patching app.ecg.pipeline.other_lead_view): drop 0.0501, clean
0.98729: REJECTED (the other lead's denoising matters).
Speed (benchmarks.analyze, DS2, 11:51-11:57 UTC, MIN_SHARE 0.02): median 0.405 s, ratio to the
model forward 1.764 (1.560 before); records 105, 202, 212, 213, 222, 233 at 0.8-1.1 s.
Speed gate v2, written before its run: MIN_SHARE 0.10 (a record needs 10 % of its beats above
ratio 0.2; DS1 clean records above 10 %: 203, 207, 208, 209), and records over 2 h in pieces of
30 min (the length the calibration was fit on). Accepted if the benchmark's DS1 drop <= 0.0457 and
clean AUROC >= 0.98754.
"""
from pathlib import Path

import numpy as np

from app.ecg.aami import DS1
from app.ecg.filters import clean_lead
from app.ecg.leads import helper_leads
from app.ecg.pipeline import amplitude_scale, beat_windows, denoised, extract_beats
from app.ecg.quality import quality_parts
from app.ecg.readers import read_record
from app.model.bundle import load_bundle
from app.model.ensemble import ensemble_score
from app.model.metrics import auroc, labelled_mask, labels_from_classes
from app.model.scorers import beat_scores
from app.model.vae_input import vae_input
from benchmarks.noise import nst_noise_rms, nst_qrs_amplitude, noisy, read_noise, scored_from
from benchmarks.rpeaks import vf_episodes

DATA = Path("../shared/data/mitdb")
NST = Path("../shared/data/nstdb")
GATES = ("lead1", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "l", "k")


def score_windows(bundle, windows, bs, rec):
    x = vae_input(windows, bs.time_s, bundle.manifest)
    zm, zl, rc = bundle.forward(x)
    s = beat_scores(x, zm, zl, rc, bs.time_s, bundle.calibration, rec.duration_s, suspect=bs.denoised)
    return ensemble_score(s, bundle.calibration["ensemble"])


def scores(bundle, rec):
    bs = extract_beats(rec)
    s1 = score_windows(bundle, bs.model_windows, bs, rec)
    others = helper_leads(rec, bs.lead_index)
    if not others:
        s2, r2 = s1, np.full(len(s1), np.inf)
    else:
        x = rec.signals[:, others[0]].astype(np.float64)
        f = clean_lead(x, rec.fs).astype(np.float32)
        sc = amplitude_scale(f, bs.samples_model)
        w = beat_windows(f, bs.samples_model) / np.float32(sc)
        parts = quality_parts(w, beat_windows(x, bs.samples_model), float(np.min(x)), float(np.max(x)))
        mw, _, _ = denoised(w, parts)
        s2 = score_windows(bundle, mw, bs, rec)
        from app.ecg.fusion import block_stats, noise_ratio_at
        from app.ecg.rpeaks import qrs_feature
        r2 = noise_ratio_at(bs.samples_model, block_stats(qrs_feature(x, rec.fs)[2], rec.fs))
    from app.ecg.fusion import block_stats, noise_ratio_at
    from app.ecg.rpeaks import qrs_feature

    lead = rec.signals[:, bs.lead_index].astype(np.float64)  # MIT-BIH: already 360 Hz
    ratio = noise_ratio_at(bs.samples_model, block_stats(qrs_feature(lead, rec.fs)[2], rec.fs))
    out = {"d": np.where(ratio > 0.2, np.minimum(s1, s2), s1), "e": np.where(ratio > 0.2, 0.5 * (s1 + s2), s1),
           "f": np.where(ratio > 0.25, np.minimum(s1, s2), s1), "ratio": ratio,
           "g": np.where((ratio > 0.2) & (r2 < 0.5 * ratio), s2, s1),
           "h": np.where(ratio > 0.2, s1 + ratio ** 2 / (ratio ** 2 + r2 ** 2) * (s2 - s1), s1),
           "i": np.where((ratio > 0.2) & (r2 < 0.5 * ratio), np.minimum(s1, s2), s1),
           "j": np.where(ratio > 0.3, s1 + ratio ** 2 / (ratio ** 2 + r2 ** 2) * (s2 - s1), s1),
           "l": np.where(ratio > 0.25, s1 + ratio ** 2 / (ratio ** 2 + r2 ** 2) * (s2 - s1), s1),
           "k": s1 + np.clip((ratio - 0.2) / 0.2, 0, 1) * ratio ** 2 / (ratio ** 2 + r2 ** 2) * (s2 - s1),
           "lead1": s1, "a": np.where(bs.denoised, np.minimum(s1, s2), s1),
           "b": np.where(bs.denoised | (bs.quality < 0.95), np.minimum(s1, s2), s1), "c": np.minimum(s1, s2)}
    keep = (bs.samples >= scored_from(rec.fs, "nst")) & labelled_mask(bs.ref_class) & ~bs.low_quality
    print(f"#   {rec.name}: beats with ratio > 0.2: {(ratio > 0.2).mean():.3f}, switched (g): "
          f"{((ratio > 0.2) & (r2 < 0.5 * ratio)).mean():.3f}", flush=True)
    return {g: (labels_from_classes(bs.ref_class[keep]), out[g][keep]) for g in GATES}


def main():
    bundle = load_bundle(None)
    noises = {k: read_noise(NST, k) for k in ("em", "bw", "ma")}
    acc = {(n, g): ([], []) for n in ("clean", "em", "bw", "ma") for g in GATES}
    for name in [str(n) for n in DS1]:
        rec = read_record(DATA / name)
        amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
                for i in range(rec.n_leads)]
        for n in ("clean", "em", "bw", "ma"):
            if n == "clean":
                r = rec
            else:
                nz, nfs = noises[n]
                r = noisy(rec, nz, 6.0, amps, [nst_noise_rms(nz[:, j], nfs) for j in range(nz.shape[1])], "nst")
            for g, (y, s) in scores(bundle, r).items():
                acc[(n, g)][0].append(y)
                acc[(n, g)][1].append(s)
        print(f"# {name}", flush=True)
    print("gate | clean | em bw ma | pooled 6 dB | drop")
    for g in GATES:
        a = {n: auroc(np.concatenate(acc[(n, g)][0]), np.concatenate(acc[(n, g)][1])) for n in ("clean", "em", "bw", "ma")}
        y = np.concatenate([np.concatenate(acc[(n, g)][0]) for n in ("em", "bw", "ma")])
        s = np.concatenate([np.concatenate(acc[(n, g)][1]) for n in ("em", "bw", "ma")])
        p = auroc(y, s)
        print(f"{g:5s} | {a['clean']:.5f} | {a['em']:.4f} {a['bw']:.4f} {a['ma']:.4f} | {p:.5f} | {a['clean'] - p:.4f}")


if __name__ == "__main__":
    main()
