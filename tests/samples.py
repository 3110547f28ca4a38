"""Sample files in the formats netrca reads, written from canonical flows by the tests.

Each writer lays a canonical frame (e.g. simulated traffic) out the way the real tool
does: Suricata EVE JSON lines, nfdump CSV (classic and named dialects), CICFlowMeter CSV
(Java/CIC-IDS and Python dialects) and pcap files built packet by packet.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

APP_TRANSPORT = {
    "HTTP": "TCP",
    "HTTPS": "TCP",
    "SSH": "TCP",
    "FTP": "TCP",
    "SMTP": "TCP",
    "MYSQL": "TCP",
    "RDP": "TCP",
    "SMB": "TCP",
    "LDAP": "TCP",
    "DNS": "UDP",
    "NTP": "UDP",
    "TCP": "TCP",
    "UDP": "UDP",
}
EVE_APP = {
    "HTTP": "http",
    "HTTPS": "tls",
    "SSH": "ssh",
    "FTP": "ftp",
    "SMTP": "smtp",
    "MYSQL": "mysql",
    "RDP": "rdp",
    "SMB": "smb",
    "LDAP": "ldap",
    "DNS": "dns",
    "NTP": "ntp",
}
IANA = {"TCP": 6, "UDP": 17, "ICMP": 1}


def transport(protocol: pd.Series) -> pd.Series:
    """Transport protocol of each canonical protocol name."""
    return protocol.map(APP_TRANSPORT).fillna("TCP")


def _ts(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["timestamp"], format="ISO8601", utc=True)


def write_eve(frame: pd.DataFrame, path: Path, *, other_events: bool = True) -> dict[str, int]:
    """Suricata eve.json with one flow event per row, plus interleaved non-flow events.

    Returns how many events of each other type were written.
    """
    ts = _ts(frame)
    start = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    end = (ts + pd.to_timedelta(frame["duration"].fillna(0), unit="s")).dt.strftime(
        "%Y-%m-%dT%H:%M:%S.%f+0000"
    )
    tr = transport(frame["protocol"])
    counts = {"alert": 0, "dns": 0, "stats": 0}
    lines = []
    for i, r in enumerate(frame.itertuples(index=False)):
        refused = r.error_code == "CONNECTION_REFUSED"
        ev = {
            "timestamp": end.iloc[i],
            "flow_id": 1_000_000 + i,
            "in_iface": "eth0",
            "event_type": "flow",
            "src_ip": r.source_ip,
            "src_port": int(r.source_port),
            "dest_ip": r.destination_ip,
            "dest_port": int(r.destination_port),
            "proto": tr.iloc[i],
            "flow": {
                "pkts_toserver": int(r.packets_sent),
                "pkts_toclient": int(r.packets_received),
                "bytes_toserver": int(r.bytes_sent),
                "bytes_toclient": int(r.bytes_received),
                "start": start.iloc[i],
                "end": end.iloc[i],
                "age": int(r.duration or 0),
                "state": "new" if r.packets_received == 0 else "closed",
                "reason": "timeout",
                "alerted": False,
            },
        }
        app = EVE_APP.get(r.protocol)
        if app and r.packets_received > 0 and not refused:
            ev["app_proto"] = app
        elif tr.iloc[i] == "TCP":
            ev["app_proto"] = "failed"
        if tr.iloc[i] == "TCP":
            ev["tcp"] = {
                "tcp_flags": "1f" if not refused else "16",
                "tcp_flags_ts": "1b" if not refused else "02",
                "tcp_flags_tc": "14" if refused else ("1b" if r.packets_received else "00"),
                "syn": True,
                "fin": not refused,
                "rst": bool(refused),
                "ack": True,
                "state": "closed",
            }
        lines.append(ev)
        if other_events and i % 50 == 7:
            kind = ("alert", "dns", "stats")[(i // 50) % 3]
            counts[kind] += 1
            lines.append({"timestamp": end.iloc[i], "event_type": kind, kind: {"n": i}})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return counts


CLASSIC = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,"
    "nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,"
    "mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)


def _flags(frame: pd.DataFrame) -> pd.Series:
    tr = transport(frame["protocol"])
    flg = np.where(frame["packets_received"] == 0, "....S.", ".AP.SF")
    flg = np.where(frame["error_code"] == "CONNECTION_REFUSED", "....S.", flg)
    return pd.Series(np.where(tr == "TCP", flg, "......"), index=frame.index)


def write_nfdump_classic(frame: pd.DataFrame, path: Path) -> None:
    """``nfdump -o csv`` (1.6): 48 columns, then the Summary block."""
    ts = _ts(frame)
    te = ts + pd.to_timedelta(frame["duration"].fillna(0), unit="s")
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    ts_s, te_s = ts.dt.strftime(fmt).str[:-3], te.dt.strftime(fmt).str[:-3]
    tr = transport(frame["protocol"])
    flg = _flags(frame)
    rows = [CLASSIC]
    for i, r in enumerate(frame.itertuples(index=False)):
        rows.append(
            ",".join(
                [
                    ts_s.iloc[i],
                    te_s.iloc[i],
                    f"{(r.duration or 0):.3f}",
                    r.source_ip,
                    r.destination_ip,
                    str(r.source_port),
                    str(r.destination_port),
                    tr.iloc[i],
                    flg.iloc[i],
                    "0",
                    "0",
                    str(r.packets_sent),
                    str(r.bytes_sent),
                    str(r.packets_received),
                    str(r.bytes_received),
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0.0.0.0",
                    "0.0.0.0",
                    "0",
                    "0",
                    "00:00:00:00:00:00",
                    "00:00:00:00:00:00",
                    "00:00:00:00:00:00",
                    "00:00:00:00:00:00",
                    *(["0-0-0"] * 10),
                    "0.000",
                    "0.000",
                    "0.000",
                    "127.0.0.1",
                    "0/0",
                    "1",
                    ts_s.iloc[i],
                ]
            )
        )
    total_b = int(frame["bytes_sent"].sum())
    total_p = int(frame["packets_sent"].sum())
    rows += [
        "Summary",
        "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
        f"{len(frame)},{total_b},{total_p},0,0,0",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


NAMED = (
    "firstSeen,lastSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,inPackets,"
    "inBytes,outPackets,outBytes,flags"
)
FAST = (
    "cnt,af,firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,srcAS,dstAS,input,"
    "output,flags,srcTos,packets,bytes"
)


def write_nfdump_named(frame: pd.DataFrame, path: Path, *, fast: bool = False) -> None:
    """nfdump 1.7 named-column CSV: a ``csv:%fmt`` layout, or the fast layout (epoch ms)."""
    ts = _ts(frame)
    te = ts + pd.to_timedelta(frame["duration"].fillna(0), unit="s")
    tr = transport(frame["protocol"])
    flg = _flags(frame)
    rows = [FAST if fast else NAMED]
    if fast:
        epoch = pd.Timestamp(0, tz="UTC")
        ms0 = ((ts - epoch) // pd.Timedelta(milliseconds=1)).astype(str)
        ms1 = ((te - epoch) // pd.Timedelta(milliseconds=1)).astype(str)
        for i, r in enumerate(frame.itertuples(index=False)):
            rows.append(
                ",".join(
                    [
                        str(i + 1),
                        "2",
                        ms0.iloc[i],
                        ms1.iloc[i],
                        str(IANA[tr.iloc[i]]),
                        r.source_ip,
                        str(r.source_port),
                        r.destination_ip,
                        str(r.destination_port),
                        "0",
                        "0",
                        "0",
                        "0",
                        flg.iloc[i],
                        "0",
                        str(r.packets_sent),
                        str(r.bytes_sent),
                    ]
                )
            )
    else:
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        a, b = ts.dt.strftime(fmt).str[:-3], te.dt.strftime(fmt).str[:-3]
        for i, r in enumerate(frame.itertuples(index=False)):
            rows.append(
                ",".join(
                    [
                        a.iloc[i],
                        b.iloc[i],
                        f"{(r.duration or 0):.3f}",
                        tr.iloc[i],
                        r.source_ip,
                        str(r.source_port),
                        r.destination_ip,
                        str(r.destination_port),
                        str(r.packets_sent),
                        str(r.bytes_sent),
                        str(r.packets_received),
                        str(r.bytes_received),
                        flg.iloc[i],
                    ]
                )
            )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


#: The CIC-IDS2017 "GeneratedLabelledFlows" header (leading spaces and the repeated
#: " Fwd Header Length" as in the published files).
CIC_JAVA_HEADER = [
    "Flow ID",
    " Source IP",
    " Source Port",
    " Destination IP",
    " Destination Port",
    " Protocol",
    " Timestamp",
    " Flow Duration",
    " Total Fwd Packets",
    " Total Backward Packets",
    "Total Length of Fwd Packets",
    " Total Length of Bwd Packets",
    " Fwd Packet Length Max",
    " Fwd Packet Length Min",
    " Fwd Packet Length Mean",
    " Fwd Packet Length Std",
    "Bwd Packet Length Max",
    " Bwd Packet Length Min",
    " Bwd Packet Length Mean",
    " Bwd Packet Length Std",
    "Flow Bytes/s",
    " Flow Packets/s",
    " Flow IAT Mean",
    " Flow IAT Std",
    " Flow IAT Max",
    " Flow IAT Min",
    "Fwd IAT Total",
    " Fwd IAT Mean",
    " Fwd IAT Std",
    " Fwd IAT Max",
    " Fwd IAT Min",
    "Bwd IAT Total",
    " Bwd IAT Mean",
    " Bwd IAT Std",
    " Bwd IAT Max",
    " Bwd IAT Min",
    "Fwd PSH Flags",
    " Bwd PSH Flags",
    " Fwd URG Flags",
    " Bwd URG Flags",
    " Fwd Header Length",
    " Bwd Header Length",
    "Fwd Packets/s",
    " Bwd Packets/s",
    " Min Packet Length",
    " Max Packet Length",
    " Packet Length Mean",
    " Packet Length Std",
    " Packet Length Variance",
    "FIN Flag Count",
    " SYN Flag Count",
    " RST Flag Count",
    " PSH Flag Count",
    " ACK Flag Count",
    " URG Flag Count",
    " CWE Flag Count",
    " ECE Flag Count",
    " Down/Up Ratio",
    " Average Packet Size",
    " Avg Fwd Segment Size",
    " Avg Bwd Segment Size",
    " Fwd Header Length",
    "Fwd Avg Bytes/Bulk",
    " Fwd Avg Packets/Bulk",
    " Fwd Avg Bulk Rate",
    " Bwd Avg Bytes/Bulk",
    " Bwd Avg Packets/Bulk",
    "Bwd Avg Bulk Rate",
    "Subflow Fwd Packets",
    " Subflow Fwd Bytes",
    " Subflow Bwd Packets",
    " Subflow Bwd Bytes",
    "Init_Win_bytes_forward",
    " Init_Win_bytes_backward",
    " act_data_pkt_fwd",
    " min_seg_size_forward",
    "Active Mean",
    " Active Std",
    " Active Max",
    " Active Min",
    "Idle Mean",
    " Idle Std",
    " Idle Max",
    " Idle Min",
    " Label",
]
CIC_PY_HEADER = [
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "timestamp",
    "flow_duration",
    "flow_byts_s",
    "flow_pkts_s",
    "fwd_pkts_s",
    "bwd_pkts_s",
    "tot_fwd_pkts",
    "tot_bwd_pkts",
    "totlen_fwd_pkts",
    "totlen_bwd_pkts",
    "fwd_pkt_len_max",
    "fwd_pkt_len_min",
    "fin_flag_cnt",
    "syn_flag_cnt",
    "rst_flag_cnt",
    "down_up_ratio",
    "init_fwd_win_byts",
]
CIC_LABELS = {
    "normal": "BENIGN",
    "port_scan": "PortScan",
    "dos_flood": "DoS Hulk",
    "brute_force": "FTP-Patator",
    "data_exfiltration": "Infiltration",
    "c2_beaconing": "Bot",
    "service_outage": "Outage",
    "network_congestion": "Congestion",
    "protocol_violation": "Heartbleed",
}


def write_cic(frame: pd.DataFrame, path: Path, *, dialect: str = "java") -> None:
    """CICFlowMeter CSV: ``java`` (CIC-IDS2017 header, day-first AM/PM timestamps,
    seconds precision) or ``python`` (cicflowmeter's snake_case header, ISO times)."""
    ts = _ts(frame)
    tr = transport(frame["protocol"])
    dur_us = (frame["duration"].fillna(0) * 1e6).round().astype("int64")
    if dialect == "java":
        header = CIC_JAVA_HEADER
        stamp = ts.dt.strftime("%d/%m/%Y %I:%M:%S %p")
    else:
        header = CIC_PY_HEADER
        stamp = ts.dt.strftime("%Y-%m-%d %H:%M:%S")
    rows = [",".join(header)]
    for i, r in enumerate(frame.itertuples(index=False)):
        base = {
            "flow_id": f"{r.source_ip}-{r.destination_ip}-{r.source_port}-{r.destination_port}-"
            f"{IANA[tr.iloc[i]]}",
            "source_ip": r.source_ip,
            "src_ip": r.source_ip,
            "source_port": str(r.source_port),
            "src_port": str(r.source_port),
            "destination_ip": r.destination_ip,
            "dst_ip": r.destination_ip,
            "destination_port": str(r.destination_port),
            "dst_port": str(r.destination_port),
            "protocol": str(IANA[tr.iloc[i]]),
            "timestamp": stamp.iloc[i],
            "flow_duration": str(dur_us.iloc[i]),
            "total_fwd_packets": str(r.packets_sent),
            "tot_fwd_pkts": str(r.packets_sent),
            "total_backward_packets": str(r.packets_received),
            "tot_bwd_pkts": str(r.packets_received),
            "total_length_of_fwd_packets": str(r.bytes_sent),
            "totlen_fwd_pkts": str(r.bytes_sent),
            "total_length_of_bwd_packets": str(r.bytes_received),
            "totlen_bwd_pkts": str(r.bytes_received),
            "flow_bytes_s": "Infinity" if dur_us.iloc[i] == 0 else "1.5",
            "label": CIC_LABELS.get(r.root_cause, "Other"),
        }
        cells = []
        for name in header:
            key = "".join(ch if ch.isalnum() else "_" for ch in name.strip().lower()).strip("_")
            while "__" in key:
                key = key.replace("__", "_")
            cells.append(base.get(key, "0"))
        rows.append(",".join(cells))
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")


# -- pcap ---------------------------------------------------------------------------------
@dataclass
class Conv:
    """One conversation to put on the wire."""

    t: float
    client: str
    server: str
    sport: int
    dport: int
    proto: str = "TCP"  # TCP or UDP
    kind: str = "ok"  # ok | refused | unanswered (TCP); ok | unanswered (UDP)
    up: tuple[int, ...] = (120,)  # client payload sizes
    down: tuple[int, ...] = (900,)  # server payload sizes


def _ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def _packet(
    src: str, dst: str, sport: int, dport: int, proto: str, flags: int, payload: int
) -> bytes:
    if proto == "TCP":
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0)
        pnum = 6
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + payload, 0)
        pnum = 17
    body = l4 + b"\x00" * payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000, 64, pnum, 0, _ip(src), _ip(dst)
    )
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + body


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04


