"""Reader for CICFlowMeter CSV (Java CICFlowMeter, the CIC-IDS datasets, Python cicflowmeter).

Column names are normalised (trimmed, lower-cased, non-alphanumerics → ``_``), so
``" Flow Duration"``, ``"Flow Duration"`` and ``"flow_duration"`` are one column and
repeated names get a ``_2`` suffix. Mapping: Src/Dst IP and Port; ``Protocol`` (IANA
number) → name; ``Flow Duration`` (microseconds) → ``duration`` (seconds);
``Tot Fwd Pkts``/``Total Fwd Packets`` → ``packets_sent``, backward → ``packets_received``;
``TotLen Fwd Pkts``/``Total Length of Fwd Packets`` (payload bytes) → ``bytes_sent``,
backward → ``bytes_received``; ``Label`` → ``label`` (``BENIGN`` is normal). Timestamps
are ISO or day-first (``03/07/2017 08:55:58 AM``, ``03/07/2017 08:55``), read as UTC.
A flow without any backward packet is FAILED/TIMEOUT. Every other column is kept under
its normalised name.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.io._flowmeta import finish, read_table, transport_names
from netrca.io._text import unique_names
from netrca.io.canonical import LimitedReader, ReadResult

__all__ = ["CicFlowMeterReader", "looks_like_cicflowmeter", "normalise_cic_name"]

_MAP: dict[str, str] = {
    "src_ip": "source_ip",
    "source_ip": "source_ip",
    "dst_ip": "destination_ip",
    "destination_ip": "destination_ip",
    "src_port": "source_port",
    "source_port": "source_port",
    "dst_port": "destination_port",
    "destination_port": "destination_port",
    "protocol": "protocol",
    "timestamp": "timestamp",
    "tot_fwd_pkts": "packets_sent",
    "total_fwd_packets": "packets_sent",
    "tot_bwd_pkts": "packets_received",
    "total_backward_packets": "packets_received",
    "total_bwd_packets": "packets_received",
    "totlen_fwd_pkts": "bytes_sent",
    "total_length_of_fwd_packets": "bytes_sent",
    "fwd_pkts_tot_len": "bytes_sent",
    "totlen_bwd_pkts": "bytes_received",
    "total_length_of_bwd_packets": "bytes_received",
    "bwd_pkts_tot_len": "bytes_received",
    "label": "label",
}
_DURATION = ("flow_duration",)
_DAY_FIRST = ("%d/%m/%Y %I:%M:%S %p", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %I:%M %p")


def normalise_cic_name(name: str) -> str:
    """``" Total Length of Fwd Packets"`` → ``"total_length_of_fwd_packets"``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_") or "column"


def looks_like_cicflowmeter(header: str) -> bool:
    """True for a header with a flow-duration and a forward-packet-count column."""
    names = {normalise_cic_name(n) for n in header.split(",")}
    return "flow_duration" in names and bool(
        names & {"tot_fwd_pkts", "total_fwd_packets", "fwd_pkts_tot"}
    )


def _times(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    for fmt in _DAY_FIRST:
        missing = parsed.isna() & text.notna()
        if not missing.any():
            break
        parsed = parsed.fillna(
            pd.to_datetime(text.where(missing), format=fmt, utc=True, errors="coerce")
        )
    iso = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").astype("string")
    return iso.fillna(text)  # unparsed values stay as they were, so they are rejected


class CicFlowMeterReader(LimitedReader):
    """Read a CICFlowMeter CSV into canonical flows."""

    fmt = "cicflowmeter"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        table = read_table(
            path,
            what="CICFlowMeter CSV",
            max_bytes=self.max_bytes,
            max_line_bytes=self.max_line_bytes,
        )
        if not looks_like_cicflowmeter(",".join(table.names)):
            raise InputError(
                f"{table.source}: line {table.header_line}: not a CICFlowMeter header (needs "
                "'Flow Duration' and 'Tot Fwd Pkts' or 'Total Fwd Packets')"
            )
        frame = table.parsed.frame
        frame.columns = unique_names([normalise_cic_name(c) for c in frame.columns], sep="_")
        cols: dict[str, pd.Series] = {}
        used: set[str] = set()
        for col in frame.columns:
            target = _MAP.get(col)
            if target and target not in cols:
                cols[target] = frame[col]
                used.add(col)
        if "timestamp" in cols:
            cols["timestamp"] = _times(cols["timestamp"])
        if "protocol" in cols:
            cols["protocol"] = transport_names(cols["protocol"])
        dur = next((c for c in _DURATION if c in frame), None)
        if dur is not None:
            us = pd.to_numeric(frame[dur], errors="coerce")
            # negative durations (a known CICFlowMeter artefact) are left to be rejected
            cols["duration"] = (us / 1e6).astype("string").where(us.notna(), frame[dur])
            used.add(dur)
        if "packets_received" in cols:
            back = pd.to_numeric(cols["packets_received"], errors="coerce").to_numpy()
            failed = np.nan_to_num(back, nan=1.0) == 0
            cols["status"] = pd.Series(np.where(failed, "FAILED", "SUCCESS"), index=frame.index)
            cols["error_code"] = pd.Series(np.where(failed, "TIMEOUT", "NONE"), index=frame.index)
        for col in frame.columns:
            if col not in used:
                name = "cic_flow_id" if col == "flow_id" else col
                while name in cols or name in ("latency", "error_code", "status", "duration"):
                    name = f"cic_{name}"
                cols[name] = frame[col]
        out = pd.DataFrame(cols, index=frame.index)
        return finish(
            table,
            out,
            table.parsed.line_numbers,
            table.lines,
            self.fmt,
            table.parsed.rejected,
            header_line=table.header_line,
        )
