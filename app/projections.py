"""2-D projections (PCA, t-SNE, UMAP) of a record's latent means beside the training cloud.

The reference cloud (latent means of DS1 normal beats, their PCA/UMAP embeddings and the
fitted transforms) is computed offline by ``training.reference_cloud`` and stored in
``model_store/<id>/``. Here:

- PCA: the record's latents go through the stored PCA (exact, cheap);
- UMAP: each record beat is placed in the stored UMAP embedding of the training normals at
  the membership-weighted mean of its k nearest training normals in latent space, which is
  how ``umap.UMAP.transform`` initialises new points. The full ``transform`` (its refining
  epochs) was measured at 9-40 s for 2,000 beats on this 2-core machine, after a 16 s
  ``import umap``: too slow for a page. When no UMAP embedding is stored, a joint UMAP of a
  reference subsample and the record's subsample (``umap`` imported lazily);
- t-SNE: always a joint embedding of a reference subsample and the record's subsample
  (t-SNE has no out-of-sample transform).

``projection_for_key(key, method)`` is the cached entry point the page uses.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

METHODS = ("pca", "tsne", "umap")
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
MAX_POINTS = 5000          # record beats sent to the browser
TSNE_MAX_RECORD = 1200     # record beats in a joint t-SNE
TSNE_MAX_REFERENCE = 800   # reference beats in a joint t-SNE / joint UMAP
CLOUD_FILE = "reference_cloud.npz"
ENCODER_FILE = "encoder.keras"
WEIGHTS_MEMBER = "model.weights.h5"
UMAP_NEIGHBOURS = 15       # reference neighbours that place a record beat in the UMAP


@dataclass
class ReferenceCloud:
    """Training normals in latent space and their stored 2-D embeddings."""

    latent: np.ndarray          # (m, d) latent means of DS1 normal beats
    records: np.ndarray         # (m,) record name of each reference beat
    pca_mean: np.ndarray        # (d,)
    pca_components: np.ndarray  # (2, d)
    pca_xy: np.ndarray          # (m, 2)
    umap_xy: np.ndarray | None  # (m, 2), None when UMAP was not fitted
    meta: dict = field(default_factory=dict)


@dataclass
class Projection:
    """What the latent page draws: the shown record beats and the reference cloud, in 2-D."""

    method: str
    xy: np.ndarray          # (k, 2) positions of the shown record beats
    beat_idx: np.ndarray    # (k,) row indices into the analysis table
    ref_xy: np.ndarray      # (m', 2) reference cloud positions (may be a subsample)
    n_total: int            # beats in the record
    note: str               # how it was computed and what was subsampled, for the page


def subsample_indices(n: int, max_points: int, priority: np.ndarray | None = None,
                      seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` items, at random (fixed seed).

    ``priority`` items (flagged beats) are all kept when they are few (at most a quarter of
    the budget), so that rare anomalies stay visible; when they are many, a plain random
    subsample keeps the record's proportions.
    """
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    pri = np.flatnonzero(priority) if priority is not None else np.array([], dtype=int)
    if len(pri) > max_points // 4:
        return np.sort(rng.choice(n, max_points, replace=False))
    rest = np.setdiff1d(np.arange(n), pri, assume_unique=True)
    extra = rng.choice(rest, max_points - len(pri), replace=False)
    return np.sort(np.concatenate([pri, extra]).astype(int))


def pca_fit(latent: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, components (k, d), explained variance ratio (k,)) of ``latent`` by SVD."""
    x = np.asarray(latent, dtype=np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    # deterministic sign: largest absolute loading positive
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    vt = vt * signs[:, None]
    var = s ** 2
    return mean, vt[:n_components], (var / var.sum())[:n_components]


def pca_transform(latent: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Latents placed with a fitted PCA: (n, k)."""
    return (np.asarray(latent, dtype=np.float64) - mean) @ np.asarray(components).T


def tsne_joint(latent: np.ndarray, ref_latent: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Joint t-SNE of the record's and the reference latents: (record xy, reference xy)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.vstack([latent, ref_latent]).astype(np.float64)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    # one OpenMP thread: on a busy 2-core host, spinning thread pools made it 20x slower (measured)
    with threadpool_limits(1):
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                  max_iter=500).fit_transform(x)
    return xy[: len(latent)], xy[len(latent):]


def umap_joint(latent: np.ndarray, ref_latent: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Joint UMAP of the record's and the reference latents (fallback when no fitted UMAP)."""
    import umap  # lazy: ~16 s (numba, TensorFlow)

    x = np.vstack([latent, ref_latent]).astype(np.float64)
    xy = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed).fit_transform(x)
    return xy[: len(latent)], xy[len(latent):]


