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


def _legend_names(page) -> list[str]:
    return page.eval_on_selector_all("#latent-scatter .legend .traces .legendtext", "ts => ts.map(t => t.textContent)")


def _legend_entry(page, name: str) -> dict:
    """The drawn legend item called ``name``: its symbol's fill colour, as the browser shows it."""
    return page.evaluate(
        """name => { const item = [...document.querySelectorAll('#latent-scatter .legend .traces')]
               .find(t => t.querySelector('.legendtext').textContent === name);
             if (!item) return null;
             const p = item.querySelector('.legendpoints path');
             return {fill: p && (p.style.fill || p.getAttribute('fill')),
                     stroke: p && (p.style.stroke || p.getAttribute('stroke'))}; }""", name)


def _click_beat(page, i: int) -> int:
    """Click the ``i``-th point of the record's beats with the mouse; the beat index under it."""
    page.locator("#latent-scatter").scroll_into_view_if_needed()
    x, y, beat = page.evaluate(
        """i => { const g = document.querySelector('#latent-scatter .js-plotly-plot');
               const t = g._fullData.find(d => (d.name || '').startsWith("this record's beats") && d.x.length > 1);
               const r = g.querySelector('.nsewdrag').getBoundingClientRect(), fl = g._fullLayout;
               return [r.left + fl.xaxis.l2p(t.x[i]), r.top + fl.yaxis.l2p(t.y[i]), t.customdata[i]]; }""", i)
    page.mouse.click(x, y)
    return beat


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
    note = page.inner_text("[data-testid=latent-note]")
    assert "PCA fitted on" in note and f"All {n_beats:,} beats shown." in note
    n_cloud = traces[REFERENCE]["n"]
    assert f"PCA fitted on {n_cloud:,} training normal beats" in note  # 3,300 with its comma
    assert _title(page, "latent-scatter").startswith("PCA")
    # the legend shows a neutral marker for the score-coloured beats, not one colour of the scale
    legend = _legend_entry(page, "this record's beats (colour: score)")
    assert legend["fill"] in ("rgb(255, 255, 255)", "#ffffff", "white"), legend
    assert "this record's beats" not in _legend_names(page)

    # colour by flag: the flagged count is the signal page's count at the default threshold
    page.locator("#latent-colour").get_by_text("flag", exact=True).click()
    _wait_trace(page, "latent-scatter", "flagged (")
    names = [t["name"] for t in graph_data(page, "latent-scatter")]
    assert f"flagged ({n_flagged:,})" in names and f"not flagged ({n_beats - n_flagged:,})" in names

    # a real lasso around the whole plot: every beat chosen, overlaid with their mean
    _lasso_everything(page)
    page.wait_for_function("() => { const g = document.querySelector('#latent-beats .js-plotly-plot');"
                           " return g && g.layout.title && /beats chosen/.test(g.layout.title.text); }",
                           timeout=TIMEOUT_MS)
    assert _title(page, "latent-beats").startswith(f"{n_beats:,} beats chosen")
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


def test_clicking_one_point_names_that_beat(page, app_url):
    """One clicked beat: the overlay's title names it (number, time, score, flag, reference class)
    and its only curve is that beat, not "the mean of the chosen beats"."""
    open_sample(page, app_url, "233")
    page.click("#nav-latent")
    _wait_trace(page, "latent-scatter", "this record's beats")
    page.wait_for_load_state("networkidle")
    # the beat with the highest score (apart from the dense normal cloud): the point under the mouse
    i = page.evaluate("""() => { const g = document.querySelector('#latent-scatter .js-plotly-plot');
        const t = g._fullData.find(d => d.name === "this record's beats");
        const c = Array.from(t.marker.color); return c.indexOf(Math.max(...c)); }""")
    _click_beat(page, i)
    page.wait_for_function("() => { const g = document.querySelector('#latent-beats .js-plotly-plot');"
                           " return g && g.layout.title && /^Beat /.test(g.layout.title.text); }",
                           timeout=TIMEOUT_MS)
    title = _title(page, "latent-beats")
    overlay = graph_data(page, "latent-beats")
    assert len(overlay) == 1 and overlay[0]["n"] == 256
    beat = int(overlay[0]["name"].removeprefix("beat ").replace(",", ""))
    assert title.startswith(f"Beat {beat:,} at ") and " s), score " in title
    assert "flagged (default threshold)" in title and "reference " in title
    assert "chosen" not in title and "mean" not in title
    hover = page.evaluate("""b => { const g = document.querySelector('#latent-scatter .js-plotly-plot');
        const t = g._fullData.find(d => d.name === "this record's beats");
        return t.text[Array.from(t.customdata).indexOf(b)]; }""", beat)
    # the title's time and score are the clicked point's (its hover text: "beat N<br>t = ... s<br>score ...")
    assert hover.split("<br>")[0] == f"beat {beat:,}"
    t_s, score = hover.split("<br>")[1].removeprefix("t = "), hover.split("<br>")[2].removeprefix("score ")
    assert f"({float(t_s.removesuffix(' s')):,.2f} s), score {score}," in title
