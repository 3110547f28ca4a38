"""Canonical flow columns, the root-cause taxonomy, and the analysis models."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CANONICAL_COLUMNS",
    "CATEGORY_VALUES",
    "FLOAT_COLUMNS",
    "GROUND_TRUTH_COLUMNS",
    "INT_COLUMNS",
    "OUTPUT_COLUMNS",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "Analysis",
    "Category",
    "Entities",
    "Evidence",
    "Severity",
    "TimeWindow",
]

#: Version of the analysis JSON schema and of the canonical flow contract.
SCHEMA_VERSION = "1.0"

#: Canonical flow columns in their documented order.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "source_ip",
    "destination_ip",
    "source_port",
    "destination_port",
    "protocol",
    "bytes_sent",
    "bytes_received",
    "packets_sent",
    "packets_received",
    "duration",
    "status",
    "latency",
    "error_code",
)

#: Columns every flow file must have (after column-name aliasing).
REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "source_ip", "destination_ip")

#: Integer columns (nullable) and their inclusive valid ranges.
INT_COLUMNS: dict[str, tuple[int, int]] = {
    "source_port": (0, 65535),
    "destination_port": (0, 65535),
    "bytes_sent": (0, 2**62),
    "bytes_received": (0, 2**62),
    "packets_sent": (0, 2**62),
    "packets_received": (0, 2**62),
}

#: Float columns (nullable) that must be finite and non-negative.
FLOAT_COLUMNS: tuple[str, ...] = ("duration", "latency")

#: Ground-truth columns: passed through, never used as features.
GROUND_TRUTH_COLUMNS: tuple[str, ...] = ("label", "root_cause")

#: Columns the detection stage appends to every flow.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "flow_id",
    "anomaly_score",
    "is_anomaly",
    "incident_id",
    "predicted_category",
    "reasons",
)


class Category(StrEnum):
    """Root-cause taxonomy. Ground truth uses ``normal`` for benign flows."""

    PORT_SCAN = "port_scan"
    DOS_FLOOD = "dos_flood"
    BRUTE_FORCE = "brute_force"
    DATA_EXFILTRATION = "data_exfiltration"
    C2_BEACONING = "c2_beaconing"
    SERVICE_OUTAGE = "service_outage"
    NETWORK_CONGESTION = "network_congestion"
    PROTOCOL_VIOLATION = "protocol_violation"
    UNKNOWN = "unknown"


#: Category names as plain strings, in taxonomy order.
CATEGORY_VALUES: tuple[str, ...] = tuple(c.value for c in Category)


class Severity(StrEnum):
    """How urgently an incident needs attention."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Evidence(BaseModel):
    """One fact with a number, traceable to the incident's flows."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="Name of the computed fact, e.g. distinct_dst_ports.")
    value: float | int | str = Field(description="The measured value.")
    description: str = Field(description="The fact as one readable sentence.")
    baseline: float | int | str | None = Field(
        default=None, description="The comparable value in normal traffic, when known."
    )


class Entities(BaseModel):
    """The hosts and ports an incident involves (most active first)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list)


class TimeWindow(BaseModel):
    """First and last flow timestamps of an incident (ISO 8601, UTC)."""

    model_config = ConfigDict(extra="forbid")

    start: str
    end: str


class Analysis(BaseModel):
    """One root-cause analysis of one incident, as written to JSON."""

    model_config = ConfigDict(extra="forbid")

    incident_id: str
    category: Category
    root_cause: Annotated[str, Field(min_length=1, max_length=1000)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    severity: Severity
    evidence: list[Evidence]
    remediation_steps: list[str]
    entities: Entities
    time_window: TimeWindow
    flow_count: Annotated[int, Field(ge=1)]
    flow_ids: list[int]
    analyzer: str
    schema_version: str = SCHEMA_VERSION
    alternatives: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Other categories considered, with their scores (possible, not certain).",
    )
    fallback_reason: str | None = Field(
        default=None, description="Why a fallback analyzer produced this analysis, if it did."
    )
    grounding_notes: list[str] = Field(
        default_factory=list,
        description="What was rejected or repaired because it did not match the evidence pack.",
    )

    @field_validator("flow_ids")
    @classmethod
    def _flow_ids_unique(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("flow_ids must be unique")
        return v
