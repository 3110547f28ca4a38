"""The run summary: counts by category, severity and analyzer, top entities, metadata."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from netrca.schema import CATEGORY_VALUES, Analysis, Severity

__all__ = ["build_summary"]


def _top(series: pd.Series, k: int = 10) -> list[dict[str, Any]]:
    vc = series.astype(str).value_counts().head(k)
    return [{"value": str(i), "anomalous_flows": int(v)} for i, v in vc.items()]


def build_summary(
    flows: pd.DataFrame,
    is_anomaly: np.ndarray,
    analyses: list[Analysis],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Summary of a run for ``analysis_summary.json``."""
    anomalous = flows.loc[np.asarray(is_anomaly, dtype=bool)]
    by_cat = Counter(a.category.value for a in analyses)
    by_sev = Counter(a.severity.value for a in analyses)
    by_analyzer = Counter(a.analyzer for a in analyses)
    fallback = Counter(a.fallback_reason for a in analyses if a.fallback_reason)
    flows_by_cat: Counter[str] = Counter()
    for a in analyses:
        flows_by_cat[a.category.value] += a.flow_count
    return {
        "run": metadata,
        "flows_analysed": len(flows),
        "anomalous_flows": len(anomalous),
        "incidents": len(analyses),
        "incidents_by_category": {c: by_cat.get(c, 0) for c in CATEGORY_VALUES},
        "anomalous_flows_by_category": {c: flows_by_cat.get(c, 0) for c in CATEGORY_VALUES},
        "incidents_by_severity": {s.value: by_sev.get(s.value, 0) for s in Severity},
        "incidents_by_analyzer": dict(by_analyzer),
        "fallbacks_by_reason": dict(fallback),
        "top_sources": _top(anomalous["source_ip"]) if len(anomalous) else [],
        "top_destinations": _top(anomalous["destination_ip"]) if len(anomalous) else [],
        "top_destination_ports": _top(anomalous["destination_port"]) if len(anomalous) else [],
    }
