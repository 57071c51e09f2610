"""The training reference cloud for the latent-space page.

Latent means of a per-record subsample of DS1 normal beats (class N), their 2-D PCA and UMAP
embeddings and the PCA (mean, components), so that the app places a record's latents beside
them without fitting anything at request time (PCA: the stored transform; UMAP: each beat at
the weighted mean of its nearest training normals' UMAP positions, see app.projections).

    python -m training.reference_cloud --model model_store/cvae-v2 --data-dir ../shared/data/mitdb

Writes ``reference_cloud.npz`` into the model directory. DS1 only; fixed seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from app.projections import CLOUD_FILE, encoder_fingerprint, pca_fit, pca_transform

PER_RECORD = 150      # normal beats per DS1 record
SEED = 1234
UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_components": 2, "metric": "euclidean"}


def sample_per_record(records: np.ndarray, per_record: int, seed: int = SEED) -> np.ndarray:
    """Sorted indices of at most ``per_record`` items of each record (fixed seed)."""
    rng = np.random.default_rng(seed)
    out = []
    for rec in sorted(set(records.tolist())):
        idx = np.flatnonzero(records == rec)
        out.append(rng.choice(idx, min(per_record, len(idx)), replace=False))
    return np.sort(np.concatenate(out)) if out else np.array([], dtype=int)


def fit_umap(latent: np.ndarray, seed: int = SEED):
    """A UMAP fitted on the reference latents (fixed seed: repeatable, single-threaded)."""
    import umap  # lazy: ~16 s

    model = umap.UMAP(random_state=seed, n_jobs=1, **UMAP_PARAMS)
    model.fit(np.asarray(latent, dtype=np.float32))
    return model


def reference_arrays(latent: np.ndarray, records: np.ndarray, umap_model=None, meta: dict | None = None) -> dict:
    """The arrays stored in ``reference_cloud.npz``."""
    mean, comps, explained = pca_fit(latent)
    arrays = {
        "latent": np.asarray(latent, dtype=np.float32),
        "records": np.asarray(records).astype("<U8"),
        "pca_mean": mean, "pca_components": comps, "pca_explained": explained,
        "pca_xy": pca_transform(latent, mean, comps).astype(np.float32),
        "umap_xy": (np.asarray(umap_model.embedding_, dtype=np.float32) if umap_model is not None
                    else np.empty((0, 2), np.float32)),
        "meta": np.array(json.dumps(meta or {})),
    }
    return arrays


def save_reference_cloud(model_dir: Path, arrays: dict) -> Path:
    """Write ``reference_cloud.npz`` into ``model_dir``; returns its path."""
    path = Path(model_dir) / CLOUD_FILE
    np.savez_compressed(path, **arrays)
    return path


def ds1_normal_latents(model_dir: Path, data_dir: Path, records=None, per_record: int = PER_RECORD,
                       seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(latent means, record of each) for a per-record subsample of DS1 class-N reference beats."""
    from app.ecg.aami import DS1
    from app.model.bundle import load_bundle
    from app.model.vae_input import vae_input
    from training.evaluate import beatset_for, read_recording  # BeatSets cached like the evaluation's

    bundle = load_bundle(model_dir)
    rng = np.random.default_rng(seed)
    lat, recs = [], []
    for rec in (records or DS1):
        beats = beatset_for(read_recording(data_dir, rec), "reference", Path(data_dir) / f"{rec}.dat")
        idx = np.flatnonzero(np.asarray(beats.ref_class) == "N")
        idx = np.sort(rng.choice(idx, min(per_record, len(idx)), replace=False))
        x = vae_input(np.asarray(beats.windows), np.asarray(beats.time_s), bundle.manifest)  # whole record: next beats
        z_mean, _, _ = bundle.forward(x[idx])
        lat.append(np.asarray(z_mean, dtype=np.float32))
        recs.append(np.full(len(idx), rec))
    return np.concatenate(lat), np.concatenate(recs)


def main(argv=None) -> int:
    from app.config import default_data_dir

    p = argparse.ArgumentParser(prog="python -m training.reference_cloud", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, type=Path, help="model directory (model_store/<id>)")
    p.add_argument("--data-dir", type=Path, default=default_data_dir(), help="MIT-BIH directory")
    p.add_argument("--per-record", type=int, default=PER_RECORD)
    p.add_argument("--records", nargs="*", default=None, help="DS1 records (default: all of DS1)")
    p.add_argument("--no-umap", action="store_true", help="skip fitting UMAP (PCA only)")
    a = p.parse_args(argv)
    if a.data_dir is None or not Path(a.data_dir).is_dir():
        print(f"error: MIT-BIH directory not found: {a.data_dir}", file=sys.stderr)
        return 2
    from app.ecg.aami import DS1

    bad = [r for r in (a.records or []) if r not in DS1]
    if bad:
        print(f"error: reference records must be DS1 records, got {bad}", file=sys.stderr)
        return 2
    t0 = time.time()
    latent, recs = ds1_normal_latents(a.model, a.data_dir, a.records, a.per_record)
    umap_model = None if a.no_umap else fit_umap(latent)
    meta = {"source": "DS1 class-N reference beats", "per_record": a.per_record, "seed": SEED,
            "records": sorted(set(recs.tolist())), "n": int(len(latent)),
            "umap": None if umap_model is None else UMAP_PARAMS,
            "encoder_sha256": encoder_fingerprint(a.model)}
    save_reference_cloud(a.model, reference_arrays(latent, recs, umap_model, meta))
    print(f"reference cloud: {len(latent)} DS1 normal beats from {len(set(recs.tolist()))} records "
          f"-> {a.model / CLOUD_FILE} ({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
