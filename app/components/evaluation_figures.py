"""Pure builders of the evaluation page: evaluation.json pieces in, figures and table rows out.

Also the read-only loaders of the files the page shows (evaluation.json, the per-beat test
scores, history.json, MODEL_CARD.md), cached by path and modification time.

The schema is ``training.evaluate``'s: a beat set (detected beats at the top level, reference
beat positions under ``reference_beats``) holds ``scorers`` and ``baselines`` (name -> summary
with auroc, average_precision, at_threshold, per_class, roc, pr, operating_point) and
``per_record`` rows.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from app.model import metrics as M

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
SCORES_FILE = "ds2_scores.csv.gz"
HISTORY_FILE = "history.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
SCORER_LABELS = {"score": "Ensemble (VAE)", "recon_error": "VAE reconstruction error",
                 "latent_distance": "VAE latent distance", "kl": "VAE KL divergence",
                 "rr_score": "RR rhythm score", "recon_z": "VAE reconstruction error (z in record)",
                 "kl_z": "VAE KL divergence (z in record)"}
METRIC_COLUMNS = [("auroc", "AUROC"), ("average_precision", "AP"), ("sensitivity", "Sens"),
                  ("specificity", "Spec"), ("precision", "Prec"), ("f1", "F1"), ("mcc", "MCC"),
                  ("balanced_accuracy", "Bal. acc"), ("kappa", "Kappa"), ("npv", "NPV"),
                  ("accuracy", "Acc")]
CLASSES = ("S", "V", "F", "Q")
PER_RECORD_NAMES = {"record": "Record", "beats": "Beats", "labelled": "Labelled", "det_se": "Detector Se",
                    "det_ppv": "Detector +P", "auroc": "AUROC", "ap": "AP", "sens": "Sens", "spec": "Spec",
                    "flagged": "Flagged", "low_quality": "Low quality"}
PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12)


def _layout(**kw) -> dict:
    out = dict(template="plotly_white", font=_FONT, margin=dict(l=55, r=15, t=40, b=45))
    out.update(kw)
    return out


def fmt(v, digits: int = 3) -> str:
    """A metric as text: fixed decimals, an en dash when undefined."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "\u2013"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    return f"{float(v):.{digits}f}"


def scorer_label(name: str, baseline: bool = False) -> str:
    if baseline:
        return f"Baseline: {name}"
    return SCORER_LABELS.get(name, name)


def beat_set(ev: dict, mode: str = "detect") -> dict:
    """The summaries of one beat set: ``detect`` (top level) or ``reference``."""
    if mode == "reference":
        return ev.get("reference_beats") or {}
    return ev


def all_summaries(bs: dict) -> list[tuple[str, str, bool, dict]]:
    """(key, label, is_baseline, summary) of every scorer then every baseline; ensemble first.

    Baselines are under ``baselines`` (key ``baseline_<name>``, as in the per-beat scores file)
    or, in the intra-patient block, among the scorers with that prefix.
    """
    scorers = {k: v for k, v in (bs.get("scorers") or {}).items() if isinstance(v, dict)}
    model = sorted((n for n in scorers if not n.startswith("baseline_")), key=lambda n: (n != "score", n))
    out = [(n, scorer_label(n), False, scorers[n]) for n in model]
    out += [(n, scorer_label(n[len("baseline_"):], True), True, scorers[n])
            for n in scorers if n.startswith("baseline_")]
    out += [(f"baseline_{n}", scorer_label(n, True), True, s) for n, s in (bs.get("baselines") or {}).items()
            if isinstance(s, dict)]
    return out


def metrics_rows(bs: dict) -> list[dict]:
    """One row per scorer and baseline: AUROC, AP and the metrics at its DS1 threshold."""
    rows = []
    for key, label, is_base, s in all_summaries(bs):
        at = s.get("at_threshold") or {}
        row = {"scorer": label, "key": key, "kind": "baseline" if is_base else "model",
               "threshold": fmt(at.get("threshold"), 4)}
        for k, _ in METRIC_COLUMNS:
            row[k] = fmt(s.get(k) if k in ("auroc", "average_precision") else at.get(k))
        rows.append(row)
    return rows


