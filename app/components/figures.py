"""Pure figure builders: numpy data in, plotly figures (or Patch payloads) out.

Nothing here reads the cache or Dash state, so every function is unit-testable on plain arrays.
Time is always in seconds on the x axis; signals in mV.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.config import MODEL_FS
from app.ecg.fusion import FUSE_RATIO

NORMAL = "#1f77b4"
ANOMALY = "#d62728"
LOW_QUALITY = "#767676"  # grey at 4.5:1 on white (WCAG non-text contrast; #9e9e9e was 2.7:1)
RECON = "#ff7f0e"
NEIGHBOUR = "#6f42c1"  # a neighbouring beat inside the inspector's window
RECORDED = "#b0b0b0"  # a noisy beat as recorded, behind the denoised window the VAE scored

MAX_POINTS = 2000        # min-max bins per lead per strip update (2 points per bin)
MAX_MARKERS = 1500       # beat markers per strip update; beyond, only flagged/low-quality beats
MAX_TIMELINE = 20000     # timeline points; longer records are min-max reduced per bin
# noisy stretches shaded on the timeline: runs of NOISY_MIN_BEATS beats or more whose analysed lead's
# noise ratio (noise floor / beat level, BeatSet.noise_ratio) is above NOISY_RATIO, the level at which
# the R-peak detector consults the other leads (app.ecg.fusion.FUSE_RATIO). How many beats and false
# detections fall inside: benchmarks.noise's columns shaded and false_shaded (README: How to read the results)
NOISY_RATIO, NOISY_MIN_BEATS = FUSE_RATIO, 3
MAX_NOISY_SPANS = 200    # beyond, the closest spans are merged
NOISY_FILL = "rgba(118,118,118,0.16)"
WINDOW_PRE = 90          # samples before the R-peak in a 256-sample beat window (360 Hz)

_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12)


def _base_layout(**kw) -> dict:
    layout = dict(template="plotly_white", font=_FONT, margin=dict(l=55, r=15, t=30, b=35))
    layout.update(kw)
    return layout


def minmax_indices(i0: int, i1: int, values: np.ndarray, n_bins: int = MAX_POINTS) -> np.ndarray:
    """Indices into ``values`` that keep each bin's min and max over [i0, i1), in time order.

    Stateless min-max downsampling: at most ``2 * n_bins`` indices whatever the span; the raw
    indices when the span already fits.
    """
    i0, i1 = max(0, int(i0)), min(len(values), int(i1))
    n = i1 - i0
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n <= 2 * n_bins:
        return np.arange(i0, i1, dtype=np.int64)
    size = int(np.ceil(n / n_bins))
    n_full = n // size
    seg = values[i0 : i0 + n_full * size].reshape(n_full, size)
    base = i0 + np.arange(n_full, dtype=np.int64) * size
    lo = base + np.argmin(seg, axis=1)
    hi = base + np.argmax(seg, axis=1)
    idx = np.stack([np.minimum(lo, hi), np.maximum(lo, hi)], axis=1).ravel()
    tail = i0 + n_full * size
    if tail < i1:
        rest = values[tail:i1]
        idx = np.concatenate([idx, np.sort(tail + np.array([np.argmin(rest), np.argmax(rest)]))])
    return idx


def downsample_lead(signal: np.ndarray, fs: float, t0: float, t1: float,
                    n_bins: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(time_s, mV) of one lead over [t0, t1] s, min-max downsampled to <= 2*n_bins points."""
    i0 = int(np.floor(t0 * fs))
    i1 = int(np.ceil(t1 * fs)) + 1
    idx = minmax_indices(i0, i1, signal, n_bins)
    return idx / float(fs), signal[idx]


def beat_classes(flags: np.ndarray, low_quality: np.ndarray) -> np.ndarray:
    """0 normal, 1 anomaly, 2 low quality (not flagged), 3 anomaly of low quality: a low-quality
    beat stays flagged, and its low quality stays visible."""
    return (np.asarray(flags, bool).astype(np.int8) + 2 * np.asarray(low_quality, bool)).astype(np.int8)


CLASS_COLOURS = np.array([NORMAL, ANOMALY, LOW_QUALITY, ANOMALY])
CLASS_SYMBOLS = np.array(["circle", "circle", "x", "x"])  # low quality: a cross, flagged or not
CLASS_NAMES = np.array(["normal", "anomaly", "normal (low quality)", "anomaly (low quality)"])
MAX_LABELS = 150  # reference labels drawn in the strip's label band (beyond, the band stays empty)


