"""Shared fixtures: free ports, real server processes, a real redis-server, real Chromium.

Every process a fixture starts is stopped by the fixture's finalizer (process group kill).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "app" / "samples"
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_TIMEOUT_S = float(os.environ.get("ECG_TEST_SERVER_START_S", 120))


# ----------------------------------------------------------------------------- helpers

def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_files(record: str, exts=(".hea", ".dat", ".atr")) -> dict[str, bytes]:
    """A bundled WFDB record as an upload: {file name: bytes}."""
    return {f"{record}{e}": (SAMPLES / f"{record}{e}").read_bytes() for e in exts if (SAMPLES / f"{record}{e}").exists()}


def cut_record(record: str, seconds: float, out_dir: Path) -> Path:
    """Bundled ``record`` (format 212, two leads) cut to its first ``seconds`` in ``out_dir``: header
    and ``.dat`` shortened, the whole ``.atr`` kept (its later beat annotations lie outside)."""
    hea = (SAMPLES / f"{record}.hea").read_text().splitlines()
    first = hea[0].split()
    n = int(seconds * float(first[2]))
    hea[0] = " ".join(first[:3] + [str(n)] + first[4:])
    (out_dir / f"{record}.hea").write_text("\n".join(hea) + "\n")
    (out_dir / f"{record}.dat").write_bytes((SAMPLES / f"{record}.dat").read_bytes()[:3 * n])  # 3 bytes a frame
    shutil.copyfile(SAMPLES / f"{record}.atr", out_dir / f"{record}.atr")
    return out_dir / record


def nst_noisy_sample(record: str, noise: str, snr_db: float):
    """(bundled ``record`` with nstdb ``noise`` added at ``snr_db`` as nst does, nst's noise-on mask);
    skips the test when ../shared/data/nstdb is not there."""
    from app.ecg.nst import noise_on, noisy, nst_noise_rms, nst_qrs_amplitude, read_noise
    from app.ecg.readers import read_record

    nst = ROOT.parent / "shared" / "data" / "nstdb"
    if not (nst / f"{noise}.hea").is_file():
        pytest.skip(f"nstdb {noise} not found in {nst}")
    rec = read_record(SAMPLES / record)
    sig, fs = read_noise(nst, noise)
    amps = [nst_qrs_amplitude(rec.signals[:, i], rec.ref_samples, rec.ref_symbols, rec.fs) for i in range(2)]
    r = noisy(rec, sig, snr_db, amps, [nst_noise_rms(sig[:, j], fs) for j in range(2)], "nst")
    return r, noise_on(rec.n_samples, rec.fs, "nst")


def v_vs_n_auroc(table, on) -> float:
    """AUROC of V against N beats (not low quality) inside the noisy segments ``on``."""
    from sklearn.metrics import roc_auc_score

    keep = on[table["sample"].to_numpy()] & table.ref_class.isin(["N", "V"]).to_numpy() & ~table.low_quality.to_numpy()
    assert (table.ref_class[keep] == "V").sum() > 300
    return float(roc_auc_score(table.ref_class[keep] == "V", table.score[keep]))


def http_get(url: str, timeout: float = 10.0):
    """(status, headers, body bytes) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _kill_group(proc: subprocess.Popen, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal the process group (gunicorn: SIGINT = quick shutdown), then SIGKILL if needed."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)


@dataclass
class ServerProcess:
    """A real server process on loopback (its own process group)."""

    cmd: list[str]
    port: int
    log_path: Path
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/api/v1/health", timeout: float = SERVER_START_TIMEOUT_S):
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=full_env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _, _ = http_get(self.url + ready_path, timeout=2)
                if status == 200:
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self):
        if self.proc is not None:
            _kill_group(self.proc, sig=signal.SIGINT)
        if getattr(self, "_log", None):
            self._log.close()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        """Child processes (gunicorn workers) of the server process."""
        import psutil

        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]


def start_app(kind: str, tmp: Path, env: dict | None = None, workers: int = 2, threads: int = 4) -> ServerProcess:
    """Start ``python -m app`` (kind="python") or ``gunicorn app:server`` (kind="gunicorn")."""
    port = free_port()
    if kind == "python":
        cmd = [PYTHON, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [str(VENV_BIN / "gunicorn"), "app:server", "-w", str(workers), "--threads", str(threads),
               "--timeout", "180", "-b", f"127.0.0.1:{port}"]
    base_env = {"ECG_CACHE_DIR": "", "ECG_CACHE_URL": "", "TMPDIR": str(tmp / "tmp")}
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    srv = ServerProcess(cmd=cmd, port=port, log_path=tmp / f"{kind}-{port}.log", env={**base_env, **(env or {})})
    return srv.start()


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        _kill_group(self.proc)


def start_redis(tmp: Path, port: int | None = None) -> RedisServer:
    """A real redis-server on a loopback port (a free one, or ``port``: a stopped Redis "coming
    back", empty), data in ``tmp``, no persistence."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = port or free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", "",
         "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"],
        stdout=open(tmp / "redis.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return RedisServer(port=port, proc=proc)
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    _kill_group(proc)
    raise RuntimeError("redis-server did not start")


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    """The full MIT-BIH database (../shared/data/mitdb); skips when it is absent."""
    from app.config import default_data_dir

    d = os.environ.get("ECG_DATA_DIR") or default_data_dir()
    if not d or not Path(d, "100.hea").exists():
        pytest.skip("full MIT-BIH database not found at ../shared/data/mitdb (set ECG_DATA_DIR)")
    return Path(d)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def python_app(tmp_path_factory):
    """A real ``python -m app`` process (simple cache), shared by the session."""
    srv = start_app("python", tmp_path_factory.mktemp("python_app"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def gunicorn_app(tmp_path_factory):
    """A real ``gunicorn app:server -w 2`` (filesystem cache in a temp dir), shared by the session."""
    tmp = tmp_path_factory.mktemp("gunicorn_app")
    srv = start_app("gunicorn", tmp, env={"ECG_CACHE_DIR": str(tmp / "cache"), "ECG_WORKER_HEADER": "1"})
    yield srv
    srv.stop()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on loopback for one test."""
    srv = start_redis(tmp_path / "redis")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    """Real headless Debian Chromium through Playwright (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser):
    """A fresh browser page (own context); closed after the test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()
