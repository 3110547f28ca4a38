"""SIEM exports of a run's alerts: ECS NDJSON (Elastic), Splunk HEC events, and CSV.

One alert per incident by default (``per="incident"``); ``per="flow"`` emits one alert
per anomalous flow instead, carrying its incident's category and root cause.

* **ECS**: one JSON document per line with ``event.kind: alert``, ``source.*``,
  ``destination.*``, ``network.*``, ``rule.name`` = the root-cause category, and
  ``related.ip``; field names follow ECS :data:`ECS_VERSION`.
* **Splunk HEC**: the ``/services/collector/event`` envelope (``time``, ``host``,
  ``source``, ``sourcetype``, optional ``index``, ``event``, ``fields``), one per line,
  with CIM-style names in the event (``src``, ``dest``, ``dest_port``, ``signature``).
* **CSV**: the same alerts as flat rows; text cells that a spreadsheet would run as a
  formula (leading ``= + - @``, tab or CR) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netrca import __version__
from netrca.errors import ConfigError
from netrca.io.writers import write_text
from netrca.report.runfolder import RunFolder
from netrca.schema import Analysis

__all__ = [
    "ECS_VERSION",
    "EXPORT_FORMATS",
    "alert_records",
    "ecs_documents",
    "export_alerts",
    "hec_events",
    "render_export",
]

#: ECS version whose field names the export uses.
ECS_VERSION = "8.17.0"

#: Formats of ``netrca export``.
EXPORT_FORMATS: tuple[str, ...] = ("ecs", "splunk", "csv")

_SEVERITY_NUM = {"low": 1, "medium": 2, "high": 3, "critical": 4}
#: Risk score per severity (0-100), the common low/medium/high/critical mapping.
_RISK = {"low": 21, "medium": 47, "high": 73, "critical": 99}
_TRANSPORTS = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ICMP6": "ipv6-icmp", "SCTP": "sctp"}
_APP_TRANSPORT = {
    "HTTP": "tcp",
    "HTTPS": "tcp",
    "TLS": "tcp",
    "SSH": "tcp",
    "FTP": "tcp",
    "SMTP": "tcp",
    "SMB": "tcp",
    "RDP": "tcp",
    "MYSQL": "tcp",
    "IRC": "tcp",
    "TELNET": "tcp",
    "IMAP": "tcp",
    "POP3": "tcp",
    "LDAP": "tcp",
    "KERBEROS": "tcp",
    "DNS": "udp",
    "NTP": "udp",
    "SNMP": "udp",
    "DHCP": "udp",
    "SIP": "udp",
    "QUIC": "udp",
    "SYSLOG": "udp",
}
_NUMERIC = ("bytes_sent", "bytes_received", "packets_sent", "packets_received")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _transport_and_app(protocol: str | None) -> tuple[str | None, str | None]:
    if not protocol:
        return None, None
    p = str(protocol).upper()
    if p in _TRANSPORTS:
        return _TRANSPORTS[p], None
    return _APP_TRANSPORT.get(p), p.lower()


def _int_or_none(v: Any) -> int | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if np.isfinite(f) else None


def _epoch(iso: str) -> float:
    return float(pd.Timestamp(iso).timestamp())


def _incident_totals(preds: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per incident: byte/packet sums and the most common protocol (one groupby)."""
    sub = preds[preds["incident_id"].fillna("").astype(str) != ""]
    if sub.empty:
        return {}
    g = sub.groupby(sub["incident_id"].astype(str), sort=False)
    nums = [c for c in _NUMERIC if c in sub]
    sums = g[nums].sum(min_count=1) if nums else pd.DataFrame(index=list(g.groups))
    proto = (
        g["protocol"].agg(lambda s: s.astype(str).value_counts().index[0])
        if "protocol" in sub
        else None
    )
    out: dict[str, dict[str, Any]] = {}
    for inc in sums.index:
        row: dict[str, Any] = {c: _int_or_none(sums.at[inc, c]) for c in nums}
        row["protocol"] = str(proto[inc]) if proto is not None else None
        out[str(inc)] = row
    return out


def _base(a: Analysis) -> dict[str, Any]:
    ent = a.entities
    return {
        "incident_id": a.incident_id,
        "category": a.category.value,
        "severity": a.severity.value,
        "confidence": a.confidence,
        "root_cause": a.root_cause,
        "analyzer": a.analyzer,
        "sources": list(ent.sources),
        "destinations": list(ent.destinations),
        "ports": list(ent.ports),
        "remediation_steps": list(a.remediation_steps),
        "flow_count": a.flow_count,
    }


