"""Build an analyzer by name (rules, gemini, openai, ollama) from settings and options."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from netrca.config import Settings
from netrca.errors import ConfigError
from netrca.rca.knowledge import load_knowledge
from netrca.rca.llm import gemini, ollama, openai_compat
from netrca.rca.llm.analyzer import LLMAnalyzer
from netrca.rca.llm.base import Provider
from netrca.rca.llm.redact import IpRedactor
from netrca.rca.llm.retry import Clock, RateLimiter, RetryPolicy, Sleep
from netrca.rca.llm.store import JOURNAL_FILE, AnalysisStore
from netrca.rca.llm.transport import Transport
from netrca.rca.rules import RuleAnalyzer

__all__ = ["ANALYZERS", "make_analyzer", "make_provider"]

#: Analyzer names the CLI accepts.
ANALYZERS: tuple[str, ...] = ("rules", "gemini", "openai", "ollama")


def _check_key(key: SecretStr | None, where: str) -> None:
    value = key.get_secret_value() if key is not None else ""
    if any(c.isspace() or not c.isprintable() for c in value):
        # never quote the key: say where it came from and what is wrong with it
        raise ConfigError(f"{where} contains whitespace or control characters")


def make_provider(name: str, settings: Settings) -> Provider:
    """The provider ``name`` configured from ``settings`` (env / ``.env``)."""
    _check_key(settings.gemini_api_key, "GOOGLE_API_KEY / GEMINI_API_KEY")
    _check_key(settings.llm_api_key, "NETRCA_LLM_API_KEY / OPENAI_API_KEY")
    if name == "gemini":
        if settings.gemini_api_key is None or not settings.gemini_api_key.get_secret_value():
            raise ConfigError(
                "the gemini analyzer needs an API key: set GOOGLE_API_KEY or GEMINI_API_KEY "
                "in the environment or in .env"
            )
        return gemini.GeminiProvider(
            settings.gemini_api_key,
            model=settings.llm_model or gemini.DEFAULT_MODEL,
            base_url=settings.llm_base_url or gemini.DEFAULT_BASE_URL,
        )
    if name in ("openai", "ollama") and not settings.llm_model:
        raise ConfigError(f"the {name} analyzer needs a model name: set NETRCA_LLM_MODEL")
    model = settings.llm_model or ""
    if name == "openai":
        return openai_compat.OpenAICompatProvider(
            model=model,
            base_url=settings.llm_base_url or openai_compat.DEFAULT_BASE_URL,
            api_key=settings.llm_api_key,
        )
    if name == "ollama":
        return ollama.OllamaProvider(
            model=model, base_url=settings.llm_base_url or ollama.DEFAULT_BASE_URL
        )
    raise ConfigError(f"unknown analyzer {name!r}; choose from {', '.join(ANALYZERS)}")


def make_analyzer(
    name: str = "rules",
    settings: Settings | None = None,
    *,
    batch_size: int | None = None,
    max_rpm: float | None = None,
    redact_ips: bool | None = None,
    use_cache: bool = True,
    journal: str | Path | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    client: httpx.Client | None = None,
) -> RuleAnalyzer | LLMAnalyzer:
    """An analyzer ready to use; options left as None come from ``settings``.

    ``journal`` overrides where finished analyses are journaled (default
    ``NETRCA_LLM_CACHE_DIR/analyses.jsonl``); ``use_cache=False`` keeps them in memory
    only. ``sleep``/``clock`` are injectable so tests never wait for real.
    """
    settings = settings or Settings()
    rules = RuleAnalyzer(load_knowledge(settings.knowledge_file))
    if name == "rules":
        return rules
    provider = make_provider(name, settings)
    rpm = settings.llm_max_rpm if max_rpm is None else max_rpm
    if rpm < 0:
        raise ConfigError(f"--max-rpm must be >= 0, got {rpm}")
    size = settings.llm_batch_size if batch_size is None else batch_size
    if size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {size}")
    transport = Transport(
        provider,
        timeout=settings.llm_timeout_seconds,
        policy=RetryPolicy(
            max_attempts=settings.llm_max_attempts,
            base=settings.llm_backoff_seconds,
            cap=settings.llm_backoff_max_seconds,
            max_wait=settings.llm_max_retry_wait_seconds,
            seed=settings.random_state,
        ),
        limiter=RateLimiter(rpm, clock=clock, sleep=sleep),
        sleep=sleep,
        client=client,
    )
    path = None
    if use_cache:
        path = Path(journal) if journal else Path(settings.llm_cache_dir) / JOURNAL_FILE
    redact = settings.llm_redact_ips if redact_ips is None else redact_ips
    return LLMAnalyzer(
        transport,
        rules=rules,
        batch_size=size,
        store=AnalysisStore(path),
        redactor=IpRedactor(settings.internal_networks) if redact else None,
        max_tokens=settings.llm_max_output_tokens,
    )
