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


def _grouped_by_pandas(
    keys: np.ndarray, det: np.ndarray, ts: np.ndarray, gap: float
) -> list[tuple[list[int], str, str]]:
    """The grouping rule spelled out with pandas (groupby, value_counts): each group's
    rows, key and most frequent detector (ties: the first seen), groups in order of
    their first flow's time."""
    frame = pd.DataFrame({"row": np.arange(len(keys)), "key": keys, "det": det, "ts": ts})
    frame = frame.sort_values(["key", "ts", "row"], kind="stable")
    new = (frame["key"] != frame["key"].shift()) | (frame["ts"].diff().fillna(0) > gap)
    frame["gid"] = new.cumsum()
    groups = frame.groupby("gid", sort=False)
    first = groups["ts"].min().sort_values(kind="stable")
    out = []
    for gid in first.index:
        g = groups.get_group(gid)
        out.append(
            (sorted(g["row"].tolist()), str(g["key"].iloc[0]), g["det"].value_counts().index[0])
        )
    return out


@pytest.mark.parametrize("seed", range(5))
def test_group_incidents_equal_the_pandas_rule(seed: int) -> None:
    """Many small groups, detectors tied within groups, equal first times across groups."""
    rng = np.random.default_rng(seed)
    n = 400
    src = rng.choice([f"10.0.0.{i}" for i in range(12)], n)
    flows = pd.DataFrame(
        {
            "source_ip": src,
            "destination_ip": rng.choice(["10.1.0.1", "10.1.0.2"], n),
            "destination_port": pd.array(rng.choice([22, 80], n), dtype="Int64"),
        }
    )
    ts = rng.choice([0.0, 100.0, 5000.0, 5050.0, 20000.0], n)  # equal times: order by group
    # "scan", "failures" and "rarity" all group by source: ties decided by first appearance
    reasons = [f"{d}:0.9" if d else "" for d in rng.choice(["scan", "failures", ""], n)]
    got = group_incidents(flows, np.ones(n, bool), reasons, ts, gap_seconds=3600)
    det = np.where([r == "" for r in reasons], "rarity", [r.split(":")[0] for r in reasons])
    expected = _grouped_by_pandas(src, det, ts, 3600)
    assert [(inc.rows.tolist(), inc.key, inc.detector) for inc in got] == expected
    assert {inc.pivot for inc in got} == {"source"}
    assert len(got) > 20


@pytest.mark.parametrize("seed", range(5))
def test_top_values_follow_value_counts(seed: int) -> None:
    """Most frequent first, ties in order of first appearance, missing values skipped:
    the order pandas' value_counts gives."""
    from netrca.rca.evidence import _top

    rng = np.random.default_rng(seed)
    values = pd.Series(rng.choice(["a", "b", "c", "d", "e", "f", None], 60), dtype="string")
    # codes numbered from the end: not in the order the values first appear
    reversed_codes, uniques = pd.factorize(values[::-1])
    codes = reversed_codes[::-1]
    for k in (1, 3, 10):
        assert _top(codes, uniques, k) == values.dropna().value_counts().index[:k].tolist()
    assert _top(np.array([-1, -1]), uniques) == []


def _facts_by_pandas(sf: object, rows: np.ndarray) -> dict[str, object]:
    """Facts of the flows ``rows`` as pandas expressions on the incident's own rows."""
    f = sf.flows.iloc[rows]  # type: ignore[attr-defined]

    def top(values: pd.Series, k: int = 5) -> list[object]:
        vc = values.dropna().value_counts(sort=True)
        return [v.item() if hasattr(v, "item") else v for v in vc.index[:k]]

    errs = f["error_code"].astype(str)
    err = errs.to_numpy().astype(str)
    lat = f["latency"].astype("float64").to_numpy()
    ports = [int(p) for p in top(f["destination_port"].astype("Int64"))]
    return {
        "top_sources": top(f["source_ip"].astype("string")),
        "top_destinations": top(f["destination_ip"].astype("string")),
        "top_ports": ports,
        "top_protocol": (top(f["protocol"].astype(str), 1) or ["UNKNOWN"])[0],
        "top_error": (top(errs[errs != "NONE"], 1) or ["NONE"])[0],
        "distinct_sources": int(f["source_ip"].nunique()),
        "distinct_destinations": int(f["destination_ip"].nunique()),
        "distinct_dst_ports": int(f["destination_port"].nunique()),
        "distinct_targets": int(
            (f["destination_ip"].astype(str) + ":" + f["destination_port"].astype(str)).nunique()
        ),
        "auth_failure_ratio": float((np.char.find(err, "AUTH") >= 0).mean()),
        "bytes_sent_total": float(f["bytes_sent"].astype("float64").fillna(0).sum()),
        "bytes_received_total": float(f["bytes_received"].astype("float64").fillna(0).sum()),
        "latency_median": float(np.nanmedian(lat)) if np.isfinite(lat).any() else None,
        "top_feature": top(pd.Series([sf.top_feature[i] for i in rows]), 1)[0],  # type: ignore[attr-defined]
    }


def test_evidence_facts_equal_pandas_on_the_incident_flows(
    analysed: tuple,  # type: ignore[type-arg]
) -> None:
    """Facts read from the prepared columns equal pandas expressions on each incident's
    own rows, with missing values in the text and number columns; the sample flows are
    the incident's rows as the frame holds them."""
    from dataclasses import replace

    from netrca.rca.incidents import Incident

    scored, analyses, _, _ = analysed
    flows = scored.flows.copy()
    rng = np.random.default_rng(3)
    for col in ("source_ip", "destination_ip", "destination_port", "protocol", "error_code"):
        flows.loc[rng.random(len(flows)) < 0.15, col] = pd.NA
    sf = replace(scored, flows=flows)
    picked = [*[a for a in analyses if a.flow_count > 1][:8], analyses[-1]]
    incs = [
        Incident(a.incident_id, np.asarray(a.flow_ids), "source", "k", "rarity") for a in picked
    ]
    # rows shared by two incidents, in another order
    incs.append(Incident("X", np.concatenate([incs[0].rows, incs[1].rows[:3]]), "source", "k", "r"))
    packs = build_evidence(sf, incs)
    for pack in packs:
        rows = pack.incident.rows
        expected = _facts_by_pandas(sf, rows)
        assert {k: pack.facts[k] for k in expected} == expected, pack.incident_id
        assert pack.facts["flow_count"] == len(rows)
        ids = [s["flow_id"] for s in pack.sample]
        assert ids == sorted(ids) and set(ids) <= set(rows.tolist())
        for sample in pack.sample:
            row = flows.iloc[sample["flow_id"]]
            for col in ("source_ip", "destination_ip", "destination_port", "protocol"):
                want = row[col]
                want = None if pd.isna(want) else (want.item() if hasattr(want, "item") else want)
                assert sample[col] == want, (col, sample)
    assert any(p.facts["distinct_sources"] < len(p.incident.rows) for p in packs)


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
