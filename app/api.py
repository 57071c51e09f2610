"""JSON API on the Dash server, for scripts and load tests (``/api/v1``).

POST /api/v1/analyses               multipart: files (repeated), optional fs, units, lead, beats
                                    -> {key, summary, cached}
GET  /api/v1/analyses/<key>         -> {key, summary}
GET  /api/v1/analyses/<key>/beats.csv  per-beat table, the CLI's columns (optional ?threshold=)
POST /api/v1/jobs                   same form; queued on Celery workers (ECG_BROKER_URL) -> 202 {job}
GET  /api/v1/jobs/<id>              -> {state: PENDING|PROGRESS|SUCCESS|FAILURE, stage?, key?, error?,
                                        retry?, no_worker?, warning?}; 404 for an id never submitted
GET  /api/v1/health                 -> 200 {status: ok|degraded, cache, cache_ok, cache_error?, model_id,
                                        broker_ok?, broker_error?} (broker_*: when ECG_BROKER_URL is set)
Bad input -> 400 {error}; unknown key -> 404 {error}; too large -> 413 {error}.
Under /api/ an unknown path is a JSON 404 and a known path with another method a JSON 405 (with
``Allow``), never the Dash page (whose catch-all route would otherwise answer any GET).
"""
from __future__ import annotations

import math
import os

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.routing import Map, Rule

from app import cache
from app.config import get_settings
from app.ecg.errors import InvalidRecordError

bp = Blueprint("ecg_api", __name__, url_prefix="/api/v1")

BEATS_OPTIONS = ("detect", "reference")
MAX_FILES = 16


def _settings():
    return current_app.config.get("ECG_SETTINGS") or get_settings()


class BadRequest(ValueError):
    """A form field the client can fix."""