def per_class_rows(bs: dict) -> list[dict]:
    """Per scorer: detection rate of S, V, F, Q and the N false-alarm rate at its threshold."""
    rows = []
    for key, label, _, s in all_summaries(bs):
        pc = s.get("per_class") or {}
        row = {"scorer": label, "key": key}
        for c in CLASSES + ("N",):
            r = pc.get(c) or {}
            row[c] = f"{fmt(r.get('rate'))} ({r.get('flagged', 0):,}/{r.get('n', 0):,})" if r.get("n") else "\u2013"
        rows.append(row)
    return rows


def curves_figure(bs: dict, kind: str = "roc", height: int = 540) -> go.Figure:
    """ROC (kind="roc") or precision-recall (kind="pr") curves of every scorer, overlaid.

    The legend sits below the plot, two entries a row: inside it would cover curves and
    operating points (the precision-recall curves fill every corner).
    """
    fig = go.Figure()
    for i, (key, label, is_base, s) in enumerate(all_summaries(bs)):
        c = s.get(kind) or {}
        x, y = (c.get("fpr"), c.get("tpr")) if kind == "roc" else (c.get("recall"), c.get("precision"))
        if not x:
            continue
        metric = s.get("auroc") if kind == "roc" else s.get("average_precision")
        colour = PALETTE[i % len(PALETTE)]
        ensemble = key == "score"
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", name=f"{label} ({fmt(metric)})",
            line=dict(color=colour, width=3 if ensemble else 1.5, dash="dot" if is_base else "solid"),
            hovertemplate=f"{label}<br>%{{x:.3f}}, %{{y:.3f}}<extra></extra>"))
        op = s.get("operating_point") or {}
        ox, oy = (op.get("fpr"), op.get("tpr")) if kind == "roc" else (op.get("tpr"), op.get("precision"))
        if ox is not None and oy is not None:
            fig.add_trace(go.Scatter(x=[ox], y=[oy], mode="markers", showlegend=False,
                                     marker=dict(color=colour, size=9, symbol="circle-open", line=dict(width=2)),
                                     hovertemplate=f"{label} at its DS1 threshold<br>%{{x:.3f}}, %{{y:.3f}}"
                                                   "<extra></extra>"))
    if kind == "roc":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color="#bbbbbb", dash="dash", width=1)))
        title, xt, yt = "ROC (AUROC)", "false-positive rate (1 - specificity)", "sensitivity"
    else:
        title, xt, yt = "Precision-recall (AP)", "recall (sensitivity)", "precision"
    fig.update_layout(**_layout(height=height, title=dict(text=title, x=0.01, font=dict(size=14)),
                                xaxis=dict(title=xt, range=[0, 1]), yaxis=dict(title=yt, range=[0, 1.02]),
                                margin=dict(l=55, r=15, t=40, b=10),
                                legend=dict(font=dict(size=10), orientation="h", x=0.0, xanchor="left",
                                            y=-0.16, yanchor="top", entrywidth=0.5, entrywidthmode="fraction")))
    return fig


def confusion_figure(confusion: dict, height: int = 300) -> go.Figure:
    """2 x 2 confusion matrix (rows: reference, columns: flag) with counts and row shares."""
    tp, fp, tn, fn = (int(confusion.get(k, 0)) for k in ("tp", "fp", "tn", "fn"))
    z = np.array([[tn, fp], [fn, tp]], dtype=float)
    share = z / np.maximum(z.sum(axis=1, keepdims=True), 1)
    text = [[f"{int(z[i, j]):,}<br>({share[i, j]:.1%})" for j in range(2)] for i in range(2)]
    fig = go.Figure(go.Heatmap(z=share, x=["not flagged", "flagged"], y=["normal (N)", "anomalous (S V F Q)"],
                               text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
                               showscale=False, hoverinfo="skip"))
    fig.update_layout(**_layout(height=height, title=dict(text="Confusion matrix", x=0.01, font=dict(size=14)),
                                xaxis=dict(title="model", side="bottom"),
                                yaxis=dict(title="reference", autorange="reversed")))
    return fig


