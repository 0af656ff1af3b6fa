"""`make lab`: JupyterLab serves the notebooks. The server is started headless on loopback as
the Makefile starts it (root directory notebooks/, on 127.0.0.1), with a token of its own and
its config, runtime and user data directories in a temporary directory (JupyterLab's static
assets are found under the environment's share/jupyter, not the user data directory); the
test waits for /lab to answer, lists the notebooks through the contents API and stops it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_jupyter_lab_serves_the_notebooks(tmp_path: Path) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    command = [
        *(sys.executable, "-m", "jupyterlab", "--no-browser"),
        *("--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0"),
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={NOTEBOOKS}",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # as `make lab` does in a container
    ]
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status, page = time.monotonic() + START_TIMEOUT_S, 0, ""
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, page = _get(f"{base}/lab?token={token}")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"/lab answered {status}; the server said:\n{log.read_text()}"
        assert "JupyterLab" in page
        assert _get(f"{base}/api/contents")[0] == 403, "the API must want the token"

        status, body = _get(f"{base}/api/contents?token={token}")
        assert status == 200
        listed = {item["name"] for item in json.loads(body)["content"]}
        assert {path.name for path in NOTEBOOKS.glob("*.ipynb")} <= listed
    finally:
        server.send_signal(signal.SIGTERM)  # what Ctrl-C twice does: stops without asking
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail("jupyter lab did not stop within 30 s of SIGTERM")
    assert server.returncode is not None
    with pytest.raises(OSError):  # nothing listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
