"""app.projections and training.reference_cloud: projections of latent means beside the cloud."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app import projections as P
from training import reference_cloud as RC


def _cloud(tmp_path, m=300, d=16, seed=0):
    """A stored reference cloud (PCA + a stand-in 2-D embedding as 'UMAP'), read back."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(m, d)).astype(np.float32)
    records = np.repeat(np.array(["101", "106", "108"]), m // 3)

    class FakeUmap:  # only .embedding_ is stored: any 2-D embedding of the reference will do
        embedding_ = latent[:, :2] * 3.0

    arrays = RC.reference_arrays(latent, records, FakeUmap(), {"n": m})
    RC.save_reference_cloud(tmp_path, arrays)
    return P.load_reference_cloud(tmp_path)


def test_subsample_keeps_priority_and_bounds():
    pri = np.zeros(10000, bool)
    pri[::100] = True
    idx = P.subsample_indices(10000, 5000, pri, seed=1)
    assert len(idx) == 5000 and np.all(np.diff(idx) > 0)
    assert set(np.flatnonzero(pri)) <= set(idx.tolist())
    assert np.array_equal(P.subsample_indices(30, 5000), np.arange(30))
    many = np.zeros(10000, bool)
    many[:4000] = True  # flagged beats are many: a plain random subsample keeps the proportions
    idx = P.subsample_indices(10000, 1000, many, seed=1)
    assert len(idx) == 1000 and 300 < many[idx].sum() < 500


def test_stale_cloud_is_not_used(tmp_path):
    (tmp_path / P.ENCODER_FILE).write_bytes(b"weights v1")
    rng = np.random.default_rng(0)
    meta = {"encoder_sha256": P.encoder_fingerprint(tmp_path)}
    RC.save_reference_cloud(tmp_path, RC.reference_arrays(rng.normal(size=(30, 16)), np.full(30, "101"), None, meta))
    assert P.load_reference_cloud(tmp_path) is not None
    (tmp_path / P.ENCODER_FILE).write_bytes(b"weights v2, retrained")
    assert P.load_reference_cloud(tmp_path) is None  # latents of other weights would be misplaced


def test_pca_fit_transform_matches_svd_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 16)) * np.r_[5.0, 2.0, np.full(14, 0.5)]
    mean, comps, explained = P.pca_fit(x)
    xy = P.pca_transform(x, mean, comps)
    assert xy.shape == (500, 2)
    assert np.allclose(xy.mean(axis=0), 0, atol=1e-9)
    # the first axis carries the largest variance (the dimension scaled by 5)
    assert abs(comps[0, 0]) > 0.95 and explained[0] > explained[1] > 0
    assert np.isclose(xy[:, 0].var(ddof=0) / ((x - mean) ** 2).sum(axis=1).mean(), explained[0])


def test_neighbour_placement_puts_reference_points_on_themselves():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(200, 16))
    ref_xy = rng.normal(size=(200, 2))
    xy, nearest = P.neighbour_placement(ref[:20], ref, ref_xy, k=15)
    assert np.allclose(nearest, 0, atol=1e-6)
    # a point that sits on a reference point gets that point's weight 1 in the fuzzy membership,
    # others less: it lands closer to its own embedding than the plain mean of its neighbours
    dist, ind = P.neighbour_distances(ref[:20], ref, 15)
    plain = ref_xy[ind].mean(axis=1)
    assert np.all(np.linalg.norm(xy - ref_xy[:20], axis=1) <= np.linalg.norm(plain - ref_xy[:20], axis=1) + 1e-9)


def test_cloud_round_trip(tmp_path):
    cloud = _cloud(tmp_path)
    assert cloud.latent.shape == (300, 16) and cloud.pca_xy.shape == (300, 2)
    assert cloud.umap_xy.shape == (300, 2) and cloud.meta == {"n": 300}
    assert np.allclose(P.pca_transform(cloud.latent, cloud.pca_mean, cloud.pca_components), cloud.pca_xy, atol=1e-4)
    assert P.load_reference_cloud(tmp_path / "nowhere") is None


