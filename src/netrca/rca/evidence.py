"""Evidence packs: the computed facts about each incident that every analyzer consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from netrca.detect.behavior import AUTH_PORTS, DETECTORS
from netrca.rca.incidents import Incident

__all__ = ["EvidencePack", "ScoredFlows", "build_evidence", "json_safe"]

_SAMPLE_COLUMNS = (
    "timestamp",
    "source_ip",
    "source_port",
    "destination_ip",
    "destination_port",
    "protocol",
    "bytes_sent",
    "bytes_received",
    "duration",
    "status",
    "latency",
    "error_code",
)


@dataclass
class ScoredFlows:
    """Flows with what detection computed for them (arrays aligned with ``flows`` rows)."""

    flows: pd.DataFrame
    ts: np.ndarray
    score: np.ndarray
    is_anomaly: np.ndarray
    reasons: list[str]
    behaviour: pd.DataFrame  # capped detector scores
    rarity: np.ndarray
    latency_baseline: np.ndarray
    src_internal: np.ndarray
    dst_internal: np.ndarray
    failed: np.ndarray
    probe: np.ndarray
    mismatch: np.ndarray
    top_feature: list[str]
    threshold: float
    service_failure_baseline: dict[str, float] = field(default_factory=dict)
    outbound_sent_baseline: float = float("nan")
    unanswered: np.ndarray | None = None
    refused: np.ndarray | None = None
    #: False for feature tables: ``ts`` is then the row order, not time.
    has_time: bool = True


@dataclass
class EvidencePack:
    """Facts about one incident, each computed from its flows.

    Every analyzer consumes the same pack; :meth:`to_dict` is what an LLM sees, and every
    evidence line of an LLM analysis must be traceable to it.
    """

    incident: Incident
    facts: dict[str, Any]
    reasons: dict[str, float]  # detector → mean capped score over the incident
    sample: list[dict[str, Any]]
    history: dict[str, Any]  # "source" / "destination" → that entity before and during
    flow_ids: list[int]
    rules_verdict: dict[str, Any] | None = None  # the rules analyzer's verdict, once known

    @property
    def incident_id(self) -> str:
        """The incident's id."""
        return self.incident.incident_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by LLM prompts and caches); non-finite numbers → None."""
        out: dict[str, Any] = {
            "incident_id": self.incident_id,
            "grouped_by": f"{self.incident.pivot}={self.incident.key}",
            "facts": self.facts,
            "detector_reasons": self.reasons,
            "sample_flows": self.sample,
            "entity_history": self.history,
        }
        if self.rules_verdict is not None:
            out["rules_verdict"] = self.rules_verdict
        return json_safe(out)


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats replaced by None and numpy scalars made plain."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cv(x: np.ndarray) -> float:
    """Coefficient of variation; 0 for a constant series (even all zeros)."""
    if len(x) < 2:
        return float("nan")
    m = float(np.mean(x))
    sd = float(np.std(x))
    if sd == 0.0:
        return 0.0
    return sd / m if m > 0 else float("nan")


def _top(codes: np.ndarray, uniques: Any, k: int = 5) -> list[Any]:
    """The ``k`` most frequent values (codes of ``uniques``; -1: missing, skipped), most
    frequent first and ties in order of first appearance: what pandas'
    ``value_counts(sort=True)`` lists (a stable sort of counts in that order)."""
    present = codes[codes >= 0]
    if not len(present):
        return []
    values, first, counts = np.unique(present, return_index=True, return_counts=True)
    top = values[np.lexsort((first, -counts))[:k]]
    return [v.item() if hasattr(v, "item") else v for v in (uniques[int(c)] for c in top)]


def _distinct(codes: np.ndarray) -> int:
    """Distinct values among codes (-1: missing, not counted), as pandas' ``nunique``."""
    return len(np.unique(codes[codes >= 0]))


def _iso(t: float) -> str:
    return (
        pd.Timestamp(round(t, 6), unit="s", tz="UTC").round("us").isoformat().replace("+00:00", "Z")
    )


