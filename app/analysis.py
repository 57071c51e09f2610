"""The inference layer: a Recording in, every beat scored and flagged out.

``analyze`` runs the beat pipeline, the VAE (one batched compiled forward pass) and the scorers;
``reflag`` applies another threshold to the cached scores without touching the model.
TensorFlow is imported only when a model bundle is first loaded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from app.ecg import InvalidRecordError, Recording

TABLE_COLUMNS = ["record", "beat", "sample", "time_s", "rr_prev_s", "rr_next_s", "recon_error",
                 "latent_distance", "kl", "rr_score", "score", "anomaly", "raised_by", "quality", "low_quality"]
REFERENCE_COLUMNS = ["ref_symbol", "ref_class"]
TIME_COLUMNS = ("time_s", "rr_prev_s", "rr_next_s")  # seconds: written to the sampling resolution
SCORE_DIGITS = 6  # significant digits of the scores and the quality in the CSV
# the inspector draws the scored window beside the displayed one where they differ by this much
# somewhere (x the record's amplitude scale; a denoised beat, or baseline drift taken out)
SCORED_SHOWN_FROM = 0.1
SKIP_CONTEXT = 30  # beats either side that decide whether a beat's RR skipped a detection
# a record longer than WHOLE_MAX_S has its other lead scored per piece of PIECE_S (other_lead_score):
# the length of the MIT-BIH records the calibration was fit on; bounded memory, and only noisy pieces
WHOLE_MAX_S, PIECE_S = 2 * 3600.0, 1800.0


@dataclass
class Analysis:
    record: str
    model_id: str
    lead: str
    table: pd.DataFrame
    windows: np.ndarray
    recon: np.ndarray
    latent: np.ndarray
    thresholds: dict
    default_method: str
    threshold: float
    summary: dict
    scores: dict = field(default_factory=dict, repr=False)  # normalized scores behind the ensemble
    beats: object = field(default=None, repr=False)         # the app.ecg BeatSet (filtered lead, ...)


def analyze(recording: Recording, bundle=None, lead=None, beats: str = "detect",
            threshold: float | None = None, progress=None, other_lead: bool = True) -> Analysis:
    """Score every beat of ``recording``; flag those above ``threshold`` (default: the bundle's).

    ``bundle``: a ModelBundle, None (the default one), or a Future of one; the default bundle
    is loaded in a thread while the beats are extracted (TensorFlow's import overlaps the signal work).
    ``progress``: optional callable given "detecting beats", "scoring" and "done" as they start.
    ``other_lead``: False scores the analysed lead alone, even where it is noisy (``other_lead_score``).
    """
    from app.ecg.pipeline import extract_beats
    from app.model.bundle import load_bundle_async, resolved
    from app.model.ensemble import ensemble_score, part_contributions, reasons
    from app.model.lead_blend import blend
    from app.model.scorers import beat_scores
    from app.model.runtime import single_threaded_blas
    from app.model.student import noise_robust_latent
    from app.model.vae_input import beats_input
    from app.model.thresholds import default_method, thresholds_table

    single_threaded_blas()
    if bundle is None:
        bundle = load_bundle_async()
    if progress is not None:
        progress("detecting beats")
    bs = extract_beats(recording, lead=lead, beats=beats)
    bundle = resolved(bundle)
    n = len(bs.samples)
    if n == 0:
        raise InvalidRecordError(recording.name, f"no heartbeats found in lead {bs.lead}; "
                                 "check the lead, the sampling rate and the units")
    if progress is not None:
        progress("scoring")
    # after the signal work, not beside it: TensorFlow's two threads and numpy's one on two cores
    # made both slower (30-min record: 350-380 ms overlapped vs ~300 ms in sequence)
    x = beats_input(bs, bundle.manifest)  # the noisiest beats denoised; the displayed windows are not
    z_mean, z_log_var, recon = bundle.forward(x)
    # where the lead is noisy, the noise-robust student's latent is blended in (app.model.student)
    z_mean = noise_robust_latent(bundle, x, z_mean, bs.noise_ratio)
    # a denoised beat may be a false detection in noise: its neighbours' RR intervals may skip it
    scores = beat_scores(x, z_mean, z_log_var, recon, bs.rhythm_times, bundle.calibration, recording.duration_s,
                         suspect=bs.denoised)
    score = ensemble_score(scores, bundle.calibration["ensemble"])
    # what raises each beat's score above the record's median beat: its shape, its timing, or both
    shape, timing = part_contributions(scores, bundle.calibration["ensemble"])
    # where the analysed lead is noisy, the other lead's view of the beat counts too (app.model.lead_blend)
    other = other_lead_score(recording, bs, bundle) if other_lead else None
    weight = np.zeros(n)
    if other is not None:  # the parts are blended as the score is: raised_by explains the score shown
        weight = other.weight
        score, shape, timing = (blend(p1, p2, weight) for p1, p2 in
                                ((score, other.score), (shape, other.shape), (timing, other.timing)))
    table_thr = thresholds_table(bundle)
    method = default_method(bundle)
    thr = float(table_thr[method]["value"] if threshold is None else threshold)
    has_ref = bool(recording.has_reference)
    table = pd.DataFrame({
        "record": bs.record or recording.name,
        "beat": np.arange(n, dtype=np.int64),
        "sample": np.asarray(bs.samples, np.int64),
        "time_s": np.asarray(bs.time_s, np.float64),
        "rr_prev_s": np.asarray(bs.rr_prev_s, np.float64),
        "rr_next_s": np.asarray(bs.rr_next_s, np.float64),
        "recon_error": scores["recon_error"],
        "latent_distance": scores["latent_distance"],
        "kl": scores["kl"],
        "rr_score": scores["rr_score"],
        "score": score,
        "anomaly": score > thr,
        "raised_by": reasons(shape, timing),
        "quality": np.asarray(bs.quality, np.float64),
        "low_quality": np.asarray(bs.low_quality, bool),
    })
    if has_ref:
        table["ref_symbol"] = np.asarray(bs.ref_symbol, str)
        table["ref_class"] = np.asarray(bs.ref_class, str)
    fallback = bool(scores.pop("short_record_fallback"))
    missing = missing_samples(recording, bs.lead)
    summary = {
        "duration_s": float(recording.duration_s),
        "fs": float(recording.fs),
        "n_leads": int(recording.n_leads),
        "leads": list(recording.leads),
        "n_beats": int(n),
        "n_anomalies": int(table["anomaly"].sum()),
        "heart_rate_bpm": heart_rate_bpm(bs.time_s),
        "model_id": bundle.model_id,
        "lead": bs.lead,
        "short_record_fallback": fallback,
        # samples of the analysed lead that were missing or not finite (interpolated before use)
        "missing_samples": missing,
        "has_reference": has_ref,
        # beat annotations of the .atr outside the signal (not used)
        "ref_outside": int(recording.ref_outside),
        "threshold": thr,
        "threshold_method": method if threshold is None else "custom",
        # the lead whose view was weighted into the scores of the beats where this one is noisy
        "other_lead": other.name if other is not None else None,
        "other_lead_beats": int((weight > 0).sum()),
    }
    if progress is not None:
        progress("done")
    return Analysis(record=bs.record or recording.name, model_id=bundle.model_id, lead=bs.lead,
                    table=table, windows=np.asarray(bs.windows, np.float32), recon=recon,
                    latent=z_mean, thresholds=table_thr, default_method=method, threshold=thr,
                    summary=summary, scores={**scores, "ensemble": score, "other_lead_weight": weight}, beats=bs)


class OtherLead(NamedTuple):
    """The other lead's view of a record's beats (``other_lead_score``); arrays per beat."""

    name: str
    score: np.ndarray  # its ensemble score
    weight: np.ndarray  # its weight in the beat's score (app.model.lead_blend), 0 where not scored
    shape: np.ndarray  # its score's shape and timing parts (app.model.ensemble.part_contributions)
    timing: np.ndarray


def other_lead_score(recording: Recording, bs, bundle) -> OtherLead | None:
    """The other lead's scores and weights where the analysed lead is noisy and the record has
    another usable lead; else None.

    The other lead's beats are scored as the analysed lead's are, against statistics of their own:
    the whole record's up to WHOLE_MAX_S, a longer record's per piece of about PIECE_S. A record
    (piece) is scored so only where the analysed lead is noisy at MIN_SHARE of its beats or more (a
    second model pass costs as much as the first); the weight is 0 elsewhere."""
    from app.ecg.pipeline import other_lead, other_lead_view
    from app.model.ensemble import ensemble_score, part_contributions, uses_reconstruction
    from app.model.lead_blend import MIN_SHARE, needs_other_lead, other_lead_weight
    from app.model.scorers import beat_scores
    from app.model.vae_input import vae_input

    if bs.noise_ratio is None:
        return None
    need = needs_other_lead(bs.noise_ratio)
    n = bs.n_beats
    pieces = [(a, b) for a, b in beat_pieces(bs.time_s, recording.duration_s) if need[a:b].mean() >= MIN_SHARE]
    found = other_lead(recording, bs) if pieces else None
    if found is None:
        return None
    name, samples = found
    weight, other, shape, timing, scored = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), False
    ensemble = bundle.calibration["ensemble"]
    for a, b in pieces:
        whole = (a, b) == (0, n)
        view = other_lead_view(samples, bs, None if whole else (a, b))
        w = other_lead_weight(bs.noise_ratio[a:b], view.noise_ratio)
        if not (w > 0).any():
            continue
        t = bs.time_s[a:b]
        x = vae_input(view.model_windows, t, bundle.manifest)
        duration = recording.duration_s if whole else float(t[-1] - t[0])
        rest = (bs.rhythm_times[a:b], bundle.calibration, duration)
        # the encoder alone: this lead's score is read, not its reconstruction (60 % of a forward pass)
        scores = beat_scores(x, *bundle.encode(x), None, *rest, suspect=bs.denoised[a:b])
        if uses_reconstruction(scores, ensemble):  # a short record's fallback model reads it
            scores = beat_scores(x, *bundle.forward(x), *rest, suspect=bs.denoised[a:b])
        weight[a:b], other[a:b], scored = w, ensemble_score(scores, ensemble), True
        shape[a:b], timing[a:b] = part_contributions(scores, ensemble)
    return OtherLead(name, other, weight, shape, timing) if scored else None


def beat_pieces(time_s: np.ndarray, duration_s: float) -> list[tuple[int, int]]:
    """Beat ranges [a, b): the whole record up to WHOLE_MAX_S, else about equal pieces of at most
    PIECE_S."""
    n = len(time_s)
    k = 1 if float(duration_s) <= WHOLE_MAX_S else int(math.ceil(float(duration_s) / PIECE_S))
    if k == 1 or n == 0:
        return [(0, n)]
    cuts = np.searchsorted(time_s, np.arange(1, k) * (float(duration_s) / k))
    edges = np.r_[0, cuts, n]
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def missing_samples(recording: Recording, lead: str) -> int:
    """Samples of ``lead`` that are NaN, infinite or were beyond float32 range in the file: the
    pipeline interpolates over them, and the user is told how many there were."""
    j = recording.leads.index(lead) if lead in recording.leads else 0
    return int(np.count_nonzero(~np.isfinite(recording.signals[:, j])))


def missing_note(summary: dict) -> str:
    """One sentence for the UI, the report and the CLI, or "" when no sample was missing."""
    n = int(summary.get("missing_samples", 0))  # older cached summaries have no count: none reported
    if n == 0:
        return ""
    total = max(1, round(float(summary["duration_s"]) * float(summary["fs"])))
    return (f"{n:,} samples ({100 * n / total:.2g} %) of lead {summary['lead']} were missing or not finite "
            "(empty, NaN, inf or out of range) and were interpolated; beats there are less reliable.")


def reference_note(summary: dict) -> str:
    """One sentence for the UI, the report and the CLI when beat annotations of the record's
    ``.atr`` lie outside its signal (they are not used), else ""."""
    n = int(summary.get("ref_outside", 0))
    if n == 0:
        return ""
    what = "annotation in the .atr file lies" if n == 1 else "annotations in the .atr file lie"
    return (f"{n:,} reference beat {what} outside the signal (the annotations may belong to a longer "
            f"recording) and {'was' if n == 1 else 'were'} not used.")


def time_decimals(fs: float | None) -> int:
    """Decimals that tell any two samples apart at ``fs`` Hz, and at least milliseconds (3)."""
    if fs is None or not math.isfinite(float(fs)) or float(fs) <= 0:
        return 3
    return max(3, math.ceil(math.log10(float(fs)) - 1e-9))


def beats_csv(analysis: Analysis, threshold: float | None = None, header: bool = True) -> str:
    """The per-beat table as CSV text, the columns of ``python -m app score`` (also the API's
    beats.csv and the signal page's export), re-flagged at ``threshold`` if given. Times to the
    sampling resolution, scores and quality to 6 significant digits (not float32 noise)."""
    table = analysis.table.reindex(columns=TABLE_COLUMNS + REFERENCE_COLUMNS, fill_value="")
    if threshold is not None:
        table["anomaly"] = np.asarray(reflag(analysis, threshold), dtype=bool)
    decimals = time_decimals(analysis.summary.get("fs"))
    for c in TIME_COLUMNS:
        table[c] = fixed_text(table[c].to_numpy(np.float64), decimals)
    for c in table.columns:
        if table[c].dtype.kind == "f":  # below 1e-9 in size is arithmetic noise (1.1e-16): 0
            table[c] = np.round(table[c].to_numpy(np.float64), 9) + 0.0  # + 0.0: no "-0"
    return table.to_csv(index=False, header=header, lineterminator="\n", float_format=f"%.{SCORE_DIGITS}g")


def fixed_text(values: np.ndarray, decimals: int) -> list[str]:
    """Each value with ``decimals`` decimals ('' where not finite)."""
    return [f"{v:.{decimals}f}" if math.isfinite(v) else "" for v in values.tolist()]


def reflag(analysis: Analysis, threshold: float) -> np.ndarray:
    """Anomaly flags at another threshold, from the cached scores (the model is not run)."""
    return analysis.table["score"].to_numpy() > float(threshold)


def heart_rate_bpm(time_s: np.ndarray) -> float:
    t = np.asarray(time_s, np.float64)
    if len(t) < 2:
        return 0.0
    return float(60.0 / np.median(np.diff(t)))


def skipped_detections(analysis: Analysis, b: int) -> list[int]:
    """The detections beat ``b``'s RR intervals were measured across for its scores (its previous
    and/or next detection, where a denoised one splits the rhythm: app.model.scorers.skip_suspects),
    as beat indices; [] when none (or the analysis keeps no denoised flags)."""
    from app.model.scorers import rhythm_features, skip_suspects

    beats = analysis.beats
    mask = getattr(beats, "denoised", None)
    # the times the scores measured the rhythm at (BeatSet.rhythm_times, app.ecg.align)
    t = np.asarray(analysis.table["time_s"] if beats is None else beats.rhythm_times, np.float64)
    if mask is None or not 0 <= b < len(t) or len(mask) != len(t):
        return []
    # beat b's intervals depend on the beats within +-21 (the 41-beat local median RR, the
    # detections either side): +-SKIP_CONTEXT beats give what the whole record gives, in O(1)
    a, e = max(b - SKIP_CONTEXT, 0), min(b + SKIP_CONTEXT + 1, len(t))
    i = b - a
    r = rhythm_features(t[a:e])
    rr_prev, rr_next = skip_suspects(r["rr_prev"], r["rr_next"], r["rr_local"], np.asarray(mask[a:e], bool))
    return ([b - 1] if i > 0 and rr_prev[i] != r["rr_prev"][i] else []) + \
        ([b + 1] if i < e - a - 1 and rr_next[i] != r["rr_next"][i] else [])


def scored_window(analysis: Analysis, b: int) -> np.ndarray | None:
    """Beat ``b``'s window as the model scored it, rebuilt from the displayed windows around it:
    denoised when it was (app.ecg.denoise), its baseline drift taken out (app.ecg.baseline). None
    when the beat was not denoised and that is the displayed window within SCORED_SHOWN_FROM (x the
    record's amplitude scale)."""
    from app.ecg.baseline import detrend
    from app.ecg.denoise import denoised_row
    from app.ecg.pipeline import BEFORE

    beats = analysis.beats
    if beats is None or not 0 <= b < len(analysis.windows):
        return None
    shown = np.asarray(analysis.windows[b], np.float32)
    was_denoised = _was_denoised(analysis, b)
    w = denoised_row(analysis.windows, b) if was_denoised else shown
    base = getattr(beats, "baseline", None)
    if base is not None:  # as the pipeline took it out (a copy: the displayed windows stay as they are)
        rows = w[None, :]
        w = detrend(rows, rows, base, beats.samples_model[b:b + 1], beats.scale_mv, BEFORE)[0]
    return w if was_denoised or float(np.max(np.abs(w - shown), initial=0.0)) >= SCORED_SHOWN_FROM else None


def _was_denoised(analysis: Analysis, b: int) -> bool:
    """Whether the model scored beat ``b`` denoised (app.ecg.denoise)."""
    mask = getattr(analysis.beats, "denoised", None)
    return mask is not None and 0 <= b < len(mask) and bool(mask[b])


def scored_label(analysis: Analysis, b: int) -> str:
    """The inspector's name for beat ``b``'s scored window (``scored_window``)."""
    parts = ["denoised"] if _was_denoised(analysis, b) else []
    if getattr(analysis.beats, "baseline", None) is not None:
        parts.append("drift removed")
    return f"as scored ({', '.join(parts)})" if parts else "as scored"
