"""Train the noise-robust student encoder of a bundle (app.model.student) and add it to the bundle.

    python -m training.student --model model_store/cvae-v2 [--data-dir ../shared/data/mitdb]
                               [--nst-dir ../shared/data/nstdb] [--records 101 106 ...] [--epochs 4] [--seed 0]

The student starts from the bundle's encoder (BatchNorm frozen) and learns to map a beat's model
input taken from a *noisy* copy of a DS1 record to the latent mean the bundle's encoder gives the
same beat in the *clean* record; every beat class is used. Noisy copies: nstdb ``em``, ``ma`` and
``bw`` (each alone, channel i on lead i, nst's gain; app.ecg.nst) at 0, 6, 12 and 18 dB,
added only where nst's protocol adds *none* (0:00-5:00, 7:00-9:00, ...), so the noise samples of
``python -m benchmarks.noise`` stay unseen. Beats are detected in the noisy copy as the app detects
them; a noisy detection within 50 ms of a clean one is paired with it, and kept where it lies in
the noise-added segments and the analysed lead's noise ratio there is above the student's gate
(0.2). The clean record's own beats in those segments are added once as anchors (input = target).
Adam 1e-4, batch 256, 4 epochs, mean squared error on z_mean. Writes ``student_encoder.keras`` and
the manifest's ``student`` entry (its settings and the file's SHA-256, part of the cache key).
Chosen by rule v58 (docs/noise-history.md section 9): 4-fold cross-validation over DS1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

SNRS = (0.0, 6.0, 12.0, 18.0)
NOISES = ("em", "ma", "bw")
PAIR_TOL_S = 0.05
EPOCHS, BATCH, LEARNING_RATE = 4, 256, 1e-4
HUBER_DELTA = 0.25  # the Huber loss's delta (rule v66): about a record's spread per latent coordinate


def complement_noisy(rec, noise: np.ndarray, snr: float, amps, rms):
    """(``rec`` with ``noise`` added at nst's gain only where nst's protocol adds none, that mask)."""
    from app.ecg.nst import noise_on, noisy

    off = ~noise_on(rec.n_samples, rec.fs, "nst")
    return noisy(rec, noise, snr, amps, rms, on=off), off


def model_input(bs, bundle) -> np.ndarray:
    """The beats as analyze() gives them to the encoder."""
    from app.model.vae_input import beats_input

    return beats_input(bs, bundle.manifest)


def nearest(clean_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the clean beat nearest to each time in ``t``."""
    j = np.searchsorted(clean_t, t)
    j0, j1 = np.clip(j - 1, 0, len(clean_t) - 1), np.clip(j, 0, len(clean_t) - 1)
    return np.where(np.abs(clean_t[j0] - t) <= np.abs(clean_t[j1] - t), j0, j1)


def record_whitening(z: np.ndarray) -> np.ndarray:
    """W with ||e W||^2 = e' C^-1 e, C the record's robust latent covariance (the metric of its latent distance)."""
    from app.model.scorers import robust_centre_cov

    _, cov = robust_centre_cov(z)
    return np.linalg.cholesky(np.linalg.inv(cov)).astype(np.float32)


class Pairs(NamedTuple):
    """One record's training pairs."""
    x: np.ndarray  # model inputs: noisy gated beats, then the clean anchors
    z: np.ndarray  # targets: the encoder's z_mean of the same beats clean
    whitening: np.ndarray  # the clean record's ``record_whitening``
    cls: np.ndarray  # the AAMI class of each pair's clean beat ('' where it has no reference beat)


