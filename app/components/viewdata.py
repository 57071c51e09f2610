"""What the signal page needs of a cached analysis, precomputed once per key and process.

Callbacks read ``view_for(key)``: plain numpy arrays (scores, times, sorted copies for
percentile ranks) so that a threshold change is a handful of vectorized operations. The
arrays are derived from the cache entry and hold no user state, so every worker can rebuild
them on its own; a few keys are kept per process.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from app.components.figures import SCORE_PARTS, in_spans, noisy_spans
from app.ecg.aami import AAMI_CLASSES

_KEEP = 4
_views: "OrderedDict[str, View]" = OrderedDict()
_lock = threading.Lock()


@dataclass
class View:
    key: str
    entry: object                 # app.cache.Entry (recording + analysis)
    signals: np.ndarray           # (n_samples, n_leads) float32 mV, original rate
    fs: float
    leads: list[str]
    lead_index: int
    time_s: np.ndarray            # float64, sorted
    sample: np.ndarray            # int64 R-peaks at the original rate
    score: np.ndarray             # float64 ensemble score
    low_quality: np.ndarray       # bool
    ref_symbol: np.ndarray | None
    ref_class: np.ndarray | None
    thresholds: dict
    default_method: str
    threshold: float
    summary: dict
    sorted_parts: dict = field(default_factory=dict)   # column -> sorted values
    order_cache: dict = field(default_factory=dict)    # (column, ascending) -> argsort

    @property
    def analysis(self):
        return self.entry.analysis

    @property
    def n_beats(self) -> int:
        return len(self.score)

    @cached_property
    def noisy_spans(self) -> list[tuple[float, float]]:
        """The analysed lead's noisy stretches (figures.noisy_spans), found once per View (each
        inspector click asks); [] for entries without noise ratios."""
        return noisy_spans(self.time_s, getattr(self.analysis.beats, "noise_ratio", None))

    @property
    def duration_s(self) -> float:
        return len(self.signals) / self.fs


def lead_index_of(leads: list[str], lead) -> int:
    """Index of the analysed lead, given as a name or an index (0 if unknown)."""
    if isinstance(lead, (int, np.integer)) and 0 <= int(lead) < len(leads):
        return int(lead)
    if isinstance(lead, str) and lead in leads:
        return leads.index(lead)
    return 0


def build_view(key: str, entry) -> View:
    rec, an = entry.recording, entry.analysis
    t = an.table
    has_ref = "ref_class" in t.columns
    view = View(
        key=key, entry=entry, signals=np.asarray(rec.signals), fs=float(rec.fs), leads=list(rec.leads),
        lead_index=lead_index_of(list(rec.leads), an.summary.get("lead", getattr(an, "lead", None))),
        time_s=t["time_s"].to_numpy(np.float64), sample=t["sample"].to_numpy(np.int64),
        score=t["score"].to_numpy(np.float64), low_quality=t["low_quality"].to_numpy(bool),
        ref_symbol=t["ref_symbol"].to_numpy(str) if has_ref else None,
        ref_class=t["ref_class"].to_numpy(str) if has_ref else None,
        thresholds=dict(an.thresholds), default_method=str(an.default_method),
        threshold=float(an.threshold), summary=dict(an.summary),
    )
    view.sorted_parts = {c: np.sort(t[c].to_numpy(np.float64)) for c, _ in SCORE_PARTS if c in t.columns}
    return view


def timing_note(view: View, beat: int) -> str:
    """' (timing measured across the noisy detection at 12.34 s)' when the beat's RR intervals for
    its scores skipped a neighbouring detection (app.analysis.skipped_detections), else ''."""
    from app.analysis import skipped_detections

    skipped = skipped_detections(view.analysis, beat)
    if not skipped:
        return ""
    return f" (timing measured across the noisy detection at {' and '.join(f'{view.time_s[j]:.2f} s' for j in skipped)})"


def noise_note(view: View, beat: int) -> str:
    """What the inspector title says of noise at the beat: the other lead's note where its view was
    weighted in (``other_lead_note``: it says the lead is noisy), else ' (in a noisy stretch: it may
    be noise)' inside one of the timeline's grey bands (``View.noisy_spans``), else ''."""
    note = other_lead_note(view, beat)
    if note or not 0 <= beat < view.n_beats:
        return note
    return " (in a noisy stretch: it may be noise)" if in_spans(view.time_s[beat:beat + 1], view.noisy_spans)[0] else ""


def other_lead_note(view: View, beat: int) -> str:
    """' (scored with V1 as well, weight 0.45: MLII is noisy here)' when the other lead's view was
    weighted into the beat's score (app.model.lead_blend), else ''."""
    an = view.analysis
    weight = (getattr(an, "scores", None) or {}).get("other_lead_weight")
    other = (an.summary or {}).get("other_lead")
    if weight is None or not other or beat >= len(weight) or not weight[beat] > 0:
        return ""
    w = float(weight[beat])
    return f" (scored with {other} as well, weight {f'{w:.2f}' if w >= 0.01 else 'below 0.01'}: {an.lead} is noisy here)"


