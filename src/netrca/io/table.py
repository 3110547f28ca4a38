"""Reader for feature tables (NSL-KDD, KDD'99, UNSW-NB15-style CSVs): no flow identity needed."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from netrca.errors import InputError
from netrca.io._source import load_lines
from netrca.io._text import Lines, parse_delimited, split_header, unique_names
from netrca.io.canonical import (
    COLUMN_ALIASES,
    ReadResult,
    canonicalize,
    merge_rejects,
    normalise_name,
)
from netrca.io.delimited import find_header, sniff_delimiter

__all__ = ["FeatureTableReader", "TableProfile", "detect_profile", "load_profiles"]

#: Column names that hold ground truth or label-derived metadata in common datasets;
#: never used as features unless the user maps them explicitly.
LABEL_LIKE = frozenset(
    {
        "label",
        "labels",
        "attack",
        "attackcat",
        "attacktype",
        "class",
        "category",
        "target",
        "rootcause",
        "detailedlabel",
        "difficulty",
        "difficultylevel",
        "islabel",
        "malicious",
    }
)


@dataclass(frozen=True)
class TableProfile:
    """A documented table layout: column names, canonical mapping, label column."""

    name: str
    description: str
    n_fields: int
    columns: tuple[str, ...]
    mapping: dict[str, str]
    label_column: str
    exclude: tuple[str, ...]
    strip_label_dot: bool


def load_profiles() -> dict[str, TableProfile]:
    """The packaged profiles (``io/profiles/tables.toml``)."""
    text = resources.files("netrca.io").joinpath("profiles", "tables.toml").read_text("utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    return {
        name: TableProfile(
            name=name,
            description=str(t["description"]),
            n_fields=int(t["n_fields"]),
            columns=tuple(t["columns"]),
            mapping=dict(t["mapping"]),
            label_column=str(t["label_column"]),
            exclude=tuple(t["exclude"]),
            strip_label_dot=bool(t["strip_label_dot"]),
        )
        for name, t in raw.items()
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def detect_profile(first_line: str) -> TableProfile | None:
    """The profile a header-less first line matches (NSL-KDD or KDD'99), else None."""
    fields = first_line.strip().split(",")
    for profile in load_profiles().values():
        if len(fields) != profile.n_fields:
            continue
        if fields[1].lower() not in ("tcp", "udp", "icmp") or not _is_number(fields[0]):
            continue
        if profile.strip_label_dot != fields[41].endswith("."):
            continue
        return profile
    return None


def looks_like_header(fields: list[str]) -> bool:
    """A first row is a header when most of its cells are not numbers."""
    cells = [f for f in fields if f.strip()]
    return bool(cells) and sum(not _is_number(f) for f in cells) > len(cells) / 2


def recognised_columns(names: list[str]) -> int:
    """How many names are canonical columns, known aliases or label-like."""
    known = set(COLUMN_ALIASES) | LABEL_LIKE
    return sum(normalise_name(n) in known for n in names)


class FeatureTableReader:
    """Read a feature table: one row per connection, any columns, no flow identity needed.

    Canonical columns found by name, alias or ``mapping`` are validated as usual; the rest
    are kept and may be used as extra features. Header-less NSL-KDD and KDD'99 files are
    read with their documented column names.
    """

    fmt = "table"

    def __init__(
        self,
        *,
        mapping: Mapping[str, str] | None = None,
        label_column: str | None = None,
        category_column: str | None = None,
        max_bytes: int = 8 * 2**30,
        max_line_bytes: int = 2**20,
    ) -> None:
        self.mapping = dict(mapping or {})
        self.label_column = label_column
        self.category_column = category_column
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source, lines = load_lines(path, max_bytes=self.max_bytes, what="a text table")
        data = lines.data
        h = find_header(lines)
        if h < 0:
            raise InputError(f"{source}: no data")
        first = lines.text(h, 100000)
        profile = detect_profile(first)
        delimiter = "," if profile else sniff_delimiter(first)
        fields = split_header(first, delimiter)
        if profile is not None:
            names: list[str] = list(profile.columns)
            body = np.arange(h, len(lines))
            header_line = None
        elif looks_like_header(fields):
            names = [f.strip().lstrip("\ufeff") or f"column_{i + 1}" for i, f in enumerate(fields)]
            body = np.arange(h + 1, len(lines))
            header_line = h + 1
        else:
            raise InputError(
                f"{source}: line {h + 1}: no header row and not a known header-less layout "
                "(NSL-KDD, KDD'99); add a header row with column names"
            )
        names = unique_names(names, start=1)
        quoted = b'"' in data
        parsed = parse_delimited(
            lines, body, names, delimiter, quoted=quoted, max_line_bytes=self.max_line_bytes
        )
        frame = parsed.frame
        mapping = dict(profile.mapping) if profile else {}
        mapping.update(self.mapping)
        label = self.label_column or (profile.label_column if profile else "label")
        if profile and profile.strip_label_dot and label in frame:
            frame[label] = frame[label].str.rstrip(".")
        line_numbers = parsed.line_numbers
        result = canonicalize(
            frame,
            line_numbers,
            _raw(lines, line_numbers),
            source,
            self.fmt,
            mapping=mapping,
            required=(),
            header_line=header_line,
        )
        result.rejects = merge_rejects(
            source, [(r.line, r.reason, r.raw) for r in parsed.rejected], result.rejects
        )
        result.label_column = label
        result.category_column = self.category_column or "root_cause"
        result.excluded = tuple(profile.exclude) if profile else ()
        return result


def _raw(lines: Lines, numbers: np.ndarray) -> Any:
    def raw_text(idx: np.ndarray) -> list[str]:
        return [lines.text(int(numbers[i]) - 1) for i in idx]

    return raw_text
