"""Dash pages: one module per page (upload, signal, latent, evaluation), registered by app.ui."""