def view_for(key: str | None) -> View | None:
    """The View of a cache key, or None when the key is unknown or expired."""
    if not key:
        return None
    with _lock:
        v = _views.get(key)
        if v is not None:
            _views.move_to_end(key)
            return v
    from app import cache

    entry = cache.get_entry(key)
    if entry is None:
        return None
    v = build_view(key, entry)
    with _lock:
        _views[key] = v
        while len(_views) > _KEEP:
            _views.popitem(last=False)
    return v


def flags_at(view: View, threshold: float) -> np.ndarray:
    """Anomaly flags at ``threshold`` from the cached scores (no model run)."""
    from app.analysis import reflag

    return np.asarray(reflag(view.analysis, float(threshold)), dtype=bool)


def agreement(flags: np.ndarray, ref_class: np.ndarray | None) -> dict | None:
    """Confusion against the reference (anomalous = ref_class not 'N') on matched beats."""
    if ref_class is None:
        return None
    matched = ref_class != ""
    if not matched.any():
        return None
    truth = ref_class[matched] != "N"
    pred = flags[matched]
    tp = int(np.sum(truth & pred))
    fn = int(np.sum(truth & ~pred))
    fp = int(np.sum(~truth & pred))
    tn = int(np.sum(~truth & ~pred))

    def ratio(a, b):
        return a / b if b else float("nan")

    cls = ref_class[matched]
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn, "matched": int(matched.sum()),
            "unmatched": int((~matched).sum()),
            "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp),
            "ppv": ratio(tp, tp + fp), "accuracy": ratio(tp + tn, tp + tn + fp + fn),
            # AAMI class -> (flagged, beats), the classes present in the reference
            "per_class": {c: (int(np.sum(pred & (cls == c))), int(np.sum(cls == c)))
                          for c in AAMI_CLASSES if np.any(cls == c)}}


def per_class_items(per_class: dict) -> list[str]:
    """['N 584 of 2,230', 'V 830 of 831', ...]: flagged beats of each AAMI class in the reference."""
    return [f"{c} {k:,} of {n:,}" for c, (k, n) in per_class.items()]


def per_class_text(per_class: dict) -> str:
    return " · ".join(per_class_items(per_class))


def slider_range(score: np.ndarray, thresholds: dict) -> tuple[float, float]:
    """Slider bounds: the bulk of the scores and every method's threshold, with a margin."""
    if len(score) == 0:
        return 0.0, 1.0
    lo = float(np.quantile(score, 0.01))
    hi = float(np.quantile(score, 0.999))
    vals = [float(t["value"]) for t in thresholds.values() if np.isfinite(float(t["value"]))]
    lo, hi = min([lo] + vals), max([hi] + vals)
    if hi <= lo:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def sorted_order(view: View, column: str, ascending: bool) -> np.ndarray:
    """Row order of the beat table sorted by a column (cached per view)."""
    k = (column, ascending)
    order = view.order_cache.get(k)
    if order is None:
        values = view.analysis.table[column].to_numpy()
        order = np.argsort(values, kind="stable")
        if not ascending:
            order = order[::-1]
        view.order_cache[k] = order
    return order


@dataclass(frozen=True)
class SliderGrid:
    """The threshold slider's bounds and keyboard/drag step; values on it are ``min + k * step``.

    The slider is the coarse control: the threshold itself (in the page's threshold store) may
    sit between two steps (a method's exact value, or a value typed in the box), and the
    slider shows it where it is; a key press or a drag then moves it onto the grid.
    """

    min: float
    max: float
    step: float

    @property
    def decimals(self) -> int:
        return max(0, -int(np.floor(np.log10(self.step))))

    def clip(self, value: float) -> float:
        return float(np.clip(value, self.min, self.max))

    def snap(self, value: float) -> float:
        v = self.clip(value)
        return round(round((v - self.min) / self.step) * self.step + self.min, self.decimals)


SLIDER_POSITIONS = 2000  # about this many steps over the slider: 0.01 log-odds on a typical record