def visible_beats(time_s: np.ndarray, flags: np.ndarray, low_quality: np.ndarray,
                  t0: float, t1: float, max_markers: int = MAX_MARKERS) -> np.ndarray:
    """Indices of the beats drawn in [t0, t1]: all of them, or only the flagged and low-quality
    ones (then only the flagged ones, then the first ``max_markers``) when there are too many.
    ``time_s`` must be sorted."""
    a, b = np.searchsorted(time_s, [t0, t1], side="left")
    idx = np.arange(a, b, dtype=np.int64)
    if len(idx) > max_markers:
        idx = idx[flags[a:b] | low_quality[a:b]]
    if len(idx) > max_markers:
        idx = idx[flags[idx]]
    return idx[:max_markers]


def marker_payload(beat_idx: np.ndarray, time_s: np.ndarray, y: np.ndarray, flags: np.ndarray,
                   low_quality: np.ndarray) -> dict:
    """The beat-marker trace's x, y, colours, symbols, customdata (beat index) and hover texts."""
    cls = beat_classes(flags[beat_idx], low_quality[beat_idx])
    return {
        "x": np.round(time_s[beat_idx], 4).tolist(),
        "y": np.round(y, 4).tolist(),
        "marker.color": CLASS_COLOURS[cls].tolist(),
        "marker.symbol": CLASS_SYMBOLS[cls].tolist(),
        "customdata": beat_idx.tolist(),
        "hovertext": [f"beat {i}: {n}" for i, n in zip(beat_idx.tolist(), CLASS_NAMES[cls])],
    }


def label_payload(time_s: np.ndarray, ref_symbol: np.ndarray | None, t0: float, t1: float,
                  max_labels: int = MAX_LABELS) -> dict:
    """The reference labels ('N', 'V', ...) of the beats in [t0, t1] for the strip's label band:
    none without a reference or when more than ``max_labels`` beats would crowd the band."""
    a, b = np.searchsorted(time_s, [t0, t1], side="left")
    if ref_symbol is None or b - a > max_labels:
        return {"x": [], "y": [], "text": [], "customdata": []}
    idx = np.arange(a, b, dtype=np.int64)
    return {"x": np.round(time_s[idx], 4).tolist(), "y": [0.5] * len(idx),
            "text": ref_symbol[idx].tolist(), "customdata": idx.tolist()}


def lead_payloads(signals: np.ndarray, fs: float, t0: float, t1: float,
                  n_bins: int = MAX_POINTS, shown: list[int] | None = None) -> list[dict]:
    """Per lead {x, y} of the strip over [t0, t1] (the ``shown`` leads, default all), rounded for a
    small payload."""
    out = []
    for j in range(signals.shape[1]) if shown is None else shown:
        x, y = downsample_lead(signals[:, j], fs, t0, t1, n_bins)
        out.append({"x": np.round(x, 4).tolist(), "y": np.round(y.astype(np.float64), 4).tolist()})
    return out


MAX_OTHER_LEADS = 2  # leads drawn in the strip besides the analysed one (a 12-lead strip was ~2,000 px tall)


def strip_leads(n_leads: int, lead_index: int, others=None, max_others: int = MAX_OTHER_LEADS) -> list[int]:
    """The leads the strip draws, in the file's order: the analysed lead and at most ``max_others``
    others: the last ones asked for in ``others`` (lead indices), else the first others of the file.
    Records with at most 1 + ``max_others`` leads (MIT-BIH's two) draw every lead."""
    if others is None:
        chosen = [j for j in range(n_leads) if j != lead_index][:max_others]
    else:
        chosen = []
        for j in (int(v) for v in others):
            if 0 <= j < n_leads and j != lead_index and j not in chosen:
                chosen.append(j)
        chosen = chosen[len(chosen) - max_others:] if len(chosen) > max_others else chosen
    return sorted({lead_index, *chosen})


LABEL_BAND_PX = 18  # height of the strip's reference-label band, above the analysed lead's trace


