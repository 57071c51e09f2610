"""`extract_beats`: a Recording in, a `BeatSet` out (windows, RR features, quality, reference labels)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.ecg.aami import aami_class
from app.ecg.align import realigned
from app.ecg.baseline import block_baseline, detrend
from app.ecg.denoise import nlm_denoise
from app.ecg.errors import InvalidRecordError
from app.ecg.filters import clean_lead, fill_nan, resample
from app.ecg.fusion import MAX_LEADS, block_stats, noise_ratio_at
from app.ecg.leads import choose_lead, helper_leads
from app.ecg.matching import match_beats
from app.ecg.parallel import signal_pool
from app.ecg.quality import LOW_QUALITY, QualityParts, quality_parts
from app.ecg.record import Recording
from app.ecg.rpeaks import detect_rpeaks_noise, qrs_feature
from app.ecg.rr import RR_FEATURE_NAMES, rr_feature_matrix, rr_intervals

MODEL_FS = 360.0  # same as app.config.MODEL_FS (app.ecg imports nothing of the project)
BEFORE, AFTER = 90, 166  # window: 90 samples before the R-peak, 166 after (256 at 360 Hz)
WINDOW = BEFORE + AFTER
MATCH_WINDOW_S = 0.15
# Up to this many samples at 360 Hz (2 h), independent steps run on two threads (numpy and scipy's
# filters release the GIL): a 30-minute record's signal work drops by about a third. Longer
# records run them one after the other so that their large temporaries never coexist (memory).
PARALLEL_MAX_SAMPLES = int(2 * 3600 * MODEL_FS)
# Beats whose quality is below this are denoised (app.ecg.denoise) for the models, and their
# quality measured again on what the models see (DS1 noise stress test, README: Reliability)
DENOISE_BELOW = 0.8
VIEW_PAD_S = 10.0  # another lead's piece of a long record: context for its filters (other_lead_view)


@dataclass
class BeatSet:
    """Beats of one lead of one record; every array has length ``n_beats``."""

    record: str
    lead: str
    lead_index: int
    fs: float  # model rate (360 Hz)
    samples: np.ndarray  # int64 R-peaks at the original recording rate
    samples_model: np.ndarray  # int64 R-peaks at 360 Hz
    time_s: np.ndarray  # float64
    windows: np.ndarray  # float32 (n, 256), filtered lead / scale_mv
    scale_mv: float
    rr_prev_s: np.ndarray  # float32
    rr_next_s: np.ndarray
    rr_local_s: np.ndarray
    quality: np.ndarray  # float32 in [0, 1], of model_windows
    low_quality: np.ndarray  # bool
    ref_symbol: np.ndarray  # '<U1', '' where unmatched / no reference
    ref_class: np.ndarray  # '<U1'
    filtered: np.ndarray = field(repr=False)  # float32 whole filtered lead at 360 Hz (mV)
    source_fs: float = 0.0  # the recording's own rate (extension)
    rr_feature_names: tuple = RR_FEATURE_NAMES  # extension
    # what the models score: ``windows`` with the beats of quality < DENOISE_BELOW denoised and the
    # baseline drift taken out (app.ecg.baseline; None: not kept, e.g. in a cached analysis)
    model_windows: np.ndarray | None = field(default=None, repr=False)
    denoised: np.ndarray | None = None  # bool per beat: its model window is a denoised one
    # float per beat: the analysed lead's noise floor / beat level around the beat, of its own QRS
    # feature (app.ecg.fusion.noise_ratio_at; about 0.1 on a clean record; None: not computed)
    noise_ratio: np.ndarray | None = None
    # float64 per beat: where the rhythm features measure the beat (app.ecg.align): ``time_s`` with
    # the noisy beats' R-peaks re-aligned to the record's QRS template (None: ``time_s`` itself)
    rhythm_time_s: np.ndarray | None = None
    # float32: the filtered lead's baseline, one point per app.ecg.baseline.BLOCK samples at 360 Hz
    # (mV), taken out of every model window (None: an analysis cached before it was)
    baseline: np.ndarray | None = field(default=None, repr=False)

    @property
    def rhythm_times(self) -> np.ndarray:
        """The beat times the rhythm features use (``rhythm_time_s``, else ``time_s``)."""
        return self.time_s if self.rhythm_time_s is None else self.rhythm_time_s

    @property
    def n_beats(self) -> int:
        return int(len(self.samples))

    def __len__(self) -> int:
        return self.n_beats

    def rr_features(self) -> np.ndarray:
        """(n, 6) float32 in the order of ``rr_feature_names``."""
        return rr_feature_matrix(self.rr_prev_s, self.rr_next_s, self.rr_local_s)


def beat_windows(x: np.ndarray, peaks: np.ndarray, before: int = BEFORE, after: int = AFTER) -> np.ndarray:
    """(n, before+after) windows of ``x`` around ``peaks``; indices past the edges repeat the edge."""
    if len(peaks) == 0:
        return np.zeros((0, before + after), dtype=np.float32)
    idx = np.clip(np.asarray(peaks, dtype=np.int64)[:, None] + np.arange(-before, after), 0, len(x) - 1)
    return x[idx].astype(np.float32)


def amplitude_scale(filtered: np.ndarray, peaks: np.ndarray) -> float:
    """Record-level amplitude (mV): median R-peak height of the filtered lead."""
    if len(peaks):
        s = float(np.median(np.abs(filtered[peaks])))
        if np.isfinite(s) and s > 1e-3:
            return s
    q = np.percentile(np.abs(filtered), 99) if len(filtered) else 0.0
    return float(q) if q > 1e-3 else 1.0


def reference_labels(samples: np.ndarray, rec: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Symbol and AAMI class of the reference beat matched to each beat ('' where none)."""
    sym = np.full(len(samples), "", dtype="<U1")
    if rec.has_reference and len(samples):
        m = match_beats(samples, rec.ref_samples, rec.fs, MATCH_WINDOW_S)
        sym[m.det_index] = np.asarray(rec.ref_symbols, dtype="<U1")[m.ref_index]
    return sym, aami_class(sym)