def threshold_bounds(scores: np.ndarray, default: float | None = None) -> tuple[float, float]:
    """A slider range for a score: its 0.1st to 99.9th percentile, widened to hold ``default``."""
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    if not len(s):
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(s, [0.1, 99.9]))
    if default is not None and np.isfinite(default):
        lo, hi = min(lo, float(default)), max(hi, float(default))
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


SLIDER_POSITIONS = 1000   # threshold slider: steps between the 0.1st and 99.9th percentile


def anchored_slider_grid(lo: float, hi: float, anchor: float | None = None,
                         positions: int = SLIDER_POSITIONS) -> tuple[float, float, float]:
    """(min, max, step) of a slider over [lo, hi] with ``positions`` steps, on a grid through ``anchor``
    (the evaluation page's slider IS the threshold, so the DS1 value must be on it; the signal page
    keeps its threshold apart from its slider: ``viewdata.SliderGrid``).

    The slider snaps to min + k * step; putting ``anchor`` (the DS1 threshold) on that grid
    lets a drag or an arrow key land on it (to float rounding, about 1e-15). min and max widen
    by less than one step to do so.
    """
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    step = (hi - lo) / max(int(positions), 1)
    if anchor is None or not np.isfinite(anchor) or not lo <= anchor <= hi:
        return lo, hi, step
    a = float(anchor)
    below, above = math.ceil((a - lo) / step - 1e-9), math.ceil((hi - a) / step - 1e-9)
    return a - below * step, a + above * step, step


def slider_marks(lo: float, hi: float, default: float | None = None) -> dict:
    """Marks of the threshold slider: min and max (labels kept inside the track), and "DS1"."""
    marks = {lo: {"label": fmt(lo, 2), "style": {"transform": "none", "whiteSpace": "nowrap"}},
             hi: {"label": fmt(hi, 2), "style": {"transform": "translateX(-100%)", "whiteSpace": "nowrap"}}}
    if default is not None:
        marks[default] = {"label": "DS1", "style": {"color": "#d62728"}}
    return marks


# --------------------------------------------------------------------------- the model card as Markdown