def strip_figure(signals: np.ndarray, fs: float, leads: list[str], lead_index: int,
                 time_s: np.ndarray, r_samples: np.ndarray, flags: np.ndarray,
                 low_quality: np.ndarray, ref_symbol: np.ndarray | None,
                 t0: float, t1: float, shown: list[int] | None = None) -> go.Figure:
    """ECG strip over [t0, t1] s of the ``shown`` leads (default: ``strip_leads``' choice, i.e.
    every lead of a record with up to three) with beat markers on the analysed lead.

    The reference labels sit in a band of their own at the top of the analysed lead's panel
    (a hidden y axis), so they never cover the trace, whichever way its QRS points.
    Trace order (relied upon by the Patch updates): one line per shown lead, the markers, the labels.
    """
    shown = strip_leads(signals.shape[1], lead_index) if shown is None else list(shown)
    n_rows = len(shown)
    row = shown.index(lead_index)  # the analysed lead's panel
    fig = make_subplots(rows=n_rows, cols=1, shared_xaxes=True, vertical_spacing=0.04)
    for k, (j, p) in enumerate(zip(shown, lead_payloads(signals, fs, t0, t1, shown=shown))):
        fig.add_trace(go.Scatter(x=p["x"], y=p["y"], mode="lines", name=leads[j],
                                 line=dict(color="#333333", width=1), hoverinfo="skip",
                                 showlegend=False), row=k + 1, col=1)
        fig.update_yaxes(title_text=f"{leads[j]} (mV)", row=k + 1, col=1, fixedrange=True)
    idx = visible_beats(time_s, flags, low_quality, t0, t1)
    y = signals[np.clip(r_samples[idx], 0, len(signals) - 1), lead_index]
    m = marker_payload(idx, time_s, y, flags, low_quality)
    fig.add_trace(go.Scatter(x=m["x"], y=m["y"], mode="markers",
                             marker=dict(color=m["marker.color"], symbol=m["marker.symbol"], size=9,
                                         line=dict(width=1, color="white")),
                             customdata=m["customdata"], hovertext=m["hovertext"], hoverinfo="text",
                             name="beats", showlegend=False), row=row + 1, col=1)
    height = 170 + 150 * n_rows
    layout = _base_layout(height=height, dragmode="zoom", uirevision="strip", hovermode="closest")
    suffix = "" if row == 0 else str(row + 1)  # the analysed lead's axes: x/y, x2/y2, ...
    lab = label_payload(time_s, ref_symbol, t0, t1)
    # Without a reference the (always empty) label trace stays on the lead's own axes: a band axis
    # of zero height would get plotly.js's default domain [0, 1], and its subplot's background
    # would then cover the panels drawn before it (the analysed lead's trace and markers among them).
    band_axis = f"y{n_rows + 1}" if ref_symbol is not None else "y" + suffix
    fig.add_trace(go.Scatter(x=lab["x"], y=lab["y"], text=lab["text"], customdata=lab["customdata"],
                             mode="text", textfont=dict(size=10, color="#555"), hoverinfo="skip",
                             name="reference labels", showlegend=False, xaxis="x" + suffix, yaxis=band_axis))
    if ref_symbol is not None:
        d0, d1 = fig.layout["yaxis" + suffix].domain
        band = LABEL_BAND_PX / (height - layout["margin"]["t"] - layout["margin"]["b"])
        fig.layout["yaxis" + suffix].domain = [d0, d1 - band]
        fig.layout[f"yaxis{n_rows + 1}"] = dict(domain=[d1 - band, d1], range=[0, 1], visible=False,
                                                fixedrange=True, anchor="x" + suffix)
    fig.update_xaxes(range=[t0, t1])
    fig.update_xaxes(title_text="time (s)", row=n_rows, col=1)
    fig.update_layout(**layout)
    return fig


