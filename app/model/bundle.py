"""ModelBundle: the trained encoder/decoder plus what scoring needs, saved as `model_store/<id>/`.

Layout of a bundle directory:
  encoder.keras, decoder.keras   Keras 3 models (weights + architecture)
  manifest.json                  window, fs, preprocessing, data, split, versions, commit, date, metrics
  calibration.json               scorer statistics, ensemble weights, threshold statistics
  history.json                   training curves (optional)
  student_encoder.keras          (optional) the noise-robust student encoder (app.model.student)
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.model.runtime import import_keras

STUDENT_FILE = "student_encoder.keras"
FORWARD_CHUNK = 4096  # beats per call of the compiled forward (the last call takes the rest)


class ModelBundleError(RuntimeError):
    """A model bundle that is missing or cannot be read; the message names the path."""


@dataclass
class ModelBundle:
    encoder: object
    decoder: object
    manifest: dict
    calibration: dict
    model_id: str
    path: Path | None = None
    student: object | None = None  # the noise-robust student encoder (app.model.student), if the bundle has one
    _fns: dict = field(default_factory=dict, repr=False)  # compiled forward / encoder-only, traced once each
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def window(self) -> int:
        return int(self.manifest.get("window", {}).get("length", 256))

    @property
    def latent_dim(self) -> int:
        return int(self.manifest.get("architecture", {}).get("latent_dim", 16))

    def _compiled(self, decode: bool = True):
        """The compiled forward (``decode``) or encoder alone, for any number of beats; the first
        call traces it, once."""
        with self._lock:
            fn = self._fns.get(decode)
            if fn is None:
                fn = compiled_forward(self.encoder, self.decoder if decode else None, self.window)
                fn(np.zeros((1, self.window), np.float32))
                self._fns[decode] = fn
            return fn

    def forward(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z_mean, z_log_var, reconstruction of z_mean) for (n, window) beats, FORWARD_CHUNK beats
        per call: a 30-minute record is one call (about 40 TensorFlow ops dispatched, where batches
        of 512 and 64 took ten times as many; fewer dispatches, fewer thread wake-ups)."""
        return self._run(windows, decode=True)

    def encode(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z_mean, z_log_var) alone, as ``forward`` gives them, for scores that need no
        reconstruction: the encoder is about 40 % of the forward pass's time on CPU."""
        return self._run(windows, decode=False)

    def encode_student(self, windows: np.ndarray) -> np.ndarray:
        """The student encoder's z_mean of (n, window) beats (app.model.student); needs ``student``."""
        x = np.asarray(windows, np.float32).reshape(-1, self.window)
        if len(x) == 0:
            return np.zeros((0, self.latent_dim), np.float32)
        with self._lock:
            fn = self._fns.get("student")
            if fn is None:
                fn = self._fns["student"] = compiled_forward(self.student, None, self.window)
        return np.concatenate([np.asarray(fn(x[i:i + FORWARD_CHUNK])[0])
                               for i in range(0, len(x), FORWARD_CHUNK)]).astype(np.float32, copy=False)

    def use_student(self, student) -> None:
        """Score with ``student`` from now on (None: without one); its function is traced anew."""
        with self._lock:
            self.student = student
            self._fns.pop("student", None)

    def _run(self, windows: np.ndarray, decode: bool) -> tuple:
        x = np.asarray(windows, np.float32).reshape(-1, self.window)
        if len(x) == 0:
            z = (np.zeros((0, self.latent_dim), np.float32),) * 2
            return z + (np.zeros((0, self.window), np.float32),) if decode else z
        fn = self._compiled(decode)
        outs = [fn(x[i:i + FORWARD_CHUNK]) for i in range(0, len(x), FORWARD_CHUNK)]
        return tuple(np.concatenate([np.asarray(o[j]) for o in outs]).astype(np.float32, copy=False)
                     for j in range(len(outs[0])))


def compiled_forward(encoder, decoder, window: int):
    """A tf.function with one stable input signature: (any batch, window) float32; returns
    (z_mean, z_log_var, reconstruction of z_mean), or the first two when ``decoder`` is None."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32)], reduce_retracing=True,
                 autograph=False)  # straight-line code: no autograph, no generated temp files
    def forward(x):
        z_mean, z_log_var = encoder(x, training=False)
        if decoder is None:
            return z_mean, z_log_var
        return z_mean, z_log_var, decoder(z_mean, training=False)

    return forward


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=jsonable) + "\n")


def jsonable(o):
    """``json.dumps(default=...)`` for numpy values, tuples, sets and paths."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_bundle(bundle: ModelBundle, path, history: dict | None = None) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bundle.encoder.save(path / "encoder.keras")
    bundle.decoder.save(path / "decoder.keras")
    if bundle.student is not None:
        bundle.student.save(path / STUDENT_FILE)
    _write_json(path / "manifest.json", {**bundle.manifest, "model_id": bundle.model_id})
    _write_json(path / "calibration.json", bundle.calibration)
    if history is not None:
        _write_json(path / "history.json", history)
    return path


_CACHE: dict[str, ModelBundle] = {}
_CACHE_LOCK = threading.Lock()


def load_bundle(path=None) -> ModelBundle:
    """The bundle at ``path`` (default ``Settings().model_dir``), loaded once per process."""
    if path is None:
        from app.config import Settings

        path = Settings().model_dir
    path = Path(path).resolve()
    key = str(path)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _read_bundle(path)
        return _CACHE[key]


def forget_bundle(path) -> None:
    """Drop the bundle at ``path`` from this process's cache (training rewrote it)."""
    with _CACHE_LOCK:
        _CACHE.pop(str(Path(path).resolve()), None)


def load_bundle_async(path=None) -> Future:
    """``load_bundle(path)`` in a thread: the caller's work overlaps TensorFlow's import."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecg-model-load")
    try:
        return pool.submit(load_bundle, path)
    finally:
        pool.shutdown(wait=False)


def resolved(bundle) -> ModelBundle:
    """A bundle given as itself or as the Future of ``load_bundle_async``."""
    return bundle.result() if isinstance(bundle, Future) else bundle


def _read_bundle(path: Path) -> ModelBundle:
    if not path.is_dir():
        raise ModelBundleError(f"{path}: model bundle not found (expected a directory with "
                               "encoder.keras, decoder.keras, manifest.json, calibration.json)")
    needed = ("encoder.keras", "decoder.keras", "manifest.json", "calibration.json")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise ModelBundleError(f"{path}: model bundle incomplete, missing {', '.join(missing)}")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        calibration = json.loads((path / "calibration.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelBundleError(f"{path}: model bundle corrupt, cannot read its JSON ({exc})") from None
    try:
        keras = import_keras()
        encoder = keras.saving.load_model(path / "encoder.keras", compile=False)
        decoder = keras.saving.load_model(path / "decoder.keras", compile=False)
        student = (keras.saving.load_model(path / STUDENT_FILE, compile=False)
                   if (path / STUDENT_FILE).is_file() else None)
    except Exception as exc:  # noqa: BLE001 - any failure to deserialise means a corrupt bundle
        raise ModelBundleError(f"{path}: model bundle corrupt, cannot load weights ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    model_id = str(manifest.get("model_id") or path.name)
    return ModelBundle(encoder, decoder, manifest, calibration, model_id, path, student)
