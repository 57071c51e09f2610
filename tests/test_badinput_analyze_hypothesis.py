"""Issue 6 item 2: any Recording gives a valid Analysis or InvalidRecordError (hypothesis)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import get_settings
from app.ecg.errors import InvalidRecordError
from app.ecg.record import Recording
from tests.hypothesis_budget import budget


@pytest.fixture(scope="module")
def bundle():
    s = get_settings()
    if not (s.model_dir / "manifest.json").exists():
        pytest.skip(f"no model bundle at {s.model_dir}")
    from app.model.bundle import load_bundle

    return load_bundle()


@st.composite
def recordings(draw):
    fs = draw(st.sampled_from([100.0, 128.0, 250.0, 360.0, 500.0, 1000.0]))
    seconds = draw(st.floats(8.0, 40.0))
    n = int(fs * seconds)
    n_leads = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = np.arange(n) / fs
    hr = draw(st.floats(30.0, 220.0))
    kind = draw(st.sampled_from(["beats", "noise", "flat", "spikes", "huge"]))
    if kind == "beats":
        x = np.exp(-(((t * hr / 60) % 1.0) - 0.3) ** 2 / 0.0005) * draw(st.floats(0.05, 5.0))
        x = x + rng.normal(0, draw(st.floats(0.0, 0.5)), n)
    elif kind == "noise":
        x = rng.normal(0, 1, n)
    elif kind == "flat":
        x = np.full(n, draw(st.floats(-5, 5)))
    elif kind == "spikes":
        x = np.zeros(n)
        x[rng.integers(0, n, size=max(1, n // 500))] = 1e3
    else:
        x = rng.normal(0, 1e6, n)
    sig = np.stack([x * (1 + 0.1 * k) for k in range(n_leads)], axis=1).astype(np.float32)
    if draw(st.booleans()):
        sig[rng.integers(0, n, size=n // 100), 0] = np.nan
    leads = draw(st.sampled_from([["MLII", "V1", "V5"], ["I", "II", "III"], ["a", "b", "c"]]))[:n_leads]
    return Recording(name="gen", signals=sig, fs=fs, leads=leads, units=["mV"] * n_leads)


@settings(**budget(25, derandomize=True), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=recordings(), beats=st.sampled_from(["detect"]))
def test_analyze_gives_a_valid_analysis_or_invalid_record_error(bundle, rec, beats):
    from app.analysis import TABLE_COLUMNS, analyze

    try:
        a = analyze(rec, bundle=bundle, beats=beats)
    except InvalidRecordError as err:
        assert "gen" in str(err)
        return
    n = a.summary["n_beats"]
    assert n == len(a.table) > 0
    assert list(a.table.columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    assert a.windows.shape == (n, 256) and a.recon.shape == (n, 256) and a.latent.shape[0] == n
    assert np.isfinite(a.table["score"].to_numpy()).all()
    assert (np.diff(a.table["sample"].to_numpy()) > 0).all()
