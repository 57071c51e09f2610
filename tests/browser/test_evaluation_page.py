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
                           " return (g?._fullData?.[0]?.text?.length || 0) > 0; }",  # null-safe: a throw ends the wait
                           timeout=TIMEOUT_MS)
    text = _confusion_text(page)
    assert all(abs(int(json.loads(text)[i][j].split("<br>")[0].replace(",", "")) - cm[k]) <= 2
               for (i, j), k in {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}.items())

    # the highest threshold flags fewer beats: the confusion matrix changes, no model run
    thumb = page.locator("#eval-thr [role=slider]")
    thumb.focus()
    thumb.press("End")
    page.wait_for_function("t => { const d = document.querySelector('#eval-confusion .js-plotly-plot')"
                           "?._fullData?.[0]?.text; return d !== undefined && JSON.stringify(d) !== t; }",
                           arg=text, timeout=TIMEOUT_MS)
    high = json.loads(_confusion_text(page))
    assert int(high[1][1].split("<br>")[0].replace(",", "")) < cm["tp"]
    card = page.inner_text("[data-testid=eval-model-card]")
    md = _model_dir() / "MODEL_CARD.md"
    if md.exists():  # rendered as Markdown: its first heading shows as text, without the '#'
        page.locator("[data-testid=eval-model-card] .model-card h1").wait_for(timeout=TIMEOUT_MS)
        heading = next(line.lstrip("#").strip() for line in md.read_text().splitlines() if line.startswith("#"))
        assert heading in card
    else:
        assert "No MODEL_CARD.md" in card

    # the secondary beat set (reference beat positions) has its own numbers
    ref = evaluation["reference_beats"]["scorers"]["score"]["auroc"]
    page.locator("#eval-mode").get_by_text("Reference beat positions", exact=False).click()
    page.wait_for_function("t => (document.querySelector('[data-testid=auroc-score]') || {}).innerText === t",
                           arg=f"{ref:.3f}", timeout=TIMEOUT_MS)