def _to_model_rate(samples: np.ndarray, fs: float, n_model: int) -> np.ndarray:
    return np.clip(np.round(samples * (MODEL_FS / fs)), 0, max(n_model - 1, 0)).astype(np.int64)


def _lead_at_model_rate(recording: Recording, j: int) -> np.ndarray:
    """Lead ``j`` at 360 Hz: the column itself at 360 Hz (the detector fills NaNs chunk by chunk)."""
    col = recording.signals[:, j]
    if float(recording.fs) == MODEL_FS:
        return col
    return resample(fill_nan(col), float(recording.fs), MODEL_FS)


def extract_beats(recording: Recording, lead=None, beats: str = "detect",
                  powerline: float | None = None) -> BeatSet:
    """Filtered lead at 360 Hz, R-peaks (detected or reference), windows, RR, quality, labels."""
    if beats not in ("detect", "reference"):
        raise ValueError(f"beats must be 'detect' or 'reference', not {beats!r}")
    li = choose_lead(recording, lead)
    fs = float(recording.fs)
    col = recording.signals[:, li]
    # a float32 lead (as the readers give) is already a fresh float64 array after fill_nan
    x = resample(fill_nan(col), fs, MODEL_FS, copy=col.dtype == np.float64)
    if beats == "reference":
        if not recording.has_reference:
            raise InvalidRecordError(recording.name, "no reference beat annotations (.atr) to use")
        samples = np.asarray(recording.ref_samples, dtype=np.int64)
        samples_model = _to_model_rate(samples, fs, len(x))
    helper = signal_pool() if len(x) <= PARALLEL_MAX_SAMPLES else None
    # beside the detector on the pool; without it, after the detector (its temporaries are gone by then)
    cleaning = helper.submit(clean_lead, x, MODEL_FS, powerline) if helper else None
    if beats == "detect":
        others = [_lead_at_model_rate(recording, j) for j in helper_leads(recording, li)[: MAX_LEADS - 1]]
        samples_model, own_stats = detect_rpeaks_noise(x, MODEL_FS, others, executor=helper)
        samples = np.clip(np.round(samples_model * (fs / MODEL_FS)), 0, recording.n_samples - 1).astype(np.int64)
    else:
        own_stats = lead_noise_stats(x)
    filtered = cleaning.result() if cleaning else clean_lead(x, MODEL_FS, powerline)
    noise_ratio = beat_noise_ratio(samples_model, own_stats)
    time_s = samples / fs
    rhythm_time_s = None
    if beats == "detect":  # the rhythm at the noisy beats' re-aligned R-peaks (app.ecg.align)
        moved = realigned(filtered, samples_model, noise_ratio, MODEL_FS) - samples_model
        rhythm_time_s = time_s + moved / MODEL_FS if moved.any() else None
    scale = amplitude_scale(filtered, samples_model)
    filtered = filtered.astype(np.float32)  # float32 from here (the windows are float32 anyway)
    windows, model_windows, quality, todo, base = model_inputs(filtered, scale, x, samples_model, helper)
    prev, nxt, local = rr_intervals(samples, fs)
    sym, cls = reference_labels(samples, recording)
    return BeatSet(
        record=recording.name, lead=recording.leads[li], lead_index=li, fs=MODEL_FS,
        samples=samples, samples_model=samples_model, time_s=time_s,
        windows=windows, scale_mv=float(scale),
        rr_prev_s=prev, rr_next_s=nxt, rr_local_s=local,
        quality=quality, low_quality=quality < LOW_QUALITY,
        ref_symbol=sym, ref_class=cls, filtered=filtered, source_fs=fs, model_windows=model_windows,
        denoised=todo, noise_ratio=noise_ratio, rhythm_time_s=rhythm_time_s, baseline=base,
    )


