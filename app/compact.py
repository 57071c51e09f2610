"""Compact, bounded form of a cache entry: what the cache backends store, and back.

A 24-hour analysis held naively (float32 signals, float32 windows and reconstructions, the
filtered lead) pickles to ~26 MB per hour of recording: over Redis' 512 MB bulk limit at 24 h.
Stored here instead:
- the signals losslessly as int16 ADC codes (WFDB values are code/gain; the gain is found from
  the data and the round trip checked bit for bit), delta-coded and zlib'd; float32 + zlib when
  the values are not on such a grid (e.g. a CSV upload);
- the beat windows and reconstructions (n, 256) as int16 on a 1/2048 grid (error <= 2.4e-4 of
  the record's R-peak height, ~20x below one ADC step), delta-coded along the beat and zlib'd
  in blocks of rows: ``PackedRows`` decodes only the rows that are read (a beat figure reads one);
- the filtered lead and the denoised windows the models scored are dropped (no page reads them;
  the windows carry what the viewer shows); the lead's block baseline (app.ecg.baseline, 1/10 of
  the samples) is kept as float16, so the inspector can rebuild what the models scored;
- everything else (table, latent, scores, thresholds, summary) pickled and zlib'd.
zlib level 1 only: a 24-hour entry (109k beats) packs in ~4 s and unpacks in ~1 s on this 2-core
machine (load 4), against 45-200 s for its analysis.
"""
from __future__ import annotations

import dataclasses
import pickle
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC_ENTRY = b"ECGE1\n"
MAGIC_RECORDING = b"ECGR1\n"
ROW_STEP = 1.0 / 2048        # quantization of windows/recon (record-scaled units)
ROW_BLOCK = 2048             # rows per compressed block
_SIGNAL_CHUNK = 1 << 22      # samples per chunk when converting a lead (bounds temporaries)
_NAN_CODE = np.int16(-32768)
_ZLIB_LEVEL = 1


# --------------------------------------------------------------------------- signals

@dataclass
class PackedSignal:
    """(n, n_leads) float32 signals, one compressed lead after another."""

    shape: tuple
    leads: list  # per lead: ("codes", gain, bytes) or ("float32", None, bytes)

    @property
    def nbytes(self) -> int:
        return sum(len(b) for _, _, b in self.leads)


def _from_codes(codes: np.ndarray, gain: float) -> np.ndarray:
    """float32 mV of int16 codes, as the WFDB reader computes them (float64 divide, then cast)."""
    out = (codes.astype(np.float64) / gain).astype(np.float32)
    out[codes == _NAN_CODE] = np.nan
    return out


def _codes_if_exact(x: np.ndarray, gain: float) -> np.ndarray | None:
    """int16 codes with ``_from_codes(codes, gain)`` bit-identical to ``x``, else None."""
    codes = np.empty(len(x), np.int16)
    for i in range(0, len(x), _SIGNAL_CHUNK):
        part = x[i:i + _SIGNAL_CHUNK]
        nan = np.isnan(part)
        c = np.rint(np.where(nan, 0.0, part.astype(np.float64) * gain))
        if len(c) and (c.min() < -32767 or c.max() > 32767):
            return None
        c = c.astype(np.int16)
        c[nan] = _NAN_CODE
        if not np.array_equal(_from_codes(c, gain).view(np.uint32), part.view(np.uint32)):
            return None
        codes[i:i + len(part)] = c
    return codes


def _gain_candidates(x: np.ndarray) -> list[float]:
    """Plausible ADC gains (codes per mV) for a lead: 1 / the smallest step between its values."""
    sample = x[:200_000].astype(np.float64)
    u = np.unique(sample[np.isfinite(sample)])
    d = np.diff(u)
    d = d[d > 0]
    if not len(d):
        return [1.0]
    g = 1.0 / float(d.min())
    out = []
    for c in (round(g), round(g, 1), round(g, 2), round(g, 3), g):
        if c > 0 and c not in out:
            out.append(float(c))
    return out


