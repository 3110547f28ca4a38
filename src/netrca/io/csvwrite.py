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
_QUOTE_BYTES = np.frombuffer(b',"\n', dtype=np.uint8)


def _may_need_quotes(text: pa.Array | pa.ChunkedArray) -> bool:
    """False when no value can need quoting: none of ``,``, ``"`` or a newline occurs
    anywhere in the array's character data (one byte scan, no per-value regex)."""
    for chunk in _chunks(text):
        data = chunk.buffers()[2]
        if data is None:
            continue
        if np.isin(np.frombuffer(data, dtype=np.uint8)[_span(chunk)], _QUOTE_BYTES).any():
            return True
    return False


def _quote(text: pa.Array) -> pa.Array:
    """Minimal CSV quoting (QUOTE_MINIMAL) of a string array without nulls."""
    if not _may_need_quotes(text):
        return text
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
    with np.errstate(invalid="ignore"):
        mag = np.abs(values)
        arrow_ok = np.isnan(values) | (((mag >= 1e-4) | (mag == 0)) & (mag < 1e9))
        # Arrow prints 3.0 as "3"; Python's repr (pandas) as "3.0". Inside the range Arrow
        # formats here (the rest is replaced below), that is every integer-valued float
        whole = np.floor(values) == values
    text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, pa.scalar(".0"), ""), text)
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
        flags = pa.array(s, type=pa.bool_(), from_pandas=True)
        text = pc.if_else(flags, pa.scalar("True"), pa.scalar("False"))
        return pc.fill_null(text, "")
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
    return _end_lines(_body(cols), lone=len(cols) == 1)


def _body(cols: list[pa.Array]) -> pa.Array | None:
    """The comma-joined fields of each row (None when there are no columns)."""
    if not cols:
        return None
    return pc.binary_join_element_wise(*cols, ",") if len(cols) > 1 else cols[0]


def _end_lines(body: pa.Array | None, *, lone: bool) -> pa.Array | None:
    """``body`` + newline; ``lone``: one column, whose empty fields are written ``""``
    (as csv/pandas do: an empty line would read back as no row at all)."""
    if body is None:
        return None
    if lone:
        body = pc.if_else(pc.equal(pc.binary_length(body), 0), pa.scalar('""'), body)
    return pc.binary_join_element_wise(body, pa.scalar(""), "\n")


def _bodies(text: dict[str, pa.Array], selections: list[list[str]]) -> list[pa.Array | None]:
    """Each selection's joined fields; a selection that extends a shorter one (the flows'
    columns, then the prediction columns) appends to that one's text instead of joining
    its columns again."""
    out: list[pa.Array | None] = [None] * len(selections)
    for i in sorted(range(len(selections)), key=lambda k: len(selections[k])):
        cols = selections[i]
        base = max(
            (
                j
                for j in range(len(selections))
                if out[j] is not None
                and 0 < len(selections[j]) < len(cols)
                and cols[: len(selections[j])] == selections[j]
            ),
            key=lambda j: len(selections[j]),
            default=None,
        )
        if base is None:
            out[i] = _body([text[c] for c in cols])
        else:
            rest = [text[c] for c in cols[len(selections[base]) :]]
            out[i] = pc.binary_join_element_wise(out[base], *rest, ",")
    return out


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
    """The bytes of a (possibly sliced) string array's values in its data buffer (every
    text array here is ``pa.string()``: 32-bit offsets)."""
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
        selections = [list(map(str, columns)) for _, columns in targets]
        bodies = _bodies(text, selections)
        lines = [_end_lines(b, lone=len(c) == 1) for b, c in zip(bodies, selections, strict=True)]
        return len(part), lines

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
