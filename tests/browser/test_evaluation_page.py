"""Evaluation page in real Chromium: the numbers of the model's evaluation.json are on screen,
and the threshold slider recomputes the confusion matrix from the saved per-beat scores."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.config import DEFAULT_MODEL_ID, MODEL_STORE

pytestmark = pytest.mark.browser

TIMEOUT_MS = 60_000


def _model_dir() -> Path:
    return Path(os.environ.get("ECG_MODEL_DIR") or MODEL_STORE / DEFAULT_MODEL_ID)


@pytest.fixture(scope="module")
def evaluation() -> dict:
    path = _model_dir() / "evaluation.json"
    assert path.exists(), f"{path} is missing: the evaluation page has nothing to show"
    return json.loads(path.read_text())


def _confusion_text(page) -> str:
    return page.evaluate("() => JSON.stringify(document.querySelector('#eval-confusion .js-plotly-plot')"
                         "._fullData[0].text)")


def test_evaluation_page_shows_the_numbers_of_evaluation_json(page, app_url, evaluation):
    page.goto(app_url + "/evaluation")
    cell = page.locator("[data-testid=auroc-score]")
    cell.wait_for(timeout=TIMEOUT_MS)
    auroc = evaluation["scorers"]["score"]["auroc"]
    assert cell.inner_text() == f"{auroc:.3f}"
    table = page.inner_text("[data-testid=eval-metrics-table]")
    for name, summ in evaluation["baselines"].items():
        assert f"Baseline: {name}" in table
        if summ.get("auroc") is not None:
            assert f"{summ['auroc']:.3f}" in table
    ap = evaluation["scorers"]["score"]["average_precision"]
    assert f"{ap:.3f}" in table
    assert evaluation["protocol"]["name"] in page.inner_text("[data-testid=eval-protocol]")
    assert "SECONDARY" in page.inner_text("[data-testid=eval-intra]")
    # ROC and PR curves drawn, one line per scorer and baseline
    page.wait_for_selector("#eval-roc .scatterlayer .trace")
    n_lines = page.evaluate("() => document.querySelector('#eval-roc .js-plotly-plot')._fullData"
                            ".filter(t => t.mode === 'lines' && t.showlegend !== false).length")
    assert n_lines == len(evaluation["scorers"]) + len(evaluation["baselines"])

    # at the DS1 threshold the confusion matrix is the one evaluation.json reports
    page.wait_for_selector("#eval-confusion .js-plotly-plot")
    cm = evaluation["scorers"]["score"]["at_threshold"]["confusion"]
    page.wait_for_function("() => { const g = document.querySelector('#eval-confusion .js-plotly-plot');"
                           " return g && g._fullData && g._fullData[0].text && g._fullData[0].text.length; }",
                           timeout=TIMEOUT_MS)
    text = _confusion_text(page)
    assert all(abs(int(json.loads(text)[i][j].split("<br>")[0].replace(",", "")) - cm[k]) <= 2
               for (i, j), k in {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}.items())

    # the highest threshold flags fewer beats: the confusion matrix changes, no model run
    thumb = page.locator("#eval-thr [role=slider]")
    thumb.focus()
    thumb.press("End")
    page.wait_for_function("t => JSON.stringify(document.querySelector('#eval-confusion .js-plotly-plot')"
                           "._fullData[0].text) !== t", arg=text, timeout=TIMEOUT_MS)
    high = json.loads(_confusion_text(page))
    assert int(high[1][1].split("<br>")[0].replace(",", "")) < cm["tp"]
    card = page.inner_text("[data-testid=eval-model-card]")
    md = _model_dir() / "MODEL_CARD.md"
    if md.exists():  # rendered as Markdown: its first heading shows as text, without the '#'
        heading = next(line.lstrip("#").strip() for line in md.read_text().splitlines() if line.startswith("#"))
        assert heading in card
    else:
        assert "No MODEL_CARD.md" in card

    # the secondary beat set (reference beat positions) has its own numbers
    ref = evaluation["reference_beats"]["scorers"]["score"]["auroc"]
    page.locator("#eval-mode").get_by_text("Reference beat positions", exact=False).click()
    page.wait_for_function("t => (document.querySelector('[data-testid=auroc-score]') || {}).innerText === t",
                           arg=f"{ref:.3f}", timeout=TIMEOUT_MS)
