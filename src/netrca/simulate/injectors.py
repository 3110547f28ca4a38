"""Anomaly injectors, one per taxonomy category, each labelling its flows as ground truth."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from netrca.simulate.network import SERVICES, Network
from netrca.simulate.normal import Batch, failure_fill, service_columns

__all__ = ["INJECTORS", "Injection"]

_SCAN_PORTS = np.asarray(
    [
        21,
        22,
        23,
        25,
        53,
        80,
        110,
        111,
        135,
        139,
        143,
        443,
        445,
        993,
        995,
        1433,
        1723,
        3306,
        3389,
        5432,
        5900,
        6379,
        8080,
        8443,
        9200,
        27017,
    ],
)


class Injection:
    """Result of one injector: new flows to add and indices of existing flows relabelled."""

    def __init__(self, new: Batch | None, modified: np.ndarray | None = None) -> None:
        self.new = new
        self.modified = modified if modified is not None else np.zeros(0, dtype=np.int64)


def _flows(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    dport: np.ndarray,
    protocol: np.ndarray,
    base_latency: np.ndarray,
    category: str,
) -> Batch:
    n = len(ts)
    services = np.asarray([p if p in SERVICES else "HTTPS" for p in protocol], dtype=object)
    batch: Batch = {
        "timestamp": ts,
        "source_ip": np.asarray(src, dtype=object),
        "destination_ip": np.asarray(dst, dtype=object),
        "source_port": rng.integers(32768, 61000, size=n),
        "destination_port": np.asarray(dport, dtype=np.int64),
        "protocol": np.asarray(protocol, dtype=object),
    }
    batch.update(service_columns(rng, services, base_latency))
    batch["status"] = np.full(n, "SUCCESS", dtype=object)
    batch["error_code"] = np.full(n, "NONE", dtype=object)
    batch["label"] = np.ones(n, dtype=np.int64)
    batch["root_cause"] = np.full(n, category, dtype=object)
    return batch


def _times(rng: np.random.Generator, t0: float, span: float, n: int) -> np.ndarray:
    return np.sort(t0 + rng.random(n) * span)


def _internal_targets(net: Network) -> np.ndarray:
    return np.concatenate([net.servers, net.clients])


def port_scan(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """One source probes many ports (vertical) or many hosts (horizontal); most fail."""
    external = rng.random() < 0.5
    src = net.random_external_ips(rng, 1)[0] if external else rng.choice(net.clients)
    mode = rng.choice(["vertical", "horizontal", "mixed"], p=[0.5, 0.25, 0.25])
    targets = _internal_targets(net)
    if mode == "vertical":
        hosts = rng.choice(targets, size=rng.integers(1, 3))
        ports = np.concatenate([_SCAN_PORTS, rng.choice(np.arange(1, 10000), size=size)])
        dport = rng.choice(ports, size=size)
        dst = rng.choice(hosts, size=size)
    elif mode == "horizontal":
        hosts = rng.choice(targets, size=min(len(targets), max(20, size // 3)), replace=False)
        dport = rng.choice(rng.choice(_SCAN_PORTS, size=rng.integers(1, 5)), size=size)
        dst = rng.choice(hosts, size=size)
    else:
        hosts = rng.choice(targets, size=min(len(targets), 12), replace=False)
        dport = rng.choice(_SCAN_PORTS, size=size)
        dst = rng.choice(hosts, size=size)
    ts = _times(rng, t0, rng.uniform(60, 1200), size)
    proto = np.where(rng.random(size) < 0.85, "TCP", "UDP").astype(object)
    batch = _flows(
        rng,
        ts,
        np.full(size, src, dtype=object),
        dst,
        dport,
        proto,
        np.full(size, 2.0 if not external else 30.0),
        "port_scan",
    )
    batch["bytes_sent"][:] = rng.choice([0, 0, 0, 40, 44, 60], size=size)
    batch["bytes_received"][:] = 0
    open_port = rng.random(size) < 0.06
    batch["bytes_received"][open_port] = rng.integers(40, 400, size=int(open_port.sum()))
    closed = ~open_port
    errors = rng.choice(
        np.asarray(["CONNECTION_REFUSED", "TIMEOUT", "RESET"], dtype=object),
        size=int(closed.sum()),
        p=[0.6, 0.3, 0.1],
    )
    failure_fill(rng, batch, closed, errors)
    batch["bytes_sent"][closed] = np.minimum(batch["bytes_sent"][closed], 60)
    batch["duration"][:] = np.round(rng.exponential(0.02, size=size), 6)
    return Injection(batch)


def dos_flood(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """Many requests from one or many sources saturate one service."""
    server = (
        rng.choice(net.public_servers) if rng.random() < 0.6 else rng.integers(len(net.servers))
    )
    service = net.server_services[server][0]
    n_src = 1 if rng.random() < 0.3 else int(rng.integers(5, 60))
    sources = net.random_external_ips(rng, n_src)
    src = rng.choice(sources, size=size)
    ts = _times(rng, t0, rng.uniform(120, 900), size)
    dst = np.full(size, net.servers[server], dtype=object)
    dport = np.full(size, SERVICES[service].port)
    proto = np.full(size, service, dtype=object)
    batch = _flows(rng, ts, src, dst, dport, proto, np.full(size, 30.0), "dos_flood")
    batch["bytes_sent"][:] = np.maximum(40, np.exp(rng.normal(5.5, 0.5, size))).astype(np.int64)
    batch["bytes_received"][:] = np.exp(rng.normal(6.5, 1.0, size)).astype(np.int64)
    batch["latency"][:] = np.round(batch["latency"] * rng.uniform(5, 30), 3)
    fail = rng.random(size) < rng.uniform(0.3, 0.7)
    errors = rng.choice(
        np.asarray(["TIMEOUT", "RESET", "CONNECTION_REFUSED"], dtype=object),
        size=int(fail.sum()),
        p=[0.6, 0.3, 0.1],
    )
    failure_fill(rng, batch, fail, errors)
    return Injection(batch)


def brute_force(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """Repeated authentication attempts from one source against one login service."""
    candidates = [
        (i, s)
        for i, svcs in enumerate(net.server_services)
        for s in svcs
        if s in ("SSH", "FTP", "RDP")
    ]
    server, service = candidates[int(rng.integers(len(candidates)))]
    external = rng.random() < 0.7
    src = net.random_external_ips(rng, 1)[0] if external else rng.choice(net.clients)
    ts = _times(rng, t0, rng.uniform(300, 3600), size)
    batch = _flows(
        rng,
        ts,
        np.full(size, src, dtype=object),
        np.full(size, net.servers[server], dtype=object),
        np.full(size, SERVICES[service].port),
        np.full(size, service, dtype=object),
        np.full(size, 30.0 if external else 1.5),
        "brute_force",
    )
    sent_mu, recv_mu = {"SSH": (2200, 2800), "FTP": (150, 320), "RDP": (3000, 5000)}[service]
    batch["bytes_sent"][:] = np.maximum(40, rng.normal(sent_mu, sent_mu * 0.06, size)).astype(
        np.int64
    )
    batch["bytes_received"][:] = np.maximum(40, rng.normal(recv_mu, recv_mu * 0.06, size)).astype(
        np.int64
    )
    batch["duration"][:] = np.round(rng.uniform(0.5, 4.0, size), 6)
    failed = rng.random(size) < 0.85
    batch["status"][failed] = "FAILED"
    batch["error_code"][failed] = "AUTH_FAILURE"
    return Injection(batch)


def data_exfiltration(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """An internal host uploads unusually large volumes to a new external address."""
    src = rng.choice(net.clients) if rng.random() < 0.7 else rng.choice(net.servers)
    dsts = net.random_external_ips(rng, int(rng.integers(1, 3)))
    variant = rng.choice(4, p=[0.6, 0.15, 0.15, 0.1])
    proto, port = [("HTTPS", 443), ("SSH", 22), ("TCP", 8443), ("FTP", 21)][variant]
    ts = _times(rng, t0, rng.uniform(600, 5400), size)
    batch = _flows(
        rng,
        ts,
        np.full(size, src, dtype=object),
        rng.choice(dsts, size=size),
        np.full(size, port),
        np.full(size, proto, dtype=object),
        np.full(size, 45.0),
        "data_exfiltration",
    )
    sent = np.exp(rng.normal(16.5, 0.8, size)).astype(np.int64)
    batch["bytes_sent"][:] = sent
    batch["bytes_received"][:] = np.exp(rng.normal(8.0, 0.5, size)).astype(np.int64)
    batch["packets_sent"][:] = sent // 1400 + 1
    batch["packets_received"][:] = batch["packets_sent"] // 2 + 1
    batch["duration"][:] = np.round(sent / rng.uniform(1e6, 1e7, size), 6)
    return Injection(batch)


def c2_beaconing(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """A host calls home at a regular interval with small, near-constant payloads."""
    src = rng.choice(net.clients)
    dst = net.random_external_ips(rng, 1)[0]
    period = rng.uniform(30, 600)
    jitter = rng.uniform(0.01, 0.1)
    ts = t0 + np.cumsum(period * (1 + rng.normal(0, jitter, size)))
    proto, port = [("HTTPS", 443), ("HTTP", 80), ("TCP", 8080)][
        int(rng.choice(3, p=[0.6, 0.3, 0.1]))
    ]
    batch = _flows(
        rng,
        ts,
        np.full(size, src, dtype=object),
        np.full(size, dst, dtype=object),
        np.full(size, port),
        np.full(size, proto, dtype=object),
        np.full(size, 60.0),
        "c2_beaconing",
    )
    sent0, recv0 = rng.uniform(150, 600), rng.uniform(100, 900)
    batch["bytes_sent"][:] = np.maximum(40, rng.normal(sent0, sent0 * 0.03, size)).astype(np.int64)
    batch["bytes_received"][:] = np.maximum(0, rng.normal(recv0, recv0 * 0.03, size)).astype(
        np.int64
    )
    tasking = rng.random(size) < 0.05
    batch["bytes_received"][tasking] *= rng.integers(5, 40, size=int(tasking.sum()))
    batch["packets_sent"][:] = batch["bytes_sent"] // 1200 + 2
    batch["packets_received"][:] = batch["bytes_received"] // 1200 + 2
    batch["duration"][:] = np.round(rng.uniform(0.1, 0.6, size), 6)
    return Injection(batch)


def service_outage(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """A server stops answering: its clients' connections fail and are retried."""
    dst = base["destination_ip"]
    ts = base["timestamp"]
    internal = np.isin(dst, net.servers)
    busiest = np.unique(dst[internal], return_counts=True)
    order = np.argsort(-busiest[1])
    server = busiest[0][order[int(rng.integers(0, min(4, len(order))))]]
    to_server = np.flatnonzero((dst == server) & (base["label"] == 0))
    # the outage lasts long enough to hit about size/2 of the server's flows (10-90 min)
    rate = len(to_server) / max(float(ts.max() - ts.min()), 1.0)
    span = float(np.clip(size / 2 / max(rate, 1e-9), 600, 5400))
    hit = to_server[(ts[to_server] >= t0) & (ts[to_server] < t0 + span)]
    errors = rng.choice(
        np.asarray(["CONNECTION_REFUSED", "TIMEOUT", "HOST_UNREACHABLE"], dtype=object),
        size=len(hit),
        p=[0.6, 0.3, 0.1],
    )
    failure_fill(rng, base, np.isin(np.arange(len(dst)), hit), errors)
    base["label"][hit] = 1
    base["root_cause"][hit] = "service_outage"
    # clients retry a few seconds later
    retry_of = rng.choice(hit, size=len(hit))
    retries = {k: v[retry_of].copy() for k, v in base.items()}
    retries["timestamp"] = retries["timestamp"] + rng.uniform(1, 30, len(retry_of))
    retries["source_port"] = rng.integers(32768, 61000, size=len(retry_of))
    return Injection(retries, hit)


