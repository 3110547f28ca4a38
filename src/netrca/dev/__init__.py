"""Developer tools: a fake LLM provider server for tests, demos and benchmarks."""

from __future__ import annotations

from netrca.dev.fake_llm import FAULTS, FakeLLMConfig, FakeLLMServer, FaultPlan

__all__ = ["FAULTS", "FakeLLMConfig", "FakeLLMServer", "FaultPlan"]
