"""Hardening of the Flask server under Dash: size limits, security headers, safe errors."""
from __future__ import annotations

import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from app.config import Settings, get_settings

log = logging.getLogger(__name__)

# Dash renders with inline scripts/styles and evaluates callback code (Plotly too), so
# scripts need 'unsafe-inline' and 'unsafe-eval'; everything is served from this origin.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def max_content_length(settings: Settings) -> int:
    """Largest request body accepted, in bytes."""
    return int(settings.max_request_mb * 1024 * 1024)


def _add_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _http_error(exc: HTTPException):
    """JSON for every HTTP error (404, 405, 413, ...); no HTML, no traceback."""
    message = exc.description or exc.name
    if exc.code == 413:
        message = f"request too large (limit {request.max_content_length or 0} bytes)"
    response = jsonify(error=message, status=exc.code)
    response.status_code = exc.code or 500
    for name, value in exc.get_headers():  # e.g. Allow on a 405; the body is JSON, not HTML
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _server_error(exc: Exception):
    """Any unexpected exception: log it here, answer a generic 500 JSON."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    response = jsonify(error="internal server error", status=500)
    response.status_code = 500
    return response


def harden(server, settings: Settings | None = None):
    """Apply limits, headers and error handlers to the Flask ``server``; returns it."""
    settings = settings or get_settings()
    server.config["MAX_CONTENT_LENGTH"] = max_content_length(settings)
    server.config["PROPAGATE_EXCEPTIONS"] = False
    server.config["TRAP_HTTP_EXCEPTIONS"] = False
    server.debug = bool(settings.debug)
    server.after_request(_add_headers)
    server.register_error_handler(HTTPException, _http_error)
    server.register_error_handler(Exception, _server_error)
    return server
