"""The LLM analyzers through the real CLI: counts, a kill -9 and resume, no key leaks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from netrca.dev import FakeLLMConfig, FakeLLMServer, FaultPlan
from netrca.schema import Analysis
from tests.integration.test_cli import cli

CANARY = "AIza-CANARY-0b1c2d3e4f5a6b7c"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("llm") / "run"
    assert cli("run", "--output", str(out), "--flows", "4000", "--seed", "1", "--quiet") == 0
    return out


@pytest.fixture
def run_dir(finished_run: Path, tmp_path: Path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    return d


def env_for(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "API_KEY" not in k and "NETRCA_" not in k}
    env.update(
        GEMINI_API_KEY=CANARY,
        NETRCA_LLM_BASE_URL=url,
        NETRCA_LLM_CACHE_DIR=str(tmp / "cache"),
        NETRCA_LLM_MAX_RPM="0",
        NETRCA_LLM_BACKOFF_SECONDS="0.05",
    )
    env.update(extra)
    return env


def netrca(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netrca", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )


def analyses_of(d: Path) -> list[Analysis]:
    return [
        Analysis.model_validate(a) for a in json.loads((d / "root_cause_analyses.json").read_text())
    ]


def test_analyze_counts_by_analyzer_and_fallback(run_dir: Path, tmp_path: Path) -> None:
    with FakeLLMServer(FakeLLMConfig(faults=FaultPlan(rates={"missing": 1.0}))) as srv:
        res = netrca(env_for(srv.url, tmp_path), "analyze", str(run_dir), "--analyzer", "gemini",
                     "--batch-size", "4")  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = analyses_of(run_dir)
    summary = json.loads((run_dir / "analysis_summary.json").read_text())
    by = summary["incidents_by_analyzer"]
    assert (
        sum(by.values()) == len(out)
        and by["rules"] == summary["fallbacks_by_reason"]["missing_from_reply"]
    )
    assert by["gemini:gemini-3.8-flash"] > 0 and by["rules"] > 0
    llm = summary["run"]["llm"]
    assert (
        llm["requests"] == srv.stats()["requests"] and llm["analyzer"] == "gemini:gemini-3.8-flash"
    )
    assert "rules fallbacks: missing_from_reply" in res.stderr
    ev = json.loads(netrca(env_for(srv.url, tmp_path), "evaluate", str(run_dir)).stdout)
    assert ev["root_cause"]["accuracy"] > 0.8  # the smart fake echoes the rules verdict


def test_kill_9_then_resume_repeats_no_finished_call(run_dir: Path, tmp_path: Path) -> None:
    before = (run_dir / "root_cause_analyses.json").read_bytes()
    cfg = FakeLLMConfig(faults=FaultPlan(rates={"slow": 1.0}), slow_seconds=0.3)
    journal = tmp_path / "cache" / "analyses.jsonl"
    with FakeLLMServer(cfg) as srv:
        env = env_for(srv.url, tmp_path)
        args = [sys.executable, "-m", "netrca", "analyze", str(run_dir), "--analyzer", "gemini",
                "--batch-size", "2", "--quiet"]  # fmt: skip
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        finished = {
            json.loads(x)["analysis"]["incident_id"]
            for x in journal.read_text().splitlines()
            if x.strip()
        }
        assert len(finished) >= 4
        # the killed run left the folder as it was: complete, with its earlier analyses
        assert (run_dir / "root_cause_analyses.json").read_bytes() == before
        sent_before = len(srv.requests_log)
        cfg.faults = FaultPlan()  # the resumed run needs no slowness
        res = netrca(env, "analyze", str(run_dir), "--analyzer", "gemini", "--batch-size", "2")
        assert res.returncode == 0, res.stderr
        resumed = srv.requests_log[sent_before:]
    out = analyses_of(run_dir)
    ids = [a.incident_id for a in out]
    asked_again = {i for r in resumed for i in r["ids"]}
    assert not asked_again & finished  # no repeated call for a finished incident
    assert asked_again == set(ids) - finished
    assert len(ids) == len(set(ids)) and all(a.analyzer.startswith("gemini:") for a in out)
    llm = json.loads((run_dir / "analysis_summary.json").read_text())["run"]["llm"]
    assert llm["from_cache"] == len(finished)


def test_api_key_never_reaches_output_or_logs(run_dir: Path, tmp_path: Path) -> None:
    cfg = FakeLLMConfig(faults=FaultPlan.parse("rate_limit@1,malformed@2,auth@3"), retry_delay=0)
    with FakeLLMServer(cfg) as srv:
        env = env_for(srv.url, tmp_path, NETRCA_DEBUG="1")
        res = netrca(env, "analyze", str(run_dir), "--analyzer", "gemini", "--batch-size", "3")
        res2 = netrca(
            env_for("http://127.0.0.1:9", tmp_path, NETRCA_LLM_API_KEY=CANARY,
                    NETRCA_LLM_MODEL="m", NETRCA_LLM_MAX_ATTEMPTS="2"),
            "run", "--output", str(tmp_path / "run2"), "--flows", "3000", "--analyzer", "openai",
        )  # fmt: skip
    assert res.returncode == 0 and res2.returncode == 0, res.stderr + res2.stderr
    assert "HTTP 401" in res.stderr and "transport_error" in res2.stderr
    texts = [res.stdout, res.stderr, res2.stdout, res2.stderr]
    files = [p for d in (run_dir, tmp_path) for p in d.rglob("*") if p.is_file()]
    assert len(files) > 10
    leaked = [str(p) for p in files if CANARY.encode() in p.read_bytes()]
    leaked += [t[:80] for t in texts if CANARY in t]
    assert not leaked


def test_dev_fake_llm_command() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netrca",
            "dev",
            "fake-llm",
            "--port",
            "0",
            "--faults",
            "unavailable@1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = line.split(" on ", 1)[1].split()[0]
        route = f"{url}/v1/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(route, json=body).status_code == 503
        ok = httpx.post(route, json=body)
        assert ok.status_code == 200 and ok.json()["choices"][0]["finish_reason"] == "stop"
        assert httpx.get(f"{url}/_stats").json()["requests"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert '"requests": 2' in err
