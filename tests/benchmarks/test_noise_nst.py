"""benchmarks.noise reproduces WFDB nst: the published nstdb record 118e00 (MIT-BIH 118 + em, 0 dB)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks._util import ROOT
from benchmarks.noise import (NST_PERIOD_S, NST_START_S, noise_on, noisy, nst_gain, nst_noise_rms,
                              nst_qrs_amplitude, read_noise, scored_from, trimmed_mean)

SHARED = ROOT.parent / "shared" / "data"


def test_trimmed_mean_drops_five_percent_each_end():
    v = np.r_[np.full(18, 1.0), -1000.0, 1000.0]  # 20 values: one dropped at each end
    assert trimmed_mean(v) == 1.0


def test_gain_follows_the_nst_formula():
    # SNR = 10 log10(S / N), S = A^2 / 8, N = rms^2
    g = nst_gain(2.0, 0.5, 6.0)
    assert 10 * np.log10((2.0 ** 2 / 8) / (g * 0.5) ** 2) == pytest.approx(6.0)


def test_nst_protocol_segments():
    fs = 360.0
    on = noise_on(int(31 * 60 * fs), fs, "nst")
    t = np.array([0, 299.9, 300.0, 419.9, 420.0, 539.9, 540.0]) * fs
    assert on[t.astype(int)].tolist() == [False, False, True, True, False, False, True]
    assert NST_START_S == 300 and NST_PERIOD_S == 120
    assert scored_from(fs, "nst") == int(300 * fs) and scored_from(fs, "whole") == 0
    assert noise_on(100, fs, "whole").all()


def test_reproduces_published_118e00():
    wfdb = pytest.importorskip("wfdb")
    if not (SHARED / "nstdb" / "118e00.hea").is_file() or not (SHARED / "mitdb" / "118.hea").is_file():
        pytest.skip("nstdb 118e00 or MIT-BIH 118 not found under ../shared/data")
    from app.ecg.readers import read_record

    rec = read_record(SHARED / "mitdb" / "118")
    em, fs = read_noise(SHARED / "nstdb", "em")
    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(2)]
    rms = [nst_noise_rms(em[:, j], fs) for j in range(2)]
    ours = noisy(rec, em, 0.0, amps, rms, "nst").signals.astype(np.float64) - rec.signals
    published = wfdb.rdrecord(str(SHARED / "nstdb" / "118e00")).p_signal - rec.signals
    published -= published[0]  # the published record carries a constant ADC offset
    for i in range(2):
        assert np.corrcoef(ours[:, i], published[:, i])[0, 1] > 0.999  # same pattern, same offsets
        assert np.std(published[:, i]) / np.std(ours[:, i]) == pytest.approx(1.0, abs=0.03)  # same gain
