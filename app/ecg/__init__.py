"""Signal domain: records, readers, filters, R-peaks, beats, RR, quality, AAMI labels.

numpy / scipy / wfdb only: nothing here imports Dash, TensorFlow or the rest of the project.
"""
from app.ecg.errors import InvalidRecordError
from app.ecg.record import Recording

__all__ = ["InvalidRecordError", "Recording"]
