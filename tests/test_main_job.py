"""The main job: `make lab` starts JupyterLab on notebooks/, on 127.0.0.1.

The test runs `make lab-server`, the same server command `make lab` runs after its set-up step
(test_environment.py checks `make lab` prints that command), with this venv, a free port and a
token; it waits for the server, checks the lab page and the contents root, then shuts it down
through the REST API and checks it exits cleanly. Everything has a bounded timeout."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90  # s: a cold start imports jupyterlab and its extensions
STOP_TIMEOUT = 30

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def server_processes(pid: int) -> list:
    psutil = pytest.importorskip("psutil")
    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def lab(tmp_path):
    """Start `make lab-server`; yield (base URL, token, process, log path); always stop it."""
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "HF_HUB_OFFLINE"}}
    # Keep the test's server away from the user's running servers and settings.
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "workspaces")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "lab-server",
             f"VENV={sys.prefix}", f"PORT={port}", f"TOKEN={token}"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so cleanup reaches jupyter too
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"make lab-server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if get(f"{base}/api/status", token, timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on {base}/api/status after {START_TIMEOUT} s:\n{log.read_text()}")
            time.sleep(0.5)
        yield base, token, process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_make_lab_serves_jupyterlab_on_notebooks(lab):
    base, token, process, log = lab

    # The lab page.
    status, page = get(f"{base}/lab", token)
    assert status == 200
    assert "jupyter-config-data" in page and "JupyterLab" in page
    config = json.loads(re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)[1])
    notebooks = (ROOT / "notebooks").resolve()
    if "serverRoot" in config:
        assert Path(config["serverRoot"]).expanduser().resolve() == notebooks

    # The contents root is notebooks/: it lists what notebooks/ holds, not the repository.
    status, body = get(f"{base}/api/contents", token)
    assert status == 200, body
    listed = {item["name"] for item in json.loads(body)["content"]}
    on_disk = {p.name for p in notebooks.iterdir() if not p.name.startswith(".")}
    assert listed == on_disk
    assert "pyproject.toml" not in listed and "Makefile" not in listed

    # Without the token, the API refuses.
    assert get(f"{base}/api/contents", "wrong-token")[0] in (401, 403)

    # The URL printed for the user is on 127.0.0.1, and the server only listens there.
    assert re.search(rf"http://127\.0\.0\.1:{base.rsplit(':', 1)[1]}/lab", log.read_text())
    psutil = pytest.importorskip("psutil")
    jupyter = [p for p in server_processes(process.pid) if "jupyter" in " ".join(p.cmdline())]
    assert jupyter, "no jupyter process under make"
    listening = {c.laddr.ip for p in jupyter for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}, listening

    # Kernels inherit the server's environment: no model hub.
    assert jupyter[-1].environ().get("HF_HUB_OFFLINE") == "1"

    # Stop it cleanly: shutdown through the API; jupyter, then make, exit 0.
    request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 202, 204)
    assert process.wait(STOP_TIMEOUT) == 0, log.read_text()
