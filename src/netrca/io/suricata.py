"""Reader for Suricata EVE JSON: ``event_type: flow`` records become flows.

Other event types (alert, dns, http, stats…) are skipped and counted in
``ReadResult.skipped``. Mapping: ``src_ip``/``dest_ip``/``src_port``/``dest_port``;
``flow.bytes_toserver`` → ``bytes_sent``, ``flow.bytes_toclient`` → ``bytes_received``
(packets likewise); ``flow.start`` is the timestamp and ``flow.end - flow.start`` the
duration; ``app_proto`` (else ``proto``) the protocol. A flow the server never answered
(``pkts_toclient == 0``) is FAILED/TIMEOUT; a TCP flow whose server side sent RST but no
SYN is FAILED/CONNECTION_REFUSED; an established flow ended by RST is SUCCESS/RESET.
Every other field is kept, flattened with dots (``flow.state``, ``tcp.tcp_flags``…).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.io._flowmeta import app_or_transport, finish
from netrca.io._source import load_lines
from netrca.io._text import RejectedLine, json_objects
from netrca.io.canonical import LimitedReader, ReadResult

__all__ = ["SuricataEveReader", "looks_like_eve"]

_RENAME = {
    "src_ip": "source_ip",
    "dest_ip": "destination_ip",
    "src_port": "source_port",
    "dest_port": "destination_port",
    "flow.bytes_toserver": "bytes_sent",
    "flow.bytes_toclient": "bytes_received",
    "flow.pkts_toserver": "packets_sent",
    "flow.pkts_toclient": "packets_received",
}
#: EVE fields that would collide with canonical or output column names.
_KEEP_AS = {"timestamp": "event_timestamp", "flow_id": "suricata_flow_id", "proto": "proto"}


def looks_like_eve(line: bytes) -> bool:
    """True for a JSON line that carries Suricata's ``event_type`` key."""
    return line.startswith(b"{") and b'"event_type"' in line


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = ",".join(map(str, v))
        else:
            out[key] = v
    return out


def _flag(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.zeros(len(frame), dtype=bool)
    s = frame[col]
    return s.astype("string").str.lower().isin(["true", "1"]).to_numpy(dtype=bool, na_value=False)


def _hex_has(frame: pd.DataFrame, col: str, bit: int) -> np.ndarray:
    if col not in frame:
        return np.zeros(len(frame), dtype=bool)
    vals = (
        frame[col]
        .astype("string")
        .fillna("0")
        .map(lambda t: int(t, 16) if all(c in "0123456789abcdefABCDEF" for c in t) and t else 0)
    )
    return (vals.astype(np.int64).to_numpy() & bit) > 0


def _status(frame: pd.DataFrame, transport: pd.Series) -> tuple[pd.Series, pd.Series]:
    n = len(frame)
    status = np.full(n, "SUCCESS", dtype=object)
    error = np.full(n, "NONE", dtype=object)
    if "flow.pkts_toclient" in frame:
        to_client = pd.to_numeric(frame["flow.pkts_toclient"], errors="coerce").astype("float64")
        to_client = to_client.to_numpy()
        answered = to_client > 0
        unanswered = to_client == 0
    else:
        answered = np.ones(n, dtype=bool)
        unanswered = np.zeros(n, dtype=bool)
    tcp = (transport.astype("string").str.upper() == "TCP").to_numpy(dtype=bool, na_value=False)
    rst = _flag(frame, "tcp.rst")
    server_rst = _hex_has(frame, "tcp.tcp_flags_tc", 0x04)
    server_syn = _hex_has(frame, "tcp.tcp_flags_tc", 0x02)
    refused = tcp & answered & server_rst & ~server_syn
    reset = tcp & rst & ~refused & answered
    status[reset] = "SUCCESS"
    error[reset] = "RESET"
    status[refused] = "FAILED"
    error[refused] = "CONNECTION_REFUSED"
    status[unanswered] = "FAILED"
    error[unanswered] = "TIMEOUT"
    return pd.Series(status, index=frame.index), pd.Series(error, index=frame.index)


def _to_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.rename(columns={k: v for k, v in _KEEP_AS.items() if k != "proto"})
    start = frame.get("flow.start")
    ts = start if start is not None else frame.get("event_timestamp")
    out = frame.rename(columns=_RENAME)
    out["timestamp"] = ts
    if start is not None and "flow.end" in frame:
        s = pd.to_datetime(frame["flow.start"], format="ISO8601", utc=True, errors="coerce")
        e = pd.to_datetime(frame["flow.end"], format="ISO8601", utc=True, errors="coerce")
        out["duration"] = (e - s).dt.total_seconds().clip(lower=0)
    elif "flow.age" in frame:
        out["duration"] = pd.to_numeric(frame["flow.age"], errors="coerce")
    transport = frame.get("proto", pd.Series(pd.NA, index=frame.index, dtype="string"))
    out["protocol"] = app_or_transport(
        frame.get("app_proto"), transport, out.get("destination_port", transport)
    )
    out["status"], out["error_code"] = _status(frame, transport)
    return out.rename(columns={"proto": "transport"})


class SuricataEveReader(LimitedReader):
    """Read Suricata ``eve.json`` (JSON lines); flow events only, others counted."""

    fmt = "suricata"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source, lines = load_lines(path, max_bytes=self.max_bytes, what="Suricata EVE JSON")
        records: list[dict[str, Any]] = []
        numbers: list[int] = []
        rejected: list[RejectedLine] = []
        skipped: Counter[str] = Counter()
        for line_no, obj in json_objects(lines, self.max_line_bytes, rejected):
            kind = obj.get("event_type")
            if kind != "flow":
                skipped[f"event_type={kind}" if kind is not None else "no event_type"] += 1
                continue
            records.append(_flatten(obj))
            numbers.append(line_no)
        if not records and not rejected:
            found = ", ".join(f"{k}: {v}" for k, v in skipped.most_common(5)) or "nothing"
            raise InputError(f"{source}: no flow events (event_type 'flow'); found {found}")
        frame = (
            pd.DataFrame.from_records(records)
            if records
            else pd.DataFrame({c: [] for c in ("src_ip", "dest_ip", "timestamp")}, dtype="object")
        )
        result = finish(
            source,
            _to_canonical(frame),
            np.asarray(numbers, dtype=np.int64),
            lines,
            self.fmt,
            rejected,
        )
        result.skipped = dict(skipped)
        return result
