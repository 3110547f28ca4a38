"""Load the root-cause knowledge base (signals, templates, playbooks) from TOML data files."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from netrca.errors import ConfigError
from netrca.schema import CATEGORY_VALUES, Severity

__all__ = ["CategoryRules", "KnowledgeBase", "Signal", "format_value", "load_knowledge"]

_SEVERITIES = [s.value for s in Severity]


@dataclass(frozen=True)
class Signal:
    """One weighted piece of evidence for a category."""

    metric: str
    weight: float
    low: float
    high: float
    log: bool = False
    invert: bool = False

    def strength(self, value: Any) -> float:
        """0..1: how strongly ``value`` supports the category (missing → 0)."""
        if value is None or isinstance(value, str):
            return 0.0
        v = float(value)
        if math.isnan(v):
            return 0.0
        lo, hi = self.low, self.high
        if self.log:
            v, lo, hi = (math.log(max(x, 1e-12)) for x in (v, lo, hi))
        r = min(max((v - lo) / (hi - lo), 0.0), 1.0) if hi != lo else float(v >= hi)
        return 1.0 - r if self.invert else r


@dataclass(frozen=True)
class CategoryRules:
    """Everything the knowledge base says about one category."""

    name: str
    description: str
    severity: str
    signals: tuple[Signal, ...]
    escalate: tuple[tuple[str, float], ...]
    root_cause: str
    remediation: tuple[str, ...]

    def score(self, facts: dict[str, Any]) -> float:
        """Weighted evidence for this category in [0, 1]."""
        pos = sum(s.weight for s in self.signals if s.weight > 0)
        if pos <= 0:
            return 0.0
        total = sum(s.weight * s.strength(facts.get(s.metric)) for s in self.signals)
        return max(0.0, min(1.0, total / pos))

    def severity_for(self, facts: dict[str, Any]) -> str:
        """Base severity raised one level per escalation rule that holds (capped)."""
        level = _SEVERITIES.index(self.severity)
        for metric, above in self.escalate:
            v = facts.get(metric)
            if isinstance(v, (int, float)) and not math.isnan(float(v)) and float(v) >= above:
                level += 1
        return _SEVERITIES[min(level, len(_SEVERITIES) - 1)]


@dataclass
class KnowledgeBase:
    """Categories with their rules, and how to present each metric."""

    categories: dict[str, CategoryRules]
    metrics: dict[str, dict[str, str]] = field(default_factory=dict)
    min_score: float = 0.3


def _load_toml(path: Path | None, name: str) -> dict[str, Any]:
    try:
        if path is not None:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        text = resources.files("netrca.rca").joinpath("knowledge", name).read_text("utf-8")
        return tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"knowledge file {path or name}: {exc}") from exc


def load_knowledge(
    path: str | Path | None = None, metrics_path: str | Path | None = None
) -> KnowledgeBase:
    """Read the taxonomy rules (``path`` overrides the packaged file) and metric labels."""
    raw = _load_toml(Path(path) if path else None, "taxonomy.toml")
    source = str(path or "taxonomy.toml")
    cats: dict[str, CategoryRules] = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            continue
        if name not in CATEGORY_VALUES:
            raise ConfigError(
                f"{source}: [{name}] is not a taxonomy category ({', '.join(CATEGORY_VALUES)})"
            )
        sev = table.get("severity", "medium")
        if sev not in _SEVERITIES:
            raise ConfigError(f"{source}: [{name}] severity {sev!r} is not one of {_SEVERITIES}")
        try:
            signals = tuple(Signal(**s) for s in table.get("signals", []))
            escalate = tuple(
                (str(e["metric"]), float(e["above"])) for e in table.get("escalate", [])
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"{source}: [{name}] has a malformed signal or escalate entry: {exc}"
            ) from exc
        cats[name] = CategoryRules(
            name=name,
            description=str(table.get("description", "")),
            severity=sev,
            signals=signals,
            escalate=escalate,
            root_cause=str(table.get("root_cause", "{flow_count} anomalous flows.")),
            remediation=tuple(str(x) for x in table.get("remediation", [])),
        )
    if "unknown" not in cats:
        raise ConfigError(f"{source}: the knowledge base must define [unknown]")
    metrics = _load_toml(Path(metrics_path) if metrics_path else None, "metrics.toml")
    return KnowledgeBase(
        categories=cats,
        metrics={k: dict(v) for k, v in metrics.items() if isinstance(v, dict)},
        min_score=float(raw.get("min_score", 0.3)),
    )


def _human_bytes(v: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(v) < 1000 or unit == "TB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1000.0
    return f"{v:.1f} TB"  # pragma: no cover


def _human_seconds(v: float) -> str:
    if v < 120:
        return f"{v:.0f} s"
    if v < 7200:
        return f"{v / 60:.0f} min"
    if v < 172800:
        return f"{v / 3600:.1f} h"
    return f"{v / 86400:.1f} days"


def format_value(value: Any, unit: str = "") -> str:
    """Format a metric value for a sentence."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:5])
    if isinstance(value, str):
        return value
    v = float(value)
    if unit == "ratio":
        return f"{100 * v:.0f}%"
    if unit == "bytes":
        return _human_bytes(v)
    if unit == "seconds":
        return _human_seconds(v)
    if unit == "ms":
        return f"{v:.1f}"
    if unit == "x":
        return f"{v:.1f}"
    if unit == "count" or float(v).is_integer():
        return f"{round(v):,}"
    return f"{v:.2f}"
