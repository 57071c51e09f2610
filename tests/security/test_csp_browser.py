"""The Content-Security-Policy is one Dash tolerates: every page renders in real Chromium with
no CSP violation reported, and the app cannot be framed."""
from __future__ import annotations

import pytest

from tests.server.apiclient import PAGES

pytestmark = [pytest.mark.server, pytest.mark.browser]


def test_pages_render_under_the_csp_without_violations(python_app, page):
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: violations.append(f"pageerror: {e}"))
    for path in PAGES:
        page.goto(python_app.url + path, wait_until="networkidle")
        page.wait_for_selector("#_pages_content > *", timeout=30_000)
        assert page.locator("#navbar").count() == 1, path
        assert "404 - Page not found" not in page.inner_text("#_pages_content"), path
    assert violations == []


def test_the_app_cannot_be_framed_by_another_origin(python_app, page):
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.set_content(f'<iframe id="f" src="{python_app.url}/" width="400" height="300"></iframe>')
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#f")
    assert frame.locator("#navbar").count() == 0


def test_a_drawn_analysis_raises_no_csp_violation(python_app, page):
    """Plotly figures, the inspector and downloads work under the policy too."""
    from tests.browser.ui_helpers import open_sample

    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    open_sample(page, python_app.url, "233")
    page.goto(python_app.url + "/latent", wait_until="networkidle")
    page.wait_for_selector("#_pages_content .js-plotly-plot", timeout=120_000)
    assert violations == []