def model_inputs(filtered: np.ndarray, scale: float, x: np.ndarray, peaks: np.ndarray, executor=None):
    """(windows, windows for the models, their quality, which beats were denoised, the lead's block
    baseline) of one lead at ``peaks``: the float32 filtered lead's windows over its amplitude
    ``scale``, their quality against the lead as recorded ``x``, the beats below DENOISE_BELOW
    denoised (``denoised``), then every model window's baseline drift taken out (quality is of the
    denoised windows, before that)."""
    windows = beat_windows(filtered, peaks)
    windows /= np.float32(scale)
    parts = quality_parts(windows, beat_windows(x, peaks), float(np.min(x)), float(np.max(x)), executor=executor)
    model_windows, quality, todo = denoised(windows, parts)
    # the baseline drift the band-pass leaves is taken out of what the models score (app.ecg.baseline)
    base = block_baseline(filtered, MODEL_FS)
    return windows, detrend(model_windows, windows, base, peaks, scale, BEFORE), quality, todo, base


def lead_noise_stats(x: np.ndarray):
    """``fusion.block_stats`` of a lead's own QRS feature (360 Hz); None for a flat lead."""
    x = fill_nan(np.asarray(x, np.float64))
    if len(x) < int(0.5 * MODEL_FS) or not np.ptp(x) > 0:
        return None
    return block_stats(qrs_feature(x, MODEL_FS)[2], MODEL_FS)


def beat_noise_ratio(samples_model: np.ndarray, stats) -> np.ndarray:
    """Noise floor / beat level at each beat (``fusion.noise_ratio_at``); inf without statistics."""
    if stats is None:
        return np.full(len(samples_model), np.inf)
    return noise_ratio_at(np.asarray(samples_model, np.float64), stats)


@dataclass
class LeadView:
    """Another lead's view of a BeatSet's beats: what the models score, and its noise ratio."""

    model_windows: np.ndarray  # float32 (n, 256), own amplitude scale, noisy beats denoised
    noise_ratio: np.ndarray


def other_lead(recording: Recording, beats: BeatSet) -> tuple[str, np.ndarray] | None:
    """(name, samples at 360 Hz) of the first other usable ECG lead; None when there is none."""
    others = helper_leads(recording, beats.lead_index)
    if not others:
        return None
    return recording.leads[others[0]], _lead_at_model_rate(recording, others[0])


def other_lead_view(lead: np.ndarray, beats: BeatSet, rows: tuple[int, int] | None = None) -> LeadView:
    """Another lead's (360 Hz samples, ``other_lead``) windows at ``beats``' R-peaks ``rows`` =
    (a, b) (all beats by default), prepared as ``extract_beats`` prepares the analysed lead's
    (band-pass, the lead's own amplitude scale, quality, beats below DENOISE_BELOW denoised); its
    statistics are those of the samples from VIEW_PAD_S before the first of those beats to
    VIEW_PAD_S after the last (the whole lead by default)."""
    a, b = rows if rows is not None else (0, beats.n_beats)
    peaks = beats.samples_model[a:b]
    lo, hi = 0, len(lead)
    if rows is not None and len(peaks):
        pad = int(VIEW_PAD_S * MODEL_FS)
        lo, hi = max(int(peaks[0]) - pad, 0), min(int(peaks[-1]) + pad, len(lead))
    x = fill_nan(lead[lo:hi])
    peaks = peaks - lo
    helper = signal_pool() if hi - lo <= PARALLEL_MAX_SAMPLES else None
    noise = helper.submit(lead_noise_stats, x) if helper else None
    filtered = clean_lead(x, MODEL_FS)
    scale = amplitude_scale(filtered, peaks)
    model_windows = model_inputs(filtered.astype(np.float32), scale, x, peaks, helper)[1]
    del filtered
    stats = noise.result() if noise else lead_noise_stats(x)
    return LeadView(model_windows=model_windows, noise_ratio=beat_noise_ratio(peaks, stats))


def denoised(windows: np.ndarray, parts: QualityParts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows for the models, their quality, which beats were denoised): the beats whose quality
    is below DENOISE_BELOW denoised and measured again (against the same record templates);
    ``windows`` itself when no beat is below it."""
    quality = parts.quality()
    todo = quality < DENOISE_BELOW
    if not todo.any():
        return windows, quality, todo
    model_windows = nlm_denoise(windows, todo)
    rows = np.flatnonzero(todo)
    return model_windows, parts.with_rows(rows, model_windows[rows]).quality(), todo
