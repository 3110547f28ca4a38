"""Reader for canonical flows as JSON Lines (one JSON object per line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from netrca.io._source import load_lines
from netrca.io._text import RejectedLine, json_objects
from netrca.io.canonical import CanonicalReader, ReadResult, canonicalize, merge_rejects

__all__ = ["JsonLinesReader"]


class JsonLinesReader(CanonicalReader):
    """Read canonical flows from JSON Lines; malformed lines go to rejects."""

    fmt = "jsonl"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source, lines = load_lines(path, max_bytes=self.max_bytes, what="JSON Lines")
        records: list[dict[str, object]] = []
        numbers: list[int] = []
        rejected: list[RejectedLine] = []
        for line_no, obj in json_objects(lines, self.max_line_bytes, rejected):
            records.append({k: _scalar(v) for k, v in obj.items()})
            numbers.append(line_no)
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