def record_pairs(rec, bundle, noise: dict, rms: dict) -> Pairs:
    """The ``Pairs`` of one record: its noisy gated beats with the encoder's clean z_mean, and anchors."""
    from app.ecg.pipeline import extract_beats
    from app.model.student import student_share
    from app.ecg.nst import nst_qrs_amplitude

    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs)
            for i in range(rec.n_leads)]
    clean = extract_beats(rec)
    xc = model_input(clean, bundle)
    zc = bundle.encode(xc)[0]
    xs, zs, cs, off = [], [], [], None
    for k in NOISES:
        for snr in SNRS:
            nrec, off = complement_noisy(rec, noise[k][0], snr, amps, rms[k])
            nb = extract_beats(nrec)
            near = nearest(clean.time_s, nb.time_s)
            keep = ((np.abs(clean.time_s[near] - nb.time_s) <= PAIR_TOL_S)
                    & off[np.clip(nb.samples, 0, len(off) - 1)]
                    & (student_share(nb.noise_ratio, len(nb.time_s)) > 0))
            xs.append(model_input(nb, bundle)[keep])
            zs.append(zc[near[keep]])
            cs.append(clean.ref_class[near[keep]])
    anchor = off[np.clip(clean.samples, 0, len(off) - 1)]
    xs.append(xc[anchor])
    zs.append(zc[anchor])
    cs.append(clean.ref_class[anchor])
    return Pairs(np.concatenate(xs).astype(np.float32), np.concatenate(zs).astype(np.float32), record_whitening(zc),
                 np.concatenate(cs))


def class_weights(cls: np.ndarray, abnormal: float) -> np.ndarray | None:
    """Per pair, ``abnormal`` for a beat of an abnormal AAMI class (S, V, F, Q), 1 otherwise (rule v77);
    None when ``abnormal`` is 1 (every pair alike)."""
    from app.ecg.aami import ANOMALOUS_CLASSES

    if abnormal == 1:
        return None
    return np.where(np.isin(cls, ANOMALOUS_CLASSES), float(abnormal), 1.0).astype(np.float32)


def noise_sources(nst_dir: Path) -> tuple[dict, dict]:
    """The nstdb noise records NOISES ({name: (samples, fs)}) and their per-channel RMS for nst's gain."""
    from app.ecg.nst import nst_noise_rms, read_noise

    noise = {k: read_noise(nst_dir, k) for k in NOISES}
    rms = {k: [nst_noise_rms(v[:, j], fs) for j in range(v.shape[1])] for k, (v, fs) in noise.items()}
    return noise, rms


def training_pairs(names, data_dir: Path, nst_dir: Path, bundle, log=print) -> list[Pairs]:
    from app.ecg.readers import read_record

    noise, rms = noise_sources(nst_dir)
    out = []
    for n in names:
        out.append(record_pairs(read_record(data_dir / n), bundle, noise, rms))
        log(f"record {n}: {len(out[-1].x)} pairs")
    return out


def train_student(encoder, X: np.ndarray, Z: np.ndarray, epochs: int = EPOCHS, seed: int = 0, verbose: int = 2,
                  W: np.ndarray | None = None, huber: float | None = None, weight: np.ndarray | None = None):
    """A copy of ``encoder`` (BatchNorm frozen) fitted so its z_mean of X approaches Z.

    The loss is the mean squared error of z_mean; with ``W`` (one d x d matrix per pair, e.g. its
    record's ``record_whitening``), that of (z_mean - Z) W: the error in the metric the pair's
    record measures latent distance in (rule v64). With ``huber`` (a delta), the Huber loss instead
    of the squared error: quadratic up to delta, linear beyond, so that the few pairs whose error
    is far beyond a record's spread (mostly 0 dB) do not dominate the fit (rule v66). ``weight``:
    optional per-pair weights of the loss (``class_weights``; rule v77).
    """
    import keras

    keras.utils.set_random_seed(seed)
    student = keras.models.clone_model(encoder)
    student.set_weights(encoder.get_weights())
    for layer in student.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    inp = keras.Input((X.shape[1],))
    z_mean = student(inp)[0]  # z_log_var gets no gradient: only z_mean is used
    if W is None:
        fitted, inputs, targets = keras.Model(inp, z_mean), X, Z
    else:
        d = Z.shape[1]
        target, metric = keras.Input((d,)), keras.Input((d, d))
        err = keras.ops.einsum("bi,bij->bj", z_mean - target, metric)
        fitted, inputs, targets = keras.Model([inp, target, metric], err), [X, Z, W], np.zeros_like(Z)
    fitted.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                   loss="mse" if huber is None else keras.losses.Huber(delta=huber))
    fitted.fit(inputs, targets, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=verbose, sample_weight=weight)
    return student


