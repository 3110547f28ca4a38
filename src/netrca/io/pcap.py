"""Reader for packet captures (pcap, pcapng): NFStream meters them into flows (extra ``pcap``).

NFStream (nDPI) builds bidirectional flows; mapping: ``src2dst_bytes`` → ``bytes_sent``,
``dst2src_bytes`` → ``bytes_received`` (payload bytes, as Zeek counts them), packets likewise,
``bidirectional_first_seen_ms`` → ``timestamp``, ``bidirectional_duration_ms`` →
``duration``, nDPI's application name (else the IP protocol) → ``protocol``. A flow with
no packet back is FAILED/TIMEOUT; a TCP flow answered by RST without SYN is
FAILED/CONNECTION_REFUSED. Rejected flows are reported with their flow number in the
meter's output as ``line``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import ConfigError, InputError
from netrca.io._flowmeta import app_or_transport, json_raw
from netrca.io.canonical import ReadResult, canonicalize

__all__ = ["PCAP_MAGIC", "PcapReader", "looks_like_pcap"]

#: Leading bytes of pcap (both byte orders, µs and ns) and pcapng files.
PCAP_MAGIC: tuple[bytes, ...] = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",
)
_KEEP = (
    "src_mac",
    "dst_mac",
    "vlan_id",
    "ip_version",
    "application_name",
    "application_category_name",
    "requested_server_name",
    "expiration_id",
)


def looks_like_pcap(head: bytes) -> bool:
    """True when ``head`` starts with a pcap or pcapng magic number."""
    return head[:4] in PCAP_MAGIC


def _status(df: pd.DataFrame, transport: pd.Series) -> tuple[pd.Series, pd.Series]:
    n = len(df)
    status = np.full(n, "SUCCESS", dtype=object)
    error = np.full(n, "NONE", dtype=object)
    back = pd.to_numeric(df["dst2src_packets"], errors="coerce").fillna(0).to_numpy()
    tcp = (transport == "TCP").fillna(False).to_numpy(dtype=bool)
    if "dst2src_rst_packets" in df and "dst2src_syn_packets" in df:
        rst = pd.to_numeric(df["dst2src_rst_packets"], errors="coerce").fillna(0).to_numpy() > 0
        syn = pd.to_numeric(df["dst2src_syn_packets"], errors="coerce").fillna(0).to_numpy() > 0
        refused = tcp & rst & ~syn
        status[refused] = "FAILED"
        error[refused] = "CONNECTION_REFUSED"
    unanswered = back == 0
    status[unanswered] = "FAILED"
    error[unanswered] = "TIMEOUT"
    return pd.Series(status, index=df.index), pd.Series(error, index=df.index)


def _to_canonical(df: pd.DataFrame) -> pd.DataFrame:
    transport = pd.to_numeric(df["protocol"], errors="coerce")
    names = app_or_transport(None, transport.astype("Int64").astype("string"), df["dst_port"])
    out = pd.DataFrame(
        {
            "timestamp": df["bidirectional_first_seen_ms"],
            "source_ip": df["src_ip"],
            "destination_ip": df["dst_ip"],
            "source_port": df["src_port"],
            "destination_port": df["dst_port"],
            "protocol": app_or_transport(df.get("application_name"), names, df["dst_port"]),
            "bytes_sent": df["src2dst_bytes"],
            "bytes_received": df["dst2src_bytes"],
            "packets_sent": df["src2dst_packets"],
            "packets_received": df["dst2src_packets"],
            "duration": pd.to_numeric(df["bidirectional_duration_ms"], errors="coerce") / 1000.0,
            "transport": names,
        }
    )
    out["status"], out["error_code"] = _status(df, names)
    for c in _KEEP:
        if c in df:
            out[c] = df[c]
    out["nfstream_id"] = df["id"] if "id" in df else np.arange(len(df))
    return out


class PcapReader:
    """Turn a pcap/pcapng file into canonical flows with NFStream.

    ``idle_timeout`` and ``active_timeout`` (seconds) are NFStream's flow expiry settings.
    """

    fmt = "pcap"

    def __init__(
        self,
        *,
        max_bytes: int = 8 * 2**30,
        idle_timeout: int = 120,
        active_timeout: int = 1800,
    ) -> None:
        self.max_bytes = max_bytes
        self.idle_timeout = idle_timeout
        self.active_timeout = active_timeout

    def _meter(self, path: Path) -> pd.DataFrame:
        try:
            from nfstream import NFStreamer
        except ImportError as exc:
            raise ConfigError(
                "reading packet captures needs the 'pcap' extra: pip install 'netrca[pcap]'"
            ) from exc
        try:
            streamer: Any = NFStreamer(
                source=str(path),
                n_meters=1,
                statistical_analysis=True,
                accounting_mode=3,  # payload bytes, like Zeek's orig_bytes/resp_bytes
                idle_timeout=self.idle_timeout,
                active_timeout=self.active_timeout,
            )
            frame: pd.DataFrame = streamer.to_pandas()
        except Exception as exc:  # NFStream raises plain exceptions for unreadable captures
            raise InputError(f"{path}: NFStream could not read the capture ({exc})") from exc
        return frame

    def read(self, path: str | Path) -> ReadResult:
        """Meter ``path`` into flows; raises :class:`InputError` when it is unusable."""
        p = Path(path)
        if not p.exists():
            raise InputError(f"{p}: no such file")
        if p.is_dir():
            raise InputError(f"{p}: is a directory, expected a file")
        size = p.stat().st_size
        if size == 0:
            raise InputError(f"{p}: file is empty")
        if size > self.max_bytes:
            raise InputError(f"{p}: {size} bytes exceeds the input limit of {self.max_bytes} bytes")
        with p.open("rb") as fh:
            head = fh.read(4)
        if not looks_like_pcap(head):
            raise InputError(f"{p}: not a pcap or pcapng file (magic number {head.hex()})")
        df = self._meter(p)
        if df is None or len(df) == 0:
            raise InputError(f"{p}: no IP flows in the capture")
        df = df.reset_index(drop=True)
        numbers = np.arange(1, len(df) + 1, dtype=np.int64)

        def raw(idx: np.ndarray) -> list[str]:
            return [json_raw(df.iloc[int(i)].to_dict()) for i in idx]

        return canonicalize(_to_canonical(df), numbers, raw, str(p), self.fmt)