def json_safe(value):
    """Plain JSON types from numpy scalars/arrays, dicts, lists; NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _error(message: str, status: int):
    response = jsonify(error=message, status=status)
    response.status_code = status
    return response


def _parse_fs(raw: str | None, names: str = "upload") -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        fs = float(raw)
    except ValueError:
        fs = math.nan
    if not math.isfinite(fs) or fs <= 0:
        raise BadRequest(f"{names}: the sampling rate (fs) must be a positive number of Hz, got {raw[:40]!r}")
    return fs


def _parse_lead(raw: str | None):
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() else raw


def _parse_choice(raw: str | None, name: str, options: tuple, default: str) -> str:
    if raw is None or raw.strip() == "":
        return default
    if raw not in options:
        raise BadRequest(f"{name}: must be one of {', '.join(options)}, got {raw[:40]!r}")
    return raw


def _uploaded_files() -> dict[str, bytes]:
    """The uploaded files by name, with the per-file and count limits applied."""
    uploads = request.files.getlist("files")
    if not uploads:
        raise BadRequest("no files: send each file in a multipart field named 'files'")
    if len(uploads) > MAX_FILES:
        raise BadRequest(f"too many files ({len(uploads)}); at most {MAX_FILES} per analysis")
    limit = int(_settings().max_file_mb * 1024 * 1024)
    files: dict[str, bytes] = {}
    for up in uploads:
        name = up.filename or ""
        if not name:
            raise BadRequest("a file part has no file name")
        if name in files:
            raise BadRequest(f"{name}: the same file name was sent twice")
        data = up.stream.read(limit + 1)
        if len(data) > limit:
            raise _TooLarge(f"{name}: file larger than the per-file limit of {limit} bytes")
        files[name] = data
    return files


class _TooLarge(Exception):
    pass


def summary_of(entry) -> dict:
    return json_safe(dict(entry.analysis.summary))


@bp.post("/analyses")
def create_analysis():
    try:
        recording, lead, beats = _parsed_upload()
        key, cached = cache.submit(recording, lead=lead, beats=beats)
    except (BadRequest, InvalidRecordError) as exc:
        return _error(str(exc), 400)
    except _TooLarge as exc:
        return _error(str(exc), 413)
    except cache.BusyError as exc:
        return _error(str(exc), 503)
    except Exception as exc:  # noqa: BLE001 - only a missing/corrupt model is expected here
        if type(exc).__name__ != "ModelBundleError":
            raise
        current_app.logger.error("model unavailable: %s", exc)
        return _error("the analysis model is unavailable on this server; its operator should check "
                      "ECG_MODEL_DIR (the server log names the problem)", 503)
    entry = cache.get_entry(key)
    if entry is None:  # stored nowhere (should not happen): say so rather than 500
        return _error("analysis could not be stored; try again", 503)
    return jsonify(key=key, summary=summary_of(entry), cached=cached)


def _parsed_upload():
    """(recording, lead, beats) from the multipart form; raises BadRequest/InvalidRecordError/_TooLarge."""
    from app.ecg.readers import read_upload

    files = _uploaded_files()
    fs = _parse_fs(request.form.get("fs"), ", ".join(files))
    units = (request.form.get("units") or "mV").strip()[:16]
    beats = _parse_choice(request.form.get("beats"), "beats", BEATS_OPTIONS, "detect")
    lead = _parse_lead(request.form.get("lead"))
    recording = read_upload(files, fs=fs, units=units, max_duration_s=_settings().max_duration_s)
    return recording, lead, beats


@bp.post("/jobs")
def create_job():
    """Queue a (long) analysis on the Celery workers: 202 {job}; 200 {state: SUCCESS, key} if cached."""
    from app import jobs

    broker = _settings().broker_url
    if not broker:
        return _error("background jobs are not configured on this server (ECG_BROKER_URL); "
                      "use POST /api/v1/analyses", 501)
    if cache.backend_name() == "simple":
        return _error("background jobs need a cache shared with the workers; this server's operator "
                      "should set ECG_CACHE_URL (redis://... or filesystem:///dir), not simple", 501)
    try:
        recording, lead, beats = _parsed_upload()
    except (BadRequest, InvalidRecordError) as exc:
        return _error(str(exc), 400)
    except _TooLarge as exc:
        return _error(str(exc), 413)
    found = cache.find_analysis(recording, lead=lead, beats=beats)
    if found:
        return jsonify(state="SUCCESS", key=found, cached=True)
    try:
        upload = cache.put_upload(recording)
        job = jobs.submit_job(broker, upload, lead=lead, beats=beats)
    except Exception as exc:  # noqa: BLE001 - broker or cache down: say so, keep serving
        current_app.logger.error("could not queue a job: %s", exc)
        return _error("the job queue is unavailable; try again or use POST /api/v1/analyses", 503)
    response = jsonify(job=job, state="PENDING")
    response.status_code = 202
    return response


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """State of a queued analysis; SUCCESS carries the analysis key."""
    from app import jobs

    broker = _settings().broker_url
    if not broker:
        return _error("background jobs are not configured on this server", 501)
    if not jobs.is_job_id(job_id):
        return _error("unknown job", 404)
    try:
        status = jobs.job_status(broker, job_id)
    except Exception as exc:  # noqa: BLE001 - broker down: say so, keep serving
        current_app.logger.error("job status unavailable: %s: %s", type(exc).__name__, exc)
        return _error("the job queue is unavailable; try again", 503)
    if status is None:
        return _error("unknown job (never submitted here, or expired with its result)", 404)
    return jsonify(job=job_id, **json_safe(status))


@bp.get("/analyses/<key>")
def get_analysis(key: str):
    summary = cache.get_summary(key)  # a small read, even for a 24-hour analysis on another worker
    if summary is None:
        return _error("unknown or expired analysis key", 404)
    return jsonify(key=key, summary=json_safe(summary))


@bp.get("/analyses/<key>/beats.csv")
def get_beats_csv(key: str):
    """The per-beat table as CSV, the ``score`` columns (app.analysis.beats_csv, the one writer);
    ``?threshold=X`` re-flags at another threshold."""
    from app.analysis import beats_csv

    entry = cache.get_entry(key)
    if entry is None:
        return _error("unknown or expired analysis key", 404)
    raw = request.args.get("threshold")
    threshold = None
    if raw not in (None, ""):
        try:
            threshold = float(raw)
        except ValueError:
            return _error(f"threshold: not a number: {raw[:40]!r}", 400)
        if not math.isfinite(threshold):
            return _error("threshold: must be finite", 400)
    name = "".join(c for c in str(entry.analysis.record) if c.isalnum() or c in "-_.") or "record"
    return Response(
        beats_csv(entry.analysis, threshold),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}_beats.csv"'},
    )


@bp.get("/health")
def health():
    """200 while the server serves; ``status`` "degraded" when the cache backend or, with jobs
    configured (ECG_BROKER_URL), the broker does not answer a 1-s Redis PING. Without the cache,
    analyses are computed and served by the worker that got them, but not shared; without the
    broker, jobs cannot be queued or reported (503) but everything else works. Neither takes the
    host out of a load balancer (still 200); ``cache_ok``/``broker_ok`` say which."""
    from app import jobs

    ok, problem = cache.ping(timeout=1.0)
    body = {"status": "ok", "cache": cache.backend_name(), "cache_ok": ok, "model_id": cache.current_model_id()}
    if not ok:
        body["cache_error"] = problem
    broker = _settings().broker_url
    broker_ok = None
    if broker:
        broker_ok, broker_problem = jobs.broker_ping(broker, timeout=1.0)
        body["broker_ok"] = broker_ok
        if not broker_ok:
            body["broker_error"] = broker_problem
    if not ok or broker_ok is False:
        body["status"] = "degraded"
    return jsonify(body)


@bp.after_request
def _worker_header(response):
    """Name the worker process in a header when ECG_WORKER_HEADER=1 (tests of the shared cache)."""
    if os.environ.get("ECG_WORKER_HEADER") == "1":
        response.headers["X-ECG-Worker"] = str(os.getpid())
    return response


def _api_routes(server) -> Map:
    """The API's rules alone (without Dash's catch-all GET route), to route /api/ paths against."""
    rules = [Rule(r.rule, endpoint=r.endpoint, methods=r.methods) for r in server.url_map.iter_rules()
             if r.endpoint.startswith(bp.name + ".")]
    return Map(rules)


def _api_paths_only():
    """Before any view: a path under /api/ that no API rule takes is a JSON 404 (405 with Allow
    for a known path and another method) instead of Dash's index page."""
    if not (request.path == "/api" or request.path.startswith("/api/")):
        return None
    routes = current_app.extensions.get("ecg_api_routes")
    if routes is None:
        routes = current_app.extensions["ecg_api_routes"] = _api_routes(current_app)
    # raises NotFound / MethodNotAllowed, answered as JSON by app.security's handler
    routes.bind("", path_info=request.path).match(request.path, method=request.method)
    return None


def register_api(server) -> None:
    """Mount the API blueprint on the Flask server (create_app calls this)."""
    if "ecg_api" not in server.blueprints:
        server.register_blueprint(bp)
        server.before_request(_api_paths_only)
