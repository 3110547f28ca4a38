"""Reader for canonical flows as JSON Lines (one JSON object per line)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.io._source import looks_binary, read_source
from netrca.io._text import RejectedLine, split_lines
from netrca.io.canonical import ReadResult, canonicalize, merge_rejects
from netrca.schema import REQUIRED_COLUMNS

__all__ = ["JsonLinesReader"]


class JsonLinesReader:
    """Read canonical flows from JSON Lines; malformed lines go to rejects."""

    fmt = "jsonl"

    def __init__(
        self,
        *,
        mapping: Mapping[str, str] | None = None,
        required: tuple[str, ...] = REQUIRED_COLUMNS,
        max_bytes: int = 8 * 2**30,
        max_line_bytes: int = 2**20,
    ) -> None:
        self.mapping = dict(mapping or {})
        self.required = required
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source = str(path)
        data = read_source(path, max_bytes=self.max_bytes)
        if not data.strip():
            raise InputError(f"{source}: file is empty")
        if looks_binary(data[:65536]):
            raise InputError(f"{source}: binary data, not JSON Lines")
        lines = split_lines(data)
        records: list[dict[str, object]] = []
        numbers: list[int] = []
        rejected: list[RejectedLine] = []
        for i in range(len(lines)):
            start, end = int(lines.starts[i]), int(lines.ends[i])
            if start == end or not data[start:end].strip():
                continue
            if end - start > self.max_line_bytes:
                rejected.append(
                    RejectedLine(i + 1, f"line longer than {self.max_line_bytes} bytes", "")
                )
                continue
            try:
                obj = json.loads(data[start:end])
            except (ValueError, UnicodeDecodeError) as exc:
                rejected.append(RejectedLine(i + 1, f"invalid JSON: {exc}", lines.text(i)))
                continue
            if not isinstance(obj, dict):
                rejected.append(RejectedLine(i + 1, "JSON value is not an object", lines.text(i)))
                continue
            records.append({k: _scalar(v) for k, v in obj.items()})
            numbers.append(i + 1)
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
        line_numbers = np.asarray(numbers, dtype=np.int64)
        if frame.shape[1] == 0 and rejected:
            frame = pd.DataFrame({c: [] for c in self.required}, dtype="object")

        def raw_text(idx: np.ndarray) -> list[str]:
            return [lines.text(int(line_numbers[i]) - 1) for i in idx]

        result = canonicalize(
            frame,
            line_numbers,
            raw_text,
            source,
            self.fmt,
            mapping=self.mapping,
            required=self.required,
        )
        result.rejects = merge_rejects(
            source, [(r.line, r.reason, r.raw) for r in rejected], result.rejects
        )
        return result


def _scalar(v: object) -> object:
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return v
