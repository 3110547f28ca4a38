"""Fast CSV writer (pyarrow compute kernels) producing the text pandas' ``to_csv`` does.

``pandas.DataFrame.to_csv`` formats every cell in Python and took most of the output
stage on a million flows. This writer renders each column with vectorised Arrow
kernels, joins the columns into lines without a Python loop over rows, and writes the
bytes in chunks (memory stays bounded). The text matches ``to_csv(index=False)`` for
the dtypes netrca writes: booleans (``True``/``False``), integers (nullable ones too),
floats (Python ``repr`` digits; NaN as empty), strings (minimal quoting: a field with a
comma, a quote or a newline is quoted, quotes doubled). Floats outside
[1e-4, 1e9) and other dtypes are formatted by Python, value by value, as pandas does.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["write_csv_fast", "write_csv_views"]

_CHUNK = 200_000
_NEEDS_QUOTE = r'[,"\n]'


def _quote(text: pa.Array) -> pa.Array:
    """Minimal CSV quoting (QUOTE_MINIMAL) of a string array without nulls."""
    needs = pc.match_substring_regex(text, _NEEDS_QUOTE)
    if not pc.any(needs).as_py():
        return text
    doubled = pc.replace_substring(text, '"', '""')
    quoted = pc.binary_join_element_wise(pa.scalar('"'), doubled, pa.scalar('"'), "")
    return pc.if_else(needs, quoted, text)


def _python_text(values: pd.Series) -> pa.Array:
    """Cells formatted one by one, like pandas (str(), empty for missing)."""
    out = [("" if pd.isna(v) else str(v)) for v in values.tolist()]
    return pa.array(out, type=pa.string())


def _float_text(values: np.ndarray) -> pa.Array:
    arr = pa.array(values, type=pa.float64(), from_pandas=True)
    text = pc.cast(arr, pa.string())
    # Arrow prints 3.0 as "3"; Python's repr (pandas) as "3.0"
    plain = pc.match_substring_regex(text, "[.en]")
    text = pc.if_else(plain, text, pc.binary_join_element_wise(text, pa.scalar(".0"), ""))
    with np.errstate(invalid="ignore"):
        mag = np.abs(values)
        arrow_ok = np.isnan(values) | (((mag >= 1e-4) | (mag == 0)) & (mag < 1e9))
    if not arrow_ok.all():  # Arrow switches to exponents at other magnitudes than repr
        odd = np.flatnonzero(~arrow_ok)
        py = pa.array([repr(float(v)) for v in values[odd]], type=pa.string())
        text_list = text.to_numpy(zero_copy_only=False).astype(object)
        text_list[odd] = py.to_numpy(zero_copy_only=False)
        text = pa.array(text_list, type=pa.string())
    return pc.fill_null(text, "")


def _column_text(s: pd.Series) -> pa.Array:
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        mask = s.isna().to_numpy()
        vals = s.fillna(False).to_numpy(dtype=bool)
        text = np.where(vals, "True", "False").astype(object)
        text[mask] = ""
        return pa.array(text, type=pa.string())
    if pd.api.types.is_integer_dtype(dtype):
        arr = pa.array(s, from_pandas=True)
        return pc.fill_null(pc.cast(arr, pa.string()), "")
    if pd.api.types.is_float_dtype(dtype):
        return _float_text(s.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, np.dtype):
        arr = pa.array(s, type=pa.string(), from_pandas=True)
        return _quote(pc.fill_null(arr, ""))
    if dtype == np.dtype(object):
        try:  # all text (or missing): Arrow takes it as is
            arr = pa.array(s.to_numpy(), type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return _quote(_python_text(s))
        return _quote(pc.fill_null(arr, ""))
    return _quote(_python_text(s))


def _lines(cols: list[pa.Array]) -> pa.Array | None:
    """The CSV lines of one chunk (None when there are no columns: empty lines)."""
    if not cols:
        return None
    line = pc.binary_join_element_wise(*cols, ",") if len(cols) > 1 else cols[0]
    return pc.binary_join_element_wise(line, pa.scalar(""), "\n")


def _write(line: pa.Array | None, n: int, fh: BinaryIO) -> None:
    if line is None:
        fh.write(b"\n" * n)
        return
    for chunk in _chunks(line):  # the joined lines are one contiguous buffer per chunk
        fh.write(memoryview(chunk.buffers()[2])[_span(chunk)])


def _threads() -> int:
    """Threads for rendering (1 when Arrow is limited to one CPU, e.g. in a Dask worker)."""
    return min(2, pa.cpu_count())


def _chunks(arr: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    if isinstance(arr, pa.ChunkedArray):
        return [c for c in arr.chunks if len(c)]
    return [arr] if len(arr) else []


def _span(chunk: pa.Array) -> slice:
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
    start = chunk.offset
    return slice(int(offsets[start]), int(offsets[start + len(chunk)]))


def _header(columns: list[str]) -> bytes:
    names = _quote(pa.array([str(c) for c in columns], type=pa.string()))
    return (",".join(names.to_pylist()) + "\n").encode("utf-8")


def write_csv_fast(frame: pd.DataFrame, fh: BinaryIO, *, chunk_rows: int = _CHUNK) -> None:
    """Write ``frame`` (no index) as CSV to the binary file ``fh``, ``chunk_rows`` at a time."""
    write_csv_views(frame, [(fh, [str(c) for c in frame.columns])], chunk_rows=chunk_rows)


def write_csv_views(
    frame: pd.DataFrame,
    targets: list[tuple[BinaryIO, list[str]]],
    *,
    chunk_rows: int = _CHUNK,
) -> None:
    """Write several column selections of ``frame`` as CSV files at once.

    ``targets``: (binary file, column names) pairs; each column is rendered once, so
    files that share columns (the flows and the flows with predictions) cost one render.
    """
    for fh, columns in targets:
        fh.write(_header(columns))
    needed = list(dict.fromkeys(c for _, columns in targets for c in columns))
    position = {str(c): j for j, c in enumerate(frame.columns)}

    def render(start: int) -> tuple[int, list[pa.Array]]:
        part = frame.iloc[start : start + chunk_rows]
        text = {c: _column_text(part.iloc[:, position[c]]) for c in needed}
        return len(part), [_lines([text[c] for c in columns]) for _, columns in targets]

    starts = range(0, len(frame), chunk_rows)
    if len(starts) < 2 or _threads() < 2:
        for start in starts:
            n, lines = render(start)
            for (fh, _), line in zip(targets, lines, strict=True):
                _write(line, n, fh)
        return
    # two chunks render ahead on two threads (Arrow's kernels release the GIL) while the
    # current one is written: memory holds at most three chunks' text
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead = iter(starts)
        queue = deque(pool.submit(render, s) for s in (next(ahead), next(ahead)))
        while queue:
            n, lines = queue.popleft().result()
            following = next(ahead, None)
            if following is not None:
                queue.append(pool.submit(render, following))
            for (fh, _), line in zip(targets, lines, strict=True):
                _write(line, n, fh)
