"""Per-beat scores, patient-adaptive: each beat is compared with its own record's dominant beats.

Pure numpy. Shape scores come from the VAE outputs (reconstruction, latent means, KL); the rhythm
score from beat times. ``record_stats`` holds the robust reference each score is measured against:
the record's own beats, or, for records too short to have a dominant rhythm, the training
calibration (``short_record_fallback``).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

MAD_TO_SD = 1.4826
EPS = 1e-6
# Rhythm features also expressed as robust z within the record (irregular rhythms, e.g. atrial
# fibrillation, spread their normal beats widely; a regular record's early beat stands out more).
RHYTHM_Z = ("prematurity", "compensation", "late", "rr_change")
RR_CLIP = 1.5            # log RR ratios are clipped to +-1.5 before their record statistics
RR_MIN_SCALE = 0.05      # floor of the MAD-based sd of a log RR ratio (very regular records)
# RR intervals across a suspect detection (``skip_suspects``; DS1 noise stress test, rule v37)
SKIP_SHORT, SKIP_TOL = 0.85, 0.2
# the second latent cluster's candidates come at the record's usual rate: |log(rr / running median
# rr over USUAL_RATE_BEATS beats)| < USUAL_RATE_TOL (DS1 noise stress test, rule v55)
USUAL_RATE_TOL, USUAL_RATE_BEATS = 0.15, 301


def recon_error(windows: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Mean squared error between each beat and its VAE reconstruction (record-amplitude units)."""
    return np.mean((np.asarray(windows, np.float64) - recon) ** 2, axis=1)


LOG_VAR_MAX = 88.0  # exp() of a float32 log-variance above ~88.7 overflows to inf


