"""The analysis model validates what analyzers produce."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from netrca.schema import Analysis

BASE = {
    "incident_id": "INC-1",
    "category": "port_scan",
    "root_cause": "x scanned y",
    "confidence": 0.5,
    "severity": "low",
    "evidence": [],
    "remediation_steps": [],
    "flow_count": 1,
    "flow_ids": [0],
    "entities": {"sources": [], "destinations": [], "ports": []},
    "time_window": {"start": "a", "end": "b"},
    "analyzer": "rules",
}


def test_valid() -> None:
    assert Analysis.model_validate(BASE).schema_version == "1.0"


@pytest.mark.parametrize(
    "patch",
    [
        {"category": "ddos"},
        {"confidence": 1.5},
        {"severity": "extreme"},
        {"flow_ids": [1, 1]},
        {"root_cause": ""},
        {"flow_count": 0},
        {"extra_field": 1},
    ],
)
def test_invalid(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Analysis.model_validate({**BASE, **patch})
