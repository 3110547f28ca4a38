"""Scenarios: how much traffic, which anomalies, and the seeded run that produces them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from netrca.errors import ConfigError
from netrca.io.csvwrite import write_csv_fast
from netrca.io.writers import atomic_path
from netrca.schema import CANONICAL_COLUMNS, GROUND_TRUTH_COLUMNS
from netrca.simulate.injectors import INJECTORS
from netrca.simulate.network import build_network
from netrca.simulate.normal import concat, normal_traffic

__all__ = ["DEFAULT_INCIDENTS", "Scenario", "simulate", "write_flows"]

#: Incidents per category in the default scenario.
DEFAULT_INCIDENTS: dict[str, int] = dict.fromkeys(INJECTORS, 2)

#: Output columns: the canonical flow columns, then the ground truth.
_COLUMNS = (*CANONICAL_COLUMNS, *GROUND_TRUTH_COLUMNS)


@dataclass(frozen=True)
class Scenario:
    """What to simulate. ``incidents`` maps a category to how many incidents to inject."""

    n_flows: int = 20000
    hours: float = 24.0
    start: str = "2024-03-04T00:00:00Z"
    n_clients: int = 80
    n_servers: int = 12
    n_external: int = 400
    incidents: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_INCIDENTS))

    def validate(self) -> None:
        """Raise :class:`ConfigError` for impossible settings."""
        if self.n_flows < 100:
            raise ConfigError(f"n_flows must be at least 100, got {self.n_flows}")
        if self.hours <= 0:
            raise ConfigError(f"hours must be positive, got {self.hours}")
        unknown = sorted(set(self.incidents) - set(INJECTORS))
        if unknown:
            raise ConfigError(
                f"unknown anomaly categories: {', '.join(unknown)}; "
                f"choose from {', '.join(INJECTORS)}"
            )
        bad = {k: v for k, v in self.incidents.items() if v < 0}
        if bad:
            raise ConfigError(f"incident counts must be >= 0: {bad}")


def simulate(scenario: Scenario | None = None, seed: int = 0) -> pd.DataFrame:
    """Generate labelled flows for ``scenario``; the same seed gives the same frame."""
    scenario = scenario or Scenario()
    scenario.validate()
    rng = np.random.default_rng(seed)
    net = build_network(rng, scenario.n_clients, scenario.n_servers, scenario.n_external)
    start = pd.Timestamp(scenario.start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    t_start = start.timestamp()
    span = scenario.hours * 3600.0
    start_hour = start.hour + start.minute / 60.0

    plan: list[tuple[str, int]] = []
    for name in INJECTORS:  # fixed order: reproducible
        for _ in range(scenario.incidents.get(name, 0)):
            _, share, lo, hi = INJECTORS[name]
            size = int(np.clip(round(share * scenario.n_flows * rng.uniform(0.6, 1.4)), lo, hi))
            plan.append((name, size))
    injected_total = sum(
        s for name, s in plan if name not in ("service_outage", "network_congestion")
    )
    n_normal = max(scenario.n_flows - injected_total, scenario.n_flows // 2)
    base = normal_traffic(rng, net, n_normal, t_start, scenario.hours, start_hour)

    # modifying injectors first (they relabel normal flows), then additive ones
    plan.sort(key=lambda p: p[0] not in ("service_outage", "network_congestion"))
    batches = [base]
    for name, size in plan:
        fn = INJECTORS[name][0]
        t0 = t_start + rng.uniform(0.05, 0.85) * span
        inj = fn(rng, net, base, t0, size)
        if inj.new is not None:
            batches.append(inj.new)
    flows = concat(batches)
    order = np.argsort(flows["timestamp"], kind="stable")
    frame = pd.DataFrame({c: flows[c][order] for c in _COLUMNS})
    ts = pd.to_datetime(
        np.round(frame["timestamp"].astype(float) * 1e6).astype("int64"), unit="us", utc=True
    )
    frame["timestamp"] = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for col in (
        "source_port",
        "destination_port",
        "bytes_sent",
        "bytes_received",
        "packets_sent",
        "packets_received",
        "label",
    ):
        frame[col] = frame[col].astype(np.int64)
    for col in ("duration", "latency"):
        frame[col] = frame[col].astype(np.float64).round(6 if col == "duration" else 3)
    for col in ("source_ip", "destination_ip", "protocol", "status", "error_code", "root_cause"):
        frame[col] = frame[col].astype(str)
    return frame.reset_index(drop=True)


_ZEEK_STATE = {
    "NONE": "SF",
    "TIMEOUT": "S0",
    "CONNECTION_REFUSED": "REJ",
    "RESET": "RSTO",
    "HOST_UNREACHABLE": "S0",
    "AUTH_FAILURE": "SF",
    "PROTOCOL_ERROR": "RSTR",
}
_ZEEK_SERVICE = {
    "HTTPS": "ssl",
    "HTTP": "http",
    "DNS": "dns",
    "SSH": "ssh",
    "FTP": "ftp",
    "SMTP": "smtp",
    "MYSQL": "mysql",
    "NTP": "ntp",
    "LDAP": "ldap",
    "SMB": "smb",
    "RDP": "rdp",
}


def to_zeek(frame: pd.DataFrame) -> str:
    """Render simulated flows as a Zeek conn.log (TSV) with label columns appended."""
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    epoch = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    udp = frame["protocol"].isin(["DNS", "NTP", "UDP"])
    out = pd.DataFrame(
        {
            "ts": epoch.map("{:.6f}".format),
            "uid": [f"C{i:017x}" for i in range(len(frame))],
            "id.orig_h": frame["source_ip"],
            "id.orig_p": frame["source_port"].astype(str),
            "id.resp_h": frame["destination_ip"],
            "id.resp_p": frame["destination_port"].astype(str),
            "proto": np.where(udp, "udp", "tcp"),
            "service": frame["protocol"].map(_ZEEK_SERVICE).fillna("-"),
            "duration": frame["duration"].map("{:.6f}".format),
            "orig_bytes": frame["bytes_sent"].astype(str),
            "resp_bytes": frame["bytes_received"].astype(str),
            "conn_state": frame["error_code"].map(_ZEEK_STATE).fillna("OTH"),
            "orig_pkts": frame["packets_sent"].astype(str),
            "resp_pkts": frame["packets_received"].astype(str),
            "label": np.where(frame["label"] == 1, "Malicious", "Benign"),
            "detailedlabel": frame["root_cause"],
        }
    )
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
        "#fields\t" + "\t".join(out.columns) + "\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\t"
        "string\tcount\tcount\tstring\tstring\n"
    )
    body = out.to_csv(sep="\t", header=False, index=False, lineterminator="\n")
    return header + body + "#close\t-\n"


def write_flows(frame: pd.DataFrame, path: str | Path, fmt: str = "csv") -> None:
    """Write simulated flows atomically as canonical CSV, Parquet or Zeek TSV."""
    if fmt not in ("csv", "parquet", "zeek"):
        raise ConfigError(f"unknown output format {fmt!r}; choose csv, parquet or zeek")
    with atomic_path(path) as tmp:
        if fmt == "csv":  # pandas' bytes, rendered by Arrow on two threads
            with Path(tmp).open("wb") as fh:
                write_csv_fast(frame, fh)
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            tmp.write_text(to_zeek(frame), encoding="utf-8")