def neighbour_distances(latent: np.ndarray, ref_latent: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances (n, k), indices (n, k)) of each latent's k nearest reference latents."""
    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_limits

    k = min(k, len(ref_latent))
    with threadpool_limits(1):
        nn = NearestNeighbors(n_neighbors=k, n_jobs=1).fit(np.asarray(ref_latent, dtype=np.float64))
        return nn.kneighbors(np.asarray(latent, dtype=np.float64))


def neighbour_placement(latent: np.ndarray, ref_latent: np.ndarray, ref_xy: np.ndarray,
                        k: int = UMAP_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """(xy (n, 2), distance to the nearest reference (n,)): each latent placed at the
    UMAP-style fuzzy-membership-weighted mean of its k nearest reference points' positions."""
    dist, ind = neighbour_distances(latent, ref_latent, k)
    rho = dist[:, :1]
    sigma = np.maximum((dist - rho).mean(axis=1, keepdims=True), 1e-12)
    w = np.exp(-(dist - rho) / sigma)
    w /= w.sum(axis=1, keepdims=True)
    xy = np.einsum("nk,nkj->nj", w, np.asarray(ref_xy, dtype=np.float64)[ind])
    return xy, dist[:, 0]


def load_reference_cloud(model_dir: Path | str) -> ReferenceCloud | None:
    """The reference cloud stored in ``model_dir``; None when absent or made for other weights."""
    model_dir = Path(model_dir)
    path = model_dir / CLOUD_FILE
    if not path.is_file():
        return None
    cloud = _load_cloud_cached(str(path), path.stat().st_mtime_ns)
    expected = cloud.meta.get("encoder_sha256")
    if expected and expected != encoder_fingerprint(model_dir):
        return None  # the model was retrained after the cloud: its latents would be misplaced
    return cloud


def encoder_fingerprint(model_dir: Path | str) -> str | None:
    """SHA-256 of the encoder's weights (ties a reference cloud to its model).

    The weights member of the ``.keras`` zip, whose bytes survive a re-save of the same
    weights (the zip's metadata carries the save date); the whole file if it is no zip.
    """
    path = Path(model_dir) / ENCODER_FILE
    try:
        return _sha256_cached(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, _mtime: int) -> str:
    import hashlib
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return hashlib.sha256(z.read(WEIGHTS_MEMBER)).hexdigest()
    except (zipfile.BadZipFile, KeyError):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _load_cloud_cached(path: str, _mtime: int) -> ReferenceCloud:
    z = np.load(path, allow_pickle=False)
    umap_xy = z["umap_xy"] if "umap_xy" in z.files and z["umap_xy"].size else None
    meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
    return ReferenceCloud(latent=z["latent"], records=z["records"], pca_mean=z["pca_mean"],
                          pca_components=z["pca_components"], pca_xy=z["pca_xy"], umap_xy=umap_xy, meta=meta)


def _subsample_note(idx: np.ndarray, n_total: int, priority: np.ndarray | None) -> str:
    n_shown = len(idx)
    if n_shown >= n_total:
        return f"All {n_total:,} beats shown"
    kept = priority is not None and bool(np.any(priority)) and bool(np.all(np.isin(np.flatnonzero(priority), idx)))
    return (f"{n_shown:,} of {n_total:,} beats shown (random subsample"
            + ("; every flagged beat kept)" if kept else ")"))


def project_record(latent: np.ndarray, method: str, cloud: ReferenceCloud | None,
                   priority: np.ndarray | None = None, max_points: int = MAX_POINTS,
                   seed: int = 0) -> Projection:
    """Project a record's latent means with ``method`` beside the reference cloud."""
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose one of {METHODS}")
    latent = np.asarray(latent, dtype=np.float64)
    n = len(latent)
    rng_ref = np.random.default_rng(seed)

    if cloud is None:  # no reference: the record alone, PCA fitted on it
        idx = subsample_indices(n, max_points, priority, seed)
        if method != "pca":
            idx = subsample_indices(n, min(max_points, TSNE_MAX_RECORD), priority, seed)
        mean, comps, _ = pca_fit(latent)
        if method == "pca":
            xy = pca_transform(latent[idx], mean, comps)
        elif method == "tsne":
            xy, _ = tsne_joint(latent[idx], np.empty((0, latent.shape[1])), seed)
        else:
            xy, _ = umap_joint(latent[idx], np.empty((0, latent.shape[1])), seed)
        note = (f"{METHOD_LABELS[method]} of this record alone: no reference cloud of training "
                f"normals is stored for this model (python -m training.reference_cloud makes it). "
                f"{_subsample_note(idx, n, priority)}.")
        return Projection(method, xy, idx, np.empty((0, 2)), n, note)

    if method == "pca":
        idx = subsample_indices(n, max_points, priority, seed)
        xy = pca_transform(latent[idx], cloud.pca_mean, cloud.pca_components)
        note = (f"PCA fitted on {len(cloud.latent):,} training normal beats (DS1); this record's "
                f"beats placed with that same PCA. {_subsample_note(idx, n, priority)}.")
        return Projection("pca", xy, idx, cloud.pca_xy, n, note)

    if method == "umap" and cloud.umap_xy is not None:
        idx = subsample_indices(n, max_points, priority, seed)
        xy, _ = neighbour_placement(latent[idx], cloud.latent, cloud.umap_xy)
        note = (f"UMAP fitted on {len(cloud.latent):,} training normal beats (DS1); each of this "
                f"record's beats placed at the weighted mean of its {UMAP_NEIGHBOURS} nearest "
                f"training normals (in the 16-d latent space), as UMAP's transform starts, "
                f"without its refining epochs. Beats unlike every training normal are therefore "
                f"drawn at the cloud's edge, not far outside it: colour by score to see them. "
                f"{_subsample_note(idx, n, priority)}.")
        return Projection("umap", xy, idx, cloud.umap_xy, n, note)

    # joint embeddings: t-SNE always, UMAP when no fitted model is stored
    idx = subsample_indices(n, min(max_points, TSNE_MAX_RECORD), priority, seed)
    m = len(cloud.latent)
    ref_idx = np.sort(rng_ref.choice(m, min(m, TSNE_MAX_REFERENCE), replace=False))
    joint = tsne_joint if method == "tsne" else umap_joint
    xy, ref_xy = joint(latent[idx], cloud.latent[ref_idx], seed)
    note = (f"{METHOD_LABELS[method]} computed jointly on {len(ref_idx):,} training normal beats "
            f"(DS1, subsample) and this record's beats ({METHOD_LABELS[method]} has no stored "
            f"transform here). {_subsample_note(idx, n, priority)}.")
    return Projection(method, xy, idx, ref_xy, n, note)


def model_dir_for(model_id: str) -> Path:
    """The model_store directory of ``model_id`` (the configured one when it matches)."""
    from app.config import MODEL_STORE, Settings

    configured = Settings().model_dir
    if configured.name == model_id:
        return configured
    return MODEL_STORE / model_id


projections_computed = 0  # how many projections this process computed (cache misses)


def _compute_projection(key: str, method: str) -> Projection | None:
    global projections_computed
    from app.cache import get_entry

    entry = get_entry(key)
    if entry is None:
        return None
    analysis = entry.analysis
    cloud = load_reference_cloud(model_dir_for(analysis.model_id))
    priority = np.asarray(analysis.table["anomaly"], dtype=bool) if "anomaly" in analysis.table else None
    proj = project_record(analysis.latent, method, cloud, priority=priority)
    projections_computed += 1
    return proj


_local_memo: dict[tuple[str, str], Projection] = {}
_MEMO_PREFIX = "proj:"


def _shared_cache():
    """The app's flask-caching backend (app.cache) inside a request, else None."""
    try:
        from flask import current_app

        state = current_app.extensions.get("ecg_cache")
    except RuntimeError:  # outside an app context (scripts, unit tests)
        return None
    return getattr(state, "cache", None)


def projection_for_key(key: str, method: str) -> Projection | None:
    """The projection of the analysis under ``key`` with ``method``; None for an unknown key.

    Computed once per (key, method): memoized on those two scalars in the app's cache backend
    (app.cache: simple, filesystem or Redis, so every worker shares it) and in this process.
    """
    memo_key = f"{_MEMO_PREFIX}{key}:{method}"
    if (key, method) in _local_memo:
        return _local_memo[(key, method)]
    cache = _shared_cache()
    proj = None
    if cache is not None:
        try:
            proj = cache.get(memo_key)
        except Exception:  # noqa: BLE001 - backend down: compute anyway
            proj = None
    if not isinstance(proj, Projection):
        proj = _compute_projection(key, method)
        if proj is None:
            return None
        if cache is not None:
            try:
                cache.set(memo_key, proj)
            except Exception:  # noqa: BLE001
                pass
    if len(_local_memo) >= 16:
        _local_memo.pop(next(iter(_local_memo)))
    _local_memo[(key, method)] = proj
    return proj
