"""A self-contained HTML report of one analysis: no network needed to open it.

plotly.js is embedded once (``include_plotlyjs=True`` on the first figure); the other
figures reuse it. The report shows the summary, the threshold used, the agreement with the
reference (when present), the score timeline, the strongest anomalies (beat against its
reconstruction) and the table of flagged beats.
"""
from __future__ import annotations

import html
import math
from datetime import datetime, timezone

import numpy as np

from app.analysis import missing_note, reference_note, scored_label, scored_window
from app.components import figures as F
from app.components.viewdata import (CUSTOM, agreement, beat_gaps, gap_note, matching_method, method_description,
                                    per_class_text, threshold_text)
from app.ecg.readers import duration_text

TOP_BEATS = 6
TABLE_ROWS = 500

_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;padding:0 1rem;
max-width:1100px;color:#222;overflow-wrap:break-word}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f5f5f5} .scroll{overflow-x:auto;max-width:100%}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:.5rem} @media (max-width:900px){.grid{grid-template-columns:1fr}}
.grid>div,.figure{min-width:0;max-width:100%}
.muted{color:#666;font-size:.85rem} .anom{background:#fdecea}
.cards{display:flex;flex-wrap:wrap;gap:.5rem} .card{border:1px solid #ddd;border-radius:6px;padding:.4rem .8rem}
.card b{display:block;font-size:1.1rem;white-space:nowrap}
"""
BEAT_HEIGHT = 380  # px per strongest-anomaly figure: room for the residual panel's tick labels


def _esc(x) -> str:
    return html.escape(str(x))


def _cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><span class="muted">{_esc(k)}</span><b>{_esc(v)}</b></div>' for k, v in items) + "</div>"


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"


def _agreement_html(flags: np.ndarray, ref_class) -> str:
    a = agreement(flags, ref_class)
    if a is None:
        return '<p class="muted">No reference annotations with this recording.</p>'
    return (f"<p>Sensitivity {_pct(a['sensitivity'])}, specificity {_pct(a['specificity'])}, "
            f"precision {_pct(a['ppv'])} on {a['matched']:,} beats matched to the reference "
            f"(abnormal = AAMI S, V, F, Q).</p>"
            "<div class='scroll'><table><tr><th></th><th>reference abnormal</th><th>reference normal</th></tr>"
            f"<tr><th>flagged</th><td>{a['tp']}</td><td>{a['fp']}</td></tr>"
            f"<tr><th>not flagged</th><td>{a['fn']}</td><td>{a['tn']}</td></tr></table></div>"
            f"<p>Flagged by reference class: {_esc(per_class_text(a['per_class']))}</p>")


def _table_html(table, flags: np.ndarray) -> str:
    cols = [c for c in ("beat", "time_s", "score", "raised_by", "recon_error", "latent_distance", "kl", "rr_score",
                        "quality", "ref_symbol") if c in table.columns]
    idx = np.flatnonzero(flags)
    idx = idx[np.argsort(-table["score"].to_numpy()[idx], kind="stable")][:TABLE_ROWS]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    rows = []
    for _, r in table.iloc[idx][cols].iterrows():
        cells = "".join(f"<td>{v:.4g}</td>" if isinstance(v, float) else f"<td>{_esc(v)}</td>" for v in r.tolist())
        rows.append(f'<tr class="anom">{cells}</tr>')
    more = (f'<p class="muted">Showing the {TABLE_ROWS} highest-scoring of {len(np.flatnonzero(flags)):,} '
            "flagged beats; export the CSV for all.</p>") if flags.sum() > TABLE_ROWS else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>{more}"


def threshold_html(view, threshold: float, method: str | None) -> str:
    """'<b>5.296</b> (statistical method: mean + 2.25 sd of normal beats' scores)', or for a threshold
    that is no method's value '<b>9</b> (custom: set by hand; the default, statistical, is 5.296)'.
    The method is named only when the threshold is that method's value, whatever ``method`` says."""
    thresholds = view.thresholds
    used = matching_method(threshold, thresholds, preferred=method)
    txt = f"<b>{_esc(threshold_text(threshold))}</b> ({_esc(method_description(used, thresholds))}"
    default = view.default_method if view.default_method in thresholds else None
    if used == CUSTOM and default:
        txt += f"; the model's default, {_esc(default)}, is {_esc(threshold_text(thresholds[default]['value']))}"
    return txt + ")"


def _beat_figure_html(view, b: int) -> str:
    an, table = view.analysis, view.analysis.table
    ref = f", ref {table['ref_symbol'].iloc[b]}" if "ref_symbol" in table.columns else ""
    lowq = " (low quality)" if bool(view.low_quality[b]) else ""
    fig = F.beat_figure(np.asarray(an.windows[b]), np.asarray(an.recon[b]),
                        title=f"beat {b} at {view.time_s[b]:.1f} s, score {view.score[b]:.3g}{ref}{lowq}",
                        neighbours=F.neighbour_beats_ms(view.time_s, b),
                        scored=scored_window(an, b), scored_name=scored_label(an, b))
    fig.update_layout(height=BEAT_HEIGHT, showlegend=False, margin=dict(l=60, r=15, t=40, b=45))
    fig.update_yaxes(nticks=5, row=1, col=1)
    fig.update_yaxes(nticks=4, row=2, col=1)  # a short panel: a few ticks, not crammed
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def build_report(view, flags: np.ndarray, threshold: float, method: str | None = None) -> str:
    """The whole report as one HTML string (View from app.components.viewdata). ``method`` is the
    method the user picked; it is named only if ``threshold`` is its value, else 'custom'."""
    an = view.analysis
    table = an.table
    flags = np.asarray(flags, dtype=bool)
    s = view.summary
    hr = s.get("heart_rate_bpm")
    cards = _cards([
        ("Record", an.record), ("Duration", duration_text(view.duration_s)), ("Leads", ", ".join(view.leads)),
        ("Analysed lead", view.leads[view.lead_index]), ("Sampling rate", f"{view.fs:g} Hz"),
        ("Beats", f"{view.n_beats:,}"), ("Anomalies", f"{int(flags.sum()):,}"),
        ("Heart rate", f"{hr:.0f} bpm" if hr is not None and math.isfinite(hr) else "n/a"),
        ("Model", s.get("model_id", "")),
    ])
    timeline = F.timeline_figure(view.time_s, view.score, view.low_quality, threshold, noisy=view.noisy_spans)
    parts = [timeline.to_html(full_html=False, include_plotlyjs=True,
                              config={"displaylogo": False, "responsive": True})]
    hits = np.flatnonzero(flags)
    top = hits[np.argsort(-view.score[hits], kind="stable")][:TOP_BEATS]
    beat_divs = [_beat_figure_html(view, int(b)) for b in top]
    fallback = ('<p><b>Short recording</b> (under a minute): scores were compared with the training calibration, '
                "not with this record's own dominant beats.</p>") if s.get("short_record_fallback") else ""
    gaps = gap_note(beat_gaps(view.time_s, view.signals[:, view.lead_index], view.fs), view.leads[view.lead_index])
    for title, text in (("Gaps", gaps), ("Missing samples", missing_note(s)),
                        ("Reference annotations", reference_note(s))):
        if text:
            fallback += f"<p><b>{title}:</b> {_esc(text)}</p>"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>ECG anomaly report: {_esc(an.record)}</title><style>{_CSS}</style></head><body>",
        f"<h1>ECG anomaly report: record {_esc(an.record)}</h1>",
        f"<p class='muted'>Generated {when} by ECG Anomaly Explorer. Research tool, not for diagnosis.</p>",
        cards, fallback,
        f"<h2>Threshold</h2><p>Beats with an ensemble score above {threshold_html(view, threshold, method)} "
        f"are flagged: {int(flags.sum()):,} of {view.n_beats:,} beats "
        f"({100 * flags.mean() if len(flags) else 0:.1f}%).</p>",
        "<h2>Agreement with the reference</h2>", _agreement_html(flags, view.ref_class),
        "<h2>Score timeline</h2>", parts[0],
        f"<h2>Strongest anomalies</h2><p class='muted'>Each beat (black) against its VAE reconstruction "
        "(orange, dotted), residual below.</p>",
        "<div class='grid'>" + "".join(f"<div>{d}</div>" for d in beat_divs) + "</div>" if beat_divs
        else "<p>No beat is flagged.</p>",
        "<h2>Flagged beats</h2>", _table_html(table, flags),
        "</body></html>",
    ])
