"""The C line scanner (netrca.io._lines) against the numpy reference it replaces."""

from __future__ import annotations

import importlib
import random
import shutil
import sysconfig

import numpy as np
import pytest

from netrca.io import _text

# skipped only where no C compiler could have built it: with one, a failed build fails here
if shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]) is None:
    pytest.skip("no C compiler: the line scanner is not built", allow_module_level=True)
_lines = importlib.import_module("netrca.io._lines")


def test_the_readers_use_the_extension() -> None:
    assert _text._lines is _lines


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
    with pytest.raises(ValueError, match="whole number of int64"):
        _lines.count_per_line(data, b"\0" * 9, np.array([1], np.int64), 9, out)
    with pytest.raises(ValueError, match="int64 items"):
        _lines.count_per_line(data, np.array([0, 1], np.int64), np.array([1], np.int64), 9, out)
    with pytest.raises(ValueError, match="more lines"):
        _lines.split(b"a\nb\nc", np.empty(2, np.int64), np.empty(2, np.int64))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        _lines.count(data, 256)


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_utf8_check_accepts_what_pythons_decoder_accepts() -> None:
    """Every sequence of up to three bytes from the values where UTF-8's rules change
    (overlong forms, surrogates, past U+10FFFF, truncation), at and off the eight-byte
    ASCII steps, and random bytes and random text."""
    import itertools

    edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF]
    edges += [0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    for size in (1, 2, 3):
        for seq in itertools.product(edges, repeat=size):
            for pad in (b"", b"abc", b"abcdefgh"):
                data = pad + bytes(seq) + pad
                assert _lines.utf8_valid(data) == _decodes(data), data
    rng = random.Random(11)
    for _ in range(5000):
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(0, 30)))
        assert _lines.utf8_valid(noise) == _decodes(noise), noise
        text = "".join(chr(rng.randrange(0x110000)) for _ in range(8))
        good = text.encode("utf-8", "surrogatepass")
        assert _lines.utf8_valid(good) == _decodes(good), good
    assert _lines.utf8_valid("xn--ß\U0010ffff".encode()) and not _lines.utf8_valid(b"\xed\xa0\x80")


def test_contains_finds_what_python_finds() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        data = bytes(rng.choice(b"ab(e)") for _ in range(rng.randint(0, 40)))
        needle = bytes(rng.choice(b"ab(e)") for _ in range(rng.randint(0, 4)))
        assert _lines.contains(data, needle) == (needle in data), (data, needle)
        assert _lines.contains(memoryview(data)[1:], needle) == (needle in data[1:])
