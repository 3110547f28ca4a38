"""The C line scanner (netrca.io._lines) against the numpy reference it replaces."""

from __future__ import annotations

import random

import numpy as np
import pytest

from netrca.io import _text

_lines = pytest.importorskip("netrca.io._lines")  # a build without a C compiler has none

EDGES = [
    b"",
    b"a",
    b"a\n",
    b"a\n\n",
    b"\n",
    b"\r",
    b"\r\n",
    b"a\n\r",
    b"x\ty\r\n\tz\r\r\n\n\t",
    b"\x00\r\t\n",
    b"\t" * 600 + b"\n" + b"\t" * 255 + b"\n" + b"\t" * 256,  # counts past a byte counter
]


def _counts_numpy(data: bytes, lines: _text.Lines, byte: int) -> np.ndarray:
    pos = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == byte)
    return np.searchsorted(pos, lines.ends) - np.searchsorted(pos, lines.starts)


def _random_texts(n: int) -> list[bytes]:
    rng = random.Random(7)
    return [bytes(rng.choice(b"ab\t\r\n\x00") for _ in range(rng.randint(0, 60))) for _ in range(n)]


def test_split_and_counts_equal_numpy() -> None:
    for data in EDGES + _random_texts(2000):
        got, ref = _text.split_lines(data), _text._split_lines_numpy(data)
        assert got.starts.tolist() == ref.starts.tolist(), data
        assert got.ends.tolist() == ref.ends.tolist(), data
        for byte in (0, 9, 13, ord("a")):
            assert got.count_byte(byte).tolist() == _counts_numpy(data, ref, byte).tolist()
        assert _lines.count(data, 9) == data.count(b"\t")


def test_offsets_are_checked_before_counting() -> None:
    data = b"ab\tc\n"
    out = np.empty(1, dtype=np.int64)
    for start, end in ((0, 6), (-1, 2), (3, 2)):
        with pytest.raises(ValueError, match="out of bounds"):
            _lines.count_per_line(
                data, np.array([start], np.int64), np.array([end], np.int64), 9, out
            )
    with pytest.raises(ValueError, match="int64 items"):
        _lines.count_per_line(data, np.array([0, 1], np.int64), np.array([1], np.int64), 9, out)
    with pytest.raises(ValueError, match="more lines"):
        _lines.split(b"a\nb\nc", np.empty(2, np.int64), np.empty(2, np.int64))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        _lines.count(data, 256)
