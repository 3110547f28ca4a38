"""A seeded synthetic network: clients, servers with services, external hosts, paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SERVICES", "Network", "Service", "build_network"]


@dataclass(frozen=True)
class Service:
    """An application service: port, transport and log-normal byte profiles."""

    name: str
    port: int
    transport: str
    sent: tuple[float, float]  # (mu, sigma) of ln(bytes_sent)
    received: tuple[float, float]  # (mu, sigma) of ln(bytes_received)
    duration: tuple[float, float]  # (mu, sigma) of ln(seconds)


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("HTTPS", 443, "TCP", (6.8, 0.9), (9.3, 1.8), (-0.5, 1.4)),
        Service("HTTP", 80, "TCP", (6.3, 0.7), (8.6, 1.7), (-1.0, 1.3)),
        Service("DNS", 53, "UDP", (4.1, 0.25), (5.0, 0.5), (-4.0, 0.8)),
        Service("SSH", 22, "TCP", (8.0, 1.6), (8.6, 1.7), (3.0, 1.8)),
        Service("FTP", 21, "TCP", (6.5, 1.0), (10.5, 2.0), (1.5, 1.5)),
        Service("SMTP", 25, "TCP", (9.3, 1.5), (6.2, 0.5), (0.0, 1.0)),
        Service("MYSQL", 3306, "TCP", (6.5, 1.0), (8.8, 1.6), (-2.0, 1.2)),
        Service("NTP", 123, "UDP", (4.38, 0.05), (4.38, 0.05), (-3.5, 0.5)),
        Service("LDAP", 389, "TCP", (6.0, 0.6), (7.2, 0.9), (-2.5, 0.8)),
        Service("SMB", 445, "TCP", (8.0, 1.5), (9.5, 2.0), (1.0, 1.5)),
        Service("RDP", 3389, "TCP", (9.0, 1.2), (11.0, 1.5), (5.0, 1.2)),
    )
}

# Services offered by internal servers, by role.
_ROLES: tuple[tuple[str, ...], ...] = (
    ("DNS", "LDAP"),
    ("HTTPS", "HTTP"),
    ("HTTPS",),
    ("SMB",),
    ("MYSQL",),
    ("SSH", "FTP"),
    ("SMTP",),
    ("HTTPS", "SSH"),
    ("RDP",),
    ("NTP", "DNS"),
    ("MYSQL", "SSH"),
    ("HTTP", "FTP"),
)


@dataclass
class Network:
    """Hosts and their properties; every array is indexed by host number."""

    clients: np.ndarray  # IP strings
    client_weight: np.ndarray  # activity share, sums to 1
    client_subnet: np.ndarray  # small int per client
    servers: np.ndarray  # IP strings of internal servers
    server_services: list[tuple[str, ...]]
    public_servers: np.ndarray  # indices into servers reachable from the Internet
    external: np.ndarray  # IP strings of Internet hosts
    external_weight: np.ndarray
    external_latency: np.ndarray  # base RTT (ms) per external host
    server_latency: np.ndarray  # base RTT (ms) per internal server
    admins: np.ndarray  # indices of clients that use SSH/RDP

    def random_external_ips(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Fresh public addresses that are not already in the network."""
        return _public_ips(rng, n, exclude=set(self.external.tolist()))


def _public_ips(rng: np.random.Generator, n: int, exclude: set[str] | None = None) -> np.ndarray:
    """Random unicast public IPv4 addresses (no private, loopback or multicast ranges)."""
    exclude = exclude or set()
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        a = rng.integers(1, 224, size=2 * (n - len(out)) + 8)
        b, c, d = rng.integers(0, 256, size=(3, len(a)))
        for w, x, y, z in zip(a, b, c, d, strict=True):
            if w in (10, 127, 100, 169, 172, 192, 198, 203, 0) or z in (0, 255):
                continue
            ip = f"{w}.{x}.{y}.{z}"
            if ip not in seen:
                seen.add(ip)
                out.append(ip)
                if len(out) == n:
                    break
    return np.asarray(out, dtype=object)


def build_network(
    rng: np.random.Generator, n_clients: int = 80, n_servers: int = 12, n_external: int = 400
) -> Network:
    """Build a network: clients in a few /24s, servers in 10.1.0.0/24, Internet hosts."""
    subnets = rng.integers(0, 4, size=n_clients)
    hosts = rng.choice(np.arange(10, 250), size=n_clients, replace=False)
    clients = np.asarray([f"10.0.{s + 1}.{h}" for s, h in zip(subnets, hosts, strict=True)])
    weight = rng.pareto(1.5, size=n_clients) + 0.2
    servers = np.asarray([f"10.1.0.{10 + i}" for i in range(n_servers)])
    services = [_ROLES[i % len(_ROLES)] for i in range(n_servers)]
    public = np.asarray([i for i, s in enumerate(services) if "HTTPS" in s or "SMTP" in s])
    external = _public_ips(rng, n_external)
    ext_weight = 1.0 / np.arange(1, n_external + 1) ** 0.9  # Zipf-like popularity
    rng.shuffle(ext_weight)
    admins = rng.choice(n_clients, size=max(2, n_clients // 8), replace=False)
    return Network(
        clients=clients,
        client_weight=weight / weight.sum(),
        client_subnet=subnets,
        servers=servers,
        server_services=services,
        public_servers=public,
        external=external,
        external_weight=ext_weight / ext_weight.sum(),
        external_latency=np.exp(rng.normal(np.log(40.0), 0.7, size=n_external)),
        server_latency=np.exp(rng.normal(np.log(1.5), 0.5, size=n_servers)),
        admins=admins,
    )