def _open(page, app_url) -> None:
    page.goto(app_url + "/evaluation")
    page.wait_for_function("() => { const g = document.querySelector('#eval-confusion .js-plotly-plot');"
                           " return (g?._fullData?.[0]?.text?.length || 0) > 0; }",  # null-safe: a throw ends the wait
                           timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")


def _slider_value(page) -> float:
    return float(page.locator("#eval-thr [role=slider]").get_attribute("aria-valuenow"))


def test_threshold_slider_follows_a_mouse_drag_to_any_position(page, app_url, evaluation):
    """A real drag lands where it is let go (1,000 steps), not on one of three marks; one arrow
    key step away and back returns exactly to the DS1 threshold and its confusion matrix."""
    page.set_viewport_size({"width": 1280, "height": 800})
    _open(page, app_url)
    thumb = page.locator("#eval-thr [role=slider]")
    thumb.scroll_into_view_if_needed()
    lo, hi = float(thumb.get_attribute("aria-valuemin")), float(thumb.get_attribute("aria-valuemax"))
    ds1 = evaluation["thresholds"]["score"]
    assert _slider_value(page) == pytest.approx(ds1, abs=1e-9)
    track = page.locator("#eval-thr .dash-slider-track").bounding_box()
    reached = []
    for frac in (0.15, 0.3, 0.45, 0.6, 0.8):
        box = thumb.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] / 2, y)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] * frac, y, steps=6)
        page.mouse.up()
        page.wait_for_function("t => (document.querySelector('[data-testid=eval-at-threshold]') || {})"
                               ".innerText.includes('flag = score > ' + t)",
                               arg=page.inner_text("#eval-thr-value"), timeout=TIMEOUT_MS)
        value = _slider_value(page)
        # within 3 % of the range of the spot let go (the thumb's half width at the track's ends)
        assert abs(value - (lo + frac * (hi - lo))) < 0.03 * (hi - lo), (frac, value)
        assert page.inner_text("#eval-thr-value") == f"{float(f'{value:.4g}'):g}"
        reached.append(value)
    assert len(set(reached)) == 5 and reached == sorted(reached)

    cm = evaluation["scorers"]["score"]["at_threshold"]["confusion"]
    # another scorer and back: the slider returns to the ensemble's DS1 threshold
    page.locator("#eval-scorer").select_option("rr_score")
    page.wait_for_function("() => document.querySelector('#eval-thr [role=slider]')?.getAttribute('aria-valuenow')"
                           f" == {evaluation['thresholds']['rr_score']!r}", timeout=TIMEOUT_MS)
    page.locator("#eval-scorer").select_option("score")
    page.wait_for_function("() => document.querySelector('#eval-thr [role=slider]')?.getAttribute('aria-valuenow')"
                           f" == {ds1!r}", timeout=TIMEOUT_MS)
    # one key step below the DS1 threshold, then one up: back on it (to float rounding). The
    # first press from the initial value may only snap it onto the grid point at DS1 itself.
    step = (hi - lo) / 1000
    thumb.focus()
    for _ in range(2):
        if _slider_value(page) < ds1 - step / 2:
            break
        before = _slider_value(page)
        thumb.press("ArrowLeft")
        page.wait_for_function("v => Number(document.querySelector('#eval-thr [role=slider]')"
                               ".getAttribute('aria-valuenow')) !== v", arg=before, timeout=TIMEOUT_MS)
    assert 0.99 * step < ds1 - _slider_value(page) < 1.01 * step  # one step of about (max - min) / 1,000
    thumb.press("ArrowRight")
    page.wait_for_function(f"() => Math.abs(Number(document.querySelector('#eval-thr [role=slider]')"
                           f".getAttribute('aria-valuenow')) - {ds1!r}) < 1e-9", timeout=TIMEOUT_MS)
    page.wait_for_function("t => (document.querySelector('[data-testid=eval-at-threshold]') || {})"
                           ".innerText.includes('flag = score > ' + t + ' (DS1')",
                           arg=f"{ds1:.4g}", timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    back = json.loads(_confusion_text(page))
    assert all(abs(int(back[i][j].split("<br>")[0].replace(",", "")) - cm[k]) <= 2
               for (i, j), k in {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}.items())


@pytest.mark.parametrize("width", [1280, 800])
def test_threshold_slider_end_labels_stay_inside_the_card(page, app_url, width):
    page.set_viewport_size({"width": width, "height": 900})
    _open(page, app_url)
    slider = page.locator("#eval-thr").bounding_box()
    body = page.locator(".card-body:has(#eval-thr)").bounding_box()
    labels = page.locator("#eval-thr .dash-slider-mark")
    boxes = [labels.nth(i).bounding_box() for i in range(labels.count())]
    assert len(boxes) == 3  # min, DS1, max
    assert min(b["x"] for b in boxes) >= slider["x"] - 0.5
    assert max(b["x"] + b["width"] for b in boxes) <= slider["x"] + slider["width"] + 0.5
    assert max(b["x"] + b["width"] for b in boxes) <= body["x"] + body["width"] - 4  # not touching the edge


def test_model_card_lead_shown_full_text_collapsed_and_rendered_as_written(page, app_url):
    """The card's lead is visible, its long full text starts collapsed; opened, the text has its
    brackets and its ">= 0.95" as written: no empty links, no blockquote."""
    md_path = _model_dir() / "MODEL_CARD.md"
    assert md_path.exists(), f"{md_path} is missing: the committed model has a model card"
    page.set_viewport_size({"width": 1280, "height": 800})
    _open(page, app_url)
    card = page.locator("[data-testid=eval-model-card]")
    card.locator(".model-card h1").wait_for(timeout=TIMEOUT_MS)  # dcc.Markdown renders once its code loads
    assert "Intended use" in card.inner_text()
    full = page.locator("#eval-card-accordion .accordion-collapse")
    assert not full.is_visible()
    collapsed_height = page.evaluate("document.documentElement.scrollHeight")
    assert collapsed_height < 6000  # was 12,600 px with the whole card inline
    page.get_by_role("button", name="Model card (full text)").click()
    full.wait_for(state="visible", timeout=TIMEOUT_MS)
    page.wait_for_function(f"() => document.documentElement.scrollHeight > {collapsed_height + 2000}",
                           timeout=TIMEOUT_MS)
    text = card.inner_text()
    assert "mean [min, max] over seeds" in text and "[0.9826, 0.9848]" in text
    assert ">= 0.95 and S sensitivity >= 0.85" in text
    assert "\\[" not in text and "\\>" not in text
    assert page.locator("[data-testid=eval-model-card] blockquote").count() == 0
    hrefs = page.eval_on_selector_all("[data-testid=eval-model-card] a", "as => as.map(a => a.getAttribute('href'))")
    assert all(h for h in hrefs), hrefs  # no link without an address