def timeline_points(time_s: np.ndarray, score: np.ndarray,
                    max_points: int = MAX_TIMELINE) -> np.ndarray:
    """Beat indices for the score timeline: all beats, or per-bin min and max when there are more
    than ``max_points`` (peaks, i.e. candidate anomalies, always survive)."""
    n = len(score)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return minmax_indices(0, n, score, max_points // 2)


def threshold_colorscale(threshold: float, cmin: float, cmax: float, below: str = NORMAL) -> list:
    """Two-colour step colour scale: ``below`` up to the threshold, anomaly above it."""
    span = max(cmax - cmin, 1e-12)
    p = float(np.clip((threshold - cmin) / span, 1e-9, 1 - 1e-9))
    return [[0.0, below], [p, below], [p, ANOMALY], [1.0, ANOMALY]]


def noisy_spans(time_s: np.ndarray, noise_ratio: np.ndarray | None, ratio: float = NOISY_RATIO,
                min_beats: int = NOISY_MIN_BEATS, max_spans: int = MAX_NOISY_SPANS) -> list[tuple[float, float]]:
    """(start, end) in seconds of the runs of ``min_beats`` consecutive beats or more whose noise
    ratio is above ``ratio``, each from its first to its last beat; at most ``max_spans`` (the
    spans closest together merged first). [] without noise ratios."""
    if noise_ratio is None or len(noise_ratio) != len(time_s) or len(time_s) == 0:
        return []
    r = np.asarray(noise_ratio, np.float64)
    high = np.isfinite(r) & (r > ratio)
    edges = np.flatnonzero(np.diff(np.r_[0, high.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]  # beat runs [start, end)
    long = ends - starts >= min_beats
    t = np.asarray(time_s, np.float64)
    a, b = t[starts[long]], t[ends[long] - 1]
    if len(a) > max_spans:  # merge across the smallest gaps
        gaps = a[1:] - b[:-1]
        cut = np.sort(np.argsort(gaps, kind="stable")[len(a) - max_spans:])  # the gaps kept
        a, b = a[np.r_[0, cut + 1]], b[np.r_[cut, len(b) - 1]]
    return [(float(x), float(y)) for x, y in zip(a, b)]


def in_spans(time_s: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Per time, whether it lies inside one of the sorted, disjoint ``spans`` (ends included)."""
    t = np.asarray(time_s, np.float64)
    if not len(spans):
        return np.zeros(len(t), bool)
    a, b = np.asarray(spans, np.float64).T
    j = np.searchsorted(a, t, side="right") - 1
    return (j >= 0) & (t <= b[np.clip(j, 0, None)])


def timeline_figure(time_s: np.ndarray, score: np.ndarray, low_quality: np.ndarray,
                    threshold: float, window: tuple[float, float] | None = None,
                    noisy: list[tuple[float, float]] = ()) -> go.Figure:
    """Score of every beat over the whole record; threshold line (shape 0), the strip's window
    (shape 1) and grey bands behind the ``noisy`` spans (``noisy_spans``; shapes 2, ...). Colours
    follow the threshold through the colour scale only, so a threshold change patches a few
    bytes, not one colour per beat.

    Traces: 0 = beats of acceptable quality (dots), 1 = low-quality beats (crosses: grey, red
    when flagged).
    """
    idx = timeline_points(time_s, score)
    good = idx[~low_quality[idx]]
    bad = idx[low_quality[idx]]
    cmin, cmax = float(np.min(score)) if len(score) else 0.0, float(np.max(score)) if len(score) else 1.0
    fig = go.Figure()
    fig.add_trace(go.Scattergl(
        x=time_s[good].astype(np.float32), y=score[good].astype(np.float32), mode="markers", name="beats",
        customdata=good.astype(np.int32), hovertemplate="beat %{customdata}<br>t=%{x:.1f}s<br>score=%{y:.3f}<extra></extra>",
        marker=dict(size=5, color=score[good].astype(np.float32), cmin=cmin, cmax=cmax,
                    colorscale=threshold_colorscale(threshold, cmin, cmax), showscale=False)))
    fig.add_trace(go.Scattergl(
        x=time_s[bad].astype(np.float32), y=score[bad].astype(np.float32), mode="markers", name="low quality",
        customdata=bad.astype(np.int32),
        hovertemplate="beat %{customdata} (low quality)<br>t=%{x:.1f}s<br>score=%{y:.3f}<extra></extra>",
        marker=dict(size=7, color=score[bad].astype(np.float32), cmin=cmin, cmax=cmax, symbol="x",
                    colorscale=threshold_colorscale(threshold, cmin, cmax, below=LOW_QUALITY), showscale=False)))
    shapes = [dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=threshold, y1=threshold,
                   line=dict(color=ANOMALY, dash="dash", width=1.5))]
    w = window or (0.0, 0.0)
    shapes.append(dict(type="rect", xref="x", yref="paper", x0=w[0], x1=w[1], y0=0, y1=1, visible=window is not None,
                       fillcolor="rgba(31,119,180,0.15)", line=dict(width=1.5, color="rgba(31,119,180,0.7)")))
    shapes += [dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0, y1=1, layer="below",
                    fillcolor=NOISY_FILL, line=dict(width=0), name="noisy") for a, b in noisy]
    fig.update_layout(**_base_layout(height=220, shapes=shapes, showlegend=False, uirevision="timeline",
                                     xaxis_title="time (s)", yaxis_title="anomaly score",
                                     hovermode="x", hoverdistance=-1))
    return fig


def neighbour_beats_ms(time_s: np.ndarray, b: int) -> dict[str, float]:
    """Where beat ``b``'s previous and next beats are (ms from its R-peak), those that exist."""
    out = {}
    if b > 0:
        out["previous beat"] = float(time_s[b - 1] - time_s[b]) * 1000.0
    if b + 1 < len(time_s):
        out["next beat"] = float(time_s[b + 1] - time_s[b]) * 1000.0
    return out


def beat_figure(window: np.ndarray, recon: np.ndarray, fs: float = MODEL_FS,
                pre: int = WINDOW_PRE, title: str = "", neighbours: dict[str, float] | None = None,
                scored: np.ndarray | None = None, scored_name: str = "as scored") -> go.Figure:
    """A beat (record-scaled units) against its VAE reconstruction, with the residual below.

    ``neighbours`` (label -> ms from the R-peak, e.g. ``neighbour_beats_ms``): a dashed line at
    each neighbouring beat that falls inside the window, whose QRS the VAE then sees too.
    ``scored``: the window the VAE saw instead of ``window`` (denoised, baseline drift taken out;
    ``app.analysis.scored_window``), named ``scored_name``: drawn too, the recorded beat in grey
    behind it, and the residual is taken from it."""
    t_ms = (np.arange(len(window)) - pre) / fs * 1000.0
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    if scored is None:
        fig.add_trace(go.Scatter(x=t_ms, y=window, name="beat", line=dict(color="#222", width=1.6)), row=1, col=1)
    else:
        fig.add_trace(go.Scatter(x=t_ms, y=window, name="beat as recorded", line=dict(color=RECORDED, width=1.2)),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=t_ms, y=scored, name=scored_name, line=dict(color="#222", width=1.6)),
                      row=1, col=1)
    fig.add_trace(go.Scatter(x=t_ms, y=recon, name="VAE reconstruction",
                             line=dict(color=RECON, width=1.6, dash="dot")), row=1, col=1)
    base = window if scored is None else scored
    fig.add_trace(go.Scatter(x=t_ms, y=base - recon, name="residual", fill="tozeroy",
                             line=dict(color=ANOMALY, width=1)), row=2, col=1)
    fig.update_yaxes(title_text="amplitude (scaled)", row=1, col=1)
    fig.update_yaxes(title_text="residual", row=2, col=1)
    fig.update_xaxes(title_text="ms from R-peak", row=2, col=1)
    for label, ms in (neighbours or {}).items():
        if len(t_ms) and t_ms[0] <= ms <= t_ms[-1]:
            line = dict(color=NEIGHBOUR, dash="dash", width=1.2)
            fig.add_vline(x=ms, line=line, row=1, col=1, annotation_text=label,
                          annotation_position="top left" if ms > 0 else "top right",
                          annotation_font=dict(size=11, color=NEIGHBOUR))
            fig.add_vline(x=ms, line=line, row=2, col=1)  # the label once, on the beat panel
    fig.update_layout(**_base_layout(height=340, title=dict(text=title, font=dict(size=13)),
                                     legend=dict(orientation="h", y=1.12, x=0)))
    return fig


SCORE_PARTS = [("recon_error", "reconstruction error"), ("latent_distance", "latent distance"),
               ("kl", "KL divergence"), ("rr_score", "rhythm (RR)"), ("score", "ensemble score")]


def percentile_ranks(values: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Share (0-100) of the record's beats with a lower value, for each of ``values``."""
    if len(sorted_values) == 0:
        return np.zeros_like(values, dtype=float)
    return 100.0 * np.searchsorted(sorted_values, values, side="left") / len(sorted_values)


def breakdown_figure(names: list[str], ranks: list[float], values: list[float]) -> go.Figure:
    """Horizontal bars: where this beat's scores fall within the record (percentile); the
    values themselves are in ``names`` (the axis labels)."""
    colours = [ANOMALY if r >= 95 else NORMAL for r in ranks]
    fig = go.Figure(go.Bar(x=ranks, y=names, orientation="h", marker_color=colours,
                           text=[f"p{r:.0f}" for r in ranks], textposition="outside", cliponaxis=False,
                           hovertext=[f"{v:.4g}" for v in values], hoverinfo="text"))
    fig.update_layout(**_base_layout(height=220, xaxis=dict(range=[0, 108], title="percentile within this record"),
                                     yaxis=dict(autorange="reversed"), margin=dict(l=190, r=25, t=10, b=40)))
    return fig


def empty_figure(message: str = "", height: int = 200) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**_base_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                                     annotations=[dict(text=message, showarrow=False, x=0.5, y=0.5,
                                                       xref="paper", yref="paper", font=dict(size=14, color="#777"))]))
    return fig