#: The flow columns :func:`_facts` reads (all canonical, so always present).
_FACT_COLUMNS = (
    "source_ip",
    "destination_ip",
    "destination_port",
    "protocol",
    "bytes_sent",
    "bytes_received",
    "latency",
    "error_code",
)


class _IncidentFlows:
    """The columns the evidence reads, for the flows of every incident, prepared once.

    Taking an incident's flows from the run's frame cost about 2 ms a text column
    (Arrow takes across the parser's chunks) and its facts as pandas operations another
    5 ms: 24 s for the 2,000 incidents of a 1M-flow log with many hosts. Here the
    incidents' flows are taken once, text columns become integer codes (pandas'
    ``factorize``) and the rest float arrays; an incident reads them at its positions.
    Each column is converted as a per-incident pandas expression did, value by value.
    """

    def __init__(self, sf: ScoredFlows, incidents: list[Incident]) -> None:
        self.rows = np.unique(np.concatenate([inc.rows for inc in incidents]))
        cols = [*_FACT_COLUMNS, *(c for c in _SAMPLE_COLUMNS if c not in _FACT_COLUMNS)]
        f = sf.flows[[c for c in cols if c in sf.flows.columns]].iloc[self.rows]
        self.frame = f.reset_index(drop=True)  # the sample flows are read from it
        self.sent = f["bytes_sent"].astype("float64").fillna(0).to_numpy()
        self.recv = f["bytes_received"].astype("float64").fillna(0).to_numpy()
        self.port = f["destination_port"].astype("float64").to_numpy()
        self.latency = f["latency"].astype("float64").to_numpy()
        errs = f["error_code"].astype(str)
        self.auth_fail = np.char.find(errs.to_numpy().astype(str), "AUTH") >= 0
        self.err_codes, self.err_values = pd.factorize(errs)
        self.err_named = (errs != "NONE").to_numpy()
        self.src_codes, self.src_values = pd.factorize(f["source_ip"].astype("string"))
        self.dst_codes, self.dst_values = pd.factorize(f["destination_ip"].astype("string"))
        # distinct counts of the values as they are (nunique), not of their text
        self.src_raw = pd.factorize(f["source_ip"])[0]
        self.dst_raw = pd.factorize(f["destination_ip"])[0]
        self.port_codes, self.port_values = pd.factorize(f["destination_port"].astype("Int64"))
        self.proto_codes, self.proto_values = pd.factorize(f["protocol"].astype(str))
        target = f["destination_ip"].astype(str) + ":" + f["destination_port"].astype(str)
        self.target_codes = pd.factorize(target)[0]
        names = np.asarray([sf.top_feature[i] for i in self.rows], dtype=object)
        self.feature_codes, self.feature_values = pd.factorize(names)
        self.behaviour = {d: sf.behaviour[d].to_numpy() for d in DETECTORS}

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Where the flows ``rows`` (of the run) are in these arrays."""
        return np.searchsorted(self.rows, rows)


def _facts(
    sf: ScoredFlows, inc: Incident, fl: _IncidentFlows, pos: np.ndarray
) -> tuple[dict[str, Any], dict[str, float]]:
    """The facts about ``inc``, whose flows are at ``pos`` in ``fl``."""
    r = inc.rows
    ts = sf.ts[r]
    sent, recv, port, lat = fl.sent[pos], fl.recv[pos], fl.port[pos], fl.latency[pos]
    base = sf.latency_baseline[r]
    order = np.argsort(ts, kind="stable")
    gaps = np.diff(ts[order])
    failed = sf.failed[r]
    auth_fail = fl.auth_fail[pos]
    minute = np.floor(ts / 60.0)
    _, per_minute = np.unique(minute, return_counts=True)
    top_src = _top(fl.src_codes[pos], fl.src_values)
    top_dst = _top(fl.dst_codes[pos], fl.dst_values)
    port_codes = fl.port_codes[pos]
    top_ports = [int(p) for p in _top(port_codes, fl.port_values)]
    top_proto = _top(fl.proto_codes[pos], fl.proto_values, 1)
    err_codes = fl.err_codes[pos]
    top_err = _top(err_codes[fl.err_named[pos]], fl.err_values, 1)
    key = f"{top_dst[0]}|{top_ports[0]}" if top_dst and top_ports else ""
    with np.errstate(invalid="ignore", divide="ignore"):
        lat_ratio = np.nanmedian((lat + 1.0) / (base + 1.0)) if np.isfinite(lat).any() else np.nan
    facts: dict[str, Any] = {
        "flow_count": len(r),
        "distinct_sources": _distinct(fl.src_raw[pos]),
        "distinct_destinations": _distinct(fl.dst_raw[pos]),
        "distinct_dst_ports": _distinct(port_codes),
        "distinct_targets": _distinct(fl.target_codes[pos]),
        "top_sources": top_src,
        "top_destinations": top_dst,
        "top_ports": top_ports,
        "top_source": top_src[0] if top_src else "",
        "top_destination": top_dst[0] if top_dst else "",
        "top_port": top_ports[0] if top_ports else -1,
        "top_protocol": top_proto[0] if top_proto else "UNKNOWN",
        "top_error": top_err[0] if top_err else "NONE",
        "failure_ratio": float(failed.mean()),
        "probe_ratio": float(sf.probe[r].mean()),
        "unanswered_ratio": float(sf.unanswered[r].mean()) if sf.unanswered is not None else None,
        "refused_ratio": float(sf.refused[r].mean()) if sf.refused is not None else None,
        "auth_failure_ratio": float(auth_fail.mean()),
        "auth_port_ratio": float(np.isin(port, list(AUTH_PORTS)).mean()),
        "success_count": int((~failed).sum()),
        "answered_count": int((recv > 0).sum()),
        "success_after_failures": int(bool(auth_fail.any() and (~failed & ~auth_fail).any())),
        "bytes_sent_total": float(sent.sum()),
        "bytes_received_total": float(recv.sum()),
        "bytes_per_flow": float((sent + recv).mean()),
        "upload_ratio": float(np.log10((sent.sum() + 1.0) / (recv.sum() + 1.0))),
        "latency_median": float(np.nanmedian(lat)) if np.isfinite(lat).any() else None,
        "latency_baseline": float(np.nanmedian(base)) if np.isfinite(base).any() else None,
        "latency_ratio": float(lat_ratio) if np.isfinite(lat_ratio) else None,
        "start": _iso(float(ts.min())) if sf.has_time else f"row {int(r.min()) + 1}",
        "end": _iso(float(ts.max())) if sf.has_time else f"row {int(r.max()) + 1}",
        "duration_seconds": float(ts.max() - ts.min()) if sf.has_time else None,
        "peak_flows_per_minute": int(per_minute.max()) if sf.has_time else None,
        "median_interval_seconds": float(np.median(gaps)) if len(gaps) and sf.has_time else None,
        "interval_cv": _cv(gaps) if len(gaps) >= 2 and sf.has_time else None,
        "size_cv": _cv(sent),
        "mismatch_ratio": float(sf.mismatch[r].mean()),
        "src_internal_ratio": float(sf.src_internal[r].mean()),
        "dst_internal_ratio": float(sf.dst_internal[r].mean()),
        "score_max": float(sf.score[r].max()),
        "score_mean": float(sf.score[r].mean()),
        "top_feature": _top(fl.feature_codes[pos], fl.feature_values, 1)[0],
        "grouped_by": inc.pivot,
        "group_key": inc.key,
        "baseline_failure_ratio": sf.service_failure_baseline.get(key),
        "baseline_bytes_sent": sf.outbound_sent_baseline,
    }
    reasons = {d: float(fl.behaviour[d][r].mean()) for d in DETECTORS}
    reasons["rarity"] = float(sf.rarity[r].mean())
    for d, v in reasons.items():
        facts[f"det_{d}"] = v
    return facts, reasons


def _sample(
    sf: ScoredFlows, inc: Incident, fl: _IncidentFlows, pos: np.ndarray, k: int = 5
) -> list[dict[str, Any]]:
    r = inc.rows
    best = np.argsort(-sf.score[r], kind="stable")[:k]
    flows = fl.frame
    cols = [c for c in _SAMPLE_COLUMNS if c in flows.columns]
    out = []
    for j in best[np.argsort(r[best], kind="stable")]:  # in row order
        i = r[j]
        row = flows.iloc[int(pos[j])]
        item: dict[str, Any] = {"flow_id": int(i)}
        for c in cols:
            v = row[c]
            if pd.isna(v):
                item[c] = None
            elif isinstance(v, pd.Timestamp):
                item[c] = v.isoformat().replace("+00:00", "Z")
            elif hasattr(v, "item"):
                item[c] = v.item()
            else:
                item[c] = v
        item["anomaly_score"] = round(float(sf.score[i]), 4)
        item["reasons"] = sf.reasons[int(i)]
        out.append(item)
    return out


def _entity_history(
    sf: ScoredFlows, entity: str, index: _RowIndex, start: float, end: float
) -> dict[str, Any]:
    if not entity:
        return {"entity": None, "available": False}
    rows = index.get(entity, np.zeros(0, dtype=np.int64))
    t = sf.ts[rows]
    before = rows[t < start]
    during = rows[(t >= start) & (t <= end)]
    return {
        "entity": entity,
        "flows_before": len(before),
        "anomalous_before": int(sf.is_anomaly[before].sum()),
        "flows_during": len(during),
        "anomalous_during": int(sf.is_anomaly[during].sum()),
        "first_seen": _iso(float(t.min())) if len(t) else None,
        "seen_before_incident": bool(len(before)),
    }


def _history(
    sf: ScoredFlows,
    facts: dict[str, Any],
    src_index: _RowIndex,
    dst_index: _RowIndex,
) -> dict[str, Any]:
    """What the top source and top destination did in the run: before the incident, during it.

    The source is looked up among sources and the destination among destinations.
    """
    src, dst = str(facts["top_source"] or ""), str(facts["top_destination"] or "")
    if not sf.has_time:  # feature tables: no time, so no before/during
        return {
            "source": {"entity": src or None, "available": False},
            "destination": {"entity": dst or None, "available": False},
        }
    start = pd.Timestamp(facts["start"]).timestamp()
    end = pd.Timestamp(facts["end"]).timestamp()
    return {
        "source": _entity_history(sf, src, src_index, start, end),
        "destination": _entity_history(sf, dst, dst_index, start, end),
    }


class _RowIndex:
    """Row positions per distinct value (one sort, no per-value scan); a value's rows
    are sliced when asked for (a dict of every value's rows took 0.2 s for 74,000
    destinations, and incidents ask for a few)."""

    def __init__(self, values: pd.Series) -> None:
        codes, uniques = pd.factorize(values.astype(str))
        self._order = np.argsort(codes, kind="stable")
        self._bounds = np.searchsorted(codes[self._order], np.arange(len(uniques) + 1))
        self._code = {str(u): i for i, u in enumerate(uniques)}

    def get(self, value: str, default: np.ndarray) -> np.ndarray:
        """The rows holding ``value`` (in row order), or ``default``."""
        i = self._code.get(value)
        if i is None:
            return default
        return self._order[self._bounds[i] : self._bounds[i + 1]]


def build_evidence(sf: ScoredFlows, incidents: list[Incident]) -> list[EvidencePack]:
    """One :class:`EvidencePack` per incident, in incident order."""
    if not incidents:
        return []
    src_index = _RowIndex(sf.flows["source_ip"])
    dst_index = _RowIndex(sf.flows["destination_ip"])
    fl = _IncidentFlows(sf, incidents)
    packs = []
    for inc in incidents:
        pos = fl.positions(inc.rows)
        facts, reasons = _facts(sf, inc, fl, pos)
        packs.append(
            EvidencePack(
                incident=inc,
                facts=facts,
                reasons=reasons,
                sample=_sample(sf, inc, fl, pos),
                history=_history(sf, facts, src_index, dst_index),
                flow_ids=[int(i) for i in inc.rows],
            )
        )
    return packs
