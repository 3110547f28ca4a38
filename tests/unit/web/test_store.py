"""Dashboard data: run discovery and incident filters (no web server needed)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netrca.errors import InputError
from netrca.report.runfolder import find_runs
from netrca.schema import Analysis
from netrca.web.store import (
    IncidentFilter,
    RunStore,
    UnknownItemError,
    filter_incidents,
    parse_time,
)


def _a(i: int, cat: str, sev: str, src: str, start: str, end: str) -> Analysis:
    return Analysis(
        incident_id=f"INC-{i:04d}",
        category=cat,
        root_cause="x",
        confidence=0.5,
        severity=sev,
        evidence=[],
        remediation_steps=[],
        entities={"sources": [src], "destinations": ["10.1.0.5"], "ports": [22]},
        time_window={"start": start, "end": end},
        flow_count=1,
        flow_ids=[i],
        analyzer="rules",
    )


ANALYSES = [
    _a(1, "port_scan", "high", "10.0.0.7", "2024-03-04T01:00:00Z", "2024-03-04T01:10:00Z"),
    _a(2, "brute_force", "critical", "10.0.0.8", "2024-03-04T05:00:00Z", "2024-03-04T06:00:00Z"),
    _a(3, "port_scan", "low", "192.168.1.9", "2024-03-04T09:00:00Z", "2024-03-04T09:05:00Z"),
]


def ids(f: IncidentFilter) -> list[str]:
    return [a.incident_id for a in filter_incidents(ANALYSES, f)]


def test_filters() -> None:
    assert ids(IncidentFilter()) == ["INC-0002", "INC-0001", "INC-0003"]  # by severity
    assert ids(IncidentFilter(category="port_scan")) == ["INC-0001", "INC-0003"]
    assert ids(IncidentFilter(severity="critical")) == ["INC-0002"]
    assert ids(IncidentFilter(entity="192.168")) == ["INC-0003"]
    assert ids(IncidentFilter(entity="INC-0001")) == ["INC-0001"]
    assert ids(IncidentFilter(entity="22")) == ["INC-0002", "INC-0001", "INC-0003"]
    t = datetime(2024, 3, 4, 5, 30, tzinfo=UTC)
    assert ids(IncidentFilter(start=t)) == ["INC-0002", "INC-0003"]
    assert ids(IncidentFilter(end=t)) == ["INC-0002", "INC-0001"]
    assert ids(IncidentFilter(start=t, end=t)) == ["INC-0002"]


def test_parse_time() -> None:
    assert parse_time("2024-03-04T05:30", "start") == datetime(2024, 3, 4, 5, 30, tzinfo=UTC)
    assert parse_time(" ", "start") is None
    with pytest.raises(InputError, match="start: not an ISO 8601 time"):
        parse_time("yesterday", "start")


def test_store_finds_runs_and_reloads_on_change(tmp_path: Path, run_dir: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(run_dir, root / "a")
    shutil.copytree(run_dir, root / "b")
    (root / "b" / "manifest.json").unlink()  # incomplete: not listed
    assert list(find_runs(root)) == ["a"]
    assert list(find_runs(root / "a")) == ["a"]  # a run folder itself
    store = RunStore(root)
    first = store.run("a").analyses
    total, cols, rows = store.incident_flows("a", first[0].incident_id, limit=5)
    assert total == first[0].flow_count and len(rows) == min(5, total)
    assert "anomaly_score" in cols and all(r["incident_id"] == first[0].incident_id for r in rows)
    with pytest.raises(UnknownItemError):
        store.run("b")
    with pytest.raises(UnknownItemError):
        store.incident("a", "INC-9999")
    with pytest.raises(InputError):
        RunStore(tmp_path / "missing")