def test_sample_per_record_caps_each_record():
    recs = np.array(["a"] * 500 + ["b"] * 20)
    idx = RC.sample_per_record(recs, 150, seed=3)
    assert np.sum(recs[idx] == "a") == 150 and np.sum(recs[idx] == "b") == 20
    assert np.array_equal(idx, RC.sample_per_record(recs, 150, seed=3))  # fixed seed: repeatable


def test_project_record_pca_and_umap_use_the_stored_cloud(tmp_path):
    cloud = _cloud(tmp_path)
    rng = np.random.default_rng(5)
    lat = rng.normal(size=(7000, 16))
    flags = np.zeros(7000, bool)
    flags[:50] = True
    p = P.project_record(lat, "pca", cloud, priority=flags)
    assert p.xy.shape == (P.MAX_POINTS, 2) and p.n_total == 7000
    assert set(range(50)) <= set(p.beat_idx.tolist())
    assert np.allclose(p.xy, P.pca_transform(lat[p.beat_idx], cloud.pca_mean, cloud.pca_components))
    assert "5,000 of 7,000" in p.note and "every flagged beat kept" in p.note and "PCA fitted on 300" in p.note
    u = P.project_record(lat[:100], "umap", cloud)
    assert u.xy.shape == (100, 2) and np.array_equal(u.ref_xy, cloud.umap_xy)
    assert "nearest" in u.note and "All 100 beats" in u.note
    # placed inside the hull of the reference embedding
    assert u.xy.min() >= cloud.umap_xy.min() - 1e-9 and u.xy.max() <= cloud.umap_xy.max() + 1e-9


def test_project_record_tsne_is_joint_and_subsampled(tmp_path):
    cloud = _cloud(tmp_path, m=150)
    lat = np.random.default_rng(6).normal(size=(120, 16))
    p = P.project_record(lat, "tsne", cloud)
    assert p.xy.shape == (120, 2) and p.ref_xy.shape == (150, 2)
    assert "jointly" in p.note and np.all(np.isfinite(p.xy))


def test_project_record_without_cloud_says_so():
    lat = np.random.default_rng(7).normal(size=(50, 16))
    p = P.project_record(lat, "pca", None)
    assert p.ref_xy.shape == (0, 2) and "no reference cloud" in p.note
    with pytest.raises(ValueError):
        P.project_record(lat, "mds", None)


def test_reference_cloud_cli_rejects_ds2_records(tmp_path, capsys):
    assert RC.main(["--model", str(tmp_path), "--data-dir", str(tmp_path), "--records", "100"]) == 2
    assert "DS1" in capsys.readouterr().err


def test_reference_cloud_cli_on_the_committed_model(tmp_path, mitdb_dir, capsys):
    """End to end on real DS1 data: encode normal beats with the committed model, store, read back."""
    import shutil

    from app.config import DEFAULT_MODEL_ID, MODEL_STORE

    model = tmp_path / DEFAULT_MODEL_ID
    model.mkdir()
    for name in ("encoder.keras", "decoder.keras", "manifest.json", "calibration.json"):
        shutil.copy(MODEL_STORE / DEFAULT_MODEL_ID / name, model / name)
    args = ["--model", str(model), "--data-dir", str(mitdb_dir), "--records", "101", "119", "--per-record", "40",
            "--no-umap"]
    assert RC.main(args) == 0
    assert "80 DS1 normal beats from 2 records" in capsys.readouterr().out
    cloud = P.load_reference_cloud(model)
    assert cloud.latent.shape == (80, 16) and sorted(set(cloud.records.tolist())) == ["101", "119"]
    assert cloud.umap_xy is None and cloud.meta["encoder_sha256"] == P.encoder_fingerprint(model)
    assert np.all(np.isfinite(cloud.pca_xy))