def _pack_lead(x: np.ndarray) -> tuple:
    x = np.ascontiguousarray(x, dtype=np.float32)
    probe = x[:50_000]
    for gain in _gain_candidates(x):
        if _codes_if_exact(probe, gain) is None:
            continue
        codes = _codes_if_exact(x, gain)
        if codes is not None:
            delta = np.diff(codes, prepend=np.int16(0))  # wraps modulo 2**16; cumsum undoes it
            return ("codes", gain, zlib.compress(delta.tobytes(), _ZLIB_LEVEL))
    return ("float32", None, zlib.compress(x.tobytes(), _ZLIB_LEVEL))


def pack_signal(signals: np.ndarray) -> PackedSignal:
    sig = np.asarray(signals)
    if sig.dtype != np.float32:
        sig = sig.astype(np.float32)
    return PackedSignal(shape=tuple(sig.shape), leads=[_pack_lead(sig[:, j]) for j in range(sig.shape[1])])


def unpack_signal(p: PackedSignal) -> np.ndarray:
    out = np.empty(p.shape, np.float32)
    for j, (kind, gain, data) in enumerate(p.leads):
        raw = zlib.decompress(data)
        if kind == "codes":
            codes = np.cumsum(np.frombuffer(raw, np.int16), dtype=np.int16)
            for i in range(0, len(codes), _SIGNAL_CHUNK):
                out[i:i + _SIGNAL_CHUNK, j] = _from_codes(codes[i:i + _SIGNAL_CHUNK], gain)
        else:
            out[:, j] = np.frombuffer(raw, np.float32)
    return out


# --------------------------------------------------------------------------- rows (windows, recon)

def _pack_block(block: np.ndarray) -> tuple:
    """(step, bytes): int16 on a power-of-two grid fine enough for the block, delta along rows."""
    if not np.isfinite(block).all():
        return (0.0, zlib.compress(np.ascontiguousarray(block, np.float32).tobytes(), _ZLIB_LEVEL))
    peak = float(np.abs(block).max()) if block.size else 0.0
    step = ROW_STEP
    while peak / step > 32000:
        step *= 2.0
    q = np.rint(block / np.float32(step)).astype(np.int16)
    delta = np.diff(q, axis=1, prepend=np.int16(0))
    return (step, zlib.compress(delta.tobytes(), _ZLIB_LEVEL))


class PackedRows:
    """A read-only (n, width) float32 array stored compressed in row blocks.

    Supports what the pages use: ``len``, ``shape``, ``dtype``, ``x[i]``, ``x[list/array/slice]``
    and ``np.asarray(x)`` (decodes everything). Decoded blocks are not kept (rows are small).
    """

    def __init__(self, x: np.ndarray, block: int = ROW_BLOCK):
        x = np.asarray(x, np.float32)
        if x.ndim != 2:
            raise ValueError("PackedRows needs a 2-D array")
        self.shape = (int(x.shape[0]), int(x.shape[1]))
        self.block = int(block)
        self.blocks = [_pack_block(x[i:i + block]) for i in range(0, self.shape[0], block)]

    dtype = np.dtype(np.float32)
    ndim = 2

    @property
    def nbytes_packed(self) -> int:
        return sum(len(b) for _, b in self.blocks)

    def __len__(self) -> int:
        return self.shape[0]

    def _decode(self, k: int) -> np.ndarray:
        step, data = self.blocks[k]
        raw = zlib.decompress(data)
        if step == 0.0:
            return np.frombuffer(raw, np.float32).reshape(-1, self.shape[1]).copy()
        q = np.frombuffer(raw, np.int16).reshape(-1, self.shape[1])
        return np.cumsum(q, axis=1, dtype=np.int16).astype(np.float32) * np.float32(step)

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.shape[1]), np.float32)
        if not len(idx):
            return out
        blk = idx // self.block
        for k in np.unique(blk):
            sel = blk == k
            out[sel] = self._decode(int(k))[idx[sel] - k * self.block]
        return out

    def __getitem__(self, item):
        if isinstance(item, tuple):  # x[rows, cols]
            rows, cols = item[0], item[1:]
            return self[rows][(slice(None),) + cols] if not np.isscalar(rows) else self[rows][cols]
        if isinstance(item, (int, np.integer)):
            i = int(item)
            if not -self.shape[0] <= i < self.shape[0]:
                raise IndexError(f"row {i} out of range for {self.shape[0]} rows")
            return self._rows(np.array([i % self.shape[0]]))[0]
        if isinstance(item, slice):
            return self._rows(np.arange(self.shape[0])[item])
        idx = np.asarray(item)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        if len(idx) and (idx.min() < -self.shape[0] or idx.max() >= self.shape[0]):
            raise IndexError("row index out of range")
        return self._rows(idx % max(self.shape[0], 1))

    def __array__(self, dtype=None, copy=None):
        full = self._rows(np.arange(self.shape[0]))
        return full if dtype is None else full.astype(dtype)

    def __repr__(self) -> str:
        return f"PackedRows(shape={self.shape}, packed={self.nbytes_packed} bytes)"


