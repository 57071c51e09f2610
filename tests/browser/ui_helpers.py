"""Page actions shared by the upload and signal browser tests."""
from __future__ import annotations

FLAGS_TIMEOUT_MS = 120_000  # the first analysis of a session loads the model


def open_sample(page, app_url: str, record: str) -> None:
    """Upload page -> click a bundled sample -> wait until the signal page shows its strip."""
    page.goto(app_url + "/")
    page.click(f"[data-testid=sample-{record}] button")
    wait_for_signal_page(page, record)


def wait_for_signal_page(page, record: str | None = None) -> None:
    page.wait_for_function("location.pathname === '/signal'", timeout=FLAGS_TIMEOUT_MS)
    page.wait_for_selector("#strip .scatterlayer .trace", timeout=FLAGS_TIMEOUT_MS)
    if record is not None:
        page.wait_for_function(
            "r => (document.querySelector('[data-testid=card-record]') || {}).innerText === r",
            arg=record, timeout=FLAGS_TIMEOUT_MS)
    page.wait_for_function("(document.querySelector('[data-testid=anomaly-count]') || {}).innerText",
                           timeout=FLAGS_TIMEOUT_MS)
    page.wait_for_load_state("networkidle")  # the page's follow-up callbacks have answered


def focus_settled(page, selector: str, timeout_ms: int = FLAGS_TIMEOUT_MS) -> None:
    """Focus ``selector`` once the page's first callbacks have answered, and wait until it has the
    focus: an element disabled or re-drawn under the focus loses it (one CI run pressed Enter on
    nothing when the focus came too early)."""
    page.wait_for_selector(selector + ":not([disabled])", timeout=timeout_ms)
    page.wait_for_load_state("networkidle")
    page.focus(selector)
    page.wait_for_function("s => document.activeElement === document.querySelector(s)", arg=selector,
                           timeout=timeout_ms)


def anomaly_count(page) -> int:
    return int(page.inner_text("[data-testid=anomaly-count]").replace(",", ""))


def graph_data(page, graph_id: str) -> list[dict]:
    """The plotly traces currently drawn in a dcc.Graph (x, y, marker colours)."""
    return page.evaluate(
        """id => document.querySelector('#' + id + ' .js-plotly-plot')._fullData.map(t => ({
               name: t.name, n: (t.x || []).length, x: Array.from(t.x || []),
               colors: t.marker && Array.isArray(t.marker.color) ? t.marker.color : null,
               customdata: Array.from(t.customdata || [])}))""", graph_id)