def network_congestion(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """A client subnet's uplink saturates: latency climbs, some flows time out."""
    subnet = f"10.0.{int(rng.integers(1, 5))}."
    src = base["source_ip"].astype(str)
    outbound = (
        np.char.startswith(src, subnet)
        & ~np.isin(base["destination_ip"], net.servers)
        & (base["label"] == 0)
    )
    ts = base["timestamp"]
    rate = outbound.sum() / max(float(ts.max() - ts.min()), 1.0)
    span = float(np.clip(size / max(rate, 1e-9), 900, 5400))
    cand = np.flatnonzero(outbound & (ts >= t0) & (ts < t0 + span))
    factor = rng.uniform(4, 20)
    base["latency"][cand] = np.round(
        base["latency"][cand] * factor * rng.uniform(0.7, 1.3, len(cand)), 3
    )
    base["duration"][cand] = np.round(base["duration"][cand] * rng.uniform(2, 6, len(cand)), 6)
    fail = rng.random(len(cand)) < rng.uniform(0.1, 0.25)
    mask = np.zeros(len(ts), dtype=bool)
    mask[cand[fail]] = True
    errors = rng.choice(
        np.asarray(["TIMEOUT", "RESET"], dtype=object), size=int(fail.sum()), p=[0.7, 0.3]
    )
    failure_fill(rng, base, mask, errors)
    base["label"][cand] = 1
    base["root_cause"][cand] = "network_congestion"
    return Injection(None, cand)


_MISMATCH = (
    ("SSH", (80, 443, 53)),
    ("HTTP", (22, 53, 3306)),
    ("DNS", (80, 443, 8080)),
    ("FTP", (443, 80)),
    ("SMTP", (80, 53)),
    ("HTTPS", (53, 22, 123)),
)


def protocol_violation(
    rng: np.random.Generator, net: Network, base: Batch, t0: float, size: int
) -> Injection:
    """A host speaks a protocol on a port that belongs to another (tunnelling, evasion)."""
    proto, ports = _MISMATCH[int(rng.integers(len(_MISMATCH)))]
    port = int(rng.choice(ports))
    src = rng.choice(net.clients)
    dsts = (
        net.random_external_ips(rng, int(rng.integers(1, 4)))
        if rng.random() < 0.6
        else rng.choice(net.servers, size=2)
    )
    ts = _times(rng, t0, rng.uniform(300, 2400), size)
    batch = _flows(
        rng,
        ts,
        np.full(size, src, dtype=object),
        rng.choice(dsts, size=size),
        np.full(size, port),
        np.full(size, proto, dtype=object),
        np.full(size, 40.0),
        "protocol_violation",
    )
    reset = rng.random(size) < 0.4
    batch["status"][reset] = "FAILED"
    batch["error_code"][reset] = rng.choice(
        np.asarray(["RESET", "PROTOCOL_ERROR"], dtype=object), size=int(reset.sum())
    )
    return Injection(batch)


#: Injector per category, with the share of the scenario's flows one incident takes
#: and the (min, max) number of flows.
INJECTORS: dict[str, tuple[Callable[..., Injection], float, int, int]] = {
    "port_scan": (port_scan, 0.010, 60, 2000),
    "dos_flood": (dos_flood, 0.015, 150, 5000),
    "brute_force": (brute_force, 0.008, 60, 1500),
    "data_exfiltration": (data_exfiltration, 0.0012, 6, 300),
    "c2_beaconing": (c2_beaconing, 0.004, 40, 400),
    "service_outage": (service_outage, 0.006, 20, 1000),
    "network_congestion": (network_congestion, 0.010, 40, 2000),
    "protocol_violation": (protocol_violation, 0.003, 20, 400),
}
