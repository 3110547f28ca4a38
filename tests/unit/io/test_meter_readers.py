"""Suricata EVE, nfdump and CICFlowMeter readers: round trips, bad input, detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.errors import InputError
from netrca.io import read_flows, sniff_format
from netrca.io.cicflowmeter import normalise_cic_name
from netrca.pipeline import run
from tests import samples
from tests.conftest import cli


def _truth_ts(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["timestamp"], format="ISO8601", utc=True).reset_index(drop=True)


def _same(a: pd.Series, b: pd.Series) -> None:
    assert (
        a.reset_index(drop=True).astype("int64").tolist()
        == b.reset_index(drop=True).astype("int64").tolist()
    )


def _port_scan_found(frame: pd.DataFrame, path: Path) -> dict:
    """The pipeline runs on the sample and puts every true scanner in a port_scan incident."""
    result = run(path, write=False, quiet=True)
    assert len(result.analyses) > 0
    scanners = set(frame.loc[frame["root_cause"] == "port_scan", "source_ip"])
    found = {
        s for a in result.analyses if a.category.value == "port_scan" for s in a.entities.sources
    }
    assert scanners and scanners <= found
    return result.summary["run"]


# -- Suricata EVE ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def eve(tmp_path_factory: pytest.TempPathFactory, sim_frame: pd.DataFrame) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("eve") / "eve.json"
    counts = samples.write_eve(sim_frame, path)
    return path, counts


def test_eve_round_trip(eve: tuple[Path, dict], sim_frame: pd.DataFrame) -> None:
    path, counts = eve
    assert sniff_format(path) == "suricata"
    r = read_flows(path)
    f = sim_frame.reset_index(drop=True)
    assert len(r.flows) == len(f) and len(r.rejects) == 0
    assert r.skipped == {f"event_type={k}": v for k, v in counts.items() if v}
    out = r.flows
    assert out["source_ip"].tolist() == f["source_ip"].tolist()
    assert out["destination_ip"].tolist() == f["destination_ip"].tolist()
    for a, b in (
        ("source_port", "source_port"),
        ("destination_port", "destination_port"),
        ("bytes_sent", "bytes_sent"),
        ("bytes_received", "bytes_received"),
        ("packets_sent", "packets_sent"),
        ("packets_received", "packets_received"),
    ):
        _same(out[a], f[b])
    assert (out["timestamp"] == _truth_ts(f)).all()
    assert np.allclose(out["duration"].to_numpy(), f["duration"].fillna(0).to_numpy(), atol=1e-6)
    # app_proto names come back as netrca's protocol names (tls on 443 = HTTPS)
    answered = (f["packets_received"] > 0) & (f["error_code"] != "CONNECTION_REFUSED")
    known = f["protocol"].isin(["HTTP", "SSH", "DNS", "SMTP", "FTP", "MYSQL", "RDP", "SMB", "LDAP"])
    assert (out.loc[answered & known, "protocol"] == f.loc[answered & known, "protocol"]).all()
    https = answered & (f["protocol"] == "HTTPS") & f["destination_port"].isin([443, 8443])
    assert (out.loc[https, "protocol"] == "HTTPS").all() and https.any()
    # statuses from the flow counters and TCP flags
    assert (out.loc[f["packets_received"] == 0, "error_code"] == "TIMEOUT").all()
    tcp = samples.transport(f["protocol"]) == "TCP"
    refused = (f["error_code"] == "CONNECTION_REFUSED") & (f["packets_received"] > 0) & tcp
    assert refused.any() and (out.loc[refused, "error_code"] == "CONNECTION_REFUSED").all()
    assert {"suricata_flow_id", "flow.state", "tcp.tcp_flags", "event_timestamp"} <= set(out)


def test_eve_bad_input(tmp_path: Path) -> None:
    good = {
        "timestamp": "2024-03-04T10:00:00.000000+0000",
        "event_type": "flow",
        "src_ip": "10.0.0.1",
        "src_port": 5000,
        "dest_ip": "10.0.0.2",
        "dest_port": 80,
        "proto": "TCP",
        "app_proto": "http",
        "flow": {
            "pkts_toserver": 3,
            "pkts_toclient": 2,
            "bytes_toserver": 300,
            "bytes_toclient": 900,
            "start": "2024-03-04T10:00:00.000000+0000",
            "end": "2024-03-04T10:00:01.000000+0000",
        },
    }
    bad_ip = dict(good, src_ip="10.0.0.999")
    neg = dict(good, flow=dict(good["flow"], bytes_toserver=-5))
    path = tmp_path / "eve.json"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps(bad_ip),
                "[1, 2]",
                json.dumps(neg),
                json.dumps({"event_type": "alert"}),
                json.dumps(good),
            ]
        )
        + "\n"
    )
    r = read_flows(path)
    assert len(r.flows) == 2
    reasons = dict(zip(r.rejects["line"], r.rejects["reason"], strict=True))
    assert set(reasons) == {2, 3, 4, 5}
    assert "invalid JSON" in reasons[2] and "source_ip" in reasons[3]
    assert "not an object" in reasons[4] and "bytes_sent" in reasons[5]
    assert r.skipped == {"event_type=alert": 1}
    only_alerts = tmp_path / "alerts.json"
    only_alerts.write_text(json.dumps({"event_type": "alert"}) + "\n")
    with pytest.raises(InputError, match=r"no flow events.*alert: 1"):
        read_flows(only_alerts, "suricata")
    assert (
        cli(
            "run",
            "--input",
            str(only_alerts),
            "--format",
            "suricata",
            "-o",
            str(tmp_path / "o"),
            "-q",
        )
        == 2
    )


def test_eve_pipeline(eve: tuple[Path, dict], sim_frame: pd.DataFrame) -> None:
    meta = _port_scan_found(sim_frame, eve[0])
    assert meta["format"] == "suricata"
    assert sum(meta["rows_skipped"].values()) == sum(eve[1].values())


# -- nfdump ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", ["classic", "named", "fast"])
def test_nfdump_round_trip(dialect: str, tmp_path: Path, sim_frame: pd.DataFrame) -> None:
    f = sim_frame.reset_index(drop=True)
    path = tmp_path / "nf.csv"
    if dialect == "classic":
        samples.write_nfdump_classic(f, path)
    else:
        samples.write_nfdump_named(f, path, fast=dialect == "fast")
    assert sniff_format(path) == "nfdump"
    r = read_flows(path)
    out = r.flows
    assert len(out) == len(f) and len(r.rejects) == 0
    if dialect == "classic":
        assert r.skipped == {"summary lines": 3}
    assert out["source_ip"].tolist() == f["source_ip"].tolist()
    _same(out["destination_port"], f["destination_port"])
    _same(out["bytes_sent"], f["bytes_sent"])
    _same(out["packets_sent"], f["packets_sent"])
    if dialect != "fast":  # the fast layout has no output counters
        _same(out["bytes_received"], f["bytes_received"])
        assert np.allclose(out["duration"], f["duration"].fillna(0), atol=6e-4)
    truth_ms = _truth_ts(f).dt.floor("ms")
    assert (out["timestamp"] == truth_ms).all()
    assert out["protocol"].tolist() == samples.transport(f["protocol"]).tolist()
    syn_only = (samples.transport(f["protocol"]) == "TCP") & (
        (f["packets_received"] == 0) | (f["error_code"] == "CONNECTION_REFUSED")
    )
    assert (out.loc[syn_only, "status"] == "FAILED").all()
    assert (out.loc[~syn_only, "status"] == "SUCCESS").all()


def test_nfdump_bad_input(tmp_path: Path) -> None:
    header = "firstSeen,lastSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,inPackets,inBytes"
    rows = [
        "2024-03-04 10:00:00.000,2024-03-04 10:00:01.000,1.000,TCP,10.0.0.1,5000,10.0.0.2,80,3,300",
        "2024-03-04 10:00:02.000,2024-03-04 10:00:03.000,1.000,TCP,10.0.0.1,5001,10.0.0.2",
        "2024-03-04 10:00:04.000,2024-03-04 10:00:05.000,1.000,TCP,10.0.0.1,99999,10.0.0.2,80,3,300",
        "yesterday,2024-03-04 10:00:05.000,1.000,UDP,10.0.0.1,5002,10.0.0.2,53,1,40",
        "2024-03-04 10:00:06.000,2024-03-04 10:00:07.000,1.000,ICMP,10.0.0.1,0,10.0.0.2,8.0,1,84",
    ]
    path = tmp_path / "nf.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    r = read_flows(path, "nfdump")
    assert len(r.flows) == 2
    reasons = dict(zip(r.rejects["line"], r.rejects["reason"], strict=True))
    assert set(reasons) == {3, 4, 5}
    assert "expected 10 fields, found 7" in reasons[3]
    assert "source_port" in reasons[4] and "timestamp" in reasons[5]
    icmp = r.flows[r.flows["protocol"] == "ICMP"].iloc[0]
    assert pd.isna(icmp["destination_port"]) and icmp["icmp_type_code"] == "8.0"
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="line 1: not an nfdump CSV header"):
        read_flows(other, "nfdump")
    assert cli("run", "--input", str(other), "-f", "nfdump", "-o", str(tmp_path / "o"), "-q") == 2


def test_nfdump_pipeline(tmp_path: Path, sim_frame: pd.DataFrame) -> None:
    path = tmp_path / "nf.csv"
    samples.write_nfdump_classic(sim_frame, path)
    _port_scan_found(sim_frame, path)


# -- CICFlowMeter ---------------------------------------------------------------------------
def test_cic_names_normalised() -> None:
    assert normalise_cic_name(" Total Length of Fwd Packets") == "total_length_of_fwd_packets"
    assert normalise_cic_name("Flow Bytes/s") == "flow_bytes_s"
    assert normalise_cic_name("tot_fwd_pkts") == "tot_fwd_pkts"


@pytest.mark.parametrize("dialect", ["java", "python"])
def test_cic_round_trip(dialect: str, tmp_path: Path, sim_frame: pd.DataFrame) -> None:
    f = sim_frame.reset_index(drop=True)
    path = tmp_path / "cic.csv"
    samples.write_cic(f, path, dialect=dialect)
    assert sniff_format(path) == "cicflowmeter"
    r = read_flows(path)
    out = r.flows
    assert len(out) == len(f) and len(r.rejects) == 0
    assert out["destination_ip"].tolist() == f["destination_ip"].tolist()
    for c in ("source_port", "bytes_sent", "bytes_received", "packets_sent", "packets_received"):
        _same(out[c], f[c])
    assert (out["timestamp"] == _truth_ts(f).dt.floor("s")).all()
    assert np.allclose(out["duration"], f["duration"].fillna(0), atol=1e-6)
    assert out["protocol"].tolist() == samples.transport(f["protocol"]).tolist()
    assert (out.loc[f["packets_received"] == 0, "status"] == "FAILED").all()
    if dialect == "java":
        assert (out["label"] == f["root_cause"].map(samples.CIC_LABELS)).all()
        assert {"cic_flow_id", "fwd_header_length", "fwd_header_length_2"} <= set(out)


def test_cic_bad_input(tmp_path: Path) -> None:
    head = (
        "Src IP,Dst IP,Src Port,Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,"
        "Tot Bwd Pkts,TotLen Fwd Pkts,TotLen Bwd Pkts,Label"
    )
    rows = [
        "10.0.0.1,10.0.0.2,5000,80,6,03/07/2017 08:55:58 AM,1000000,3,2,300,900,BENIGN",
        "10.0.0.1,10.0.0.2,5000,80,6,03/07/2017 08:55:58 AM,-1,3,2,300,900,BENIGN",
        "10.0.0.1,10.0.0.2,5000,80,6,not-a-date,1000,3,2,300,900,BENIGN",
        "10.0.0.1,10.0.0.2,5000,80,6,03/07/2017 08:56:58 AM,1000,3,2",
        "10.0.0.1,10.0.0.2,5000,80,6,2017-07-03 09:00:00,1000,3,2,300,900,DoS Hulk",
    ]
    path = tmp_path / "cic.csv"
    path.write_text("\n".join([head, *rows]) + "\n")
    r = read_flows(path)
    assert len(r.flows) == 2
    reasons = dict(zip(r.rejects["line"], r.rejects["reason"], strict=True))
    assert set(reasons) == {3, 4, 5}
    assert "duration" in reasons[3] and "negative" in reasons[3]
    assert "timestamp" in reasons[4] and "expected 12 fields" in reasons[5]
    assert r.flows["timestamp"].iloc[0] == pd.Timestamp("2017-07-03 08:55:58", tz="UTC")
    assert r.flows["duration"].iloc[0] == 1.0
    notcic = tmp_path / "x.csv"
    notcic.write_text("Src IP,Dst IP\n1.1.1.1,2.2.2.2\n")
    with pytest.raises(InputError, match="not a CICFlowMeter header"):
        read_flows(notcic, "cicflowmeter")


def test_cic_colliding_column_names_keep_every_column(tmp_path: Path) -> None:
    """Found by atheris: "x", "X", "x_2" normalise to x, x, x_2; the repeat must not take
    the name of the third column (two columns of one name crashed the reader)."""
    head = "Src IP,Dst IP,Timestamp,Flow Duration,Tot Fwd Pkts,Tot Bwd Pkts,x,X,x_2,flow_id,Flow ID"
    row = "10.0.0.1,10.0.0.2,2017-07-03 09:00:00,1000,3,2,a,b,c,f1,f2"
    path = tmp_path / "cic.csv"
    path.write_text(f"{head}\n{row}\n")
    r = read_flows(path, "cicflowmeter")
    assert len(r.flows) == 1 and len(r.rejects) == 0
    got = r.flows.iloc[0]
    assert (got["x"], got["x_3"], got["x_2"]) == ("a", "b", "c")
    assert (got["cic_flow_id"], got["flow_id_2"]) == ("f1", "f2")


def test_cic_pipeline_with_labels(tmp_path: Path, sim_frame: pd.DataFrame) -> None:
    path = tmp_path / "cic.csv"
    samples.write_cic(sim_frame, path)
    _port_scan_found(sim_frame, path)
    out = tmp_path / "run"
    assert cli("run", "--input", str(path), "-o", str(out), "-q") == 0
    ev = json.loads((out / "evaluation.json").read_text())  # BENIGN vs attack labels
    assert ev["n_anomalous_truth"] == int((sim_frame["root_cause"] != "normal").sum())
