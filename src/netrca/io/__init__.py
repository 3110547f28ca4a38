"""Readers (one per format) that yield canonical flows plus rejects, and atomic writers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from netrca.config import Settings
from netrca.errors import InputError, MissingColumnsError
from netrca.io._source import read_head
from netrca.io._text import split_header
from netrca.io.canonical import REJECT_COLUMNS, ReadResult, empty_rejects, require_rows
from netrca.io.cicflowmeter import CicFlowMeterReader, looks_like_cicflowmeter
from netrca.io.delimited import CsvReader
from netrca.io.jsonl import JsonLinesReader
from netrca.io.nfdump import NfdumpCsvReader, looks_like_nfdump
from netrca.io.parquet import ParquetReader
from netrca.io.pcap import PcapReader, looks_like_pcap
from netrca.io.suricata import SuricataEveReader, looks_like_eve
from netrca.io.table import (
    FeatureTableReader,
    detect_profile,
    looks_like_header,
    recognised_columns,
)
from netrca.io.writers import atomic_path, write_csv, write_json, write_parquet
from netrca.io.zeek import ZeekConnReader

__all__ = [
    "FORMATS",
    "REJECT_COLUMNS",
    "CicFlowMeterReader",
    "CsvReader",
    "FeatureTableReader",
    "JsonLinesReader",
    "NfdumpCsvReader",
    "ParquetReader",
    "PcapReader",
    "ReadResult",
    "SuricataEveReader",
    "ZeekConnReader",
    "atomic_path",
    "empty_rejects",
    "read_flows",
    "sniff_format",
    "write_csv",
    "write_json",
    "write_parquet",
]

#: Formats ``read_flows`` accepts (``auto`` sniffs).
FORMATS: tuple[str, ...] = ("auto", "csv", "parquet", "jsonl", "zeek", "table")
#: Formats of flow meters and sensors, each with its own reader module.
_METER_FORMATS: tuple[str, ...] = ("suricata", "nfdump", "cicflowmeter", "pcap")
FORMATS += _METER_FORMATS


def _meter_reader(
    fmt: str, max_bytes: int, max_line: int
) -> SuricataEveReader | NfdumpCsvReader | CicFlowMeterReader | PcapReader:
    if fmt == "suricata":
        return SuricataEveReader(max_bytes=max_bytes, max_line_bytes=max_line)
    if fmt == "nfdump":
        return NfdumpCsvReader(max_bytes=max_bytes, max_line_bytes=max_line)
    if fmt == "cicflowmeter":
        return CicFlowMeterReader(max_bytes=max_bytes, max_line_bytes=max_line)
    return PcapReader(max_bytes=max_bytes)


def _sniff_header(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace")
    if looks_like_nfdump(text):
        return "nfdump"
    if looks_like_cicflowmeter(text):
        return "cicflowmeter"
    return "csv"


def sniff_format(path: str | Path) -> str:
    """Guess the format of ``path`` from its first 64 KiB (decompressed, for gzip)."""
    p = Path(path)
    if p.is_dir():
        return "parquet"
    if not p.exists():
        raise InputError(f"{p}: no such file")
    with p.open("rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    if looks_like_pcap(head):
        return "pcap"
    text = read_head(p, 65536).lstrip(b"\xef\xbb\xbf")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith((b"#separator", b"#fields", b"#path")):
            return "zeek"
        if looks_like_eve(line):
            return "suricata"
        if line.startswith(b"{"):
            return "zeek" if b'"id.orig_h"' in line else "jsonl"
        first = line.decode("utf-8", errors="replace")
        if detect_profile(first) is not None:
            return "table"
        return _sniff_header(line)
    return "csv"


def read_flows(
    path: str | Path,
    fmt: str = "auto",
    *,
    mapping: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    label_column: str | None = None,
    category_column: str | None = None,
) -> ReadResult:
    """Read ``path`` into canonical flows and rejects.

    With ``fmt="auto"`` the format is sniffed; a CSV that lacks the flow identity columns
    (timestamp, source_ip, destination_ip) but has recognisable flow features is read as
    a feature table (``fmt="table"``) and a note says so.

    Raises :class:`~netrca.errors.InputError` for a missing file, an unknown format, a
    missing required column, or a file without a single usable row.
    """
    settings = settings or Settings()
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    auto = fmt == "auto"
    if auto:
        fmt = sniff_format(path)
    max_bytes, max_line = settings.max_input_bytes, settings.max_line_bytes
    if fmt in _METER_FORMATS:
        meter = _meter_reader(fmt, max_bytes, max_line).read(path)
        meter.label_column = label_column or meter.label_column
        meter.category_column = category_column or meter.category_column
        return require_rows(meter)
    reader: CsvReader | JsonLinesReader | ParquetReader | ZeekConnReader | FeatureTableReader
    table = FeatureTableReader(
        mapping=mapping,
        label_column=label_column,
        category_column=category_column,
        max_bytes=max_bytes,
        max_line_bytes=max_line,
    )
    if fmt == "csv":
        reader = CsvReader(mapping=mapping, max_bytes=max_bytes, max_line_bytes=max_line)
    elif fmt == "jsonl":
        reader = JsonLinesReader(mapping=mapping, max_bytes=max_bytes, max_line_bytes=max_line)
    elif fmt == "parquet":
        reader = ParquetReader(mapping=mapping, max_bytes=max_bytes)
    elif fmt == "table":
        reader = table
    else:
        reader = ZeekConnReader(max_bytes=max_bytes, max_line_bytes=max_line)
    try:
        result = reader.read(path)
    except MissingColumnsError as exc:
        if not (auto and fmt == "csv" and _table_like(path)):
            raise
        result = table.read(path)
        result.notes.append(
            f"{path}: no timestamp/source_ip/destination_ip columns ({exc}); "
            "read as a feature table (host and time behaviour detectors are off)"
        )
    if fmt != "table":
        result.label_column = label_column or result.label_column
        result.category_column = category_column or result.category_column
    return require_rows(result)


def _table_like(path: str | Path) -> bool:
    """A headed CSV with at least two recognisable flow-feature or label columns."""
    from netrca.io.delimited import sniff_delimiter

    head = read_head(path, 65536)
    first = next((ln for ln in head.decode("utf-8", "replace").splitlines() if ln.strip()), "")
    fields = split_header(first, sniff_delimiter(first))
    return looks_like_header(fields) and recognised_columns(fields) >= 2