def conversation_packets(c: Conv) -> list[tuple[float, bytes]]:
    """The packets of one conversation with their times (client → server first)."""
    out: list[tuple[float, bytes]] = []
    t = c.t
    fwd = (c.client, c.server, c.sport, c.dport, c.proto)
    rev = (c.server, c.client, c.dport, c.sport, c.proto)
    if c.proto == "UDP":
        for size in c.up:
            out.append((t, _packet(*fwd, 0, size)))
            t += 0.001
        if c.kind != "unanswered":
            for size in c.down:
                out.append((t, _packet(*rev, 0, size)))
                t += 0.001
        return out
    out.append((t, _packet(*fwd, SYN, 0)))
    if c.kind == "unanswered":
        return out
    if c.kind == "refused":
        out.append((t + 0.0005, _packet(*rev, RST | ACK, 0)))
        return out
    out.append((t + 0.001, _packet(*rev, SYN | ACK, 0)))
    out.append((t + 0.002, _packet(*fwd, ACK, 0)))
    t += 0.003
    for size in c.up:
        out.append((t, _packet(*fwd, PSH | ACK, size)))
        t += 0.001
    for size in c.down:
        out.append((t, _packet(*rev, PSH | ACK, size)))
        t += 0.001
    out.append((t, _packet(*fwd, FIN | ACK, 0)))
    out.append((t + 0.001, _packet(*rev, FIN | ACK, 0)))
    out.append((t + 0.002, _packet(*fwd, ACK, 0)))
    return out


def write_pcap(convs: Iterable[Conv], path: Path) -> None:
    """A classic little-endian pcap (Ethernet link type) of the conversations, time-sorted."""
    packets = sorted((p for c in convs for p in conversation_packets(c)), key=lambda x: x[0])
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, data in packets:
            sec = int(t)
            usec = round((t - sec) * 1e6)
            fh.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            fh.write(data)


def ip_bytes(c: Conv) -> tuple[int, int, int, int]:
    """(packets up, IP bytes up, packets down, IP bytes down) of a conversation."""
    up = dn = pu = pd_ = 0
    for _, data in conversation_packets(c):
        ip_len = len(data) - 14
        if data[26:30] == _ip(c.client):
            up += ip_len
            pu += 1
        else:
            dn += ip_len
            pd_ += 1
    return pu, up, pd_, dn
