"""PCAP reader (NFStream, extra 'pcap'): round trip, bad input, detection on a capture."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.errors import InputError
from netrca.io import read_flows, sniff_format
from netrca.pipeline import run
from tests import samples
from tests.unit.io.test_meter_readers import cli

pytest.importorskip("nfstream", reason="the 'pcap' extra is not installed")

T0 = 1709510400.0  # 2024-03-04T00:00:00Z


def _small_convs() -> list[samples.Conv]:
    return [
        samples.Conv(T0, "10.0.0.5", "10.0.0.80", 40000, 80, up=(100, 200), down=(1400, 300)),
        samples.Conv(T0 + 1, "10.0.0.66", "10.0.0.80", 50000, 1000, kind="refused"),
        samples.Conv(
            T0 + 2, "10.0.0.5", "10.0.0.53", 53533, 53, proto="UDP", up=(40,), down=(120,)
        ),
        samples.Conv(T0 + 3, "10.0.0.5", "10.0.0.99", 41000, 22, kind="unanswered"),
    ]


def test_pcap_round_trip(tmp_path: Path) -> None:
    convs = _small_convs()
    path = tmp_path / "t.pcap"
    samples.write_pcap(convs, path)
    assert sniff_format(path) == "pcap"
    r = read_flows(path)
    out = r.flows.sort_values("timestamp").reset_index(drop=True)
    assert len(out) == len(convs) and len(r.rejects) == 0
    for c, row in zip(convs, out.itertuples(index=False), strict=True):
        assert (row.source_ip, row.destination_ip) == (c.client, c.server)
        assert (row.source_port, row.destination_port) == (c.sport, c.dport)
        pu, _, pdn, _ = samples.ip_bytes(c)
        assert (row.packets_sent, row.packets_received) == (pu, pdn)
        shown_up = sum(c.up) if c.kind == "ok" else 0
        shown_down = sum(c.down) if c.kind == "ok" else 0
        assert (row.bytes_sent, row.bytes_received) == (shown_up, shown_down)
        assert row.timestamp == pd.Timestamp(c.t, unit="s", tz="UTC")
    assert out["protocol"].tolist()[:3] == ["HTTP", "TCP", "DNS"]
    assert out["error_code"].tolist() == ["NONE", "CONNECTION_REFUSED", "NONE", "TIMEOUT"]


def test_pcap_bad_input(tmp_path: Path) -> None:
    text = tmp_path / "notes.pcap"
    text.write_text("this is not a capture\n")
    with pytest.raises(InputError, match="not a pcap or pcapng file"):
        read_flows(text, "pcap")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_flows(empty, "pcap")
    header_only = tmp_path / "h.pcap"
    samples.write_pcap([], header_only)
    with pytest.raises(InputError, match="no IP flows"):
        read_flows(header_only, "pcap")
    truncated = tmp_path / "trunc.pcap"
    samples.write_pcap(_small_convs(), truncated)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 30])  # cut inside the last packet
    r = read_flows(truncated, "pcap")  # what was captured before the cut is kept
    assert 1 <= len(r.flows) <= 4
    gz = tmp_path / "t.pcap.gz"
    gz.write_bytes(gzip.compress(data))
    assert cli("run", "--input", str(gz), "-f", "pcap", "-o", str(tmp_path / "o"), "-q") == 2
    assert cli("run", "--input", str(text), "-f", "pcap", "-o", str(tmp_path / "o"), "-q") == 2


def test_pcap_pipeline_finds_scanner(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    convs = []
    clients = [f"10.0.1.{i}" for i in range(10, 22)]
    for i in range(360):  # an hour of web and DNS traffic
        c = clients[i % len(clients)]
        t = T0 + i * 10 + float(rng.uniform(0, 5))
        convs.append(
            samples.Conv(
                t,
                c,
                "10.0.0.80",
                30000 + i,
                80,
                up=(int(rng.integers(80, 400)),),
                down=(1400, int(rng.integers(100, 1400))),
            )
        )
        convs.append(
            samples.Conv(
                t + 0.5,
                c,
                "10.0.0.53",
                20000 + i,
                53,
                proto="UDP",
                up=(int(rng.integers(30, 60)),),
                down=(int(rng.integers(60, 200)),),
            )
        )
    for j, port in enumerate(range(1, 121)):  # a vertical scan of 120 ports
        convs.append(
            samples.Conv(
                T0 + 1800 + j * 0.05,
                "10.0.9.9",
                "10.0.0.80",
                60000 + j,
                port,
                kind="refused" if port % 3 else "unanswered",
            )
        )
    path = tmp_path / "capture.pcap"
    samples.write_pcap(convs, path)
    result = run(path, output=tmp_path / "run", quiet=True)
    assert len(result.flows) == len(convs)
    scan = [a for a in result.analyses if "10.0.9.9" in a.entities.sources]
    assert scan and scan[0].category.value == "port_scan"
    assert (tmp_path / "run" / "report.html").exists()
