"""SIEM exports: ECS checked against the ECS field reference, HEC against its envelope."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from netrca.report.export import ECS_VERSION, render_export
from netrca.schema import CATEGORY_VALUES
from tests.conftest import cli

DATA = Path(__file__).resolve().parents[2] / "data"
ECS = json.loads((DATA / "ecs_fields.json").read_text())
HEC = json.loads((DATA / "splunk_hec_envelope.json").read_text())


def _leaves(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key != "labels":
            out.update(_leaves(v, key + "."))
        else:
            out[key] = v
    return out


def _check_type(field: str, kind: str, value: Any) -> None:
    values = value if field in ECS["array_fields"] else [value]
    if field in ECS["array_fields"]:
        assert isinstance(value, list) and value, field
    for v in values:
        if kind in {"keyword", "match_only_text"}:
            assert isinstance(v, str) and v, field
        elif kind == "long":
            assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, field
        elif kind == "float":
            assert isinstance(v, (int, float)), field
        elif kind == "ip":
            ipaddress.ip_address(v)
        elif kind == "date":
            assert pd.Timestamp(v).tzinfo is not None, field
        elif kind == "object":
            assert isinstance(v, dict) and all(isinstance(x, str) for x in v.values()), field
        else:  # pragma: no cover - a type the data file does not use
            raise AssertionError(f"unknown ECS type {kind}")
    for f, allowed in ECS["allowed_values"].items():
        if f == field:
            assert set(values) <= set(allowed), (field, values)


def _check_ecs(lines: list[str]) -> list[dict[str, Any]]:
    docs = [json.loads(x) for x in lines]
    for doc in docs:
        leaves = _leaves(doc)
        unknown = set(leaves) - set(ECS["fields"])
        assert not unknown, f"not ECS {ECS['ecs_version']} fields: {unknown}"
        for field, value in leaves.items():
            _check_type(field, ECS["fields"][field], value)
        assert doc["event"]["kind"] == "alert"
        assert doc["rule"]["name"] in CATEGORY_VALUES
        assert doc["ecs"]["version"].startswith(ECS["ecs_version"])
        assert {"source", "destination", "network", "message", "@timestamp"} <= set(doc)
    return docs


def test_ecs_incident_alerts(run_dir: Path) -> None:
    text, n = render_export(run_dir, "ecs")
    analyses = json.loads((run_dir / "root_cause_analyses.json").read_text())
    docs = _check_ecs(text.splitlines())
    assert n == len(docs) == len(analyses)
    by_id = {a["incident_id"]: a for a in analyses}
    for d in docs:
        a = by_id[d["labels"]["incident_id"]]
        assert d["rule"]["name"] == a["category"] and d["message"] == a["root_cause"]
        assert d["source"]["ip"] == a["entities"]["sources"][0]
        assert set(a["entities"]["sources"]) <= set(d["related"]["ip"])
        assert d["@timestamp"] == a["time_window"]["start"]
    assert ECS_VERSION.startswith(ECS["ecs_version"])


def test_ecs_flow_alerts(run_dir: Path) -> None:
    text, n = render_export(run_dir, "ecs", per="flow")
    docs = _check_ecs(text.splitlines())
    preds = pd.read_parquet(run_dir / "network_logs_with_predictions.parquet")
    flagged = preds[preds["is_anomaly"]]
    assert n == len(flagged)
    first = flagged.iloc[0]
    d = docs[0]
    assert (d["source"]["ip"], d["destination"]["port"]) == (
        first["source_ip"],
        int(first["destination_port"]),
    )
    assert d["source"]["bytes"] == int(first["bytes_sent"])
    assert d["rule"]["name"] == first["predicted_category"]


def test_splunk_hec_envelope(run_dir: Path) -> None:
    text, n = render_export(run_dir, "splunk", index="netsec")
    events = [json.loads(x) for x in text.splitlines()]
    assert n == len(events) > 0
    types = {"number": (int, float), "string": (str,)}
    for e in events:
        assert set(HEC["required"]) <= set(e) and set(e) <= set(HEC["keys"])
        for key, value in e.items():
            kind = HEC["keys"][key]
            if kind in types:
                assert isinstance(value, types[kind]) and not isinstance(value, bool), key
            elif kind == "object_or_string":
                assert isinstance(value, (dict, str)), key
            else:  # flat_object
                assert all(
                    isinstance(v, str)
                    or (isinstance(v, list) and all(isinstance(x, str) for x in v))
                    for v in value.values()
                ), key
        assert 1e9 < e["time"] < 4e9 and e["index"] == "netsec"
        assert e["event"]["signature"] in CATEGORY_VALUES
        assert e["event"]["src"] and e["sourcetype"] == "netrca:alert"


def test_csv_export_and_formula_cells(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    path = copy / "root_cause_analyses.json"
    analyses = json.loads(path.read_text())
    analyses[0]["root_cause"] = '=HYPERLINK("http://x")'
    path.write_text(json.dumps(analyses))
    text, n = render_export(copy, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert n == len(rows) == len(analyses)
    first = next(r for r in rows if r["incident_id"] == analyses[0]["incident_id"])
    assert first["root_cause"] == '\'=HYPERLINK("http://x")'
    assert {r["category"] for r in rows} <= set(CATEGORY_VALUES)


def test_export_cli(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "alerts.ndjson"
    assert cli("export", str(run_dir), "--format", "ecs", "-o", str(out)) == 0
    _check_ecs(out.read_text().splitlines())
    assert cli("export", str(run_dir), "--format", "xml") == 2
    assert cli("export", str(run_dir), "--per", "host") == 2
    assert cli("export", str(tmp_path / "missing")) == 2
    incomplete = tmp_path / "incomplete"
    shutil.copytree(run_dir, incomplete)
    (incomplete / "manifest.json").unlink()
    assert cli("export", str(incomplete), "-f", "splunk") == 2


@pytest.mark.parametrize("fmt", ["ecs", "splunk", "csv"])
def test_exports_are_deterministic(run_dir: Path, fmt: str) -> None:
    assert render_export(run_dir, fmt) == render_export(run_dir, fmt)
