"""A folder of runs, a real dashboard server on it, and headless Chromium for the e2e tests.

The server is ``python -m netrca serve DIR --port 0`` (uvicorn) on 127.0.0.1; the browser
is Debian's ``chromium`` driven by Playwright. When ``/usr/bin/chromium`` is missing the
session installs it with apt-get (CI runs as root on a fresh Debian machine).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from netrca.pipeline import run
from netrca.simulate import Scenario, simulate, write_flows
from tests.runs import make_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
EVIL_PROTOCOL = "<script>alert(1)</script>"
EVIL_HOST = '"><img src=x onerror=alert(2)>'


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs: ``sim`` (simulated, with ground truth) and ``hostile`` (HTML in the logs)."""
    root = tmp_path_factory.mktemp("runs")
    make_run(root / "sim")
    frame = simulate(Scenario(n_flows=3000), seed=5)
    scan = frame["root_cause"] == "port_scan"
    frame.loc[scan, "protocol"] = EVIL_PROTOCOL
    frame["hostname"] = EVIL_HOST
    path = root / "hostile.csv"
    write_flows(frame, path)
    run(path, output=root / "hostile", quiet=True)
    path.unlink()
    return root


@pytest.fixture(scope="session")
def dashboard(runs_root: Path) -> Iterator[str]:
    """Base URL of a real ``netrca serve`` on an ephemeral 127.0.0.1 port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "netrca", "serve", str(runs_root), "--port", "0", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"dashboard did not start: {line!r} {proc.stderr.read() if not match else ''}"
        url = f"http://127.0.0.1:{match.group(1)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/runs", trust_env=False, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "dashboard did not answer within 30 s"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _install_chromium() -> None:
    if CHROMIUM.exists():
        return
    why = "Debian's chromium package is not installed"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{why} and cannot be installed here (needs root and apt-get)")
        pytest.skip(f"{why}; run: apt-get install -y chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    # pytest-xdist workers each run this fixture: one installs, the others wait for it
    with open(Path(tempfile.gettempdir()) / "netrca-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CHROMIUM.exists():
            return
        for cmd in (["apt-get", *wait, "update"], ["apt-get", *wait, "install", "-y", "chromium"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    assert CHROMIUM.exists(), "apt-get installed chromium but /usr/bin/chromium is missing"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium context with a fresh profile (Playwright, system chromium)."""
    _install_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with (
        tempfile.TemporaryDirectory(prefix="netrca-chromium-") as profile,
        sync_api.sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