def alert_records(run: RunFolder, per: str = "incident") -> list[dict[str, Any]]:
    """The alerts of a run as flat records (the common input of every format)."""
    if per not in ("incident", "flow"):
        raise ConfigError(f"--per must be 'incident' or 'flow', got {per!r}")
    analyses = run.analyses
    cols = [
        "flow_id",
        "timestamp",
        "source_ip",
        "source_port",
        "destination_ip",
        "destination_port",
        "protocol",
        *_NUMERIC,
        "duration",
        "status",
        "anomaly_score",
        "is_anomaly",
        "incident_id",
        "reasons",
    ]
    preds = run.predictions(columns=cols)
    if per == "incident":
        totals = _incident_totals(preds)
        out = []
        for a in analyses:
            rec = _base(a)
            t = totals.get(a.incident_id, {})
            rec.update(
                {
                    "start": a.time_window.start,
                    "end": a.time_window.end,
                    "src": a.entities.sources[0] if a.entities.sources else None,
                    "dest": a.entities.destinations[0] if a.entities.destinations else None,
                    "dest_port": a.entities.ports[0] if a.entities.ports else None,
                    "src_port": None,
                    "protocol": t.get("protocol"),
                    **{c: t.get(c) for c in _NUMERIC},
                    "flow_id": None,
                    "anomaly_score": None,
                    "reasons": None,
                    "status": None,
                    "duration": (_epoch(a.time_window.end) - _epoch(a.time_window.start)),
                }
            )
            out.append(rec)
        return out
    by_id = {a.incident_id: _base(a) for a in analyses}
    inc = preds["incident_id"].fillna("").astype(str)
    flagged = preds[inc.isin(list(by_id))]
    out = []
    for row in flagged.to_dict("records"):  # one alert per anomalous flow: formatting only
        rec = dict(by_id[str(row["incident_id"])])
        start = str(row.get("timestamp"))
        dur = None if pd.isna(row.get("duration")) else float(row.get("duration"))
        end = start
        if dur is not None:
            end = (pd.Timestamp(start) + pd.Timedelta(seconds=dur)).strftime(_ISO)
        rec.update(
            {
                "start": start,
                "end": end,
                "src": row.get("source_ip"),
                "dest": row.get("destination_ip"),
                "src_port": _int_or_none(row.get("source_port")),
                "dest_port": _int_or_none(row.get("destination_port")),
                "protocol": None if pd.isna(row.get("protocol")) else str(row.get("protocol")),
                **{c: _int_or_none(row.get(c)) for c in _NUMERIC},
                "flow_id": _int_or_none(row.get("flow_id")),
                "anomaly_score": float(row.get("anomaly_score") or 0.0),
                "reasons": None if pd.isna(row.get("reasons")) else str(row.get("reasons")),
                "status": None if pd.isna(row.get("status")) else str(row.get("status")),
                "duration": dur,
            }
        )
        out.append(rec)
    return out


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    """Drop None values and empty sub-objects."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _prune(v)
            if not v:
                continue
        if v is None or v == []:
            continue
        out[k] = v
    return out


def _sum(*vals: int | None) -> int | None:
    present = [v for v in vals if v is not None]
    return sum(present) if present else None


def ecs_documents(records: Iterable[dict[str, Any]], run: RunFolder) -> list[dict[str, Any]]:
    """ECS alert documents (nested objects) for :func:`alert_records` output."""
    created = run.manifest.get("written_at")
    docs = []
    for r in records:
        transport, app = _transport_and_app(r.get("protocol"))
        ips = {r.get("src"), r.get("dest")}
        if r.get("flow_id") is None:  # an incident alert relates to all its hosts
            ips |= {*r["sources"], *r["destinations"]}
        related = sorted(str(i) for i in ips if i is not None)
        duration_ns = None if r.get("duration") is None else round(r["duration"] * 1e9)
        outcome = {"SUCCESS": "success", "FAILED": "failure"}.get(str(r.get("status")).upper())
        risk = _RISK[r["severity"]]
        flow_part = f":{r['flow_id']}" if r.get("flow_id") is not None else ""
        doc = {
            "@timestamp": r["start"],
            "message": r["root_cause"],
            "tags": ["netrca", r["category"], r["severity"]],
            "labels": {
                "incident_id": r["incident_id"],
                "confidence": f"{r['confidence']:.3f}",
                "analyzer": r["analyzer"],
                "flow_count": str(r["flow_count"]),
                "run": run.name,
            },
            "ecs": {"version": ECS_VERSION},
            "event": {
                "kind": "alert",
                "category": ["network", "intrusion_detection"],
                "type": ["info"],
                "action": r["category"],
                "id": f"{run.name}:{r['incident_id']}{flow_part}",
                "dataset": "netrca.alert",
                "module": "netrca",
                "provider": "netrca",
                "severity": _SEVERITY_NUM[r["severity"]],
                "risk_score": float(risk),
                "risk_score_norm": float(risk),
                "start": r["start"],
                "end": r["end"],
                "duration": duration_ns,
                "created": created,
                "outcome": outcome,
                "reason": r.get("reasons") or r["root_cause"],
            },
            "rule": {
                "name": r["category"],
                "id": f"netrca.{r['category']}",
                "ruleset": "netrca",
                "category": "network anomaly",
                "description": f"netrca root-cause category {r['category']}",
                "version": __version__,
            },
            "source": {
                "ip": r.get("src"),
                "port": r.get("src_port"),
                "bytes": r.get("bytes_sent"),
                "packets": r.get("packets_sent"),
            },
            "destination": {
                "ip": r.get("dest"),
                "port": r.get("dest_port"),
                "bytes": r.get("bytes_received"),
                "packets": r.get("packets_received"),
            },
            "network": {
                "transport": transport,
                "protocol": app,
                "bytes": _sum(r.get("bytes_sent"), r.get("bytes_received")),
                "packets": _sum(r.get("packets_sent"), r.get("packets_received")),
            },
            "related": {"ip": related},
            "observer": {
                "vendor": "netrca",
                "product": "netrca",
                "type": "ids",
                "version": __version__,
            },
        }
        docs.append(_prune(doc))
    return docs


def hec_events(
    records: Iterable[dict[str, Any]],
    run: RunFolder,
    *,
    host: str = "netrca",
    sourcetype: str = "netrca:alert",
    index: str | None = None,
) -> list[dict[str, Any]]:
    """Splunk HEC event envelopes for :func:`alert_records` output."""
    out = []
    for r in records:
        transport, app = _transport_and_app(r.get("protocol"))
        event = _prune(
            {
                "signature": r["category"],
                "category": r["category"],
                "severity": r["severity"],
                "confidence": r["confidence"],
                "description": r["root_cause"],
                "incident_id": r["incident_id"],
                "src": r.get("src"),
                "src_port": r.get("src_port"),
                "dest": r.get("dest"),
                "dest_port": r.get("dest_port"),
                "transport": transport,
                "app": app,
                "bytes_out": r.get("bytes_sent"),
                "bytes_in": r.get("bytes_received"),
                "sources": r["sources"],
                "destinations": r["destinations"],
                "ports": r["ports"],
                "flow_count": r["flow_count"],
                "flow_id": r.get("flow_id"),
                "anomaly_score": r.get("anomaly_score"),
                "start": r["start"],
                "end": r["end"],
                "analyzer": r["analyzer"],
                "remediation_steps": r["remediation_steps"],
                "vendor_product": "netrca",
            }
        )
        envelope: dict[str, Any] = {
            "time": round(_epoch(r["start"]), 6),
            "host": host,
            "source": f"netrca:{run.name}",
            "sourcetype": sourcetype,
            "event": event,
            "fields": {
                "incident_id": r["incident_id"],
                "category": r["category"],
                "severity": r["severity"],
            },
        }
        if index:
            envelope["index"] = index
        out.append(envelope)
    return out


def _csv_cell(v: Any) -> Any:
    if isinstance(v, list):
        v = ";".join(map(str, v))
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


_CSV_COLUMNS = (
    "incident_id",
    "start",
    "end",
    "category",
    "severity",
    "confidence",
    "root_cause",
    "src",
    "src_port",
    "dest",
    "dest_port",
    "protocol",
    *_NUMERIC,
    "flow_count",
    "flow_id",
    "anomaly_score",
    "reasons",
    "sources",
    "destinations",
    "ports",
    "analyzer",
    "remediation_steps",
)


def render_export(
    run_dir: str | Path,
    fmt: str,
    *,
    per: str = "incident",
    host: str = "netrca",
    index: str | None = None,
) -> tuple[str, int]:
    """The export as text and the number of alerts in it."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(
            f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}"
        )
    run = RunFolder(Path(run_dir))
    records = alert_records(run, per)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(_CSV_COLUMNS)
        for r in records:
            w.writerow([_csv_cell(r.get(c)) for c in _CSV_COLUMNS])
        return buf.getvalue(), len(records)
    docs = (
        ecs_documents(records, run)
        if fmt == "ecs"
        else hec_events(records, run, host=host, index=index)
    )
    text = "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs)
    return text, len(docs)


def export_alerts(
    run_dir: str | Path,
    fmt: str,
    output: str | Path | None = None,
    *,
    per: str = "incident",
    host: str = "netrca",
    index: str | None = None,
) -> int:
    """Write the export to ``output`` (atomically) or to stdout; returns the alert count."""
    text, n = render_export(run_dir, fmt, per=per, host=host, index=index)
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, text)
    return n
