"""Reader for canonical flows stored as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from netrca.errors import InputError
from netrca.io.canonical import CanonicalReader, ReadResult, canonicalize

__all__ = ["ParquetReader"]


class ParquetReader(CanonicalReader):
    """Read canonical flows from a Parquet file (or a folder of Parquet parts).

    Rejected rows report their 1-based row number in the ``line`` column.
    """

    fmt = "parquet"

    def read(self, path: str | Path) -> ReadResult:
        """Parse ``path``; raises :class:`InputError` when the file is unusable."""
        source = str(path)
        p = Path(path)
        if not p.exists():
            raise InputError(f"{source}: no such file")
        try:
            meta = pq.ParquetFile(p).metadata
            unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            if unpacked > self.max_bytes:
                raise InputError(
                    f"{source}: {unpacked} bytes uncompressed exceeds the input limit of "
                    f"{self.max_bytes} bytes"
                )
            table = pq.read_table(p)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(f"{source}: not a readable Parquet file ({exc})") from exc
        frame = _to_pandas(_repair_text(table), source)
        if len(frame) == 0:
            raise InputError(f"{source}: no data rows")
        line_numbers = np.arange(1, len(frame) + 1, dtype=np.int64)

        def raw_text(idx: np.ndarray) -> list[str]:
            rows = frame.iloc[idx].astype(str).to_dict(orient="records")
            return [json.dumps(r, sort_keys=True) for r in rows]

        return canonicalize(
            frame,
            line_numbers,
            raw_text,
            source,
            self.fmt,
            mapping=self.mapping,
            required=self.required,
        )


def _repair_text(table: pa.Table) -> pa.Table:
    """String columns holding invalid UTF-8 (a damaged page) with the bad bytes replaced
    by U+FFFD, so those values are rejected row by row instead of failing the file.
    Valid columns (the normal case) are left as they are; the table is rebuilt only when
    a column needs repair."""
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        col = table.column(i)
        try:
            col.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        binary = pa.binary() if pa.types.is_string(field.type) else pa.large_binary()
        raw = col.combine_chunks().view(binary).to_pylist()
        text = [None if v is None else v.decode("utf-8", "replace") for v in raw]
        table = table.set_column(i, field.name, pa.array(text, type=pa.string()))
    return table


def _to_pandas(table: pa.Table, source: str) -> pd.DataFrame:
    """The table as a DataFrame. Damaged pandas metadata (index and dtype hints written
    by pandas) is dropped rather than trusted; the columns themselves are enough."""
    try:
        return table.to_pandas()
    except (pa.ArrowException, ValueError, TypeError, KeyError) as exc:
        first = exc
    try:
        return table.replace_schema_metadata(None).to_pandas()
    except (pa.ArrowException, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{source}: not a readable Parquet file ({first}; {exc})") from exc
