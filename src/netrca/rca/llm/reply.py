"""Read a model's batch reply: pydantic-validated items, matched to incidents by id only."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netrca.schema import Category, Severity

__all__ = ["ReplyAlternative", "ReplyCheck", "ReplyEvidence", "ReplyItem", "read_reply"]

_CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


class ReplyEvidence(BaseModel):
    """One evidence line as the model gives it (checked against the pack later)."""

    model_config = ConfigDict(extra="ignore")

    metric: Annotated[str, Field(min_length=1, max_length=200)]
    value: float | int | str
    description: Annotated[str, Field(max_length=500)] = ""


class ReplyAlternative(BaseModel):
    """Another possible root cause (not certain)."""

    model_config = ConfigDict(extra="ignore")

    category: Category
    reason: Annotated[str, Field(max_length=500)] = ""


class ReplyItem(BaseModel):
    """One incident's analysis in a reply. Categories outside the taxonomy are rejected."""

    model_config = ConfigDict(extra="ignore")

    incident_id: str
    category: Category
    root_cause: Annotated[str, Field(min_length=1, max_length=1000)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0, strict=False)]
    severity: Severity
    evidence: list[ReplyEvidence] = Field(default_factory=list, max_length=30)
    remediation_steps: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=20
    )
    alternatives: list[ReplyAlternative] = Field(default_factory=list, max_length=8)


@dataclass
class ReplyCheck:
    """A reply read against the ids asked for.

    ``items`` holds the valid analyses by id; ``problems`` says, for every id asked for
    that has none, why (``missing_from_reply``, ``invalid_reply``, ``duplicate_id``);
    ``unknown`` lists ids that were not asked for (ignored).
    """

    items: dict[str, ReplyItem] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    error: str = ""


def _entries(text: str) -> list[Any]:
    m = _CODE_FENCE.match(text)
    data = json.loads(m.group(1) if m else text)
    if isinstance(data, dict) and isinstance(data.get("analyses"), list):
        return list(data["analyses"])
    if isinstance(data, list):
        return data
    raise ValueError("expected an object with an 'analyses' list")


def read_reply(text: str, ids: list[str]) -> ReplyCheck:
    """Validate a reply for the incidents ``ids``; never trusts positions."""
    out = ReplyCheck()
    wanted = set(ids)
    try:
        entries = _entries(text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        out.error = f"malformed JSON: {str(exc)[:120]}"
        out.problems = dict.fromkeys(ids, "invalid_reply")
        return out
    seen = Counter(
        str(e.get("incident_id")) for e in entries if isinstance(e, dict) and "incident_id" in e
    )
    for entry in entries:
        iid = str(entry.get("incident_id")) if isinstance(entry, dict) else None
        if iid is None or iid not in wanted:
            if iid is not None:
                out.unknown.append(iid)
            continue
        if seen[iid] > 1:
            out.problems[iid] = "duplicate_id"
            continue
        try:
            out.items[iid] = ReplyItem.model_validate(entry)
        except ValidationError:
            out.problems[iid] = "invalid_reply"
    for iid in ids:
        if iid not in out.items and iid not in out.problems:
            out.problems[iid] = "missing_from_reply"
    return out
