"""The offline rule-based analyzer: evidence pack → category, root cause, remediation."""

from __future__ import annotations

import math
from typing import Any

from netrca.rca.evidence import EvidencePack
from netrca.rca.knowledge import KnowledgeBase, format_value, load_knowledge
from netrca.schema import Analysis, Category, Entities, Evidence, Severity, TimeWindow

__all__ = ["RuleAnalyzer", "render_view", "verdict_of"]


class _Defaulting(dict[str, str]):
    """Template values; an unknown placeholder renders as 'n/a' instead of failing."""

    def __missing__(self, key: str) -> str:
        return "n/a"


def render_view(facts: dict[str, Any], kb: KnowledgeBase) -> dict[str, str]:
    """Every fact formatted for templates, plus derived phrases (``*_pct``, ``duration``)."""
    view = _Defaulting()
    for k, v in facts.items():
        view[k] = format_value(v, kb.metrics.get(k, {}).get("unit", ""))
    for k in (
        "failure_ratio",
        "probe_ratio",
        "auth_failure_ratio",
        "mismatch_ratio",
        "baseline_failure_ratio",
        "unanswered_ratio",
        "refused_ratio",
    ):
        view[k.replace("_ratio", "_pct")] = format_value(facts.get(k), "ratio")
    view["duration"] = format_value(facts.get("duration_seconds"), "seconds")
    view["median_interval"] = format_value(facts.get("median_interval_seconds"), "seconds")
    up = facts.get("upload_ratio")
    view["upload_ratio_x"] = f"{10**up:,.0f}" if isinstance(up, (int, float)) else "n/a"
    view["baseline_bytes_sent"] = format_value(facts.get("baseline_bytes_sent"), "bytes")
    view["latency_ratio"] = format_value(facts.get("latency_ratio"), "x")
    view["path"] = str(facts.get("group_key", "")).replace(">*", "")
    port = facts.get("top_port")
    view["top_port"] = str(port) if isinstance(port, int) and port >= 0 else "n/a"
    view["top_ports"] = ", ".join(str(p) for p in facts.get("top_ports", []))
    n_src = facts.get("distinct_sources", 1)
    top_src = str(facts.get("top_source") or "")
    if not top_src:
        view["sources_phrase"] = "unidentified sources"
    elif isinstance(n_src, int) and n_src > 1:
        view["sources_phrase"] = f"{n_src:,} sources (most active {top_src})"
    else:
        view["sources_phrase"] = top_src
    dst = str(facts.get("top_destination") or "")
    proto = str(facts.get("top_protocol") or "")
    view["target"] = f"{dst}:{view['top_port']} ({proto})" if dst else f"the {proto} service"
    view["top_source"] = top_src or "unidentified sources"
    view["top_destination"] = dst or f"the {proto} service"
    if facts.get("duration_seconds") is None:
        view["duration"] = "an untimed table slice"
    if facts.get("distinct_targets") and dst:
        ports, hosts = view["distinct_dst_ports"], view["distinct_destinations"]
        view["scan_scope"] = f"probed {ports} port(s) on {hosts} host(s)"
    else:
        view["scan_scope"] = f"made repeated connection attempts to the {proto} service"
    return view


def _number(v: Any) -> float | int | str:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else "n/a"
    return str(v)