def kl_divergence(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """KL(q(z|x) || N(0, I)) of each beat's posterior. Inside exp(), a log-variance above
    LOG_VAR_MAX counts as LOG_VAR_MAX: a huge but finite KL, not inf and an overflow warning (the DS2
    noise stress test of 2026-11-26 14:09 UTC warned of one; the 8 DS1 records tried at 0 dB peak at 55)."""
    return -0.5 * np.sum(1.0 + z_log_var - z_mean**2 - np.exp(np.minimum(z_log_var, LOG_VAR_MAX)), axis=1)


def robust_location_scale(x: np.ndarray, min_scale: float = EPS) -> tuple[float, float]:
    """Median and MAD-based standard deviation."""
    x = np.asarray(x, np.float64)
    med = float(np.median(x))
    return med, max(float(MAD_TO_SD * np.median(np.abs(x - med))), min_scale)


def robust_z(x: np.ndarray, loc: float, scale: float) -> np.ndarray:
    return (np.asarray(x, np.float64) - loc) / max(scale, EPS)


def robust_centre_cov(z: np.ndarray, keep: float = 0.5, iters: int = 5, shrink: float = 0.1):
    """Centre and covariance of the dominant cluster of latent means.

    Start at the coordinate-wise median, then refit mean/covariance on the ``keep`` fraction of
    points nearest in Mahalanobis distance (a cheap concentration step, as in MCD), with the
    covariance shrunk toward its diagonal so that it stays invertible for small records.
    """
    z = np.asarray(z, np.float64)
    centre = np.median(z, axis=0)
    cov = np.diag(np.var(z, axis=0) + EPS)
    for _ in range(iters):
        d = mahalanobis(z, centre, cov)
        inner = z[d <= np.quantile(d, keep)]
        if len(inner) <= z.shape[1]:
            break
        centre = inner.mean(axis=0)
        c = np.cov(inner, rowvar=False)
        cov = (1 - shrink) * c + shrink * np.diag(np.diag(c)) + EPS * np.eye(z.shape[1])
    return centre, cov


def mahalanobis(z: np.ndarray, centre: np.ndarray, cov: np.ndarray) -> np.ndarray:
    diff = np.asarray(z, np.float64) - centre
    sol = np.linalg.solve(cov, diff.T).T
    return np.sqrt(np.maximum(np.sum(diff * sol, axis=1), 0.0))


def rhythm_features(time_s: np.ndarray, local_beats: int = 41, suspect: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """RR intervals and their ratios to the local rhythm (log ratios; 0 = on rhythm).

    prematurity: -log(rr_prev / rr_local), > 0 for an early beat;
    compensation: log(rr_next / rr_prev), > 0 for a pause after an early beat;
    rr_change: log(rr_prev / previous beat's rr_prev).
    ``suspect``: optional bool per beat, detections that may not be beats (app.ecg.pipeline's
    denoised ones): the intervals of their neighbours are measured across them where that gives
    an on-rhythm interval (``skip_suspects``).
    """
    t = np.asarray(time_s, np.float64)
    n = len(t)
    if n < 2:
        one = np.ones(n)
        return {"rr_prev": one, "rr_next": one, "rr_local": one, "prematurity": 0 * one,
                "compensation": 0 * one, "late": 0 * one, "rr_change": 0 * one}
    rr = np.maximum(np.diff(t), 0.05)
    rr_prev = np.concatenate([[rr[0]], rr])
    rr_next = np.concatenate([rr, [rr[-1]]])
    rr_local = median_filter(rr_prev, size=min(local_beats, n), mode="nearest")
    if suspect is not None:
        rr_prev, rr_next = skip_suspects(rr_prev, rr_next, rr_local, np.asarray(suspect, bool))
    lp = np.log(rr_prev / rr_local)
    return {
        "rr_prev": rr_prev,
        "rr_next": rr_next,
        "rr_local": rr_local,
        "prematurity": -lp,
        "late": np.log(rr_next / rr_local),
        "compensation": np.log(rr_next / rr_prev),
        "rr_change": np.concatenate([[0.0], np.diff(np.log(rr_prev))]),
    }


def skip_suspects(rr_prev: np.ndarray, rr_next: np.ndarray, rr_local: np.ndarray, suspect: np.ndarray,
                  short: float = SKIP_SHORT, tol: float = SKIP_TOL) -> tuple[np.ndarray, np.ndarray]:
    """(rr_prev, rr_next) measured across a suspect neighbouring detection where it splits the
    rhythm: the interval to it is short (< ``short`` x the local RR) and the interval across it is
    on the rhythm (|log(span / local RR)| < ``tol``). A false detection in noise then no longer makes
    the next true beat look premature; a premature beat keeps its own short interval (the span
    across the beat before it is longer than the rhythm), and the normal beat after an
    interpolated ectopic beat is on the rhythm, as it is."""
    n = len(rr_prev)
    if n < 3:
        return rr_prev, rr_next
    across_prev = rr_prev + np.concatenate([[np.inf], rr_prev[:-1]])  # t[i] - t[i-2]
    across_next = rr_next + np.concatenate([rr_next[1:], [np.inf]])   # t[i+2] - t[i]
    before = np.concatenate([[False], suspect[:-1]])  # the detection before beat i is a suspect
    after = np.concatenate([suspect[1:], [False]])
    skip_p = before & (rr_prev < short * rr_local) & (np.abs(np.log(across_prev / rr_local)) < tol)
    skip_n = after & (rr_next < short * rr_local) & (np.abs(np.log(across_next / rr_local)) < tol)
    return np.where(skip_p, across_prev, rr_prev), np.where(skip_n, across_next, rr_next)


def rr_score(rhythm: dict[str, np.ndarray]) -> np.ndarray:
    """One rhythm score: how premature the beat is plus the pause after it (both >= 0)."""
    return np.maximum(rhythm["prematurity"], 0.0) + 0.5 * np.maximum(rhythm["compensation"], 0.0)


def clipped_rhythm(rhythm: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.clip(np.asarray(rhythm[name], np.float64), -RR_CLIP, RR_CLIP)


def rhythm_reference(rhythm: dict[str, np.ndarray], min_scale: float = RR_MIN_SCALE) -> dict:
    """name -> (median, MAD-based sd) of each clipped rhythm feature over the record's beats."""
    return {k: robust_location_scale(clipped_rhythm(rhythm, k), min_scale=min_scale) for k in RHYTHM_Z}


def usual_rate(rr_prev: np.ndarray, tol: float = USUAL_RATE_TOL, beats: int = USUAL_RATE_BEATS) -> np.ndarray:
    """Beats whose RR interval is within ``tol`` (log ratio) of the running median RR over
    ``beats`` beats: the record's usual rate around the beat (a few minutes: day and night of a long
    record each count; a run of tachycardia shorter than half of it does not)."""
    rr = np.asarray(rr_prev, np.float64)
    if len(rr) == 0:
        return np.zeros(0, bool)
    usual = median_filter(rr, size=min(beats, len(rr)), mode="nearest")
    return np.abs(np.log(rr / usual)) < tol


def record_reference(log_recon, z_mean, kl, calibration: dict, duration_s: float,
                     short_record_s: float | None = None, rhythm: dict | None = None) -> dict:
    """Robust statistics each score is measured against, and whether they fell back.

    Fallback (short record): the training calibration's statistics; for the rhythm features the
    typical DS1-validation record's (``global.rr``; location 0 and sd 1 in older calibrations).
    """
    short_s = short_record_s if short_record_s is not None else calibration.get("short_record_s", 60.0)
    glob = calibration["global"]
    if duration_s < short_s or len(log_recon) < 20:
        rr = glob.get("rr") or {}
        return {"fallback": True, "recon": tuple(glob["log_recon"]), "kl": tuple(glob["kl"]),
                "centre": np.asarray(glob["latent_centre"]), "cov": np.asarray(glob["latent_cov"]),
                "distance_ratio": float(glob.get("latent_distance_ratio", 1.0)),
                "rr": {k: tuple(rr.get(k, (0.0, 1.0))) for k in RHYTHM_Z}}
    rl, rs = robust_location_scale(log_recon, min_scale=glob.get("log_recon_min_scale", 0.05))
    kl_l, kl_s = robust_location_scale(kl, min_scale=glob.get("kl_min_scale", 0.5))
    centre, cov = robust_centre_cov(z_mean)
    rr = (rhythm_reference(rhythm, glob.get("rr_min_scale", RR_MIN_SCALE)) if rhythm is not None
          else {k: (0.0, 1.0) for k in RHYTHM_Z})
    return {"fallback": False, "recon": (rl, rs), "kl": (kl_l, kl_s), "centre": centre, "cov": cov,
            "distance_ratio": 1.0, "rr": rr}


def second_cluster_distance(z: np.ndarray, d: np.ndarray, rhythm: dict, far_q: float = 0.6,
                            rr_tol: float = 0.1, min_frac: float = 0.15,
                            rate_tol: float | None = USUAL_RATE_TOL) -> np.ndarray:
    """``d`` (latent distance to the record's dominant cluster), or the distance to a second cluster
    of normal-looking rhythm where that is smaller.

    A record's normal beats may come in two shapes (intermittent pre-excitation or bundle-branch
    block): the second shape is far from the dominant cluster but on the rhythm. Candidates are the
    beats beyond the ``far_q`` quantile of ``d`` that are neither premature nor followed by a pause
    (both log RR ratios within ``rr_tol``; a bigeminal ectopic beat fails the second) and come at
    the record's usual rate (``usual_rate``, within ``rate_tol``; None: any rate): a run of ectopic
    beats (SVT, an idioventricular rhythm) is on its own run's local rhythm, but not at the usual
    rate. If they are at least ``min_frac`` of the beats, their robust centre and covariance are a
    second reference.
    """
    cand = ((d > np.quantile(d, far_q)) & (np.abs(rhythm["prematurity"]) < rr_tol)
            & (np.abs(rhythm["compensation"]) < rr_tol))
    if rate_tol is not None:
        cand &= usual_rate(rhythm["rr_prev"], rate_tol)
    if cand.sum() < max(min_frac * len(d), 2 * z.shape[1]):
        return d
    centre, cov = robust_centre_cov(z[cand])
    return np.minimum(d, mahalanobis(z, centre, cov))


def beat_scores(windows, z_mean, z_log_var, recon, time_s, calibration: dict, duration_s: float,
                suspect: np.ndarray | None = None) -> dict:
    """Every per-beat score (raw and record-normalized) plus the rhythm features (raw and z).
    ``suspect``: detections that may not be beats (``rhythm_features``). ``recon`` None: the
    encoder alone ran, and recon_error and recon_z are NaN (for a scoring model that does not read
    them: ``ensemble.uses_reconstruction``)."""
    err = recon_error(windows, recon) if recon is not None else np.full(len(z_mean), np.nan)
    log_err = np.log(err + EPS)
    kl = kl_divergence(z_mean, z_log_var)
    rhythm = rhythm_features(time_s, suspect=suspect)
    ref = record_reference(log_err, z_mean, kl, calibration, duration_s, rhythm=rhythm)
    # fallback: distance to the training normals, rescaled to the within-record distance scale
    distance = mahalanobis(z_mean, ref["centre"], ref["cov"]) * ref["distance_ratio"]
    second = calibration.get("latent_second_cluster")  # off unless the calibration asks for it
    if second and not ref["fallback"]:
        distance = second_cluster_distance(z_mean, distance, rhythm, **second)
    return {
        "recon_error": err,
        "recon_z": robust_z(log_err, *ref["recon"]),
        "latent_distance": distance,
        "kl": kl,
        "kl_z": robust_z(kl, *ref["kl"]),
        "rr_score": rr_score(rhythm),
        **{f"rr_{k}" if not k.startswith("rr_") else k: v for k, v in rhythm.items()},
        # rhythm features as robust z within the record (rr_prematurity_z, ..., rr_change_z)
        **{(f"rr_{k}" if not k.startswith("rr_") else k) + "_z": robust_z(clipped_rhythm(rhythm, k), *ref["rr"][k])
           for k in RHYTHM_Z},
        "short_record_fallback": bool(ref["fallback"]),
    }
