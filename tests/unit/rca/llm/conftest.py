"""Fixtures for the LLM analyzers: real evidence packs, the fake server, a fake clock."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from netrca.config import Settings
from netrca.dev import FakeLLMConfig, FakeLLMServer, FaultPlan
from netrca.pipeline import fit_model, score_flows
from netrca.rca import EvidencePack, build_evidence, group_incidents
from netrca.rca.incidents import Incident
from netrca.rca.llm import LLMAnalyzer, make_analyzer

KEY = "test-key-not-a-secret"


class FakeTime:
    """An injectable clock and sleep: waits are recorded, never slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="session")
def sim_packs(sim_flows: pd.DataFrame) -> list[EvidencePack]:
    """Evidence packs of the simulated fixture run (every category present)."""
    scored = score_flows(sim_flows, fit_model(sim_flows, Settings(_env_file=None)))
    incidents = group_incidents(scored.flows, scored.is_anomaly, scored.reasons, scored.ts)
    return build_evidence(scored, incidents)


def clone_packs(packs: list[EvidencePack], n: int) -> list[EvidencePack]:
    """``n`` packs with ids INC-0001.. made by cycling through ``packs`` (facts copied)."""
    out = []
    for k in range(n):
        p = packs[k % len(packs)]
        inc = p.incident
        out.append(
            EvidencePack(
                incident=Incident(
                    f"INC-{k + 1:04d}", np.asarray(inc.rows), inc.pivot, inc.key, inc.detector
                ),
                facts=copy.deepcopy(p.facts),
                reasons=dict(p.reasons),
                sample=copy.deepcopy(p.sample),
                history=copy.deepcopy(p.history),
                flow_ids=list(p.flow_ids),
            )
        )
    return out


@pytest.fixture
def packs(sim_packs: list[EvidencePack]) -> list[EvidencePack]:
    """Ten fresh packs (INC-0001..INC-0010) for one test."""
    return clone_packs(sim_packs, 10)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeLLMServer]]:
    """Start fake servers: ``serve(faults="unavailable@1", retry_delay=2.0, …)``."""
    started: list[FakeLLMServer] = []

    def start(faults: str = "", seed: int = 0, **kw: Any) -> FakeLLMServer:
        srv = FakeLLMServer(FakeLLMConfig(faults=FaultPlan.parse(faults, seed), **kw)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def settings_for(base_url: str, tmp: Path, **kw: Any) -> Settings:
    """Settings pointing at a fake server, with a journal in ``tmp``."""
    args: dict[str, Any] = {
        "llm_base_url": base_url,
        "gemini_api_key": KEY,
        "llm_model": "fake-model",
        "llm_cache_dir": tmp / "cache",
        "llm_max_rpm": 0,
        "llm_timeout_seconds": 5.0,
        "llm_backoff_seconds": 0.5,
        "_env_file": None,
    }
    args.update(kw)
    return Settings(**args)


def llm(name: str, srv: FakeLLMServer, tmp: Path, clock: FakeTime, **kw: Any) -> LLMAnalyzer:
    """A real analyzer (real httpx client) against the fake server; waits are faked."""
    settings = settings_for(srv.url, tmp, **kw.pop("settings", {}))
    analyzer = make_analyzer(name, settings, sleep=clock.sleep, clock=clock.clock, **kw)
    assert isinstance(analyzer, LLMAnalyzer)
    return analyzer
