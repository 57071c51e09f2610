"""Latent-space page in real Chromium: the message with no analysis; after picking a sample, the
record's beats beside the training cloud, colour modes, a real mouse lasso, and another method."""
from __future__ import annotations

import pytest

from tests.browser.ui_helpers import anomaly_count, graph_data, open_sample

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000
REFERENCE = "training normals (DS1)"


def _wait_trace(page, graph_id: str, prefix: str) -> None:
    page.wait_for_function(
        "([id, p]) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return g && g._fullData && g._fullData.some(t => (t.name || '').startsWith(p)); }",
        arg=[graph_id, prefix], timeout=TIMEOUT_MS)


def _title(page, graph_id: str) -> str:
    return page.evaluate("id => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
                         " return (g && g.layout.title && g.layout.title.text) || ''; }", graph_id)


def _lasso_everything(page) -> None:
    """Draw a real lasso with the mouse around the whole plot area."""
    box = page.locator("#latent-scatter .nsewdrag").first.bounding_box()
    x0, y0, x1, y1 = box["x"] + 3, box["y"] + 3, box["x"] + box["width"] - 3, box["y"] + box["height"] - 3
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def test_latent_page_without_analysis_links_to_upload(page, app_url):
    page.goto(app_url + "/latent")
    msg = page.locator("[data-testid=latent-empty]")
    msg.wait_for(timeout=TIMEOUT_MS)
    assert "No analysis loaded" in msg.inner_text()
    assert page.locator("[data-testid=latent-empty] a[href='/']").count() == 1


def test_latent_page_draws_the_record_beside_the_training_cloud(page, app_url):
    open_sample(page, app_url, "233")
    n_beats = int(page.inner_text("[data-testid=card-beats]").replace(",", ""))
    n_flagged = anomaly_count(page)  # at the default threshold, as the latent page colours them
    page.click("#nav-latent")
    _wait_trace(page, "latent-scatter", "this record's beats")
    traces = {t["name"]: t for t in graph_data(page, "latent-scatter")}
    assert traces[REFERENCE]["n"] > 1000  # the stored reference cloud of DS1 normals
    beats = traces["this record's beats"]
    assert beats["n"] == n_beats  # under 5,000 beats: every beat is drawn
    assert sorted(beats["customdata"]) == list(range(n_beats))
    assert "PCA fitted on" in page.inner_text("[data-testid=latent-note]")
    assert _title(page, "latent-scatter").startswith("PCA")

    # colour by flag: the flagged count is the signal page's count at the default threshold
    page.locator("#latent-colour").get_by_text("flag", exact=True).click()
    _wait_trace(page, "latent-scatter", "flagged (")
    names = [t["name"] for t in graph_data(page, "latent-scatter")]
    assert f"flagged ({n_flagged})" in names and f"not flagged ({n_beats - n_flagged})" in names

    # a real lasso around the whole plot: every beat chosen, overlaid with their mean
    _lasso_everything(page)
    page.wait_for_function("() => { const g = document.querySelector('#latent-beats .js-plotly-plot');"
                           " return g && g.layout.title && /beats chosen/.test(g.layout.title.text); }",
                           timeout=TIMEOUT_MS)
    assert _title(page, "latent-beats").startswith(f"{n_beats} beats chosen")
    overlay = graph_data(page, "latent-beats")
    assert overlay[-1]["name"] == "mean of the chosen beats" and overlay[-1]["n"] == 256

    # UMAP: placed in the stored embedding of the training normals, cached per method
    page.locator("#latent-method").get_by_text("UMAP", exact=True).click()
    page.wait_for_function("() => { const g = document.querySelector('#latent-scatter .js-plotly-plot');"
                           " return g && g.layout.title && g.layout.title.text.startsWith('UMAP'); }",
                           timeout=TIMEOUT_MS)
    assert "nearest" in page.inner_text("[data-testid=latent-note]")
    traces = {t["name"]: t for t in graph_data(page, "latent-scatter")}
    assert traces[REFERENCE]["n"] > 1000
