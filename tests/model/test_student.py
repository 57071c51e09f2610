"""The noise-robust student encoder behind the noise gate (app.model.student), on bundled MIT-BIH
records and the committed bundle."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from app.analysis import analyze
from app.config import SAMPLES_DIR
from app.ecg.readers import read_record
from app.model.bundle import STUDENT_FILE, ModelBundleError, _read_bundle, load_bundle
from app.model.lead_blend import NOISY_FROM, RAMP
from app.model.student import noise_robust_latent, student_share


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


@pytest.fixture(scope="module")
def no_student(bundle):
    return replace(bundle, student=None, _fns={})


def test_the_committed_bundle_has_its_student_and_the_manifest_names_it(bundle):
    assert bundle.student is not None
    entry = bundle.manifest["student"]
    assert entry["file"] == STUDENT_FILE and len(entry["sha256"]) == 64
    assert set(entry["records"]) <= {"101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
                                     "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230"}


def test_share_follows_the_other_leads_ramp():
    r = np.array([0.05, NOISY_FROM, NOISY_FROM + RAMP / 2, NOISY_FROM + RAMP, 0.9, np.inf, np.nan])
    np.testing.assert_allclose(student_share(r, len(r)), [0, 0, 0.5, 1, 1, 0, 0])
    assert not student_share(None, 3).any()


def test_a_clean_record_scores_exactly_as_without_the_student(bundle, no_student):
    rec = read_record(SAMPLES_DIR / "100")
    a = analyze(rec, bundle=bundle)
    assert not (a.beats.noise_ratio > NOISY_FROM).any()  # record 100 is clean throughout
    b = analyze(rec, bundle=no_student)
    np.testing.assert_array_equal(a.table.score, b.table.score)
    np.testing.assert_array_equal(a.latent, b.latent)


def test_a_noisy_record_changes_the_latent_only_of_its_noisy_beats(bundle, no_student):
    rec = read_record(SAMPLES_DIR / "105")  # electrode-motion noise in long stretches
    a = analyze(rec, bundle=bundle)
    b = analyze(rec, bundle=no_student)
    share = student_share(a.beats.noise_ratio, len(a.latent))
    moved = np.abs(a.latent - b.latent).max(axis=1) > 0
    assert (share > 0).sum() > 200
    assert not moved[share == 0].any()
    assert moved[share > 0].mean() > 0.99
    # the KL reads the blended mean (with the encoder's own variance): it moves only where the latent does
    kl_a, kl_b = a.table.kl.to_numpy(), b.table.kl.to_numpy()
    np.testing.assert_array_equal(kl_a[share == 0], kl_b[share == 0])
    # the blend: halfway between the two encoders' latents at share 0.5, and so on
    x = np.asarray(a.beats.model_windows if a.beats.model_windows is not None else a.beats.windows)
    from app.model.vae_input import vae_input

    x = vae_input(x, a.beats.time_s, bundle.manifest)
    rows = np.flatnonzero(share > 0)[:50]
    z_enc = no_student.encode(x[rows])[0]
    z_st = bundle.encode_student(x[rows])
    np.testing.assert_allclose(a.latent[rows], z_enc + share[rows, None] * (z_st - z_enc), atol=1e-4)
    assert noise_robust_latent(no_student, x, b.latent, a.beats.noise_ratio) is b.latent


def test_a_corrupt_student_file_is_a_clear_bundle_error(tmp_path, bundle):
    d = tmp_path / "bundle"
    shutil.copytree(bundle.path, d)
    (d / STUDENT_FILE).write_bytes(b"not a keras file")
    with pytest.raises(ModelBundleError, match=str(d)):
        _read_bundle(d)


def test_the_student_lifts_ventricular_beats_above_normal_ones_in_motion_noise(bundle, no_student):
    """Bundled 233 with electrode-motion noise at 6 dB (nst's protocol), the analysed lead alone:
    V against N in the noisy segments, 0.848 with the encoder alone, 0.920 with the student
    (2026-11-26); the other lead's view adds to either (test_other_lead)."""
    from tests.conftest import nst_noisy_sample, v_vs_n_auroc

    r, on = nst_noisy_sample("233", "em", 6.0)
    alone = v_vs_n_auroc(analyze(r, bundle=no_student, other_lead=False).table, on)
    student = v_vs_n_auroc(analyze(r, bundle=bundle, other_lead=False).table, on)
    assert student > alone + 0.04


def test_training_the_student_without_the_noise_records_is_a_clear_error(tmp_path):
    import subprocess

    from tests.conftest import PYTHON, ROOT

    p = subprocess.run([PYTHON, "-m", "training.student", "--model", "model_store/cvae-v2", "--data-dir", "app/samples",
                        "--nst-dir",
                        str(tmp_path / "no-nstdb")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"noise records em, ma, bw not found in {tmp_path / 'no-nstdb'}; pass --nst-dir"


def test_a_seed_ensemble_of_students_gives_their_mean_latent_and_survives_save_and_load(tmp_path, bundle):
    """training.student.averaged (rule v61's seed ensemble) is one model a bundle loads like a single student."""
    import keras

    from app.ecg.pipeline import extract_beats
    from app.model.vae_input import beats_input
    from training.student import averaged

    x = beats_input(extract_beats(read_record(SAMPLES_DIR / "100")), bundle.manifest)[:64]
    members = []
    for shift in (0.0, 0.01):  # two "students": the encoder with its z_mean bias moved by a known amount
        m = keras.models.clone_model(bundle.encoder)
        m.set_weights(bundle.encoder.get_weights())
        b = m.get_layer("z_mean").bias
        b.assign(b.numpy() + shift)
        members.append(m)
    avg = averaged(members)
    z0 = np.asarray(bundle.encoder(x, training=False)[0])
    np.testing.assert_allclose(np.asarray(avg(x, training=False)[0]), z0 + 0.005, atol=1e-5)
    avg.save(tmp_path / STUDENT_FILE)
    back = keras.saving.load_model(tmp_path / STUDENT_FILE, compile=False)
    np.testing.assert_allclose(np.asarray(back(x, training=False)[0]), z0 + 0.005, atol=1e-5)


def test_the_students_other_losses_reduce_to_the_squared_error_where_they_should(bundle):
    """training.student.record_whitening (rule v64): ||e W||^2 is the squared Mahalanobis length of e
    under the record's robust latent covariance; with W the identity the student trains as without W;
    so it does with the Huber loss (rule v66) when no error reaches its delta."""
    from app.ecg.pipeline import extract_beats
    from app.model.scorers import mahalanobis, robust_centre_cov
    from app.model.vae_input import beats_input
    from training.student import record_whitening, train_student

    x = beats_input(extract_beats(read_record(SAMPLES_DIR / "100")), bundle.manifest)[:512]
    z = np.asarray(bundle.encoder(x, training=False)[0], np.float64)
    centre, cov = robust_centre_cov(z)
    w = record_whitening(z)
    np.testing.assert_allclose(np.linalg.norm((z - centre) @ w, axis=1), mahalanobis(z, centre, cov), rtol=1e-4)

    target = (z + 0.05).astype(np.float32)
    plain = train_student(bundle.encoder, x, target, epochs=1, seed=3, verbose=0)
    eye = np.repeat(np.eye(z.shape[1], dtype=np.float32)[None], len(x), axis=0)
    same = train_student(bundle.encoder, x, target, epochs=1, seed=3, verbose=0, W=eye)
    moved = np.asarray(plain(x, training=False)[0])
    assert np.abs(moved - z).max() > 1e-3  # it learnt something
    np.testing.assert_allclose(np.asarray(same(x, training=False)[0]), moved, atol=1e-5)
    # rule v66's Huber loss: with every error inside delta it is half the squared error, which Adam
    # follows nearly step for step (exactly but for its epsilon, against the tiny gradients of some weights)
    huber = np.asarray(train_student(bundle.encoder, x, target, epochs=1, seed=3, verbose=0, huber=10.0)(
        x, training=False)[0])
    assert np.abs(huber - moved).max() < 0.05 * np.abs(moved - z).max()  # measured: 0.0033 of 0.14
    assert np.corrcoef((huber - z).ravel(), (moved - z).ravel())[0, 1] > 0.999


def test_training_pairs_carry_their_clean_beats_class_and_abnormal_pairs_can_be_weighted(bundle):
    """training.student.record_pairs labels every pair with the AAMI class of the clean beat whose latent
    is its target (rule v77's class weights read it); with weight 1 for every pair the student
    trains exactly as without weights."""
    from app.ecg.pipeline import extract_beats
    from app.model.vae_input import beats_input
    from tests.conftest import ROOT
    from training.student import class_weights, has_noise_records, noise_sources, record_pairs, train_student

    nst = ROOT.parent / "shared" / "data" / "nstdb"
    if not has_noise_records(nst):  # the noise records noise_sources reads (em, bw, ma), not em alone
        pytest.skip(f"nstdb noise records not found in {nst}")
    rec = read_record(SAMPLES_DIR / "100")
    pairs = record_pairs(rec, bundle, *noise_sources(nst))
    clean = extract_beats(rec)
    zc = np.asarray(bundle.encode(beats_input(clean, bundle.manifest))[0])
    assert len(pairs.cls) == len(pairs.x) == len(pairs.z) > 1000
    # each target is one clean beat's latent: its class is that beat's
    row = {z.tobytes(): c for z, c in zip(zc.astype(np.float32), clean.ref_class)}
    assert [row[z.tobytes()] for z in pairs.z] == pairs.cls.tolist()
    assert set(pairs.cls) == {"N", "S"} and (pairs.cls == "S").sum() > 20  # 100's atrial premature beats

    assert class_weights(pairs.cls, 1) is None
    np.testing.assert_array_equal(class_weights(np.array(["N", "S", "V", "F", "Q", ""]), 5), [1, 5, 5, 5, 5, 1])
    x, z = pairs.x[:512], pairs.z[:512]
    plain = np.asarray(train_student(bundle.encoder, x, z, epochs=1, seed=3, verbose=0)(x, training=False)[0])
    ones = np.asarray(train_student(bundle.encoder, x, z, epochs=1, seed=3, verbose=0,
                                    weight=np.ones(len(x), np.float32))(x, training=False)[0])
    np.testing.assert_allclose(ones, plain, atol=1e-5)
