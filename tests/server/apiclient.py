"""Small helpers for talking to a real server over HTTP in tests."""
from __future__ import annotations

import csv
import http.client
import io
import json
import re

import numpy as np
import requests

from app.config import SAMPLES_DIR

PAGES = ["/", "/signal", "/latent", "/evaluation"]
CLI_COLUMNS = ["record", "beat", "sample", "time_s", "rr_prev_s", "rr_next_s", "recon_error",
               "latent_distance", "kl", "rr_score", "score", "anomaly", "quality"]
KEY_RE = re.compile(r"^[0-9a-f]{64}$")


def wfdb_upload(record: str, exts=(".hea", ".dat", ".atr")) -> list[tuple]:
    """A bundled record as the `files` parts of a multipart POST."""
    return [("files", (f"{record}{e}", (SAMPLES_DIR / f"{record}{e}").read_bytes(), "application/octet-stream"))
            for e in exts]


def csv_upload(record: str = "100", seconds: float = 60.0, gain: float = 1.0, name: str | None = None):
    """A one-lead CSV (header, one value per line, mV) cut from a bundled record; needs fs=360."""
    from app.ecg.readers import read_record

    rec = read_record(SAMPLES_DIR / record)
    x = rec.signals[: int(seconds * rec.fs), 0].astype(np.float64) * gain
    text = "MLII\n" + "\n".join(f"{v:.4f}" for v in x) + "\n"
    return [("files", (name or f"{record}_cut.csv", text.encode(), "text/csv"))], {"fs": str(rec.fs)}


def post_analysis(base: str, files, data=None, timeout: float = 180.0) -> requests.Response:
    return requests.post(f"{base}/api/v1/analyses", files=files, data=data or {}, timeout=timeout)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def oversize_status(host: str, port: int, n_bytes: int) -> tuple[int, dict]:
    """Announce a multipart body of n_bytes, send only its start, read the answer."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    boundary = "xxBOUNDARYxx"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode()
    conn.putrequest("POST", "/api/v1/analyses")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(n_bytes))
    conn.endheaders()
    conn.send(head + b"1.0\n" * 1000)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(body)
    except ValueError:
        return resp.status, {"raw": body[:200].decode(errors="replace")}


def dash_page_content(base: str, path: str) -> requests.Response:
    """Ask the real server for a page's layout through Dash Pages' own routing callback."""
    deps = requests.get(f"{base}/_dash-dependencies", timeout=30).json()
    cb = next(d for d in deps if "_pages_content" in d["output"])
    inputs = []
    for i in cb["inputs"]:
        value = {"pathname": path, "search": "", "href": base + path, "hash": ""}.get(i["property"])
        inputs.append({"id": i["id"], "property": i["property"], "value": value})
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb.get("state", [])]
    payload = {"output": cb["output"], "outputs": _outputs(cb["output"]), "inputs": inputs,
               "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs], "state": state}
    return requests.post(f"{base}/_dash-update-component", json=payload, timeout=60)


def _outputs(output: str):
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    outs = []
    for p in parts:
        cid, prop = p.rsplit(".", 1)
        outs.append({"id": cid, "property": prop})
    return outs if len(outs) > 1 else outs[0]