def nice_step(span: float, n: int = SLIDER_POSITIONS) -> float:
    """A 1-2-5 step giving about ``n`` positions over ``span`` (e.g. 0.01 for a span of 17)."""
    raw = max(span, 1e-12) / n
    mag = 10.0 ** np.floor(np.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * mag:
            return float(m * mag)
    return float(10.0 * mag)


def slider_grid(score: np.ndarray, thresholds: dict) -> SliderGrid:
    lo, hi = slider_range(score, thresholds)
    step = nice_step(hi - lo)
    dec = max(0, -int(np.floor(np.log10(step))))
    return SliderGrid(min=round(np.floor(lo / step) * step, dec), max=round(np.ceil(hi / step) * step, dec), step=step)


# --------------------------------------------------------------------------- threshold methods

CUSTOM = "custom"          # the threshold method shown when the threshold is no method's value
THRESHOLD_DECIMALS = 3     # the threshold is shown (label, box, report) to this many decimals
METHOD_ORDER = ("statistical", "percentile", "fixed")


def threshold_text(value: float) -> str:
    """The threshold as shown everywhere: 3 decimals, trailing zeros dropped ('5.296', '12')."""
    return np.format_float_positional(round(float(value), THRESHOLD_DECIMALS), trim="-")


def ordered_methods(thresholds: dict) -> list[str]:
    return [m for m in METHOD_ORDER if m in thresholds] + [m for m in thresholds if m not in METHOD_ORDER]


def matching_method(threshold: float, thresholds: dict, preferred: str | None = None,
                    tol: float = 1e-9) -> str:
    """The method whose threshold ``threshold`` is (within ``tol``; ``preferred`` first when it
    matches), else ``CUSTOM``: a threshold set by hand."""
    t = float(threshold)
    names = ([preferred] if preferred in thresholds else []) + ordered_methods(thresholds)
    for m in names:
        v = float(thresholds[m]["value"])
        if np.isfinite(v) and abs(t - v) <= tol * max(1.0, abs(v)):
            return m
    return CUSTOM


def method_parameter(method: str, thresholds: dict) -> str | None:
    """A method's parameter as shown: 'mean + 2.25 sd' (statistical), '99th' (percentile), or None."""
    param = thresholds.get(method, {}).get("param")
    if param is None:
        return None
    if method == "statistical":
        return f"mean + {float(param):g} sd"
    if method == "percentile":
        return ordinal(float(param))
    return None


def method_description(method: str, thresholds: dict) -> str:
    """What a threshold method is, from the bundle's threshold table: 'statistical method: mean +
    2.25 sd of normal beats' scores', 'percentile method: 99th percentile of normal beats' scores',
    'fixed method', 'custom: set by hand'."""
    param = method_parameter(method, thresholds)
    if method == CUSTOM:
        return "custom: set by hand"
    if param is None:
        return f"{method} method"
    what = param if method == "statistical" else f"{param} percentile"
    return f"{method} method: {what} of normal beats' scores"


def ordinal(p: float) -> str:
    """99 -> '99th', 1 -> '1st', 99.5 -> '99.5th'."""
    if p != int(p):
        return f"{p:g}th"
    n = int(p)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --------------------------------------------------------------------------- gaps between beats

MIN_GAP_S = 3.0       # a stretch this long without a detected beat is worth a word
FLAT_MV = 0.02        # peak-to-peak below this (mV) between the beats: a flat line
GAP_EDGE_S = 0.3      # the beats' own QRS and T waves are left out of the flatness test
MAX_GAPS_NAMED = 3


@dataclass
class Gap:
    t0: float   # s: the beat before (or the record's start)
    t1: float   # s: the beat after (or the record's end)
    flat: bool  # the analysed lead is a flat line between them (electrode off, lost signal)


def beat_gaps(time_s: np.ndarray, signal: np.ndarray, fs: float, min_gap_s: float = MIN_GAP_S) -> list[Gap]:
    """Stretches of at least ``min_gap_s`` without a detected beat, the record's start and end
    included; only those few stretches of ``signal`` (the analysed lead) are read."""
    duration = len(signal) / float(fs)
    edges = np.concatenate([[0.0], np.asarray(time_s, np.float64), [duration]])
    out = []
    for k in np.flatnonzero(np.diff(edges) >= min_gap_s):
        t0, t1 = float(edges[k]), float(edges[k + 1])
        a = int((t0 + (GAP_EDGE_S if k > 0 else 0.0)) * fs)
        b = int((t1 - (GAP_EDGE_S if k + 1 < len(edges) - 1 else 0.0)) * fs)
        seg = signal[max(a, 0):max(b, 0)]
        seg = seg[np.isfinite(seg)]
        flat = seg.size > 0 and float(seg.max() - seg.min()) < FLAT_MV
        out.append(Gap(t0, t1, bool(flat)))
    return out


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def gap_note(gaps: list[Gap], lead: str) -> str:
    """One sentence for the signal page and the report, or "" when there is no gap."""
    if not gaps:
        return ""
    items = [f"{_clock(g.t0)}-{_clock(g.t1)} ({g.t1 - g.t0:.1f} s{', flat signal: electrode off?' if g.flat else ''})"
             for g in gaps[:MAX_GAPS_NAMED]]
    more = f" and {len(gaps) - MAX_GAPS_NAMED} more" if len(gaps) > MAX_GAPS_NAMED else ""
    return (f"No beat detected in lead {lead} for {MIN_GAP_S:g} s or more: {'; '.join(items)}{more}. "
            "The beats on either side are scored against that long RR interval: their timing score "
            "reflects the gap.")
