"""Every hyper-parameter of `python -m training`, in one place."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from app.ecg.aami import DS1

# Patient-wise split inside DS1: the VAE learns the N beats of TRAIN_RECORDS; the held-out
# VALIDATION_RECORDS (chosen to hold S, V and F beats) serve early stopping on their N beats,
# the ensemble fit and the threshold calibration. DS2 is never read here.
VALIDATION_RECORDS = ("106", "118", "124", "201", "208", "209", "220", "223")
TRAIN_RECORDS = tuple(r for r in DS1 if r not in VALIDATION_RECORDS)

# ensemble feature sets (app.model.ensemble.FEATURES)
SEVEN_FEATURES = ("recon_z", "log_latent_distance", "kl_z", "prematurity", "compensation", "late", "rr_change")
RHYTHM_Z_FEATURES = ("log_latent_distance", "prematurity_z", "compensation_z", "late_z", "rr_change_z")
# settings of the second latent reference (app.model.scorers.second_cluster_distance)
SECOND_CLUSTER = {"far_q": 0.6, "rr_tol": 0.1, "min_frac": 0.15}
# the ensemble score is counted from this percentile of the record's own scores (app.model.ensemble.record_shift)
RECORD_SHIFT_Q = 25.0


@dataclass(frozen=True)
class Config:
    seed: int = 1234
    # data
    lead: str | None = None            # MLII when present (app.ecg.leads.choose_lead)
    beats: str = "reference"           # training beats at annotation positions
    train_records: tuple = TRAIN_RECORDS
    validation_records: tuple = VALIDATION_RECORDS
    max_train_beats: int | None = None
    # architecture (app.model.vae)
    window: int = 256
    latent_dim: int = 16
    filters: tuple = (16, 32, 64, 128)  # thin convolutions: ~5x fewer multiplies per beat than
    kernel: int = 7                      # (32, 64, 128, 256) (cvae-v1), for Holter-scale speed
    hidden: int | None = 256             # dense layer beside the latent: capacity without compute
    dropout: float = 0.1
    # loss
    beta: float = 0.05                 # final KL weight (recon = sum of squared error per beat)
    beta_warmup_epochs: int = 5
    # optimisation
    epochs: int = 16
    batch_size: int = 128
    epoch_beats: int | None = 12288    # a fresh random subset of the training beats each epoch
    learning_rate: float = 1e-3
    clipnorm: float = 5.0              # global gradient-norm clip (early KL spikes otherwise upset BatchNorm)
    lr_patience: int = 3               # ReduceLROnPlateau
    lr_factor: float = 0.5
    early_stopping_patience: int = 4
    # augmentation (applied to training beats only)
    aug_noise_sd: float = 0.03         # Gaussian noise, in record-amplitude units
    aug_shift: int = 5                 # time shift, +-samples
    aug_scale: tuple = (0.85, 1.15)    # amplitude scaling
    aug_wander_amp: float = 0.1        # baseline wander amplitude (sinusoid 0.05-0.5 Hz)
    # band-limited artefact noise on a fraction of the inputs (training.data.artefact_noise); off.
    # Tried 2026-11-25 against a rule fixed beforehand on DS1 (LORO, strict protocol, DS1 noise
    # benchmark at 6 dB): bands 0.5-8/0.5-40/8-40 Hz at RMS 0.02-0.4 lost V beats (LORO AUROC
    # 0.962, AP 0.866); 0.5-8 Hz at RMS 0.02-0.3 kept DS1 accuracy (LORO 0.977/0.907, strict
    # 0.975/0.894) but cut the 6 dB AUROC drop only from 0.093 to 0.076 (rule: 0.02). Not adopted.
    # Recorded nstdb noise (samples the benchmark never adds) was tried as well, 2026-11-26, rules
    # v38-v38c (README, Reliability): 50 % of inputs at 0-18 dB cut the DS1 6 dB drop 0.064 ->
    # 0.044 but strict-protocol fold A AUROC fell 0.9838 -> 0.977-0.979; 25 % at 6-24 dB: drop
    # 0.055, fold A AUROC 0.9812 (bar 0.9816). Not adopted.
    aug_artefact_prob: float = 0.0
    aug_artefact_rms: tuple = (0.02, 0.3)  # RMS in record-amplitude units (6 dB in nst's terms: ~0.2-0.35)
    aug_artefact_bands: tuple = ((0.5, 8.0),)  # Hz
    # the next beat kept out of every VAE input window (app.model.vae_input.mask_next_beat), and a
    # random tail mask on this fraction of the augmented inputs (target: the whole clean window);
    # off. Tried 2026-11-25 under a rule written before the run (each DS1 fold's strict protocol:
    # AUROC and AP >= the committed model's, S and V within 0.02, false alarms within 0.01) with
    # True / 0.3: fold B AUROC 0.985 -> 0.991, AP 0.857 -> 0.889, S 0.681 -> 0.904, N false alarms
    # 0.049 -> 0.036; fold A AUROC 0.985 -> 0.982, AP 0.932 -> 0.914, S 0.907 -> 0.825: not adopted.
    mask_next_beat: bool = False       # (the secondary intra-patient protocol does not apply it)
    aug_tail_mask_prob: float = 0.0
    # scoring / calibration
    short_record_s: float = 60.0       # shorter records fall back to the training calibration
    calibration_beats: str = "detect"  # validation beats for the ensemble fit and thresholds
                                       # ("detect": the detector's, as the app scores them; or "reference")
    # ensemble inputs (app.model.ensemble.FEATURES): the latent distance and the rhythm features as
    # robust z within the record. History (strict DS1 protocol, `python -m training.ds1_protocol
    # --k 2`, on fold A = cvae-v2's 8 validation records and fold B = `--swap-split`'s 14 records):
    # with one latent reference these rhythm-z features were not adopted twice (fold A AP 0.895 ->
    # 0.916 but per-record AUROC lower in 4 of 8 records; fold B AUROC 0.967 vs 0.968). With the
    # second latent reference (below) they were adopted under a rule written before the run (each
    # fold: AUROC and AP >= the 7-feature recipe's, S and V within 0.02, false alarms within 0.01):
    # fold A AUROC 0.977 -> 0.984, AP 0.904 -> 0.928, S 0.868 -> 0.915, V 0.997 -> 0.979, false
    # alarms 0.048 -> 0.042; fold B 0.971 -> 0.981, AP 0.796 -> 0.845, S 0.689 -> 0.689,
    # V 0.975 -> 0.983, false alarms 0.056 -> 0.054. DS2 afterwards (reported, not used to choose):
    # worse than the 7-feature recipe fit on reference beats (SEVEN_FEATURES) with the second
    # reference, AUROC 0.902 -> 0.878, AP 0.752 -> 0.635 (model card).
    ensemble_features: tuple = RHYTHM_Z_FEATURES
    # records shorter than short_record_s: the model for them (fit on the same full records, offset
    # on 30-s pieces). None: the main features. With the rhythm-z features above the 30-s pieces of
    # the DS1 validation records lost V beats (AUROC 0.962 -> 0.940, V sens 0.87 -> 0.71), so short
    # records keep the 7 features (AUROC 0.952, V sens 0.79 at k = 2, 0.71 at k = 2.25).
    fallback_ensemble_features: tuple | None = SEVEN_FEATURES
    # a second latent reference for records whose normal beats have two shapes
    # (app.model.scorers.second_cluster_distance); None: off. Strict DS1 protocol
    # (`python -m training.ds1_protocol --k 2`, recipe (d)), settings chosen on these two folds:
    # fold A AUROC 0.977 -> 0.977, AP 0.895 -> 0.904, N false alarms 0.045 -> 0.048, S 0.871 -> 0.868,
    # V 0.962 -> 0.997; fold B (--swap-split) 0.968 -> 0.971, AP 0.761 -> 0.796, N false alarms
    # 0.077 -> 0.056, S 0.274 -> 0.689, V 0.907 -> 0.975. Adopted under a rule written before DS2 was
    # scored with it (each fold: AUROC >= committed - 0.002, AP >= committed, false alarms within
    # 0.01, S and V within 0.02).
    latent_second_cluster: dict | None = field(default_factory=lambda: dict(SECOND_CLUSTER))
    # default rule: mean + k sd of the DS1-validation normals' ensemble scores, k the smallest of
    # 2, 2.25, ..., 3 whose strict DS1 protocol (fold A) keeps N false alarms <= 3.5 % with V sens
    # >= 0.95 and S sens >= 0.85 (and V >= 0.95 on fold B): 2.25 for the rhythm-z ensemble (fold A
    # N-FA 0.033, S 0.903, V 0.973; fold B 0.049, 0.615, 0.974; k = 2 gave 0.042 on fold A).
    statistical_k: float = 2.25
    # the ensemble score minus the record's own 25th-percentile score (app.model.ensemble.record_shift):
    # each record's normal bulk starts at the same place whatever the patient. None: off. Full
    # records only (the short-record fallback has no record statistics). Chosen on DS1: of five
    # within-record transforms of the score compared on both folds (none, minus the median, minus
    # q25, MAD-scaled, q-scaled) the only one better than none on both; q = 25 was set before that
    # run and not swept. Then adopted under a rule written before the remaining checks: strict
    # protocol (`python -m training.ds1_protocol --k 2 2.25 2.5 2.75 3 --recipes committed '(e)'`) on
    # both folds, k = 2.25 (the threshold rule still picks it): fold A AUROC 0.984 -> 0.985, AP
    # 0.928 -> 0.932, S 0.903 -> 0.907, V 0.973 -> 0.972, N false alarms 0.033 -> 0.034; fold B
    # 0.981 -> 0.985, AP 0.845 -> 0.857, S 0.615 -> 0.681, V 0.974 -> 0.982, N false alarms 0.049 ->
    # 0.049; DS1 noise benchmark at 6 dB AUROC drop 0.071 -> 0.074 (allowed: +0.01); 30-s pieces
    # unchanged. Median-centring and MAD scaling were worse on DS1 (V-rich records).
    record_shift_q: float | None = RECORD_SHIFT_Q
    percentile: float = 99.0
    fixed_threshold: float = 5.0       # 5 log-odds above the record's 25th-percentile beat (the
                                       # statistical threshold is 5.3 on DS1 validation)
    default_threshold_method: str = "statistical"
    ensemble_C: float = 1.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def quick_config(samples: bool = False) -> Config:
    """A tiny end-to-end run for the tests (well under a minute).

    ``samples``: the full database is absent, so the pipeline runs on the bundled DS2 samples;
    such a bundle is a smoke-test artefact, never a model to report on.
    """
    records = (("100", "105"), ("213", "233")) if samples else (("115", "122"), ("119", "209"))
    return replace(Config(), train_records=records[0], validation_records=records[1],
                   max_train_beats=1024, epoch_beats=1024, epochs=2, beta_warmup_epochs=1,
                   filters=(8, 16, 16, 16), batch_size=256)
