"""Classical baselines scored on the same beats as the VAE (numpy + scikit-learn only).

Every baseline is fit on DS1 only and then scores any beats (DS2 for the report):

- ``pca``: reconstruction error of the beat window by a PCA fit on DS1 *normal* windows.
- ``iforest``: IsolationForest on PCA components + RR features, fit on DS1 *normal* beats
  (the same "normals only" training as the VAE); score = minus sklearn's score_samples.
- ``rr``: RR-only rhythm score (no fitting): how premature the beat is against the local
  rhythm plus how much longer the next interval is than the previous one (compensatory pause).
- ``template_rr``: patient-adaptive template baseline: the RMS distance of each beat to its own
  record's median beat, robustly z-scored within the record (median / MAD), combined with the
  RR score z-scored the same way; the combination weight is chosen on DS1 by AUROC.

Thresholds are chosen on DS1 beats with the bundle's default method (see ``threshold_for``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from app.model.metrics import ANOMALOUS_CLASSES, NORMAL_CLASS

BASELINE_NAMES = ("pca", "iforest", "rr", "template_rr")
BASELINE_DESCRIPTIONS = {
    "pca": "PCA reconstruction error (PCA fit on DS1 normal beat windows)",
    "iforest": "IsolationForest on PCA components + RR features (fit on DS1 normal beats)",
    "rr": "RR only: prematurity against the local rhythm + compensatory pause (no fitting)",
    "template_rr": ("patient-adaptive template: distance to the record's own median beat, "
                    "robust z within the record (median/MAD), weighted with the robust-z RR "
                    "score (weight chosen on DS1)"),
}
PCA_COMPONENTS = 16
IFOREST_COMPONENTS = 8
IFOREST_TREES = 200
WEIGHT_GRID = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
MAX_FIT_BEATS = 60_000
_MAD_TO_SD = 1.4826


@dataclass
class BeatData:
    """Beats of one or more records, concatenated: just what the baselines need."""

    record: np.ndarray       # (n,) str, record name of each beat
    windows: np.ndarray      # (n, 256) float32, amplitude-scaled beat windows
    rr_prev_s: np.ndarray    # (n,) float32
    rr_next_s: np.ndarray    # (n,) float32
    rr_local_s: np.ndarray   # (n,) float32
    ref_class: np.ndarray    # (n,) '<U1', '' where no reference beat matched

    def __len__(self) -> int:
        return int(len(self.record))

    def subset(self, mask: np.ndarray) -> "BeatData":
        return BeatData(self.record[mask], self.windows[mask], self.rr_prev_s[mask],
                        self.rr_next_s[mask], self.rr_local_s[mask], self.ref_class[mask])


def beat_data(beatsets) -> BeatData:
    """Concatenate BeatSets (app.ecg.pipeline) into one BeatData."""
    beatsets = list(beatsets)
    return BeatData(
        record=np.concatenate([np.full(len(b.samples), str(b.record)) for b in beatsets]),
        windows=np.concatenate([np.asarray(b.windows, np.float32) for b in beatsets]),
        rr_prev_s=np.concatenate([np.asarray(b.rr_prev_s, np.float32) for b in beatsets]),
        rr_next_s=np.concatenate([np.asarray(b.rr_next_s, np.float32) for b in beatsets]),
        rr_local_s=np.concatenate([np.asarray(b.rr_local_s, np.float32) for b in beatsets]),
        ref_class=np.concatenate([np.asarray(b.ref_class).astype("<U1") for b in beatsets]),
    )


def robust_z_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 * MAD), medians and MADs taken within each group (record)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(v)
    for g in np.unique(groups):
        m = groups == g
        med = np.median(v[m])
        mad = _MAD_TO_SD * np.median(np.abs(v[m] - med))
        scale = mad if mad > 1e-12 else (np.std(v[m]) or 1.0)
        out[m] = (v[m] - med) / scale
    return out


def rr_features(d: BeatData) -> np.ndarray:
    """log RR ratios: previous/local, next/local, next/previous (n, 3) float64."""
    eps = 1e-3
    prev = np.maximum(d.rr_prev_s, eps).astype(np.float64)
    nxt = np.maximum(d.rr_next_s, eps).astype(np.float64)
    loc = np.maximum(d.rr_local_s, eps).astype(np.float64)
    return np.column_stack([np.log(prev / loc), np.log(nxt / loc), np.log(nxt / prev)])


def rr_score(d: BeatData) -> np.ndarray:
    """Prematurity (local / previous RR, log) plus compensatory pause (next / previous RR, log)."""
    f = rr_features(d)
    return np.maximum(-f[:, 0], 0.0) + np.maximum(f[:, 2], 0.0)


def template_distance(d: BeatData) -> np.ndarray:
    """RMS distance of each beat window to its own record's median beat."""
    out = np.empty(len(d), dtype=np.float64)
    for r in np.unique(d.record):
        m = d.record == r
        w = d.windows[m].astype(np.float64)
        out[m] = np.sqrt(np.mean((w - np.median(w, axis=0)) ** 2, axis=1))
    return out


