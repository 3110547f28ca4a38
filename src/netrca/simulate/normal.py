"""Benign traffic: diurnal load, heavy-tailed bytes, per-path latency, background failures."""

from __future__ import annotations

import numpy as np

from netrca.simulate.network import SERVICES, Network

__all__ = ["Batch", "concat", "diurnal_times", "failure_fill", "normal_traffic", "take"]

#: A batch of flows: canonical column name → array (all arrays the same length).
Batch = dict[str, np.ndarray]

_ERRORS = np.asarray(["TIMEOUT", "CONNECTION_REFUSED", "RESET", "HOST_UNREACHABLE"], dtype=object)
_ERROR_P = np.asarray([0.4, 0.25, 0.25, 0.1])
_AUTH_SERVICES = ("SSH", "FTP", "RDP", "SMTP")


def diurnal_times(rng: np.random.Generator, n: int, hours: float, start_hour: float) -> np.ndarray:
    """``n`` sorted offsets (seconds) drawn from a working-day load curve."""
    grid = np.linspace(0.0, hours * 3600.0, 4001)
    hod = (start_hour + grid / 3600.0) % 24.0
    intensity = (
        0.2 + np.exp(-(((hod - 14.0) / 3.5) ** 2)) + 0.6 * np.exp(-(((hod - 10.0) / 2.0) ** 2))
    )
    cdf = np.concatenate(([0.0], np.cumsum((intensity[1:] + intensity[:-1]) / 2)))
    cdf /= cdf[-1]
    return np.sort(np.interp(rng.random(n), cdf, grid))


def take(batch: Batch, idx: np.ndarray) -> Batch:
    """Rows ``idx`` of ``batch``."""
    return {k: v[idx] for k, v in batch.items()}


def concat(batches: list[Batch]) -> Batch:
    """Concatenate batches column by column."""
    keys = batches[0].keys()
    return {k: np.concatenate([b[k] for b in batches]) for k in keys}


def _lognormal(rng: np.random.Generator, params: np.ndarray) -> np.ndarray:
    return np.exp(rng.normal(params[:, 0], params[:, 1]))


def service_columns(
    rng: np.random.Generator, services: np.ndarray, base_latency: np.ndarray
) -> Batch:
    """Bytes, packets, duration and latency for flows of the given services."""
    n = len(services)
    sent_p = np.asarray([SERVICES[s].sent for s in services]).reshape(n, 2)
    recv_p = np.asarray([SERVICES[s].received for s in services]).reshape(n, 2)
    dur_p = np.asarray([SERVICES[s].duration for s in services]).reshape(n, 2)
    sent = np.maximum(40, _lognormal(rng, sent_p)).astype(np.int64)
    recv = np.maximum(0, _lognormal(rng, recv_p)).astype(np.int64)
    # occasional very large transfers (heavy tail beyond the log-normal)
    big = rng.random(n) < 0.004
    recv[big] = (recv[big] * (1 + rng.pareto(1.2, big.sum()) * 20)).astype(np.int64)
    mtu = rng.uniform(500, 1400, size=n)
    latency = base_latency * np.exp(rng.normal(0.0, 0.25, size=n)) + rng.exponential(0.3, n)
    return {
        "bytes_sent": sent,
        "bytes_received": recv,
        "packets_sent": np.ceil(sent / mtu).astype(np.int64) + 1,
        "packets_received": np.ceil(recv / mtu).astype(np.int64) + (recv > 0),
        "duration": np.round(_lognormal(rng, dur_p), 6),
        "latency": np.round(latency, 3),
    }


def failure_fill(
    rng: np.random.Generator, batch: Batch, mask: np.ndarray, errors: np.ndarray
) -> None:
    """Turn the flows in ``mask`` into failed connections with the given error codes."""
    k = int(mask.sum())
    if k == 0:
        return
    batch["status"][mask] = "FAILED"
    batch["error_code"][mask] = errors
    timeout = errors == "TIMEOUT"
    sent = batch["bytes_sent"][mask]
    batch["bytes_sent"][mask] = np.minimum(sent, rng.integers(0, 120, size=k))
    batch["bytes_received"][mask] = 0
    batch["packets_sent"][mask] = rng.integers(1, 4, size=k)
    batch["packets_received"][mask] = np.where(errors == "CONNECTION_REFUSED", 1, 0)
    lat = batch["latency"][mask]
    batch["latency"][mask] = np.where(timeout, np.round(rng.uniform(1000, 5000, size=k), 3), lat)
    batch["duration"][mask] = np.where(
        timeout, np.round(rng.uniform(1.0, 10.0, size=k), 6), np.round(lat / 1000.0, 6)
    )


