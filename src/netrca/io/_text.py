"""Byte-level parsing of delimited text: exact line numbers, vectorised field counts."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = [
    "Lines",
    "ParsedText",
    "RejectedLine",
    "by_value",
    "byte_count",
    "json_objects",
    "parse_delimited",
    "split_header",
    "split_lines",
    "spread",
    "unique_names",
]

_lines: ModuleType | None
try:
    from netrca.io import _lines
except ImportError:  # pragma: no cover - only where the extension could not be built
    _lines = None

_NL = 10
_CR = 13


@dataclass(frozen=True)
class RejectedLine:
    """A line that could not become a row, with its 1-based line number."""

    line: int
    reason: str
    raw: str


@dataclass
class Lines:
    """Byte offsets of every line in ``data`` (line ``i`` is 1-based ``i + 1``)."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def text(self, i: int, limit: int = 2000) -> str:
        """Line ``i`` (0-based) decoded leniently, cut to ``limit`` characters."""
        raw = self.data[self.starts[i] : min(self.ends[i], self.starts[i] + limit * 4)]
        return raw.decode("utf-8", errors="replace")[:limit]

    def first_byte(self) -> np.ndarray:
        """The first byte of each line (-1 for empty lines)."""
        arr = np.frombuffer(self.data, dtype=np.uint8)
        out = np.full(len(self.starts), -1, dtype=np.int16)
        nonempty = self.ends > self.starts
        out[nonempty] = arr[self.starts[nonempty]]
        return out

    def count_byte(self, byte: int) -> np.ndarray:
        """How many times ``byte`` occurs in each line."""
        if self.data.find(bytes((byte,))) < 0:  # one memchr pass: the usual case for NUL/CR
            return np.zeros(len(self.starts), dtype=np.int64)
        if _lines is not None:
            out = np.empty(len(self.starts), dtype=np.int64)
            _lines.count_per_line(
                self.data,
                np.ascontiguousarray(self.starts, dtype=np.int64),
                np.ascontiguousarray(self.ends, dtype=np.int64),
                byte,
                out,
            )
            return out
        arr = np.frombuffer(self.data, dtype=np.uint8)
        pos = np.flatnonzero(arr == byte)
        return np.searchsorted(pos, self.ends) - np.searchsorted(pos, self.starts)


