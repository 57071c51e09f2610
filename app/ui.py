"""The Dash app: pages, navbar, the analysis-key store, and the server layers.

One app per process: ``@dash.callback`` registers globally and the first app served
takes them (see DESIGN pitfalls), so tests share one session-scoped server process.
Bootstrap's CSS is vendored in ``assets/`` (no CDN at run time); Dash and Plotly's
JavaScript is served by the Dash packages themselves.
"""
from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.components.ids import KEY_STORE, NAV_LOCATION
from app.config import ROOT, get_settings

PAGES_DIR = Path(__file__).resolve().parent / "pages"
ASSETS_DIR = ROOT / "assets"

NAV_ITEMS = [("Upload", "/"), ("Signal", "/signal"), ("Latent space", "/latent"), ("Evaluation", "/evaluation")]


def navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(label, href=href, active="exact", id=f"nav-{href.strip('/') or 'upload'}"))
             for label, href in NAV_ITEMS]
    return dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.Span("\u2665", className="brand-mark"), " ECG Anomaly Explorer"], href="/"),
            dbc.Nav(links, navbar=True, className="ms-auto"),
        ], fluid=True),
        color="dark", dark=True, className="mb-3", id="navbar")


def page_language(index_string: str, lang: str = "en") -> str:
    """Dash's HTML page with its language declared (screen readers pick the voice from it)."""
    return index_string.replace("<html>", f'<html lang="{lang}">', 1)


def shell() -> html.Div:
    return html.Div([
        dcc.Location(id=NAV_LOCATION, refresh="callback-nav"),
        dcc.Store(id=KEY_STORE, storage_type="session"),
        navbar(),
        dbc.Container(dash.page_container, fluid=True, className="pb-5", tag="main"),
        html.Footer("Research tool, not for diagnosis. Model trained on MIT-BIH DS1 normal beats.",
                    className="text-muted small text-center py-3"),
    ])


def create_app(**overrides) -> dash.Dash:
    """Build the Dash app (Pages + dbc) over the cache, API and hardening layers."""
    settings = get_settings(**overrides)
    from app import jobs

    # decided before the pages are imported: their analysis callback follows it (app.jobs docstring)
    background = jobs.configure_ui(settings)
    app = dash.Dash(
        "app",
        use_pages=True,
        pages_folder=str(PAGES_DIR),
        assets_folder=str(ASSETS_DIR),
        serve_locally=True,
        suppress_callback_exceptions=True,
        title="ECG Anomaly Explorer",
        update_title=None,
        background_callback_manager=jobs.background_manager(settings) if background else None,
    )
    app.index_string = page_language(app.index_string)
    app.layout = shell
    server = app.server
    server.config["ECG_SETTINGS"] = settings
    from app.api import register_api
    from app.cache import init_cache
    from app.security import harden

    init_cache(server, settings)
    register_api(server)
    harden(server, settings)
    # Dash sets itself up on a worker's first request; under gunicorn threads a concurrent first
    # request could then see half the script paths registered (500 on a .js): set up now
    if hasattr(app, "_setup_server"):
        app._setup_server()
    return app