def averaged(students):
    """One model whose (z_mean, z_log_var) are the mean of ``students``' (a seed ensemble)."""
    import keras

    for i, st in enumerate(students):
        st.name = f"student_{i}"  # a functional model needs unique member names
    inp = keras.Input(students[0].input_shape[1:], name="beat")
    outs = [st(inp) for st in students]
    return keras.Model(inp, [keras.layers.Average(name="z_mean")([o[0] for o in outs]),
                             keras.layers.Average(name="z_log_var")([o[1] for o in outs])], name="student_average")


def train_students(encoder, X: np.ndarray, Z: np.ndarray, epochs: int = EPOCHS, seeds=(0,), verbose: int = 2,
                   W: np.ndarray | None = None, huber: float | None = None, weight: np.ndarray | None = None):
    """``train_student`` once per seed: that student, or with several seeds their ``averaged`` model."""
    students = [train_student(encoder, X, Z, epochs, s, verbose, W, huber, weight) for s in seeds]
    return students[0] if len(students) == 1 else averaged(students)


def add_student(model_dir: Path, data_dir: Path, nst_dir: Path, records=None, epochs: int = EPOCHS,
                seed: int = 0, verbose: int = 2) -> dict:
    """Train the student of the bundle in ``model_dir`` on ``records`` (default DS1) and save it there."""
    from app.ecg.aami import DS1
    from app.model.bundle import STUDENT_FILE, _read_bundle, forget_bundle

    t0 = time.time()
    bundle = _read_bundle(Path(model_dir))
    names = [str(r) for r in (records or DS1) if (data_dir / f"{r}.hea").is_file()]
    pairs = training_pairs(names, data_dir, nst_dir, bundle,
                           log=(lambda m: print(m, flush=True)) if verbose else (lambda m: None))
    X, Z = np.concatenate([p.x for p in pairs]), np.concatenate([p.z for p in pairs])
    student = train_student(bundle.encoder, X, Z, epochs, seed, verbose)
    path = Path(model_dir) / STUDENT_FILE
    student.save(path)
    entry = {"file": STUDENT_FILE, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
             "records": names, "noises": list(NOISES), "snr_db": list(SNRS), "pairs": int(len(X)),
             "epochs": epochs, "seed": seed, "batch": BATCH, "learning_rate": LEARNING_RATE,
             "rule": "v58 (docs/noise-history.md, section 9)", "seconds": round(time.time() - t0, 1)}
    man_path = Path(model_dir) / "manifest.json"
    manifest = json.loads(man_path.read_text())
    manifest["student"] = entry
    man_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    forget_bundle(model_dir)  # a later load_bundle in this process reads the student
    return entry


def has_noise_records(nst_dir: Path) -> bool:
    return all((Path(nst_dir) / f"{k}.hea").is_file() for k in NOISES)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.student", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="bundle directory, e.g. model_store/cvae-v2")
    ap.add_argument("--data-dir", default=None, help="MIT-BIH directory (default ../shared/data/mitdb)")
    ap.add_argument("--nst-dir", default=None, help="nstdb directory (default: next to --data-dir)")
    ap.add_argument("--records", nargs="+", default=None, help="training records (default: DS1)")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from app.config import default_data_dir

    data_dir = Path(a.data_dir) if a.data_dir else default_data_dir()
    if data_dir is None or not data_dir.is_dir():
        print("MIT-BIH directory not found; pass --data-dir", file=sys.stderr)
        return 2
    nst_dir = Path(a.nst_dir) if a.nst_dir else data_dir.parent / "nstdb"
    if not has_noise_records(nst_dir):
        print(f"noise records em, ma, bw not found in {nst_dir}; pass --nst-dir", file=sys.stderr)
        return 2
    entry = add_student(Path(a.model), data_dir, nst_dir, a.records, a.epochs, a.seed)
    print(f"student written to {Path(a.model) / entry['file']} ({entry['pairs']} pairs, {entry['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
