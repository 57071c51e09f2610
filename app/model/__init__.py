"""The conv-VAE and its scores; the only package that imports TensorFlow (lazily, on load).

vae: architecture and loss; bundle: save/load of model_store/<id>/ and the compiled forward pass;
scorers: per-beat, patient-adaptive scores; ensemble: their combination; thresholds: flag rules.
"""
