"""Projections of a real analysis (bundled record 100, the committed model), memoized per
(analysis key, method) in app.cache's backend: computed once, then served from the cache."""
from __future__ import annotations

import numpy as np
import pytest
from flask import Flask

from app import projections as P
from app.config import SAMPLES_DIR, get_settings


@pytest.fixture(scope="module")
def keyed_analysis(tmp_path_factory):
    """A Flask server with a filesystem app.cache, holding the analysis of record 100."""
    from app import cache as C
    from app.ecg.readers import read_record

    previous = C._state  # app.cache keeps one state per process: give it back afterwards
    server = Flask("latent-cache-test")
    C.init_cache(server, get_settings(cache_url="filesystem://" + str(tmp_path_factory.mktemp("cache"))))
    with server.app_context():
        key, cached = C.submit(read_record(SAMPLES_DIR / "100"))
    assert not cached
    yield server, key
    C._state = previous


def test_projection_is_computed_once_per_key_and_method(keyed_analysis):
    server, key = keyed_analysis
    P._local_memo.clear()
    with server.test_request_context("/"):
        n0 = P.projections_computed
        first = P.projection_for_key(key, "pca")
        again = P.projection_for_key(key, "pca")
        assert P.projections_computed == n0 + 1 and again is first
        P._local_memo.clear()  # another worker: served from the shared backend, not recomputed
        shared = P.projection_for_key(key, "pca")
        assert P.projections_computed == n0 + 1 and np.array_equal(shared.xy, first.xy)
        umap = P.projection_for_key(key, "umap")  # another method: computed once more
        assert P.projections_computed == n0 + 2 and umap.method == "umap"
        assert P.projection_for_key("0" * 64, "pca") is None  # unknown key: nothing to draw


def test_real_record_lands_beside_the_training_cloud(keyed_analysis):
    from app.cache import get_entry

    server, key = keyed_analysis
    with server.test_request_context("/"):
        proj = P.projection_for_key(key, "pca")
        entry = get_entry(key)
    cloud = P.load_reference_cloud(P.model_dir_for(entry.analysis.model_id))
    assert cloud is not None, "model_store has no reference cloud for the committed model (or a stale one)"
    n = len(entry.analysis.table)
    assert proj.n_total == n and len(proj.xy) == n and len(proj.ref_xy) == len(cloud.latent) >= 3000
    # record 100 is mostly normal beats: its N beats sit inside the spread of the training normals
    normal = entry.analysis.table["ref_class"].to_numpy()[proj.beat_idx] == "N"
    centre = np.median(proj.xy[normal], axis=0)
    lo, hi = np.percentile(cloud.pca_xy, [1, 99], axis=0)
    assert np.all(centre > lo) and np.all(centre < hi)