def _auroc(ref_class: np.ndarray, scores: np.ndarray) -> float:
    lab = np.isin(ref_class, (NORMAL_CLASS,) + ANOMALOUS_CLASSES)
    y = np.isin(ref_class[lab], ANOMALOUS_CLASSES).astype(int)
    return float(roc_auc_score(y, scores[lab])) if 0 < y.sum() < y.size else float("nan")


def _normals(d: BeatData) -> BeatData:
    return d.subset(d.ref_class == NORMAL_CLASS)


def _thin(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


@dataclass
class Baselines:
    """The fitted baselines; ``score`` gives every baseline's per-beat score."""

    pca: PCA
    iforest_pca: PCA
    iforest: IsolationForest
    template_weight: float
    fit_info: dict = field(default_factory=dict)

    def score(self, d: BeatData) -> dict[str, np.ndarray]:
        w = d.windows.astype(np.float64)
        recon = self.pca.inverse_transform(self.pca.transform(w))
        feats = np.column_stack([self.iforest_pca.transform(w), rr_features(d)])
        return {
            "pca": np.mean((w - recon) ** 2, axis=1),
            "iforest": -self.iforest.score_samples(feats),
            "rr": rr_score(d),
            "template_rr": template_rr_score(d, self.template_weight),
        }


def template_rr_score(d: BeatData, weight: float) -> np.ndarray:
    """weight * robust-z template distance + (1 - weight) * robust-z RR score, within record."""
    zt = robust_z_within(template_distance(d), d.record)
    zr = robust_z_within(rr_score(d), d.record)
    return weight * zt + (1.0 - weight) * zr


def choose_template_weight(d: BeatData) -> tuple[float, dict[str, float]]:
    """The weight in WEIGHT_GRID with the best AUROC on the given (DS1) beats."""
    zt = robust_z_within(template_distance(d), d.record)
    zr = robust_z_within(rr_score(d), d.record)
    grid = {float(w): _auroc(d.ref_class, w * zt + (1 - w) * zr) for w in WEIGHT_GRID}
    best = max(grid, key=lambda w: (grid[w], -abs(w - 0.5)))
    return best, grid


def fit_baselines(ds1: BeatData, weight_data: BeatData | None = None, seed: int = 0) -> Baselines:
    """Fit every baseline on DS1 beats (PCA and IsolationForest on the N beats only).

    The template + RR weight is chosen on ``weight_data`` (default: the same beats).
    """
    normals = _normals(ds1)
    sel = _thin(len(normals), MAX_FIT_BEATS, seed)
    w = normals.windows[sel].astype(np.float64)
    pca = PCA(n_components=PCA_COMPONENTS, random_state=seed).fit(w)
    ipca = PCA(n_components=IFOREST_COMPONENTS, random_state=seed).fit(w)
    feats = np.column_stack([ipca.transform(w), rr_features(normals.subset(sel))])
    iforest = IsolationForest(n_estimators=IFOREST_TREES, random_state=seed, n_jobs=1).fit(feats)
    weight, grid = choose_template_weight(ds1 if weight_data is None else weight_data)
    info = {"n_fit_beats": int(len(ds1)), "n_fit_normals": int(len(normals)),
            "n_pca_fit": int(len(sel)), "pca_components": PCA_COMPONENTS,
            "pca_explained_variance": float(np.sum(pca.explained_variance_ratio_)),
            "iforest_components": IFOREST_COMPONENTS, "iforest_trees": IFOREST_TREES,
            "iforest_fit_on": "DS1 normal (N) beats",
            "template_weight": weight, "template_weight_auroc_ds1": grid,
            "n_weight_beats": int(len(ds1 if weight_data is None else weight_data)),
            "seed": seed}
    return Baselines(pca, ipca, iforest, weight, info)
