"""Screenshots of every page for the README, from a running app in headless Chromium.

    python -m app --port 8050 &            # the app, with its default model
    python docs/screenshots/take_screenshots.py [--url http://127.0.0.1:8050] [--record 233]

Writes upload.png, signal.png, latent.png and evaluation.png beside this file.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 180_000
MAX_HEIGHT = 2400  # longer pages (the evaluation page) are cut to their top part


def shoot(page, path: Path) -> None:
    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": min(height, MAX_HEIGHT)})


def wait_graphs(page, selector: str = ".js-plotly-plot") -> None:
    page.wait_for_function(
        "s => { const g = document.querySelectorAll(s);"
        " return g.length > 0 && Array.from(g).every(x => x._fullLayout); }", arg=selector, timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    time.sleep(1.5)  # let the last Patch updates draw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8050")
    ap.add_argument("--record", default="233")
    args = ap.parse_args()
    url = args.url.rstrip("/")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        page.goto(url + "/")
        page.wait_for_selector(f"[data-testid=sample-{args.record}] button")
        shoot(page, OUT / "upload.png")

        page.click(f"[data-testid=sample-{args.record}] button")
        page.wait_for_function("location.pathname === '/signal'", timeout=TIMEOUT_MS)
        page.wait_for_selector("#strip .scatterlayer .trace", timeout=TIMEOUT_MS)
        page.click("#next-anomaly")
        wait_graphs(page, "#signal-body .js-plotly-plot")
        shoot(page, OUT / "signal.png")

        for name in ("latent", "evaluation"):
            page.click(f"#nav-{name}")
            page.wait_for_function(f"location.pathname === '/{name}'", timeout=TIMEOUT_MS)
            wait_graphs(page, "#_pages_content .js-plotly-plot")
            shoot(page, OUT / f"{name}.png")
        browser.close()
    print("wrote", ", ".join(str(OUT / f"{n}.png") for n in ("upload", "signal", "latent", "evaluation")))


if __name__ == "__main__":
    main()
