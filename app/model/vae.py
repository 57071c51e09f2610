"""Convolutional VAE for 256-sample heartbeats (Keras 3), after the Keras VAE example.

encoder: 4 x (Conv1D stride 2 -> BatchNorm -> LeakyReLU -> Dropout) [-> Dense hidden] -> z_mean, z_log_var
decoder: [Dense hidden ->] Dense -> 4 x (Conv1DTranspose stride 2 -> BatchNorm -> LeakyReLU) -> Conv1D(1)

``hidden`` (optional) puts a dense layer between the convolutions and the latent on both sides:
parameters there cost one multiply each per beat, while a convolution's are re-used at every time
step, so thin convolutions plus a dense layer keep the capacity at a fraction of the compute.
loss:    sum of squared error over the window + beta * KL(q(z|x) || N(0, I)); beta warms up.
"""
from __future__ import annotations

import keras
from keras import layers, ops


class Sampling(layers.Layer):
    """Reparameterization trick: z = mean + exp(log_var / 2) * eps, eps from a seeded generator."""

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def build_encoder(window=256, latent_dim=16, filters=(32, 64, 128, 256), kernel=7, dropout=0.1, hidden=None):
    x_in = keras.Input(shape=(window,), name="beat")
    x = layers.Reshape((window, 1))(x_in)
    for f in filters:
        x = layers.Conv1D(f, kernel, strides=2, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.1)(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    if hidden:
        x = layers.Dense(hidden)(x)
        x = layers.LeakyReLU(0.1)(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(x_in, [z_mean, z_log_var], name="encoder")


def build_decoder(window=256, latent_dim=16, filters=(32, 64, 128, 256), kernel=7, hidden=None):
    steps = window // 2 ** len(filters)
    z_in = keras.Input(shape=(latent_dim,), name="z")
    x = z_in
    if hidden:
        x = layers.Dense(hidden)(x)
        x = layers.LeakyReLU(0.1)(x)
    x = layers.Dense(steps * filters[-1])(x)
    x = layers.LeakyReLU(0.1)(x)
    x = layers.Reshape((steps, filters[-1]))(x)
    for f in (*reversed(filters[:-1]), filters[0]):  # mirror of the encoder
        x = layers.Conv1DTranspose(f, kernel, strides=2, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.1)(x)
    x = layers.Conv1D(1, kernel, padding="same")(x)
    return keras.Model(z_in, layers.Reshape((window,))(x), name="decoder")


def kl_per_beat(z_mean, z_log_var):
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


class VAE(keras.Model):
    def __init__(self, encoder, decoder, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.sampling = Sampling(seed)
        self.beta = keras.Variable(0.0, trainable=False, name="beta")  # set by the warm-up callback
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "recon", "kl")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        return self.decoder(self.sampling([z_mean, z_log_var]), training=training), z_mean, z_log_var

    def _compute_losses(self, data, training):
        x_in, x_target, _ = keras.utils.unpack_x_y_sample_weight(data)  # (noisy beat, clean beat)
        x_target = x_in if x_target is None else x_target
        recon, z_mean, z_log_var = self(x_in, training=training)
        rec = ops.mean(ops.sum(ops.square(x_target - recon), axis=-1))
        kl = ops.mean(kl_per_beat(z_mean, z_log_var))
        return rec + self.beta * kl, rec, kl

    def _track(self, loss, rec, kl):
        for k, v in zip(("loss", "recon", "kl"), (loss, rec, kl)):
            self.trackers[k].update_state(v)
        return {k: m.result() for k, m in self.trackers.items()}

    def train_step(self, data):
        import tensorflow as tf  # TF backend: the gradient tape of the Keras VAE example

        with tf.GradientTape() as tape:
            loss, rec, kl = self._compute_losses(data, training=True)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._track(loss, rec, kl)

    def test_step(self, data):
        return self._track(*self._compute_losses(data, training=False))
