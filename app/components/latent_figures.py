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
SCORE_LEGEND = "this record's beats (colour: score)"


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
    return [f"beat {b:,}<br>t = {t:.2f} s<br>score {s:.3g}" + (f"<br>ref {c}" if c else "")
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
        # the legend would draw this trace with one arbitrary colour of the scale: it gets a
        # neutral legend-only entry instead (same group, so clicking it still hides the beats).
        # A short name: a legend wider than the first (narrow) draw wraps onto the axis title.
        fig.add_trace(go.Scattergl(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name="this record's beats", customdata=beat_idx.tolist(),
            text=hover, hovertemplate="%{text}<extra></extra>", legendgroup="record", showlegend=False,
            marker=dict(size=6, color=score, colorscale="Viridis", showscale=True,
                        colorbar=dict(title=dict(text="score"), thickness=12))))
        fig.add_trace(go.Scattergl(
            x=[None], y=[None], mode="markers", name=SCORE_LEGEND, legendgroup="record", hoverinfo="skip",
            marker=dict(size=8, color="white", line=dict(color="#495057", width=1.5))))
    elif colour_by == "flag":
        fig.add_trace(points(~flags, f"not flagged ({int((~flags).sum()):,})", NORMAL))
        fig.add_trace(points(flags, f"flagged ({int(flags.sum()):,})", ANOMALY, symbol="x"))
    elif colour_by == "ref_class":
        cls = (np.asarray(ref_class).astype(str) if ref_class is not None else np.full(len(xy), ""))
        for c in ("N", "S", "V", "F", "Q", ""):
            m = cls == c
            if m.any():
                fig.add_trace(points(m, f"{CLASS_NAMES[c]} ({int(m.sum()):,})", CLASS_COLOURS[c]))
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


def beat_caption(beat: int, time_s: float | None = None, score: float | None = None,
                 flagged: bool | None = None, ref_class: str | None = None) -> str:
    """One beat in words: "beat 1,914 at 25:25.60 (1,525.60 s), score 0.501, ..."."""
    parts = [f"beat {beat:,}"]
    if time_s is not None and np.isfinite(time_s):
        minutes, seconds = divmod(float(time_s), 60.0)
        parts[0] += f" at {int(minutes)}:{seconds:05.2f} ({float(time_s):,.2f} s)"
    if score is not None and np.isfinite(score):
        parts.append(f"score {float(score):.3g}")
    if flagged is not None:
        parts.append(("flagged" if flagged else "not flagged") + " (default threshold)")
    if ref_class:
        parts.append(f"reference {CLASS_NAMES.get(ref_class, ref_class)}")
    return ", ".join(parts)


def _at(values, b: int):
    return None if values is None else np.asarray(values)[b]


def beats_overlay(windows: np.ndarray, beat_idx: list[int], flags: np.ndarray | None = None,
                  fs: float = MODEL_FS, pre: int = WINDOW_PRE, max_beats: int = MAX_OVERLAY,
                  height: int = 360, time_s: np.ndarray | None = None, score: np.ndarray | None = None,
                  ref_class: np.ndarray | None = None) -> go.Figure:
    """The chosen beats' windows overlaid (ms from the R-peak), with their mean in black.

    One chosen beat is drawn and named alone (number, time, score, flag, reference class when
    given: ``time_s``, ``score``, ``ref_class`` are per beat of the record, like ``flags``).
    """
    if not len(beat_idx):
        return message_figure("Click a point, or draw a lasso around points, to overlay those beats here.",
                              height)
    idx = np.asarray(beat_idx, dtype=int)
    w = np.asarray(windows[idx], dtype=float)  # only the chosen rows (a cached entry decodes rows on demand)
    t_ms = (np.arange(w.shape[1]) - pre) / fs * 1000.0
    layout = dict(height=height, xaxis=dict(title="ms from R-peak"), yaxis=dict(title="amplitude (record scale)"),
                  legend=dict(orientation="h", yanchor="top", y=-0.2, x=0.0, xanchor="left"))  # the title is long
    if len(idx) == 1:
        b = int(idx[0])
        flagged = None if flags is None else bool(flags[b])
        caption = beat_caption(b, _at(time_s, b), _at(score, b), flagged, _at(ref_class, b))
        fig = go.Figure(go.Scattergl(
            x=t_ms, y=w[0], mode="lines", name=f"beat {b:,}",
            line=dict(width=2.5, color=ANOMALY if flagged else NORMAL), hovertemplate=f"beat {b:,}<extra></extra>"))
        fig.update_layout(**_layout(**layout, showlegend=True,
                                    title=dict(text=caption[0].upper() + caption[1:], x=0.01, font=dict(size=14))))
        return fig
    shown = idx[np.linspace(0, len(idx) - 1, min(len(idx), max_beats)).round().astype(int)]
    row = {int(b): i for i, b in enumerate(idx)}
    fig = go.Figure()
    for b in shown:
        flagged = bool(flags[b]) if flags is not None else False
        fig.add_trace(go.Scattergl(x=t_ms, y=w[row[int(b)]], mode="lines", name=f"beat {b:,}", showlegend=False,
                                   line=dict(width=1, color=ANOMALY if flagged else NORMAL), opacity=0.35,
                                   hovertemplate=f"beat {b:,}<extra></extra>"))
    fig.add_trace(go.Scattergl(x=t_ms, y=w.mean(axis=0), mode="lines", name="mean of the chosen beats",
                               line=dict(width=3, color="black")))
    title = f"{len(idx):,} beats chosen"
    if len(shown) < len(idx):
        title += f" ({len(shown)} drawn, mean over all)"
    title += "; red: flagged, blue: not flagged"
    fig.update_layout(**_layout(**layout, title=dict(text=title, x=0.01, font=dict(size=14))))
    return fig
