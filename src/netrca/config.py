"""Settings read from NETRCA_* environment variables and a ``.env`` file."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_INTERNAL_NETWORKS", "Settings", "get_settings"]

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
        default=20 * 2**30, ge=1, description="Refuse inputs (after decompression) above this."
    )
    max_line_bytes: int = Field(
        default=1 * 2**20, ge=64, description="Lines longer than this are rejected, not parsed."
    )


def get_settings() -> Settings:
    """Return settings read from the environment and ``.env`` now."""
    return Settings()
