"""Reader for Zeek conn.log, in its TSV form (``#fields`` header) and its JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from netrca.errors import InputError
from netrca.io._source import load_lines
from netrca.io._text import Lines, RejectedLine, json_objects, parse_delimited, spread
from netrca.io.canonical import LimitedReader, ReadResult, canonicalize, merge_rejects
from netrca.io.connstate import map_conn_state
from netrca.schema import FLOAT_COLUMNS, INT_COLUMNS

__all__ = ["ZEEK_FIELD_MAP", "ZeekConnReader", "map_conn_state"]

#: Zeek conn.log fields that map one-to-one onto canonical columns.
ZEEK_FIELD_MAP: dict[str, str] = {
    "ts": "timestamp",
    "id.orig_h": "source_ip",
    "id.resp_h": "destination_ip",
    "id.orig_p": "source_port",
    "id.resp_p": "destination_port",
    "orig_bytes": "bytes_sent",
    "resp_bytes": "bytes_received",
    "orig_pkts": "packets_sent",
    "resp_pkts": "packets_received",
    "duration": "duration",
}

#: Fields parsed as numbers where every value is one (the timestamp and durations as
#: float64, ports, bytes and packets as int64), instead of as text parsed afterwards.
_NUMBER_TYPES: dict[str, pa.DataType] = {
    field: pa.float64() if ZEEK_FIELD_MAP[field] in ("timestamp", *FLOAT_COLUMNS) else pa.int64()
    for field in ZEEK_FIELD_MAP
    if ZEEK_FIELD_MAP[field] in ("timestamp", *FLOAT_COLUMNS, *INT_COLUMNS)
}

_SERVICE_NAMES: dict[str, str] = {
    "ssl": "TLS",
    "http": "HTTP",
    "dns": "DNS",
    "ssh": "SSH",
    "ftp": "FTP",
    "ftp-data": "FTP",
    "smtp": "SMTP",
    "dhcp": "DHCP",
    "ntp": "NTP",
    "krb": "KERBEROS",
    "krb_tcp": "KERBEROS",
    "smb": "SMB",
    "rdp": "RDP",
    "irc": "IRC",
    "mysql": "MYSQL",
    "snmp": "SNMP",
    "sip": "SIP",
    "quic": "QUIC",
}


def _protocol(service: pd.Series | None, proto: pd.Series | None, dport: pd.Series) -> pd.Series:
    """Application protocol from ``service`` (first of a set), else the transport ``proto``.

    Computed once per distinct (service, proto, port) combination, then broadcast.
    """
    parts = [s for s in (service, proto) if s is not None]
    if not parts or len(dport) == 0:
        return _protocol_rows(service, proto, dport)
    codes = np.zeros(len(dport), dtype=np.int64)
    for col in (*parts, dport):
        c, u = pd.factorize(col, use_na_sentinel=False)
        codes = codes * (len(u) + 1) + np.asarray(c, dtype=np.int64)
    key, _ = pd.factorize(codes)  # numbered by first appearance...
    first = pd.Series(key).drop_duplicates().index.to_numpy()  # ...so key k first shows here

    def pick(s: pd.Series | None) -> pd.Series | None:
        return None if s is None else s.iloc[first].reset_index(drop=True)

    per_key = _protocol_rows(pick(service), pick(proto), dport.iloc[first].reset_index(drop=True))
    return spread(per_key.astype("string"), np.asarray(key, dtype=np.int64), dport.index)


def _protocol_rows(
    service: pd.Series | None, proto: pd.Series | None, dport: pd.Series
) -> pd.Series:
    n = len(dport)
    base = (
        proto.astype("string").str.upper()
        if proto is not None
        else pd.Series(pd.NA, index=dport.index, dtype="string")
    )
    if service is None:
        return base.fillna("UNKNOWN")
    svc = service.astype("string").str.split(",").str[0].str.strip().str.lower()
    app = svc.map(_SERVICE_NAMES, na_action="ignore")
    app = app.fillna(svc.str.upper())
    port = pd.to_numeric(dport, errors="coerce")
    https = (app == "TLS") & port.isin([443, 8443]).to_numpy()
    app = app.mask(https, "HTTPS")
    out = app.fillna(base).fillna("UNKNOWN")
    assert len(out) == n
    return out.astype("string")


def _to_canonical_names(df: pd.DataFrame) -> pd.DataFrame:
    """Add canonical protocol/status/error_code columns and rename mapped fields."""
    dport = df["id.resp_p"] if "id.resp_p" in df else pd.Series(pd.NA, index=df.index)
    df = df.copy(deep=False)  # columns are added, none changed (copy-on-write)
    df["protocol"] = _protocol(df.get("service"), df.get("proto"), dport)
    if "conn_state" in df:
        df["status"], df["error_code"] = map_conn_state(df["conn_state"])
    return df.rename(columns={k: v for k, v in ZEEK_FIELD_MAP.items() if k in df.columns})


class ZeekConnReader(LimitedReader):
    """Read a Zeek conn.log (TSV with ``#fields`` header, or JSON lines).

    ``-`` (unset) becomes null; ``(empty)`` becomes an empty value. All fields that do
    not map onto canonical columns (``uid``, ``conn_state``, ``history``, labels…)
    are kept as extra columns. Latency is not in conn.log and stays null.
    """

    fmt = "zeek"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source, lines = load_lines(path, max_bytes=self.max_bytes, what="a Zeek log")
        first = lines.first_byte()
        nonempty = np.flatnonzero(first >= 0)
        if len(nonempty) and first[nonempty[0]] == ord("{"):
            return self._read_json(source, lines)
        return self._read_tsv(source, lines, first)

    # -- TSV ---------------------------------------------------------------------------
    def _read_tsv(self, source: str, lines: Lines, first: np.ndarray) -> ReadResult:
        comments = np.flatnonzero(first == ord("#"))
        fields: list[str] | None = None
        fields_line = 0
        unset, empty, sep = "-", "(empty)", "\t"
        for i in comments:
            text = lines.text(int(i), 100000)
            if text.startswith("#separator"):
                token = text.split(" ", 1)[-1].strip()
                sep = _unescape(token, source, int(i) + 1)
            elif text.startswith("#unset_field"):
                unset = text.split(sep, 1)[-1]
            elif text.startswith("#empty_field"):
                empty = text.split(sep, 1)[-1]
            elif text.startswith("#fields"):
                names = text.split(sep)[1:]
                if fields is not None and names != fields:
                    raise InputError(
                        f"{source}: line {int(i) + 1}: a second #fields header differs from the "
                        f"first (line {fields_line}); split the file at that line"
                    )
                fields, fields_line = names, int(i) + 1
        if fields is None:
            raise InputError(f"{source}: no '#fields' header line; is this a Zeek TSV log?")
        if len(sep) != 1:
            raise InputError(f"{source}: unsupported #separator {sep!r}")
        body = np.flatnonzero(first != ord("#"))
        body = body[body > comments[0]] if len(comments) else body
        numbers = {f: _NUMBER_TYPES[f] for f in fields if f in _NUMBER_TYPES}
        for types in (numbers, {}):
            parsed = parse_delimited(
                lines,
                body,
                fields,
                sep,
                quoted=False,
                max_line_bytes=self.max_line_bytes,
                unset=unset,
                empty=empty,
                numbers=types,
            )
            result = self._finish(
                source, parsed.frame, parsed.line_numbers, lines, parsed.rejected, fields_line
            )
            # a number refused by the canonical checks is quoted in its reason as the log
            # wrote it ('-5', not '-5.0'): such a log is read again with every field as
            # text (a missing value reads alike both ways)
            typed = {
                ZEEK_FIELD_MAP[f] + ": "
                for f in types
                if pd.api.types.is_numeric_dtype(parsed.frame[f].dtype)
            }
            quoted = [
                r for r in map(str, result.rejects["reason"]) if not r.endswith("missing: ''")
            ]
            if not any(r.startswith(tuple(typed)) for r in quoted):
                break
        return result

    # -- JSON --------------------------------------------------------------------------
    def _read_json(self, source: str, lines: Lines) -> ReadResult:
        records: list[dict[str, object]] = []
        line_numbers: list[int] = []
        rejected: list[RejectedLine] = []
        for line_no, obj in json_objects(lines, self.max_line_bytes, rejected):
            records.append(obj)
            line_numbers.append(line_no)
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
        for col in frame.columns:
            if frame[col].dtype == object:
                frame[col] = frame[col].map(_json_scalar, na_action="ignore")
        return self._finish(
            source, frame, np.asarray(line_numbers, dtype=np.int64), lines, rejected, None
        )

    def _finish(
        self,
        source: str,
        frame: pd.DataFrame,
        line_numbers: np.ndarray,
        lines: Lines,
        rejected: list[RejectedLine],
        header_line: int | None,
    ) -> ReadResult:
        if frame.shape[1] == 0:
            frame = pd.DataFrame({"ts": [], "id.orig_h": [], "id.resp_h": []}, dtype="object")
        frame = _to_canonical_names(frame)

        def raw_text(idx: np.ndarray) -> list[str]:
            return [lines.text(int(line_numbers[i]) - 1) for i in idx]

        result = canonicalize(
            frame, line_numbers, raw_text, source, self.fmt, header_line=header_line
        )
        result.rejects = merge_rejects(
            source, [(r.line, r.reason, r.raw) for r in rejected], result.rejects
        )
        return result


def _unescape(token: str, source: str, line: int) -> str:
    """A ``#separator`` value such as ``\\x09``; anything else is taken literally."""
    sep = token
    if token.startswith("\\x"):
        try:
            sep = bytes.fromhex(token[2:4]).decode("latin-1") + token[4:]
        except ValueError as exc:
            raise InputError(f"{source}: line {line}: bad #separator {token[:20]!r}") from exc
    if not sep:
        raise InputError(f"{source}: line {line}: empty #separator {token[:20]!r}")
    return sep


def _json_scalar(v: object) -> object:
    """Zeek JSON sets/vectors become comma-joined text like in TSV."""
    if isinstance(v, list):
        return ",".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v