def packed_rows(x) -> PackedRows:
    return x if isinstance(x, PackedRows) else PackedRows(x)


# --------------------------------------------------------------------------- entries

def compact_analysis(analysis):
    """The Analysis with windows/recon as PackedRows and its BeatSet without the filtered lead."""
    windows = packed_rows(analysis.windows)
    recon = packed_rows(analysis.recon)
    beats = analysis.beats
    if beats is not None and dataclasses.is_dataclass(beats):
        changes = {}
        if hasattr(beats, "windows"):
            changes["windows"] = windows
        if getattr(beats, "filtered", None) is not None and len(beats.filtered):
            changes["filtered"] = np.zeros(0, np.float32)  # not read by any page (see module doc)
        if getattr(beats, "model_windows", None) is not None:
            changes["model_windows"] = None  # scored already; not read by any page
        if getattr(beats, "baseline", None) is not None and beats.baseline.dtype != np.float16:
            # the inspector's scored window subtracts it (app.analysis.scored_window): float16 halves
            # it (24 h: 6 MB), within ~5e-4 mV of what was subtracted
            changes["baseline"] = np.asarray(beats.baseline, np.float16)
        beats = dataclasses.replace(beats, **changes) if changes else beats
    return dataclasses.replace(analysis, windows=windows, recon=recon, beats=beats)


def recording_bytes(recording) -> bytes:
    """A Recording as bytes (signals packed losslessly)."""
    shell = dataclasses.replace(recording, signals=np.zeros((0, recording.signals.shape[1]), np.float32))
    body = pickle.dumps((shell, pack_signal(recording.signals)), protocol=5)
    return MAGIC_RECORDING + body


def recording_from_bytes(data: bytes):
    if not isinstance(data, (bytes, bytearray)) or not data.startswith(MAGIC_RECORDING):
        return None
    shell, sig = pickle.loads(data[len(MAGIC_RECORDING):])
    return dataclasses.replace(shell, signals=unpack_signal(sig))


def entry_bytes(recording, analysis) -> bytes:
    """(recording, analysis) as compact bytes; ``analysis`` may already be compact."""
    an = compact_analysis(analysis)
    rows = {"windows": an.windows, "recon": an.recon}
    beats = an.beats
    if beats is not None and hasattr(beats, "windows"):
        beats = dataclasses.replace(beats, windows=None)
    rest = dataclasses.replace(an, windows=None, recon=None, beats=beats)
    body = pickle.dumps({
        "recording": recording_bytes(recording),
        "rows": rows,
        "rest": zlib.compress(pickle.dumps(rest, protocol=5), _ZLIB_LEVEL),
    }, protocol=5)
    return MAGIC_ENTRY + body


def entry_from_bytes(data: bytes):
    """(recording, analysis) from ``entry_bytes``; None if the bytes are not such an entry."""
    if not isinstance(data, (bytes, bytearray)) or not data.startswith(MAGIC_ENTRY):
        return None
    parts = pickle.loads(data[len(MAGIC_ENTRY):])
    recording = recording_from_bytes(parts["recording"])
    an = pickle.loads(zlib.decompress(parts["rest"]))
    rows = parts["rows"]
    beats = an.beats
    if beats is not None and hasattr(beats, "windows"):
        beats = dataclasses.replace(beats, windows=rows["windows"])
    return recording, dataclasses.replace(an, windows=rows["windows"], recon=rows["recon"], beats=beats)
