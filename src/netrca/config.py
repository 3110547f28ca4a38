"""Settings read from NETRCA_* environment variables and a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_INTERNAL_NETWORKS", "Settings", "default_cache_dir", "get_settings"]

#: Address ranges treated as internal when a log carries no local_orig/local_resp flags.
DEFAULT_INTERNAL_NETWORKS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/netrca/llm`` (``~/.cache/netrca/llm`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "netrca" / "llm"


class Settings(BaseSettings):
    """Runtime settings. Every field can be set as ``NETRCA_<FIELD>`` or in ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="NETRCA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    output_dir: str = Field(default="data", description="Default output folder.")
    window_seconds: float = Field(default=300.0, gt=0, description="Aggregation window.")
    n_estimators: int = Field(default=100, ge=1, le=5000)
    max_samples: int = Field(default=256, ge=2)
    random_state: int = Field(default=0, ge=0)
    internal_networks: list[str] = Field(default_factory=lambda: list(DEFAULT_INTERNAL_NETWORKS))
    incident_gap_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Split an entity's anomalies into incidents at gaps this long.",
    )
    max_input_bytes: int = Field(
        default=8 * 2**30, ge=1, description="Refuse inputs (after decompression) above this."
    )
    max_line_bytes: int = Field(
        default=1 * 2**20, ge=64, description="Lines longer than this are rejected, not parsed."
    )
    knowledge_file: Path | None = Field(
        default=None,
        description="A taxonomy TOML (signals, templates, playbooks) replacing the packaged one.",
    )
    # --- LLM root-cause analyzers (netrca.rca.llm) ---
    llm_base_url: str | None = Field(
        default=None, description="Provider base URL (default: the provider's public/local URL)."
    )
    llm_model: str | None = Field(default=None, description="Model name (Gemini has a default).")
    gemini_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GOOGLE_API_KEY", "GEMINI_API_KEY", "gemini_api_key"),
        description="Gemini API key (GOOGLE_API_KEY wins over GEMINI_API_KEY).",
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NETRCA_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key"),
        description="Bearer key for an OpenAI-compatible server (optional for local servers).",
    )
    llm_batch_size: int = Field(default=20, ge=1, le=500, description="Incidents per request.")
    llm_max_rpm: float = Field(
        default=60.0, ge=0, description="Client-side limit, requests per minute (0 = none)."
    )
    llm_timeout_seconds: float = Field(default=120.0, gt=0, description="Per-request timeout.")
    llm_max_attempts: int = Field(default=5, ge=1, le=20, description="Tries per request.")
    llm_backoff_seconds: float = Field(default=1.0, ge=0, description="First retry delay.")
    llm_backoff_max_seconds: float = Field(default=60.0, ge=0, description="Retry delay cap.")
    llm_max_retry_wait_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A provider asking to wait longer than this is treated as out of quota.",
    )
    llm_max_output_tokens: int = Field(default=32768, ge=256)
    llm_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Journal + cache of finished LLM analyses (append-only JSON Lines).",
    )
    llm_redact_ips: bool = Field(
        default=False, description="Pseudonymise IP addresses before anything leaves the machine."
    )


def get_settings() -> Settings:
    """Return settings read from the environment and ``.env`` now."""
    return Settings()
