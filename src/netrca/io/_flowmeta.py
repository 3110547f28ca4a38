"""Shared mappings for flow-meter formats: protocol numbers and names, statuses, tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.io._source import load_lines
from netrca.io._text import (
    Lines,
    ParsedText,
    RejectedLine,
    parse_delimited,
    split_header,
    unique_names,
)
from netrca.io.canonical import ReadResult, canonicalize, merge_rejects

__all__ = [
    "IANA_PROTOCOLS",
    "Table",
    "app_or_transport",
    "finish",
    "read_table",
    "transport_names",
]

#: IANA protocol numbers → names (the common ones; others become ``PROTO<n>``).
IANA_PROTOCOLS: dict[int, str] = {
    1: "ICMP",
    2: "IGMP",
    6: "TCP",
    17: "UDP",
    41: "IPV6",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "ICMP6",
    89: "OSPF",
    132: "SCTP",
}

#: Application-protocol names of flow meters (lower case) → canonical protocol names.
_APP_NAMES: dict[str, str] = {
    "http": "HTTP",
    "http2": "HTTP",
    "tls": "TLS",
    "ssl": "TLS",
    "dns": "DNS",
    "ssh": "SSH",
    "ftp": "FTP",
    "ftp-data": "FTP",
    "ftp_control": "FTP",
    "ftp_data": "FTP",
    "smtp": "SMTP",
    "smtps": "SMTP",
    "imap": "IMAP",
    "imaps": "IMAP",
    "pop3": "POP3",
    "pop3s": "POP3",
    "dhcp": "DHCP",
    "ntp": "NTP",
    "snmp": "SNMP",
    "sip": "SIP",
    "rdp": "RDP",
    "smb": "SMB",
    "smbv1": "SMB",
    "smbv23": "SMB",
    "krb5": "KERBEROS",
    "kerberos": "KERBEROS",
    "irc": "IRC",
    "mysql": "MYSQL",
    "quic": "QUIC",
    "telnet": "TELNET",
    "ldap": "LDAP",
    "mqtt": "MQTT",
    "modbus": "MODBUS",
    "dnp3": "DNP3",
    "nfs": "NFS",
    "tftp": "TFTP",
    "syslog": "SYSLOG",
}
_NO_APP = {"", "unknown", "failed", "none", "-", "nan", "<na>"}


def transport_names(values: pd.Series) -> pd.Series:
    """Protocol numbers (``6``) or names (``tcp``) → upper-case names (``TCP``)."""
    text = values.astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    named = num.map(
        lambda n: IANA_PROTOCOLS.get(int(n), f"PROTO{int(n)}") if pd.notna(n) else pd.NA
    ).astype("string")
    out = named.fillna(text.str.upper())
    return out.replace({"IPV6-ICMP": "ICMP6", "ICMPV6": "ICMP6"})


def app_or_transport(app: pd.Series | None, transport: pd.Series, dport: pd.Series) -> pd.Series:
    """The application protocol when the meter identified one, else the transport.

    TLS on 443/8443 is reported as HTTPS, as the Zeek reader does.
    """
    base = transport_names(transport)
    if app is None:
        return base.fillna("UNKNOWN")
    first = app.astype("string").str.strip().str.lower().str.split(".").str[0]
    known = first.map(_APP_NAMES, na_action="ignore").astype("string")
    other = first.str.upper().mask(first.isin(_NO_APP) | first.isna())
    name = known.fillna(other)
    port = pd.to_numeric(dport, errors="coerce")
    https = (name == "TLS").fillna(False).to_numpy(dtype=bool) & port.isin([443, 8443]).to_numpy()
    name = name.mask(https, "HTTPS")
    return name.fillna(base).fillna("UNKNOWN").astype("string")


@dataclass
class Table:
    """A delimited file's header and parsed body, with exact line numbers."""

    source: str
    lines: Lines
    header_line: int
    names: list[str]
    parsed: ParsedText


def read_table(
    path: str | Path,
    *,
    what: str,
    max_bytes: int,
    max_line_bytes: int,
    stop_line: int | None = None,
) -> Table:
    """Read a comma-separated file with a header; body lines up to ``stop_line`` (0-based)."""
    source, lines = load_lines(path, max_bytes=max_bytes, what=what)
    data = lines.data
    first = lines.first_byte()
    candidates = np.flatnonzero((first >= 0) & (first != ord("#")))
    if not len(candidates):
        raise InputError(f"{source}: no header line")
    h = int(candidates[0])
    try:
        text = lines.data[lines.starts[h] : lines.ends[h]].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: line {h + 1}: header is not valid UTF-8") from exc
    row = split_header(text)
    names = [n.strip().lstrip("\ufeff") or f"column_{i + 1}" for i, n in enumerate(row)]
    # repeated names occur in real exports (CICFlowMeter's "Fwd Header Length"): keep
    # every column, the repeats as name.2, name.3, …
    names = unique_names(names)
    end = len(lines) if stop_line is None else stop_line
    body = np.arange(h + 1, end)
    quoted = b'"' in data[lines.ends[h] :]
    parsed = parse_delimited(lines, body, names, ",", quoted=quoted, max_line_bytes=max_line_bytes)
    return Table(source=source, lines=lines, header_line=h + 1, names=names, parsed=parsed)


def finish(
    table_or_source: Table | str,
    frame: pd.DataFrame,
    line_numbers: np.ndarray,
    raw_text: list[str] | Lines,
    fmt: str,
    rejected: list[RejectedLine],
    *,
    header_line: int | None = None,
) -> ReadResult:
    """Canonicalise ``frame`` and merge parser-level rejects (shared tail of the readers).

    ``raw_text`` is either the file's :class:`Lines` (raw text looked up by line number)
    or one raw text per row of ``frame``.
    """
    source = table_or_source.source if isinstance(table_or_source, Table) else table_or_source

    def text_of(idx: np.ndarray) -> list[str]:
        if isinstance(raw_text, Lines):
            return [raw_text.text(int(line_numbers[i]) - 1) for i in idx]
        return [raw_text[int(i)] for i in idx]

    result = canonicalize(frame, line_numbers, text_of, source, fmt, header_line=header_line)
    result.rejects = merge_rejects(
        source, [(r.line, r.reason, r.raw) for r in rejected], result.rejects
    )
    return result


def json_raw(record: dict[str, object]) -> str:
    """A compact JSON rendering of a record for ``rejects.csv``."""
    return json.dumps(record, default=str, sort_keys=True)[:2000]
