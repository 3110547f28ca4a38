"""Atomic writers: every output is written to a temporary file, then renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = [
    "atomic_path",
    "parquet_options",
    "to_parquet",
    "write_csv",
    "write_json",
    "write_parquet",
    "write_text",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with tmp_path.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV (no index) atomically (same text as ``to_csv``, faster)."""
    from netrca.io.csvwrite import write_csv_fast

    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        write_csv_fast(frame, fh)


#: Columns whose every value is distinct (netrca's row ids, Zeek's connection uids): no
#: dictionary pages.
UNIQUE_COLUMNS = frozenset({"flow_id", "uid"})


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """netrca's Parquet encoding for a table of ``schema``: dictionary pages for text and
    integer columns (few distinct values: states, ports, addresses), none for the
    floats, timestamps and row ids where a dictionary only overflows into plain pages;
    min/max statistics for every column but text (what a reader prunes row groups by:
    times, scores, flags, ids). A 1M-flow predictions table: 0.85 s -> 0.52 s, 3%
    larger."""
    text = [
        f.name
        for f in schema
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and f.name not in UNIQUE_COLUMNS
    ]
    ints = [f.name for f in schema if pa.types.is_integer(f.type) and f.name not in UNIQUE_COLUMNS]
    return {
        "use_dictionary": text + ints,
        "write_statistics": [
            f.name
            for f in schema
            if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ],
    }


def to_parquet(frame: pd.DataFrame | pa.Table, path: str | Path, **options: Any) -> None:
    """Write ``frame`` (no index) to ``path`` with :func:`parquet_options`; read back,
    it is the same frame as after ``frame.to_parquet(path, index=False)``."""
    import pyarrow.parquet as pq  # only where Parquet is written

    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    pq.write_table(table, path, **parquet_options(table.schema), **options)


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as Parquet atomically."""
    with atomic_path(path) as tmp:
        to_parquet(frame, tmp)
