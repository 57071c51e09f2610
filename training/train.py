"""Fit the conv-VAE on DS1 normal beats: augmentation, beta warm-up, LR schedule, early stopping."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from training.data import augment


def set_seeds(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def augmented_batches(x: np.ndarray, cfg):
    """A keras PyDataset of augmented (input, target) batches; seeded per (epoch, batch)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._shuffle()

        def _shuffle(self):
            rng = np.random.default_rng([cfg.seed, self.epoch])
            n = min(len(x), cfg.epoch_beats or len(x))
            self.order = rng.permutation(len(x))[:n]

        def __len__(self):
            return int(np.ceil(len(self.order) / cfg.batch_size))

        def __getitem__(self, i):
            idx = self.order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            return augment(x[idx], np.random.default_rng([cfg.seed, self.epoch, i]), cfg)

        def on_epoch_end(self):
            self.epoch += 1
            self._shuffle()

    return Batches()


def beta_warmup(vae, cfg):
    import keras

    class BetaWarmup(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            vae.beta.assign(cfg.beta * min(1.0, (epoch + 1) / max(cfg.beta_warmup_epochs, 1)))

    return BetaWarmup()


def train_vae(train_x: np.ndarray, val_x: np.ndarray, cfg, work_dir: Path, verbose: int = 2):
    """Train; return (encoder, decoder, history dict, seconds). Logs/checkpoints under work_dir."""
    import keras

    from app.model.vae import VAE, build_decoder, build_encoder

    set_seeds(cfg.seed)
    enc = build_encoder(cfg.window, cfg.latent_dim, cfg.filters, cfg.kernel, cfg.dropout, cfg.hidden)
    dec = build_decoder(cfg.window, cfg.latent_dim, cfg.filters, cfg.kernel, cfg.hidden)
    vae = VAE(enc, dec, seed=cfg.seed)
    vae.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clipnorm))
    work_dir = Path(work_dir)
    (work_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (work_dir / "logs").mkdir(parents=True, exist_ok=True)
    callbacks = [
        beta_warmup(vae, cfg),
        keras.callbacks.ReduceLROnPlateau("val_recon", factor=cfg.lr_factor, patience=cfg.lr_patience, mode="min",
                                          min_lr=1e-5),
        keras.callbacks.EarlyStopping("val_recon", patience=cfg.early_stopping_patience, mode="min",
                                      restore_best_weights=True, start_from_epoch=cfg.beta_warmup_epochs),
        keras.callbacks.ModelCheckpoint(str(work_dir / "checkpoints" / "vae.weights.h5"), monitor="val_recon", mode="min",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(str(work_dir / "logs" / "history.csv")),
        keras.callbacks.TensorBoard(str(work_dir / "logs" / "tensorboard"), write_graph=False),
    ]
    t0 = time.time()
    hist = vae.fit(augmented_batches(train_x, cfg), validation_data=(val_x, val_x), epochs=cfg.epochs,
                   callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.time() - t0
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    history["epoch"] = list(range(1, len(hist.epoch) + 1))
    return enc, dec, history, seconds