_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ ]{0,3}\1[^\n]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\1(?!`)", re.S)
_INLINE_LINK = re.compile(r"!?\[[^\[\]\n]*\]\([^()\s]*(?:\([^()\s]*\)[^()\s]*)*(?:\s+\"[^\"\n]*\")?\)")
_REF_DEFINITION = re.compile(r"^[ ]{0,3}\[([^\[\]\n]+)\]:[ \t]*\S+[^\n]*$", re.M)
_REF_LINK = re.compile(r"!?\[([^\[\]\n]*)\](?:\[([^\[\]\n]*)\])?")
_COMPARISON = re.compile(r"^[ \t]*(>)(?=[=\d.])", re.M)


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of what Markdown must see as written: code, real links, link definitions."""
    spans: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in spans)

    for pattern in (_FENCE, _CODE_SPAN, _REF_DEFINITION, _INLINE_LINK):
        spans += [m.span() for m in pattern.finditer(text) if free(*m.span())]
    labels = {m.group(1).strip().lower() for m in _REF_DEFINITION.finditer(text)}
    if labels:
        for m in _REF_LINK.finditer(text):
            label = (m.group(2) or m.group(1) or "").strip().lower()
            if label in labels and free(*m.span()):
                spans.append(m.span())
    return sorted(spans)


def escaped_markdown(text: str) -> str:
    """``text`` with the Markdown it does not mean escaped, for ``dcc.Markdown``.

    Square brackets that are not part of a real link (``[text](url)``, or a reference link
    whose label is defined) are escaped: dcc.Markdown's parser turns "[0.98, 0.99]" into a
    link with an empty address and drops the brackets. A ">" that starts a line and is
    followed by "=", a digit or a point is a comparison ("  >= 0.95"), not a quote. Code
    (fenced blocks, `spans`) is left as written. Characters already escaped stay so.
    """
    spans = _protected_spans(text)
    comparisons = {m.start(1) for m in _COMPARISON.finditer(text)}
    out, pos = [], 0
    for start, end in spans + [(len(text), len(text))]:
        for i in range(pos, start):
            ch = text[i]
            escaped = _backslashes_before(text, i) % 2 == 1
            if not escaped and (ch in "[]" or (ch == ">" and i in comparisons)):
                out.append("\\")
            out.append(ch)
        out.append(text[start:end])
        pos = end
    return "".join(out)


def _backslashes_before(text: str, i: int) -> int:
    n = 0
    while i - n - 1 >= 0 and text[i - n - 1] == "\\":
        n += 1
    return n


def card_parts(md: str) -> tuple[str, str]:
    """(lead, rest) of a model card: the text before its first level-2 heading, and the rest."""
    m = re.search(r"^## ", md, re.M)
    if m is None:
        return md.strip(), ""
    return md[:m.start()].strip(), md[m.start():].strip()


def history_figure(history: dict, height: int = 340) -> go.Figure:
    """Training curves from history.json (name -> one value per epoch; optional ``epoch``)."""
    fig = go.Figure()
    history = dict(history or {})
    epochs_given = history.pop("epoch", None)
    series = {k: v for k, v in history.items()
              if isinstance(v, list) and v and all(isinstance(x, (int, float)) or x is None for x in v)}
    secondary = [k for k in series if k in ("lr", "learning_rate", "beta")]
    for i, (k, v) in enumerate(sorted(series.items(), key=lambda kv: (kv[0] in secondary, kv[0]))):
        epochs = (epochs_given if isinstance(epochs_given, list) and len(epochs_given) == len(v)
                  else list(range(1, len(v) + 1)))
        on2 = k in secondary
        fig.add_trace(go.Scatter(x=epochs, y=v, mode="lines+markers", name=k, yaxis="y2" if on2 else "y",
                                 line=dict(color=PALETTE[i % len(PALETTE)],
                                           dash="dash" if k.startswith("val_") or on2 else "solid"),
                                 marker=dict(size=4)))
    layout = _layout(height=height, title=dict(text="Training curves (DS1)", x=0.01, font=dict(size=14)),
                     xaxis=dict(title="epoch"), yaxis=dict(title="loss terms (log)", type="log"),
                     legend=dict(orientation="h", y=-0.25))
    if secondary:
        layout["yaxis2"] = dict(title=" / ".join(secondary), overlaying="y", side="right", type="log",
                                showgrid=False, **secondary_ticks([series[k] for k in secondary]))
    fig.update_layout(**layout)
    return fig


def secondary_ticks(series: list[list], most: int = 6) -> dict:
    """Tick settings of the learning-rate axis: a step schedule's few values, else compact labels.

    A log axis over less than a decade gets plotly's dense linear ticks ("0.001001, 0.000937");
    a schedule has few distinct values, and those are the ticks worth reading.
    """
    values = sorted({float(f"{float(x):.3g}") for s in series for x in s if x is not None and x > 0})
    if 0 < len(values) <= most:
        return dict(tickvals=values, tickformat="~g")
    return dict(tickformat=".1e")


def per_record_rows(bs: dict, scorer: str = "score") -> list[dict]:
    """One row per test record: beats, class counts, detection, and ``scorer``'s metrics."""
    rows = []
    for r in bs.get("per_record") or []:
        cc = r.get("class_counts") or {}
        m = (r.get("metrics") or {}).get(scorer) or {}
        det = r.get("detection") or {}
        rows.append({
            "record": r.get("record"), "beats": r.get("n_beats"), "labelled": r.get("n_labelled"),
            **{c: cc.get(c, 0) for c in ("N",) + CLASSES},
            "det_se": _num(det.get("se")), "det_ppv": _num(det.get("ppv")),
            "auroc": _num(m.get("auroc")), "ap": _num(m.get("average_precision")),
            "sens": _num(m.get("sensitivity")), "spec": _num(m.get("specificity")),
            "flagged": m.get("flagged"), "low_quality": r.get("low_quality"),
        })
    return rows


def _num(v, digits: int = 3):
    return None if v is None else round(float(v), digits)


def scalar_rows(d: dict, prefix: str = "", depth: int = 2) -> list[tuple[str, str]]:
    """(dotted key, text) of every scalar of a nested dict, for a generic key/value table."""
    out = []
    for k, v in (d or {}).items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 0:
            out += scalar_rows(v, name + ".", depth - 1)
        elif isinstance(v, (list, tuple)):
            if len(v) <= 30 and all(not isinstance(x, (dict, list)) for x in v):
                out.append((name, ", ".join(str(x) for x in v)))
        elif isinstance(v, float):
            out.append((name, fmt(v)))
        elif v is not None and not isinstance(v, dict):
            out.append((name, str(v)))
    return out


# --------------------------------------------------------------------------- reading the saved evaluation

def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def load_evaluation(directory: Path) -> dict | None:
    path = Path(directory) / EVALUATION_FILE
    return _read_json(str(path), _mtime(path))


@functools.lru_cache(maxsize=8)
def _read_json(path: str, mtime: int):
    if mtime < 0:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        log.exception("cannot read %s", path)
        return None


def load_scores(directory: Path, name: str = SCORES_FILE):
    """The saved per-beat test scores (a DataFrame), or None."""
    path = Path(directory) / name
    return _read_scores(str(path), _mtime(path))


@functools.lru_cache(maxsize=2)
def _read_scores(path: str, mtime: int):
    if mtime < 0:
        return None
    import pandas as pd

    return pd.read_csv(path, dtype={"record": str, "ref_class": str, "ref_symbol": str},
                       keep_default_na=False, na_values=[""])


@functools.lru_cache(maxsize=16)
def _labelled_scores(path: str, mtime: int, mode: str, key: str):
    """(labels 1 = anomalous, scores, classes) of the labelled beats of one mode and scorer."""
    df = _read_scores(path, mtime)
    if df is None or key not in df.columns:
        return None
    if "beats" in df.columns:
        df = df[df["beats"] == mode]
    cls = df["ref_class"].fillna("").astype(str).to_numpy()
    keep = M.labelled_mask(cls)
    s = df[key].to_numpy(dtype=float)[keep]
    return M.labels_from_classes(cls[keep]), s, cls[keep]


def labelled_scores(directory: Path, mode: str, key: str, name: str = SCORES_FILE):
    path = Path(directory) / name
    return _labelled_scores(str(path), _mtime(path), mode, key)


def load_history(directory: Path) -> dict | None:
    path = Path(directory) / HISTORY_FILE
    return _read_json(str(path), _mtime(path))


def load_model_card(directory: Path) -> str | None:
    """MODEL_CARD.md of the model directory (else the model store's), or None."""
    for path in (Path(directory) / MODEL_CARD_FILE, Path(directory).parent / MODEL_CARD_FILE):
        try:
            return path.read_text()
        except OSError:
            continue
    return None


def default_threshold(ev: dict, mode: str, key: str) -> float | None:
    """The DS1-chosen threshold of a scorer (as evaluation.json states it)."""
    bs = beat_set(ev, mode)
    th = (bs.get("thresholds") or {}).get(key)
    if th is None:
        for k, _, _, s in all_summaries(bs):
            if k == key:
                th = (s.get("at_threshold") or {}).get("threshold")
    return None if th is None else float(th)


def threshold_report(y: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float) -> dict:
    """Metrics (app.model.metrics) and per-class rates of saved scores flagged at ``threshold``."""
    m = M.metrics_at_threshold(y, scores, float(threshold))
    return {**m, "per_class": M.per_class_rates(classes, M.flags_at(scores, float(threshold)))}


def threshold_rows(report: dict) -> list[tuple[str, str]]:
    """(label, text) rows of a threshold report for a key/value table."""
    rows = [(lbl, fmt(report.get(k))) for k, lbl in METRIC_COLUMNS if k not in ("auroc", "average_precision")]
    pc = report["per_class"]
    rows += [(f"{c} detection rate", f"{fmt(pc[c]['rate'])} ({pc[c]['flagged']:,}/{pc[c]['n']:,})")
             for c in CLASSES if pc[c]["n"]]
    rows.append(("N false-alarm rate", f"{fmt(pc['N']['rate'])} ({pc['N']['flagged']:,}/{pc['N']['n']:,})"))
    return rows
