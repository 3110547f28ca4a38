"""Reader for canonical CSV (any of , ; TAB | as delimiter, sniffed from the header)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netrca.errors import InputError
from netrca.io._source import load_lines
from netrca.io._text import Lines, parse_delimited, split_header
from netrca.io.canonical import (
    COLUMN_ALIASES,
    CanonicalReader,
    ReadResult,
    canonicalize,
    merge_rejects,
    normalise_name,
)
from netrca.schema import CANONICAL_COLUMNS

__all__ = ["CsvReader", "find_header", "sniff_delimiter"]

_DELIMITERS = (",", ";", "\t", "|")
_KNOWN = {normalise_name(c) for c in CANONICAL_COLUMNS} | set(COLUMN_ALIASES)


def sniff_delimiter(header: str) -> str:
    """The delimiter that splits ``header`` into the most recognisable column names."""

    def score(d: str) -> tuple[int, int]:
        names = header.split(d)
        known = sum(1 for n in names if normalise_name(n) in _KNOWN)
        return (known, len(names))

    return max(_DELIMITERS, key=score)


def find_header(lines: Lines) -> int:
    """Index of the first line that is neither empty nor a ``#`` comment, or -1."""
    first = lines.first_byte()
    candidates = np.flatnonzero((first >= 0) & (first != ord("#")))
    return int(candidates[0]) if len(candidates) else -1


def _header_names(text: str, delimiter: str) -> list[str]:
    row = split_header(text, delimiter)
    names = [n.strip().lstrip("\ufeff") for n in row]
    return [n if n else f"column_{i + 1}" for i, n in enumerate(names)]


class CsvReader(CanonicalReader):
    """Read a canonical-schema CSV file into (flows, rejects).

    Parameters
    ----------
    mapping : dict, optional
        ``{canonical_name: input_column}`` overrides for files with other names.
    required : tuple of str
        Canonical columns that must be present.
    """

    fmt = "csv"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source, lines = load_lines(path, max_bytes=self.max_bytes, what="a text log")
        data = lines.data
        h = find_header(lines)
        if h < 0:
            raise InputError(f"{source}: no header line")
        try:
            header_text = lines.data[lines.starts[h] : lines.ends[h]].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: line {h + 1}: header is not valid UTF-8") from exc
        delimiter = sniff_delimiter(header_text)
        names = _header_names(header_text, delimiter)
        body = np.arange(h + 1, len(lines))
        quoted = b'"' in data[lines.ends[h] :]
        parsed = parse_delimited(
            lines, body, names, delimiter, quoted=quoted, max_line_bytes=self.max_line_bytes
        )
        line_numbers = parsed.line_numbers

        def raw_text(idx: np.ndarray) -> list[str]:
            return [lines.text(int(line_numbers[i]) - 1) for i in idx]

        result = canonicalize(
            parsed.frame,
            line_numbers,
            raw_text,
            source,
            self.fmt,
            mapping=self.mapping,
            required=self.required,
            header_line=h + 1,
        )
        result.rejects = merge_rejects(
            source, [(r.line, r.reason, r.raw) for r in parsed.rejected], result.rejects
        )
        return result
