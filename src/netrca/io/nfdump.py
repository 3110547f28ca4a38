"""Reader for nfdump CSV (``nfdump -o csv``), classic and named-column dialects.

* **classic** (nfdump 1.6): ``ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,…``
  followed by a ``Summary`` block, which is skipped (and counted).
* **named** (nfdump 1.7 ``-o csv`` / ``csv:%fmt``): ``firstSeen,lastSeen,duration,proto,
  srcAddr,srcPort,dstAddr,dstPort,…`` with ``inBytes``/``bytes``, ``outBytes``,
  ``inPackets``/``packets``, ``outPackets``, ``flags``; ``firstSeen`` is either a date
  (``2024-03-04 10:00:00.123``) or epoch milliseconds.

Input bytes/packets (``ibyt``, ``inBytes``) are ``bytes_sent``, output ones
``bytes_received``. nfdump prints local time without a zone; it is read as UTC. A TCP
flow with a SYN and no ACK flag is FAILED/TIMEOUT (an unanswered attempt); one with a
RST and no SYN is FAILED/RESET. The raw flags stay in ``tcp_flags``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.io._flowmeta import finish, read_table, transport_names
from netrca.io._source import read_source
from netrca.io._text import split_lines
from netrca.io.canonical import LimitedReader, ReadResult

__all__ = ["CLASSIC_HEADER", "NfdumpCsvReader", "looks_like_nfdump"]

#: Header of ``nfdump -o csv`` (1.6).
CLASSIC_HEADER = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,"
    "nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,"
    "mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)
_CLASSIC = {
    "ts": "timestamp",
    "te": "end_time",
    "td": "duration",
    "sa": "source_ip",
    "da": "destination_ip",
    "sp": "source_port",
    "dp": "destination_port",
    "pr": "protocol",
    "flg": "tcp_flags",
    "ipkt": "packets_sent",
    "ibyt": "bytes_sent",
    "opkt": "packets_received",
    "obyt": "bytes_received",
}
_NAMED = {
    "firstSeen": "timestamp",
    "lastSeen": "end_time",
    "duration": "duration",
    "srcAddr": "source_ip",
    "dstAddr": "destination_ip",
    "srcPort": "source_port",
    "dstPort": "destination_port",
    "proto": "protocol",
    "flags": "tcp_flags",
    "inPackets": "packets_sent",
    "packets": "packets_sent",
    "inBytes": "bytes_sent",
    "bytes": "bytes_sent",
    "outPackets": "packets_received",
    "outBytes": "bytes_received",
}


def looks_like_nfdump(header: str) -> bool:
    """True for a classic ``ts,te,td,sa,da`` header or a named one with address fields.

    Columns are matched by name, so a header in another order is still recognised.
    """
    names = {n.strip() for n in header.split(",")}
    return {"ts", "sa", "da"} <= names or {"firstSeen", "srcAddr", "dstAddr"} <= names


def _summary_line(data: bytes) -> int | None:
    """0-based index of the ``Summary`` line that ends the flow rows, if any."""
    lines = split_lines(data)
    first = lines.first_byte()
    for i in np.flatnonzero(first == ord("S")):
        if lines.text(int(i), 20).strip() == "Summary":
            return int(i)
    return None


def _times(values: pd.Series) -> pd.Series:
    """Dates pass through; epoch milliseconds or ``sec.msec`` become ISO text."""
    text = values.astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    ms = num.where(num > 1e11)
    iso = pd.to_datetime(ms, unit="ms", utc=True, errors="coerce").dt.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    return iso.astype("string").fillna(text)


def _status(flags: pd.Series | None, proto: pd.Series) -> tuple[pd.Series, pd.Series]:
    n = len(proto)
    status = np.full(n, "SUCCESS", dtype=object)
    error = np.full(n, "NONE", dtype=object)
    if flags is not None:
        f = flags.astype("string").fillna("")
        tcp = (proto == "TCP").fillna(False).to_numpy(dtype=bool)
        syn = f.str.contains("S", regex=False).to_numpy(dtype=bool, na_value=False)
        ack = f.str.contains("A", regex=False).to_numpy(dtype=bool, na_value=False)
        rst = f.str.contains("R", regex=False).to_numpy(dtype=bool, na_value=False)
        unanswered = tcp & syn & ~ack
        reset = tcp & rst & ~syn
        status[unanswered | reset] = "FAILED"
        error[unanswered] = "TIMEOUT"
        error[reset] = "RESET"
    return pd.Series(status, index=proto.index), pd.Series(error, index=proto.index)


class NfdumpCsvReader(LimitedReader):
    """Read ``nfdump -o csv`` output (classic or named columns)."""

    fmt = "nfdump"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        data = read_source(path, max_bytes=self.max_bytes)
        stop = _summary_line(data) if data.strip() else None
        table = read_table(
            path,
            what="nfdump CSV",
            max_bytes=self.max_bytes,
            max_line_bytes=self.max_line_bytes,
            stop_line=stop,
        )
        header = ",".join(table.names)
        if not looks_like_nfdump(header):
            raise InputError(
                f"{table.source}: line {table.header_line}: not an nfdump CSV header "
                f"(expected 'ts,te,td,sa,da,…' or named columns with firstSeen, srcAddr, "
                f"dstAddr); found: {header[:120]}"
            )
        mapping = _CLASSIC if {"ts", "sa", "da"} <= set(table.names) else _NAMED
        frame = table.parsed.frame
        present = {k: v for k, v in mapping.items() if k in frame.columns}
        taken: set[str] = set()
        rename = {}
        for k, v in present.items():  # 'inBytes' wins over 'bytes' when both exist
            if v not in taken:
                rename[k] = v
                taken.add(v)
        extras = [c for c in frame.columns if c not in present]
        out = frame[list(rename)].rename(columns=rename)
        for c in extras:
            out[c] = frame[c]
        out["timestamp"] = _times(out["timestamp"]) if "timestamp" in out else pd.NA
        if "end_time" in out:
            out["end_time"] = _times(out["end_time"])
        proto = (
            transport_names(out["protocol"])
            if "protocol" in out
            else pd.Series(pd.NA, index=out.index, dtype="string")
        )
        out["protocol"] = proto
        if "duration" not in out and "end_time" in out:
            s = pd.to_datetime(out["timestamp"], format="ISO8601", utc=True, errors="coerce")
            e = pd.to_datetime(out["end_time"], format="ISO8601", utc=True, errors="coerce")
            out["duration"] = (e - s).dt.total_seconds()
        icmp = proto.isin(["ICMP", "ICMP6"]).fillna(False).to_numpy(dtype=bool)
        if "destination_port" in out and icmp.any():  # type.code in the port column
            out["icmp_type_code"] = out["destination_port"].where(icmp)
            out.loc[icmp, "destination_port"] = pd.NA
        out["status"], out["error_code"] = _status(out.get("tcp_flags"), proto)
        result = finish(
            table,
            out,
            table.parsed.line_numbers,
            table.lines,
            self.fmt,
            table.parsed.rejected,
            header_line=table.header_line,
        )
        if stop is not None:
            result.skipped = {"summary lines": len(table.lines) - stop}
        return result