class RuleAnalyzer:
    """Classify incidents with the knowledge base's weighted signals (no network, no LLM).

    Parameters
    ----------
    knowledge : KnowledgeBase, optional
        Rules and templates; the packaged ``taxonomy.toml`` by default.
    """

    name = "rules"

    def __init__(self, knowledge: KnowledgeBase | None = None) -> None:
        self.kb = knowledge or load_knowledge()

    def rank(self, facts: dict[str, Any]) -> list[tuple[str, float]]:
        """Categories and their scores, best first (``unknown`` excluded)."""
        scores = [(n, c.score(facts)) for n, c in self.kb.categories.items() if n != "unknown"]
        return sorted(scores, key=lambda x: (-x[1], x[0]))

    def analyze_one(self, pack: EvidencePack) -> Analysis:
        """One analysis for one evidence pack."""
        facts = pack.facts
        ranked = self.rank(facts)
        best, best_score = ranked[0] if ranked else ("unknown", 0.0)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best_score < self.kb.min_score:
            best = "unknown"
            confidence = max(0.05, 1.0 - best_score) * 0.5
        else:
            margin = (best_score - second) / best_score if best_score > 0 else 0.0
            confidence = best_score * (0.6 + 0.4 * margin)
        rules = self.kb.categories[best]
        view = render_view(facts, self.kb)
        return Analysis(
            incident_id=pack.incident_id,
            category=Category(best),
            root_cause=rules.root_cause.format_map(view),
            confidence=round(min(max(confidence, 0.0), 0.99), 3),
            severity=Severity(rules.severity_for(facts)),
            evidence=self.evidence_for(best, facts),
            remediation_steps=[step.format_map(view) for step in rules.remediation],
            entities=Entities(
                sources=[str(s) for s in facts.get("top_sources", [])],
                destinations=[str(d) for d in facts.get("top_destinations", [])],
                ports=[int(p) for p in facts.get("top_ports", []) if int(p) >= 0],
            ),
            time_window=TimeWindow(start=str(facts["start"]), end=str(facts["end"])),
            flow_count=int(facts["flow_count"]),
            flow_ids=pack.flow_ids,
            analyzer=self.name,
            alternatives=[
                {"category": n, "score": round(s, 3)} for n, s in ranked[:4] if n != best and s > 0
            ],
        )

    def explain(self, category: str, facts: dict[str, Any]) -> tuple[str, list[str]]:
        """The knowledge base's root-cause sentence and playbook for ``category``."""
        rules = self.kb.categories[category]
        view = render_view(facts, self.kb)
        return rules.root_cause.format_map(view), [s.format_map(view) for s in rules.remediation]

    def severity_for(self, category: str, facts: dict[str, Any]) -> Severity:
        """The knowledge base's severity for ``category`` given these facts."""
        return Severity(self.kb.categories[category].severity_for(facts))

    def describe(self, metric: str, value: Any, facts: dict[str, Any]) -> Evidence:
        """One evidence line for ``metric`` = ``value``, labelled from ``metrics.toml``."""
        meta = self.kb.metrics.get(metric, {"label": metric, "unit": ""})
        unit = meta.get("unit", "")
        base_key = meta.get("baseline")
        baseline = facts.get(base_key) if base_key else None
        if isinstance(baseline, float) and not math.isfinite(baseline):
            baseline = None
        text = f"{meta.get('label', metric)}: {format_value(value, unit)}"
        if baseline is not None:
            text += f" (baseline {format_value(baseline, unit)})"
        return Evidence(
            metric=metric,
            value=_number(round(value, 4) if isinstance(value, float) else value),
            description=text,
            baseline=None if baseline is None else _number(baseline),
        )

    def evidence_for(self, category: str, facts: dict[str, Any]) -> list[Evidence]:
        """The evidence lines the knowledge base cites for ``category`` (present facts only)."""
        metrics = [s.metric for s in self.kb.categories[category].signals if s.weight > 0]
        metrics += [m for m in ("flow_count", "duration_seconds") if m not in metrics]
        if category == "unknown":
            metrics += ["det_rarity", "distinct_sources", "distinct_destinations", "failure_ratio"]
        return [self.describe(m, facts[m], facts) for m in metrics if facts.get(m) is not None]

    def analyze(self, packs: list[EvidencePack]) -> list[Analysis]:
        """Analyses for all packs, in the same order."""
        return [self.analyze_one(p) for p in packs]


def verdict_of(analysis: Analysis) -> dict[str, Any]:
    """The compact verdict of an analysis that goes into an evidence pack."""
    return {
        "category": analysis.category.value,
        "confidence": analysis.confidence,
        "severity": analysis.severity.value,
        "root_cause": analysis.root_cause,
        "evidence": [{"metric": e.metric, "value": e.value} for e in analysis.evidence],
        "alternatives": analysis.alternatives,
    }
