"""LLM root-cause analyzers: Gemini, OpenAI-compatible servers and Ollama, in batches."""

from __future__ import annotations

from netrca.rca.llm.analyzer import LLMAnalyzer
from netrca.rca.llm.base import ErrorInfo, HttpRequest, Provider, ProviderReply
from netrca.rca.llm.factory import ANALYZERS, make_analyzer, make_provider
from netrca.rca.llm.gemini import GeminiProvider
from netrca.rca.llm.ollama import OllamaProvider
from netrca.rca.llm.openai_compat import OpenAICompatProvider
from netrca.rca.llm.prompt import PromptKit, load_prompts
from netrca.rca.llm.redact import IpRedactor
from netrca.rca.llm.retry import RateLimiter, RetryPolicy
from netrca.rca.llm.store import AnalysisStore, cache_key, evidence_hash
from netrca.rca.llm.transport import Transport

__all__ = [
    "ANALYZERS",
    "AnalysisStore",
    "ErrorInfo",
    "GeminiProvider",
    "HttpRequest",
    "IpRedactor",
    "LLMAnalyzer",
    "OllamaProvider",
    "OpenAICompatProvider",
    "PromptKit",
    "Provider",
    "ProviderReply",
    "RateLimiter",
    "RetryPolicy",
    "Transport",
    "cache_key",
    "evidence_hash",
    "load_prompts",
    "make_analyzer",
    "make_provider",
]
