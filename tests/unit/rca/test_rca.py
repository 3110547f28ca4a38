"""Incidents cover every anomaly once; the rule analyzer classifies and explains them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.config import Settings
from netrca.errors import ConfigError
from netrca.pipeline import analyze_scored, fit_model, score_flows
from netrca.rca import RuleAnalyzer, build_evidence, group_incidents, load_knowledge
from netrca.schema import CATEGORY_VALUES, Analysis


@pytest.fixture(scope="module")
def analysed(sim_flows: pd.DataFrame) -> tuple[object, list[Analysis], np.ndarray, np.ndarray]:
    scored = score_flows(sim_flows, fit_model(sim_flows, Settings()))
    analyses, incident_id, category = analyze_scored(scored, RuleAnalyzer())
    return scored, analyses, incident_id, category


def test_every_anomalous_flow_in_exactly_one_incident(
    analysed: tuple, sim_flows: pd.DataFrame
) -> None:  # type: ignore[type-arg]
    scored, analyses, incident_id, _ = analysed
    flagged = np.flatnonzero(scored.is_anomaly)
    assert (incident_id[flagged] != "").all()
    assert (incident_id[~scored.is_anomaly] == "").all()
    ids = [fid for a in analyses for fid in a.flow_ids]
    assert sorted(ids) == flagged.tolist()
    assert len({a.incident_id for a in analyses}) == len(analyses)


def test_rule_categories_match_ground_truth(analysed: tuple, sim_flows: pd.DataFrame) -> None:  # type: ignore[type-arg]
    scored, _, _, category = analysed
    truth = sim_flows["root_cause"].to_numpy()
    detected = scored.is_anomaly & (truth != "normal")
    assert (category[detected] == truth[detected]).mean() > 0.8


def test_analyses_are_grounded(analysed: tuple) -> None:  # type: ignore[type-arg]
    _, analyses, _, _ = analysed
    for a in analyses:
        assert a.category.value in CATEGORY_VALUES
        assert a.evidence and a.remediation_steps
        assert a.flow_count == len(a.flow_ids)
        assert "{" not in a.root_cause and "n/a" not in a.entities.model_dump_json()
        if a.category.value != "unknown" and a.entities.sources:
            named = [
                a.entities.sources[0],
                a.entities.destinations[0],
                a.entities.sources[0].rsplit(".", 1)[0] + ".0/24",
            ]
            assert any(n in a.root_cause for n in named), a.root_cause


def test_gap_splits_incidents() -> None:
    flows = pd.DataFrame(
        {
            "source_ip": ["10.0.0.1"] * 4,
            "destination_ip": ["10.0.0.2"] * 4,
            "destination_port": pd.array([22] * 4, dtype="Int64"),
        }
    )
    ts = np.array([0.0, 10.0, 5000.0, 5010.0])
    incidents = group_incidents(flows, np.ones(4, bool), ["scan:0.9"] * 4, ts, gap_seconds=3600)
    assert [inc.rows.tolist() for inc in incidents] == [[0, 1], [2, 3]]
    assert [inc.incident_id for inc in incidents] == ["INC-0001", "INC-0002"]
    assert build_evidence.__name__ == "build_evidence"


def test_knowledge_base_is_data(tmp_path: Path) -> None:
    kb = load_knowledge()
    assert set(kb.categories) == set(CATEGORY_VALUES)
    assert all(c.remediation for c in kb.categories.values())
    bad = tmp_path / "kb.toml"
    bad.write_text('[ddos]\nseverity = "high"\n')
    with pytest.raises(ConfigError, match="not a taxonomy category"):
        load_knowledge(bad)
    bad.write_text('[unknown]\nseverity = "apocalyptic"\n')
    with pytest.raises(ConfigError, match="severity"):
        load_knowledge(bad)


def test_a_user_knowledge_file_changes_the_output(tmp_path: Path, analysed: tuple) -> None:  # type: ignore[type-arg]
    src = Path(__file__).resolve().parents[3] / "src/netrca/rca/knowledge/taxonomy.toml"
    custom = tmp_path / "kb.toml"
    custom.write_text(
        src.read_text().replace(
            'remediation = [\n  "Block or rate-limit',
            'remediation = [\n  "Page the SOC.",\n  "Block or rate-limit',
        )
    )
    scored = analysed[0]
    incidents = group_incidents(scored.flows, scored.is_anomaly, scored.reasons, scored.ts)
    packs = build_evidence(scored, incidents)
    out = RuleAnalyzer(load_knowledge(custom)).analyze(packs)
    scans = [a for a in out if a.category.value == "port_scan"]
    assert scans and all(a.remediation_steps[0] == "Page the SOC." for a in scans)