def json_objects(
    lines: Lines, max_line_bytes: int, rejected: list[RejectedLine]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for each JSON object line; blank lines are skipped
    and every other line goes to ``rejected`` with its reason."""
    data = lines.data
    for i in range(len(lines)):
        start, end = int(lines.starts[i]), int(lines.ends[i])
        if start == end or not data[start:end].strip():
            continue
        if end - start > max_line_bytes:
            rejected.append(RejectedLine(i + 1, f"line longer than {max_line_bytes} bytes", ""))
            continue
        try:
            obj = json.loads(data[start:end])
        except (ValueError, UnicodeDecodeError) as exc:
            rejected.append(RejectedLine(i + 1, f"invalid JSON: {exc}", lines.text(i)))
            continue
        if not isinstance(obj, dict):
            rejected.append(RejectedLine(i + 1, "JSON value is not an object", lines.text(i)))
            continue
        yield i + 1, obj


def split_header(text: str, delimiter: str = ",") -> list[str]:
    """Fields of one header line (CSV quoting honoured; malformed quoting split plainly)."""
    try:
        return next(csv.reader((text,), delimiter=delimiter), [])
    except csv.Error:
        return text.split(delimiter)


def by_value(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, distinct values)`` of ``s``, NA being one of the values: string work on a
    million rows that hold a few dozen distinct values (states, statuses) costs a few
    dozen; :func:`spread` maps the per-value result back onto the rows."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), pd.Series(uniques, dtype=s.dtype)


def spread(values: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Per-value results back onto the rows (see :func:`by_value`)."""
    return pd.Series(values.array.take(codes), index=index, dtype=values.dtype)


def unique_names(names: Sequence[str], sep: str = ".", start: int = 2) -> list[str]:
    """``names`` with every repeat renamed ``name{sep}{k}`` (k from ``start``), never
    colliding with another name, given or generated (``a, a, a.2`` → ``a, a.3, a.2``)."""
    reserved = set(names)
    used: set[str] = set()
    counter: dict[str, int] = {}
    out = []
    for n in names:
        if n in used:
            k = counter.get(n, start)
            while f"{n}{sep}{k}" in reserved or f"{n}{sep}{k}" in used:
                k += 1
            counter[n] = k + 1
            n = f"{n}{sep}{k}"
        used.add(n)
        out.append(n)
    return out


def byte_count(data: bytes, byte: int) -> int:
    """How many times ``byte`` occurs in ``data`` (one pass, no array as large as it)."""
    if _lines is not None:
        return _lines.count(data, byte)
    return data.count(bytes((byte,)))


def split_lines(data: bytes) -> Lines:
    """Split ``data`` on ``\\n`` (dropping a trailing ``\\r``) without a Python loop."""
    if _lines is not None:
        starts = np.empty(_lines.count(data, _NL) + 1, dtype=np.int64)
        ends = np.empty_like(starts)
        n = _lines.split(data, starts, ends)
        return Lines(data=data, starts=starts[:n], ends=ends[:n])
    return _split_lines_numpy(data)


def _split_lines_numpy(data: bytes) -> Lines:
    """:func:`split_lines` where the C helper is missing (and its reference in tests)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == _NL)
    starts = np.concatenate(([0], nl + 1)).astype(np.int64)
    ends = np.concatenate((nl, [len(arr)])).astype(np.int64)
    if len(arr) and arr[-1] == _NL:  # no phantom line after a final newline
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == _CR) if len(arr) else ends > starts
    ends = ends - has_cr.astype(np.int64)
    return Lines(data=data, starts=starts, ends=ends)


def _contains(data: bytes | memoryview, needle: bytes) -> bool:
    """Whether ``needle`` occurs in ``data``: one scan in place (the C helper; else re,
    which searches buffers in place too)."""
    if _lines is not None:
        return _lines.contains(data, needle)
    return re.search(re.escape(needle), data) is not None


def _utf8_valid(data: bytes) -> bool:
    """Whether all of ``data`` decodes as UTF-8 (checked in place where the C helper is
    built: no 100 MB string made and dropped)."""
    if _lines is not None:
        return _lines.utf8_valid(data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def invalid_utf8_lines(lines: Lines, candidates: np.ndarray) -> np.ndarray:
    """Boolean mask over ``candidates`` (line indices) of lines that are not valid UTF-8."""
    if _utf8_valid(lines.data):
        return np.zeros(len(candidates), dtype=bool)
    bad = np.zeros(len(candidates), dtype=bool)
    data = lines.data
    for j, i in enumerate(candidates):
        try:
            data[lines.starts[i] : lines.ends[i]].decode("utf-8")
        except UnicodeDecodeError:
            bad[j] = True
    return bad


@dataclass
class ParsedText:
    """Rows of a delimited file as string columns, with the line each row came from."""

    frame: pd.DataFrame
    line_numbers: np.ndarray
    rejected: list[RejectedLine] = field(default_factory=list)
    raw_lookup: dict[int, str] = field(default_factory=dict)


def _join_lines(lines: Lines, keep: np.ndarray) -> bytes | memoryview:
    """The bytes of the kept lines, newline-separated (a view of ``lines.data`` when
    contiguous)."""
    if len(keep) == 0:
        return b""
    first, last = int(keep[0]), int(keep[-1])
    if len(keep) == last - first + 1:  # sorted and distinct: every line in between
        return memoryview(lines.data)[lines.starts[first] : lines.ends[last]]
    span = np.arange(first, last + 1)
    in_keep = np.isin(span, keep)
    empty = lines.ends[span] == lines.starts[span]
    if bool(np.all(in_keep | empty)):
        return memoryview(lines.data)[lines.starts[first] : lines.ends[last]]
    data = lines.data
    return b"\n".join(data[lines.starts[i] : lines.ends[i]] for i in keep)


def parse_delimited(
    lines: Lines,
    body: np.ndarray,
    names: Sequence[str],
    delimiter: str,
    *,
    quoted: bool,
    max_line_bytes: int,
    unset: str | None = None,
    empty: str | None = None,
    numbers: Mapping[str, pa.DataType] | None = None,
) -> ParsedText:
    """Parse the body lines (0-based indices) into string columns named ``names``.

    Lines with the wrong number of fields, invalid UTF-8 or over ``max_line_bytes``
    are returned as :class:`RejectedLine` with their 1-based line number. A field that
    is exactly ``unset`` becomes null, and one that is exactly ``empty`` becomes ``""``
    (Zeek's tokens; unquoted text only). ``numbers``: columns to parse as int64 or
    float64 (see :func:`_arrow_read`); unquoted text only.
    """
    rejected: list[RejectedLine] = []
    nonempty = body[lines.ends[body] > lines.starts[body]]
    too_long = (lines.ends[nonempty] - lines.starts[nonempty]) > max_line_bytes
    for i in nonempty[too_long]:
        rejected.append(
            RejectedLine(int(i) + 1, f"line longer than {max_line_bytes} bytes", lines.text(i, 200))
        )
    nonempty = nonempty[~too_long]
    has_nul = lines.count_byte(0)[nonempty] > 0
    for i in nonempty[has_nul]:
        rejected.append(RejectedLine(int(i) + 1, "contains a NUL byte", lines.text(i)))
    nonempty = nonempty[~has_nul]
    # a carriage return inside a line would end the row for the parser: never silently split
    has_cr = lines.count_byte(13)[nonempty] > 0
    for i in nonempty[has_cr]:
        rejected.append(RejectedLine(int(i) + 1, "carriage return inside the line", lines.text(i)))
    nonempty = nonempty[~has_cr]
    bad_utf8 = invalid_utf8_lines(lines, nonempty)
    for i in nonempty[bad_utf8]:
        rejected.append(RejectedLine(int(i) + 1, "not valid UTF-8 text", lines.text(i)))
    nonempty = nonempty[~bad_utf8]
    if quoted:
        return _parse_quoted(lines, nonempty, names, delimiter, rejected)
    nfields = lines.count_byte(ord(delimiter))[nonempty] + 1
    wrong = nfields != len(names)
    for i, n in zip(nonempty[wrong], nfields[wrong], strict=True):
        rejected.append(
            RejectedLine(int(i) + 1, f"expected {len(names)} fields, found {int(n)}", lines.text(i))
        )
    keep = nonempty[~wrong]
    frame = _arrow_read(_join_lines(lines, keep), names, delimiter, unset, empty, numbers)
    if len(frame) != len(keep):  # pragma: no cover - guarded by the field counts above
        raise RuntimeError(f"parser returned {len(frame)} rows for {len(keep)} lines")
    rejected.sort(key=lambda r: r.line)
    return ParsedText(frame=frame, line_numbers=keep + 1, rejected=rejected)


def _arrow_read(
    buf: bytes | memoryview,
    names: Sequence[str],
    delimiter: str,
    unset: str | None = None,
    empty: str | None = None,
    numbers: Mapping[str, pa.DataType] | None = None,
) -> pd.DataFrame:
    """The text as string columns, except ``numbers``: those parsed as int64 (nullable
    Int64) or float64 where every value of every one of them is a plain number (or the
    unset token), so that each equals what its text would parse to; else (a bad value,
    a NaN or infinity, a negative zero: text the canonical checks treat apart) every
    column stays text."""
    if not buf:
        return pd.DataFrame({n: pd.Series([], dtype="object") for n in names})
    # the unset token is nulled by the parser itself, as it converts (a pass per column
    # less); where both tokens are one string, the empty value wins
    nulls = [unset] if unset is not None and unset != empty else []
    table = None
    if numbers and nulls and len(set(names)) == len(names):  # repeated names: as text
        try:
            table = _csv_table(buf, names, delimiter, nulls, numbers)
        except pa.ArrowInvalid:  # a value that is not a number: every column as text
            table = None
        if table is not None and not all(
            _plain_floats(table.column(n)) for n, t in numbers.items() if pa.types.is_floating(t)
        ):
            table = None
    if table is None:
        table = _csv_table(buf, names, delimiter, nulls, {})
    if empty is not None and _contains(buf, empty.encode()):  # absent from most logs
        table = pa.table(
            [
                _replace_equal(table.column(i), empty, "")
                if pa.types.is_string(table.schema.field(i).type)
                else table.column(i)
                for i in range(table.num_columns)
            ],
            names=table.column_names,
        )
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _csv_table(
    buf: bytes | memoryview,
    names: Sequence[str],
    delimiter: str,
    nulls: list[str],
    numbers: Mapping[str, pa.DataType],
) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(buf)),  # no copy of the text
        read_options=pacsv.ReadOptions(column_names=list(names), block_size=1 << 24),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char=False,
            double_quote=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=True,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: numbers.get(n, pa.string()) for n in names},
            null_values=nulls,
            strings_can_be_null=bool(nulls),
        ),
    )


def _plain_floats(col: pa.ChunkedArray) -> bool:
    """No NaN, infinity or negative zero among the values."""
    if pc.any(pc.is_nan(col)).as_py() or pc.any(pc.is_inf(col)).as_py():
        return False
    values = col.to_numpy()
    return not bool(np.any((values == 0) & np.signbit(values)))


def _replace_equal(col: pa.ChunkedArray, token: str, value: str) -> pa.ChunkedArray:
    """``col`` with every value equal to ``token`` replaced by ``value`` (nulls kept)."""
    hit = pc.equal(col, token)
    if not pc.any(hit).as_py():
        return col
    return pc.if_else(hit, value, col)


def _parse_quoted(
    lines: Lines,
    nonempty: np.ndarray,
    names: Sequence[str],
    delimiter: str,
    rejected: list[RejectedLine],
) -> ParsedText:
    """Slow path for files with quote characters: the csv module, one line at a time.

    Each physical line is one record (a quoted field may not span lines), so a stray
    quote can only ever cost its own line, never the rest of the file.
    """
    rows: list[list[str]] = []
    row_lines: list[int] = []
    data = lines.data
    for i in nonempty:
        text = data[lines.starts[i] : lines.ends[i]].decode("utf-8")
        try:
            row = next(csv.reader((text,), delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration) as exc:
            rejected.append(RejectedLine(int(i) + 1, f"CSV syntax: {exc}", text[:2000]))
            continue
        if len(row) != len(names):
            rejected.append(
                RejectedLine(
                    int(i) + 1, f"expected {len(names)} fields, found {len(row)}", text[:2000]
                )
            )
            continue
        rows.append(row)
        row_lines.append(int(i) + 1)
    frame = pd.DataFrame(rows, columns=list(names), dtype="object")
    if not rows:
        frame = pd.DataFrame({n: pd.Series([], dtype="object") for n in names})
    rejected.sort(key=lambda r: r.line)
    return ParsedText(
        frame=frame, line_numbers=np.asarray(row_lines, dtype=np.int64), rejected=rejected
    )
