"""An independent traffic generator for generalisation checks, deliberately unlike netrca's.

netrca's simulator injects anomalies as bursts of behaviour (scans, floods, beacons in
time). This one writes prototype-style rows: uniform random timestamps over days,
private addresses only (optionally some public servers), uniform byte counts, normal
latency, and anomalies rewritten one row at a time. A detector tuned to the simulator's
shapes would fail here; the benchmark reports how netrca does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = (
    "port_scan",
    "dos_flood",
    "brute_force",
    "data_exfiltration",
    "network_congestion",
    "service_outage",
    "protocol_violation",
    "c2_beaconing",
)
_PORTS = {"HTTP": 80, "HTTPS": 443, "DNS": 53, "SSH": 22, "FTP": 21, "TCP": 8080, "UDP": 5000}


def generate(
    n: int = 10000,
    seed: int = 0,
    days: float = 7,
    private_only: bool = True,
    anomaly_rate: float = 0.05,
) -> pd.DataFrame:
    """``n`` labelled rows in netrca's canonical CSV columns."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-01-01", tz="UTC").timestamp()
    ts = np.sort(t0 + rng.random(n) * days * 86400)
    hosts = [f"192.168.{rng.integers(0, 4)}.{rng.integers(2, 254)}" for _ in range(60)]
    servers = [f"10.0.0.{i}" for i in range(1, 15)]
    if not private_only:
        servers += [
            f"{rng.integers(20, 200)}.{rng.integers(0, 255)}.{rng.integers(0, 255)}."
            f"{rng.integers(1, 254)}"
            for _ in range(40)
        ]
    protocols = np.array(list(_PORTS))
    proto = rng.choice(protocols, n, p=[0.25, 0.35, 0.2, 0.05, 0.05, 0.05, 0.05])
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts, unit="s", utc=True).strftime("%Y-%m-%d %H:%M:%S"),
            "source_ip": rng.choice(hosts, n),
            "destination_ip": rng.choice(servers, n),
            "source_port": rng.integers(1024, 65535, n),
            "destination_port": [_PORTS[p] for p in proto],
            "protocol": proto,
            "bytes_sent": rng.integers(200, 5000, n),
            "bytes_received": rng.integers(500, 50000, n),
            "status": np.where(rng.random(n) < 0.03, "FAILED", "SUCCESS"),
            "latency": np.round(rng.normal(50, 15, n).clip(1), 2),
        }
    )
    df["error_code"] = np.where(
        df["status"] == "FAILED", rng.choice(["TIMEOUT", "CONNECTION_REFUSED"], n), "NONE"
    )
    df["label"] = 0
    df["root_cause"] = "normal"
    rows = rng.choice(n, int(n * anomaly_rate), replace=False)
    for j, i in enumerate(rows):
        cat = CATEGORIES[j % len(CATEGORIES)]
        df.loc[i, ["label", "root_cause"]] = [1, cat]
        if cat == "port_scan":
            df.loc[
                i,
                [
                    "source_ip",
                    "destination_port",
                    "bytes_sent",
                    "bytes_received",
                    "status",
                    "error_code",
                ],
            ] = ["192.168.9.66", int(rng.integers(1, 10000)), 60, 0, "FAILED", "CONNECTION_REFUSED"]
        elif cat == "dos_flood":
            df.loc[
                i,
                [
                    "destination_ip",
                    "bytes_sent",
                    "bytes_received",
                    "latency",
                    "status",
                    "error_code",
                ],
            ] = [
                "10.0.0.1",
                int(rng.integers(40, 100)),
                0,
                float(rng.uniform(800, 3000)),
                "FAILED",
                "TIMEOUT",
            ]
        elif cat == "brute_force":
            df.loc[
                i,
                [
                    "source_ip",
                    "destination_ip",
                    "destination_port",
                    "protocol",
                    "bytes_sent",
                    "bytes_received",
                    "status",
                    "error_code",
                ],
            ] = ["192.168.7.7", "10.0.0.5", 22, "SSH", 300, 200, "FAILED", "AUTH_FAILURE"]
        elif cat == "data_exfiltration":
            df.loc[i, ["bytes_sent", "bytes_received"]] = [
                int(rng.integers(5e6, 5e8)),
                int(rng.integers(100, 1000)),
            ]
        elif cat == "network_congestion":
            df.loc[i, "latency"] = float(rng.uniform(500, 5000))
        elif cat == "service_outage":
            df.loc[i, ["destination_ip", "status", "error_code", "bytes_received"]] = [
                "10.0.0.9",
                "FAILED",
                "CONNECTION_REFUSED",
                0,
            ]
        elif cat == "protocol_violation":
            df.loc[i, ["protocol", "destination_port"]] = ["HTTP", 22]
        else:  # c2_beaconing: fixed sizes to one server, but not periodic in time
            df.loc[i, ["source_ip", "destination_ip", "bytes_sent", "bytes_received"]] = [
                "192.168.3.33",
                "10.0.0.13",
                256,
                512,
            ]
    return df
