"""A canary API key goes through every CLI path that can see it and must surface nowhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netrca.dev.fake_llm import FakeLLMConfig, FakeLLMServer, FaultPlan

CANARY = "AIzaSyCANARY-0123456789-do-not-leak-XYZ"


def _netrca(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netrca", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize("fault", ["none", "auth", "server_error"])
def test_canary_key_never_written_logged_or_raised(tmp_path: Path, fault: str) -> None:
    plan = FaultPlan() if fault == "none" else FaultPlan(rates={fault: 1.0})
    # the server accepts only the canary: a 200 proves the key really went to the API
    server = FakeLLMServer(FakeLLMConfig(faults=plan, retry_delay=0.0, api_key=CANARY))
    env = {
        **os.environ,
        "GEMINI_API_KEY": CANARY,
        "GOOGLE_API_KEY": CANARY,
        "NETRCA_LLM_BASE_URL": server.url,
        "HOME": str(tmp_path),
        "NETRCA_DEBUG": "1",
    }
    out = tmp_path / "run"
    with server:
        runs = [
            _netrca(
                "run",
                "--flows",
                "3000",
                "--output",
                str(out),
                "--analyzer",
                "gemini",
                env=env,
                cwd=tmp_path,
            ),
            _netrca(
                "analyze", str(out), "--analyzer", "gemini", "--no-cache", env=env, cwd=tmp_path
            ),
            _netrca("report", str(out), env=env, cwd=tmp_path),
            _netrca("export", str(out), "--format", "ecs", env=env, cwd=tmp_path),
            _netrca("evaluate", str(out), env=env, cwd=tmp_path),
        ]
    assert server.requests_log, "the analyzer never called the provider"
    if fault == "none":
        assert {e["status"] for e in server.requests_log} == {200}
    texts = [r.stdout + r.stderr for r in runs]
    assert all(CANARY not in t for t in texts)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    leaked = [str(p) for p in files if CANARY.encode() in p.read_bytes()]
    assert leaked == []
    assert runs[0].returncode == 0  # a failing provider falls back to the rules, never crashes
