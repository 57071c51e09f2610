"""Pure figure builders of the latent-space page: arrays in, plotly figures out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.components.figures import MODEL_FS, WINDOW_PRE, _base_layout

REFERENCE_COLOUR = "#c7c7c7"
NORMAL = "#1f77b4"
ANOMALY = "#d62728"
CLASS_COLOURS = {"N": "#1f77b4", "S": "#ff7f0e", "V": "#d62728", "F": "#9467bd", "Q": "#8c564b",
                 "": "#7f7f7f"}
CLASS_NAMES = {"N": "N (normal)", "S": "S (supraventricular)", "V": "V (ventricular)",
               "F": "F (fusion)", "Q": "Q (unknown/paced)", "": "no reference beat"}
COLOUR_MODES = {"score": "ensemble score", "flag": "flag", "ref_class": "reference class"}
MAX_OVERLAY = 60          # beats drawn in the overlay figure


def _layout(**kw) -> dict:
    return _base_layout(**{"margin": dict(l=50, r=15, t=35, b=40), **kw})


def message_figure(message: str, height: int = 300) -> go.Figure:
    """An empty figure that shows ``message`` in its middle."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#6c757d"))
    fig.update_layout(**_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False)))
    return fig


def _hover(beat_idx: np.ndarray, time_s: np.ndarray, score: np.ndarray, ref_class: np.ndarray | None) -> list[str]:
    cls = ref_class if ref_class is not None else np.full(len(beat_idx), "")
    return [f"beat {b}<br>t = {t:.2f} s<br>score {s:.3g}" + (f"<br>ref {c}" if c else "")
            for b, t, s, c in zip(beat_idx, time_s, score, cls)]


def latent_scatter(xy: np.ndarray, beat_idx: np.ndarray, ref_xy: np.ndarray, method_label: str,
                   colour_by: str, score: np.ndarray, flags: np.ndarray, time_s: np.ndarray,
                   ref_class: np.ndarray | None = None, height: int = 560) -> go.Figure:
    """Record beats (customdata = beat index) over the grey training-normal cloud.

    customdata goes as a plain JSON list: dcc.Graph copies a selected point's customdata from
    the figure's data, where a numpy array would be a base64 typed array it cannot index.

    ``score``, ``flags``, ``time_s`` and ``ref_class`` are per shown beat (aligned with ``xy``).
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    beat_idx = np.asarray(beat_idx, dtype=int)
    score = np.asarray(score, dtype=float)
    flags = np.asarray(flags, dtype=bool)
    hover = _hover(beat_idx, np.asarray(time_s, float), score, ref_class)
    fig = go.Figure()
    ref_xy = np.asarray(ref_xy, dtype=float).reshape(-1, 2)
    if len(ref_xy):
        fig.add_trace(go.Scattergl(x=ref_xy[:, 0], y=ref_xy[:, 1], mode="markers", name="training normals (DS1)",
                                   marker=dict(size=4, color=REFERENCE_COLOUR, opacity=0.5),
                                   hoverinfo="skip"))

    def points(mask, name, colour, **marker):
        m = np.asarray(mask, dtype=bool)
        return go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=name,
                            customdata=beat_idx[m].tolist(), text=[h for h, k in zip(hover, m) if k],
                            hovertemplate="%{text}<extra></extra>",
                            marker=dict(size=6, color=colour, line=dict(width=0), **marker))

    if colour_by == "score":
        fig.add_trace(go.Scattergl(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name="this record's beats", customdata=beat_idx.tolist(),
            text=hover, hovertemplate="%{text}<extra></extra>",
            marker=dict(size=6, color=score, colorscale="Viridis", showscale=True,
                        colorbar=dict(title=dict(text="score"), thickness=12))))
    elif colour_by == "flag":
        fig.add_trace(points(~flags, f"not flagged ({int((~flags).sum())})", NORMAL))
        fig.add_trace(points(flags, f"flagged ({int(flags.sum())})", ANOMALY, symbol="x"))
    elif colour_by == "ref_class":
        cls = (np.asarray(ref_class).astype(str) if ref_class is not None else np.full(len(xy), ""))
        for c in ("N", "S", "V", "F", "Q", ""):
            m = cls == c
            if m.any():
                fig.add_trace(points(m, f"{CLASS_NAMES[c]} ({int(m.sum())})", CLASS_COLOURS[c]))
    else:
        raise ValueError(f"unknown colour mode {colour_by!r}")
    fig.update_layout(**_layout(
        height=height, dragmode="lasso", clickmode="event+select", uirevision=method_label,
        title=dict(text=f"{method_label} of the latent means", x=0.01, font=dict(size=14)),
        xaxis=dict(title=f"{method_label} 1", zeroline=False),
        yaxis=dict(title=f"{method_label} 2", zeroline=False),
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0.0, xanchor="left")))
    return fig


def selected_beats(selected_data: dict | None, click_data: dict | None = None) -> list[int]:
    """Beat indices chosen by lasso/box (``selectedData``) or else by a click (``clickData``)."""
    for data in (selected_data, click_data):
        pts = (data or {}).get("points") or []
        beats = [int(p["customdata"]) for p in pts
                 if isinstance(p, dict) and isinstance(p.get("customdata"), (int, float))]
        if beats:
            return sorted(set(beats))
    return []


def beats_overlay(windows: np.ndarray, beat_idx: list[int], flags: np.ndarray | None = None,
                  fs: float = MODEL_FS, pre: int = WINDOW_PRE, max_beats: int = MAX_OVERLAY,
                  height: int = 360) -> go.Figure:
    """The chosen beats' windows overlaid (ms from the R-peak), with their mean in black."""
    if not len(beat_idx):
        return message_figure("Click a point, or draw a lasso around points, to overlay those beats here.",
                              height)
    idx = np.asarray(beat_idx, dtype=int)
    shown = idx[np.linspace(0, len(idx) - 1, min(len(idx), max_beats)).round().astype(int)]
    w = np.asarray(windows[idx], dtype=float)  # only the chosen rows (a cached entry decodes rows on demand)
    row = {int(b): i for i, b in enumerate(idx)}
    t_ms = (np.arange(w.shape[1]) - pre) / fs * 1000.0
    fig = go.Figure()
    for b in shown:
        flagged = bool(flags[b]) if flags is not None else False
        fig.add_trace(go.Scattergl(x=t_ms, y=w[row[int(b)]], mode="lines", name=f"beat {b}", showlegend=False,
                                   line=dict(width=1, color=ANOMALY if flagged else NORMAL),
                                   opacity=0.35 if len(shown) > 1 else 0.9,
                                   hovertemplate=f"beat {b}<extra></extra>"))
    fig.add_trace(go.Scattergl(x=t_ms, y=w.mean(axis=0), mode="lines", name="mean of the chosen beats",
                               line=dict(width=3, color="black")))
    title = f"{len(idx)} beat{'s' if len(idx) != 1 else ''} chosen"
    if len(shown) < len(idx):
        title += f" ({len(shown)} drawn, mean over all)"
    title += "; red: flagged, blue: not flagged"
    fig.update_layout(**_layout(
        height=height, title=dict(text=title, x=0.01, font=dict(size=14)),
        xaxis=dict(title="ms from R-peak"), yaxis=dict(title="amplitude (record scale)"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1.0, xanchor="right")))
    return fig
