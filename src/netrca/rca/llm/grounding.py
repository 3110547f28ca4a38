"""Hold a model's analysis to the evidence pack: cited facts must exist and numbers match."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from netrca.rca.llm.redact import entity_tokens
from netrca.rca.llm.reply import ReplyItem
from netrca.rca.rules import RuleAnalyzer
from netrca.schema import Evidence

__all__ = ["Grounded", "ground", "lookup", "same_value"]

#: A cited float may differ from the pack by rounding: 1% relative or 0.005 absolute.
REL_TOL = 0.01
ABS_TOL = 0.005


def lookup(view: dict[str, Any], metric: str) -> tuple[bool, Any]:
    """The scalar a metric names: a key of ``facts`` or a dotted path into the pack."""
    facts = view.get("facts") or {}
    if metric in facts:
        value = facts[metric]
        return (not isinstance(value, (dict, list)), value)
    cur: Any = view
    for part in metric.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return (not isinstance(cur, (dict, list)), cur)


def same_value(claimed: Any, actual: Any) -> bool:
    """Whether a cited value is the pack's value (integers exactly, floats to rounding)."""
    if actual is None:
        return False
    if isinstance(actual, bool):
        actual = int(actual)
    if isinstance(actual, (int, float)):
        try:
            c = float(claimed)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(c):
            return False
        if isinstance(actual, int):
            return c == actual
        return math.isclose(c, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return str(claimed).strip() == str(actual)


@dataclass
class Grounded:
    """An analysis's text parts after checking, and what was changed."""

    evidence: list[Evidence]
    root_cause: str
    remediation: list[str]
    notes: list[str] = field(default_factory=list)


def _evidence(item: ReplyItem, view: dict[str, Any], rules: RuleAnalyzer) -> Grounded:
    facts = view.get("facts") or {}
    out: list[Evidence] = []
    notes: list[str] = []
    seen: set[str] = set()
    for line in item.evidence:
        if line.metric in seen:
            continue
        seen.add(line.metric)
        found, actual = lookup(view, line.metric)
        if not found or actual is None:
            notes.append(f"evidence '{line.metric}' dropped: not a fact in the evidence pack")
            continue
        fixed = rules.describe(line.metric, actual, facts)
        if same_value(line.value, actual):
            if line.description.strip():
                fixed = fixed.model_copy(update={"description": line.description.strip()})
        else:
            notes.append(
                f"evidence '{line.metric}': value {line.value!r} does not match the pack "
                f"({actual!r}); replaced by the pack's value"
            )
        out.append(fixed)
    if not out:
        out = rules.evidence_for(item.category.value, facts)
        notes.append("no grounded evidence in the reply: knowledge-base evidence used")
    return Grounded(evidence=out, root_cause="", remediation=[], notes=notes)


def ground(item: ReplyItem, view: dict[str, Any], rules: RuleAnalyzer) -> Grounded:
    """Check ``item`` against ``view`` (the pack exactly as the model saw it).

    Evidence naming a fact the pack lacks is dropped; a wrong number is replaced by the
    pack's; a root cause or remediation step naming a host the pack does not contain is
    replaced by the knowledge base's text for the category. Every change is noted.
    """
    g = _evidence(item, view, rules)
    known = entity_tokens(json.dumps(view))
    facts = view.get("facts") or {}
    kb_cause, kb_steps = rules.explain(item.category.value, facts)
    strangers = entity_tokens(item.root_cause) - known
    g.root_cause = item.root_cause.strip()
    if strangers:
        g.notes.append(
            f"root cause named host(s) not in the evidence pack ({', '.join(sorted(strangers))}): "
            "replaced by the knowledge base's sentence"
        )
        g.root_cause = kb_cause
    steps = [s.strip() for s in item.remediation_steps if s.strip()]
    kept = [s for s in steps if not entity_tokens(s) - known]
    if len(kept) < len(steps):
        g.notes.append(f"{len(steps) - len(kept)} remediation step(s) naming unknown hosts dropped")
    if not kept:
        kept = kb_steps
        g.notes.append("no usable remediation in the reply: knowledge-base playbook used")
    g.remediation = kept
    return g
