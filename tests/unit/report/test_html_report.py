"""report.html: written in every run, every section present, escaped, bounded, re-renderable."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd

from netrca.report import read_manifest
from netrca.report.html import render_report
from netrca.report.outputs import _sha256
from netrca.report.view import build_view
from netrca.schema import Analysis
from tests.conftest import cli

SECTIONS = (
    "summary",
    "timeline",
    "incidents",
    "breakdowns",
    "top-entities",
    "evaluation",
    "fidelity",
)


def test_every_run_writes_a_self_contained_report(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text("utf-8")
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    # nothing is fetched: no external URL in src/href, CSP forbids everything else
    assert not re.search(r'(src|href)="(https?:)?//', html)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and unescape(csp.group(1)).startswith("default-src 'none';")
    assert html.count("<script") == 1 and html.count("<style") == 1
    analyses = json.loads((run_dir / "root_cause_analyses.json").read_text())
    assert html.count('<details class="incident"') == len(analyses) > 0
    for a in analyses:
        assert f'id="inc-{a["incident_id"]}"' in html
    manifest = read_manifest(run_dir)
    assert manifest is not None
    for name in ("report.html", "report.json"):
        assert manifest["files"][name]["sha256"] == _sha256(run_dir / name)


def test_report_json_twin_matches_the_page(run_dir: Path) -> None:
    view = json.loads((run_dir / "report.json").read_text())
    summary = json.loads((run_dir / "analysis_summary.json").read_text())
    assert view["flows_analysed"] == summary["flows_analysed"]
    assert view["incidents_total"] == summary["incidents"]
    sev = [i["severity"] for i in view["incidents"]]
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    assert sev == sorted(sev, key=order.__getitem__)
    assert sum(view["timeline"]["flows"]) == summary["flows_analysed"]
    assert sum(view["timeline"]["anomalies"]) == summary["anomalous_flows"]
    assert view["evaluation"]["roc_auc"] is not None  # simulated runs have ground truth
    first = view["incidents"][0]
    assert 3 <= len(first["flow_sample"]) <= 10
    assert all(len(row) == len(view["sample_columns"]) for row in first["flow_sample"])


def _hostile_run() -> tuple[pd.DataFrame, list[Analysis], dict]:
    evil = "<script>alert(1)</script>"
    img = '"><img src=x onerror=alert(2)>'
    preds = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-03-04", periods=6, freq="min", tz="UTC"),
            "source_ip": ["10.0.0.1"] * 6,
            "destination_ip": ["10.0.0.2"] * 6,
            "destination_port": [80] * 6,
            "protocol": [evil.upper()] * 6,
            "hostname": [img] * 6,
            "flow_id": np.arange(6),
            "anomaly_score": [0.1, 0.9, 0.95, 0.2, 0.1, 0.1],
            "is_anomaly": [False, True, True, False, False, False],
            "incident_id": ["", "INC-0001", "INC-0001", "", "", ""],
            "reasons": ["", evil, evil, "", "", ""],
        }
    )
    a = Analysis(
        incident_id="INC-0001",
        category="port_scan",
        root_cause=f"{evil} scanned {img}",
        confidence=0.9,
        severity="high",
        evidence=[{"metric": evil, "value": evil, "description": img, "baseline": evil}],
        remediation_steps=[f"block {evil}"],
        entities={"sources": [evil], "destinations": [img], "ports": [80]},
        time_window={"start": "2024-03-04T00:01:00Z", "end": "2024-03-04T00:02:00Z"},
        flow_count=2,
        flow_ids=[1, 2],
        analyzer=f"gemini:{evil}",
        fallback_reason=img,
        alternatives=[{"category": evil, "score": 0.1}],
    )
    summary = {
        "run": {"input": f"/tmp/{evil}.csv", "threshold": 0.5, "analyzer": evil},
        "flows_analysed": 6,
        "anomalous_flows": 2,
        "incidents": 1,
        "incidents_by_category": {"port_scan": 1},
        "incidents_by_severity": {"high": 1},
        "incidents_by_analyzer": {evil: 1},
        "fallbacks_by_reason": {img: 1},
        "top_sources": [{"value": evil, "anomalous_flows": 2}],
        "top_destinations": [{"value": img, "anomalous_flows": 2}],
        "top_destination_ports": [{"value": "80", "anomalous_flows": 2}],
    }
    return preds, [a], summary


def test_log_derived_text_is_escaped_everywhere() -> None:
    preds, analyses, summary = _hostile_run()
    evaluation = {
        "confusion": {"tp": 1},
        "root_cause": {
            "confusion_matrix": {"<script>x</script>": {"<b>y</b>": 3}},
            "per_category": {"<i>c</i>": {"flows": 1, "detected": 1.0}},
        },
    }
    fidelity = {
        "metrics": {"<script>m</script>": 1.0},
        "columns": {
            "<script>col</script>": {
                "kind": "categorical",
                "categories": ["<b>"],
                "real": [1],
                "synthetic": [2],
            }
        },
    }
    html = render_report(build_view(preds, analyses, summary, evaluation, fidelity))
    assert html.count("<script") == 1  # only the report's own script
    assert "<img" not in html and "<b>" not in html and "<i>c" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;" in html  # the protocol column
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in html  # the extra column


def test_fidelity_plots_when_the_run_has_a_fidelity_file(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "fidelity.json").write_text(
        json.dumps(
            {
                "metrics": {"mean_ks": 0.08, "per_column": {"bytes_sent": 0.05}},
                "columns": {
                    "bytes_sent": {
                        "kind": "continuous",
                        "bin_edges": [0, 10, 100, 1000],
                        "real": [5, 20, 3],
                        "synthetic": [6, 18, 4],
                    },
                    "protocol": {
                        "kind": "categorical",
                        "categories": ["HTTPS", "DNS"],
                        "real": [70, 30],
                        "synthetic": [65, 35],
                    },
                },
            }
        )
    )
    assert cli("report", str(copy)) == 0
    html = (copy / "report.html").read_text()
    fid = html[html.index('<section id="fidelity">') :]
    assert "bytes_sent: real vs synthetic" in fid and "protocol: real vs synthetic" in fid
    assert "per_column.bytes_sent" in fid and "No GAN" not in fid
    assert read_manifest(copy)["files"]["report.html"]["sha256"] == _sha256(copy / "report.html")
    (copy / "fidelity.json").write_text(
        json.dumps(
            {
                "columns": {
                    "x": {
                        "kind": "continuous",
                        "bin_edges": [0, 1],
                        "real": [1, 2],
                        "synthetic": [1, 2],
                    }
                }
            }
        )
    )
    assert cli("report", str(copy)) == 0
    html = (copy / "report.html").read_text()
    assert "fidelity.json: invalid at columns.x.continuous" in html


def test_reanalyze_and_evaluate_rewrite_the_report(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    assert cli("analyze", str(copy), "--quiet") == 0
    assert (copy / "report.html").exists()
    (copy / "report.html").unlink()
    assert cli("evaluate", str(copy)) == 0
    assert "Detection confusion matrix" in (copy / "report.html").read_text()
    assert read_manifest(copy) is not None


def test_report_size_does_not_grow_with_flows() -> None:
    _preds, analyses, summary = _hostile_run()

    def view_size(n: int) -> int:
        rng = np.random.default_rng(0)
        big = pd.DataFrame(
            {
                "timestamp": pd.Timestamp("2024-03-04", tz="UTC")
                + pd.to_timedelta(np.sort(rng.uniform(0, 86400, n)), unit="s"),
                "source_ip": "10.0.0.1",
                "destination_ip": "10.0.0.2",
                "protocol": "TCP",
                "flow_id": np.arange(n),
                "anomaly_score": rng.uniform(0, 1, n),
                "is_anomaly": False,
                "incident_id": "",
                "reasons": "",
            }
        )
        many = [
            a.model_copy(update={"incident_id": f"INC-{i:05d}"})
            for i in range(3000)
            for a in analyses
        ]
        view = build_view(big, many, summary)
        assert len(view["incidents"]) == 1000 and view["incidents_omitted"] == 2000
        assert sum(len(i["flow_sample"]) for i in view["incidents"]) <= 3000
        return len(render_report(view))

    small, large = view_size(10_000), view_size(400_000)
    assert large < small * 1.05


def test_timeline_draws_bands_for_timed_incidents_only() -> None:
    """Incidents with a time window become bands at their times; a feature table's row
    range and a missing window do not."""
    from netrca.report.html import timeline_chart

    start = pd.Timestamp("2024-03-04T00:00:00Z").timestamp()
    view = {
        "timeline": {
            "start": [start, start + 60, start + 120],
            "bin_seconds": 60.0,
            "max_score": [0.1, 0.9, 0.2],
            "flows": [3, 4, 5],
            "anomalies": [0, 1, 0],
        },
        "threshold": 0.5,
        "incidents": [
            {
                "incident_id": "INC-1",
                "category": "port_scan",
                "severity": "high",
                "time_window": {
                    "start": "2024-03-04T00:01:00.250000Z",
                    "end": "2024-03-04T00:02:00Z",
                },
            },
            {
                "incident_id": "INC-2",
                "category": "unknown",
                "severity": "low",
                "time_window": {"start": "row 3", "end": "row 9"},
            },
            {"incident_id": "INC-3", "category": "unknown", "severity": "low", "time_window": None},
            {
                "incident_id": "INC-4",
                "category": "ddos",
                "severity": "high",
                "time_window": {"start": "2024-03-04T00:02:30Z", "end": None},
            },
        ],
    }
    svg = str(timeline_chart(view))
    assert 'data-incident="INC-1"' in svg and 'data-incident="INC-4"' in svg
    assert 'data-incident="INC-2"' not in svg and 'data-incident="INC-3"' not in svg
