"""Developer tools: a fake LLM provider server for tests, demos and benchmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netrca.dev.faults import FAULTS

if TYPE_CHECKING:
    from netrca.dev.fake_llm import FakeLLMConfig, FakeLLMServer, FaultPlan

__all__ = ["FAULTS", "FakeLLMConfig", "FakeLLMServer", "FaultPlan"]


def __getattr__(name: str) -> Any:
    # the server (http.server, httpx, the prompt parser) loads on first use, not with the CLI
    if name in ("FakeLLMConfig", "FakeLLMServer", "FaultPlan"):
        from netrca.dev import fake_llm

        return getattr(fake_llm, name)
    raise AttributeError(f"module 'netrca.dev' has no attribute {name!r}")