def _pick_internal(rng: np.random.Generator, net: Network, n: int) -> tuple[np.ndarray, ...]:
    pairs = [(s, svc) for s, svcs in enumerate(net.server_services) for svc in svcs]
    popularity = {
        "DNS": 6.0,
        "LDAP": 2.0,
        "HTTPS": 3.0,
        "HTTP": 1.5,
        "SMB": 2.5,
        "MYSQL": 1.5,
        "SSH": 0.6,
        "FTP": 0.3,
        "SMTP": 0.8,
        "RDP": 0.3,
        "NTP": 0.5,
    }
    w = np.asarray([popularity[svc] for _, svc in pairs])
    choice = rng.choice(len(pairs), size=n, p=w / w.sum())
    server = np.asarray([pairs[c][0] for c in choice])
    service = np.asarray([pairs[c][1] for c in choice], dtype=object)
    client = rng.choice(len(net.clients), size=n, p=net.client_weight)
    admin_only = np.isin(service, ["SSH", "RDP"])
    client[admin_only] = rng.choice(net.admins, size=int(admin_only.sum()))
    return client, server, service


def normal_traffic(
    rng: np.random.Generator, net: Network, n: int, start: float, hours: float, start_hour: float
) -> Batch:
    """``n`` benign flows over ``hours`` from epoch ``start``."""
    ts = start + diurnal_times(rng, n, hours, start_hour)
    kind = rng.choice(4, size=n, p=[0.44, 0.44, 0.08, 0.04])
    src = np.empty(n, dtype=object)
    dst = np.empty(n, dtype=object)
    service = np.empty(n, dtype=object)
    base = np.empty(n)

    m = kind == 0  # client -> internal server
    c, s, svc = _pick_internal(rng, net, int(m.sum()))
    src[m], dst[m], service[m], base[m] = net.clients[c], net.servers[s], svc, net.server_latency[s]

    m = kind == 1  # client -> Internet
    k = int(m.sum())
    c = rng.choice(len(net.clients), size=k, p=net.client_weight)
    e = rng.choice(len(net.external), size=k, p=net.external_weight)
    svc = rng.choice(
        np.asarray(["HTTPS", "HTTP", "NTP", "SSH"], dtype=object),
        size=k,
        p=[0.78, 0.19, 0.02, 0.01],
    )
    src[m], dst[m], service[m], base[m] = (
        net.clients[c],
        net.external[e],
        svc,
        net.external_latency[e],
    )

    m = kind == 2  # Internet -> public server
    k = int(m.sum())
    ps = rng.choice(net.public_servers, size=k)
    e = rng.choice(len(net.external), size=k)
    svc = np.asarray(
        [("HTTPS" if "HTTPS" in net.server_services[i] else "SMTP") for i in ps], dtype=object
    )
    src[m], dst[m], service[m], base[m] = (
        net.external[e],
        net.servers[ps],
        svc,
        net.external_latency[e],
    )

    m = kind == 3  # internal server -> Internet (recursion, updates)
    k = int(m.sum())
    s = rng.choice(len(net.servers), size=k)
    e = rng.choice(len(net.external), size=k, p=net.external_weight)
    svc = rng.choice(np.asarray(["DNS", "HTTPS"], dtype=object), size=k, p=[0.7, 0.3])
    src[m], dst[m], service[m], base[m] = (
        net.servers[s],
        net.external[e],
        svc,
        net.external_latency[e],
    )

    batch: Batch = {
        "timestamp": ts,
        "source_ip": src,
        "destination_ip": dst,
        "source_port": rng.integers(32768, 61000, size=n),
        "destination_port": np.asarray([SERVICES[x].port for x in service], dtype=np.int64),
        "protocol": service.copy(),
    }
    batch.update(service_columns(rng, service, base))
    batch["status"] = np.full(n, "SUCCESS", dtype=object)
    batch["error_code"] = np.full(n, "NONE", dtype=object)

    # some application traffic on non-standard ports, logged by transport only
    other = rng.random(n) < 0.02
    batch["destination_port"][other] = rng.integers(1024, 65536, size=int(other.sum()))
    batch["protocol"][other] = np.where(rng.random(int(other.sum())) < 0.7, "TCP", "UDP")

    fail = rng.random(n) < 0.015
    failure_fill(rng, batch, fail, rng.choice(_ERRORS, size=int(fail.sum()), p=_ERROR_P))
    auth = np.isin(service, _AUTH_SERVICES) & ~fail & (rng.random(n) < 0.03)
    batch["status"][auth] = "FAILED"
    batch["error_code"][auth] = "AUTH_FAILURE"
    batch["label"] = np.zeros(n, dtype=np.int64)
    batch["root_cause"] = np.full(n, "normal", dtype=object)
    return batch
