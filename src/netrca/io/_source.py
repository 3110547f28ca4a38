"""Open an input file as bytes: missing files, gzip and size limits handled once."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from netrca import prefetch
from netrca.errors import InputError
from netrca.io._text import Lines, split_lines

__all__ = ["gzip_errors", "is_gzip", "load_lines", "looks_binary", "read_head", "read_source"]

_GZIP_MAGIC = b"\x1f\x8b"


def read_source(path: str | Path, *, max_bytes: int) -> bytes:
    """Return the file's bytes, gunzipped when compressed, refusing more than ``max_bytes``."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a file")
    try:
        size = p.stat().st_size
        if size > max_bytes:
            prefetch.discard(p)
            raise InputError(f"{p}: {size} bytes exceeds the input limit of {max_bytes} bytes")
        early = prefetch.take(p)  # read on a thread while the command started
        if early is not None:
            return _gunzip(early, p, max_bytes) if early[:2] == _GZIP_MAGIC else early
        with p.open("rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head == _GZIP_MAGIC:
                return _gunzip(fh.read(), p, max_bytes)
            return fh.read()
    except PermissionError as exc:
        raise InputError(f"{p}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from exc


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with gzip's magic bytes."""
    with Path(path).open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


@contextmanager
def gzip_errors(path: str | Path) -> Iterator[None]:
    """Turn what a damaged gzip stream raises while it is read into an InputError."""
    try:
        yield
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"{path}: corrupt gzip data ({exc})") from exc


def read_head(path: str | Path, n: int = 65536) -> bytes:
    """The file's first ``n`` bytes, gunzipped when compressed: only as much of a gzip
    stream is decompressed as those bytes need (sniffing a format reads no more)."""
    p = Path(path)
    if not is_gzip(p):
        with p.open("rb") as fh:
            return fh.read(n)
    with gzip_errors(p), gzip.open(p, "rb") as fh:
        return fh.read(n)


_STEP = 16 * 2**20


def _gunzip(data: bytes, path: Path, max_bytes: int) -> bytes:
    """Decompress in bounded steps so a compression bomb stops at ``max_bytes``."""
    out = bytearray()
    d = zlib.decompressobj(wbits=31)
    buf = data
    try:
        while buf:
            # at most _STEP bytes per call: one step never holds a second copy of the input
            chunk = d.decompress(buf, max(1, min(_STEP, max_bytes + 1 - len(out))))
            out += chunk
            if len(out) > max_bytes:
                raise InputError(
                    f"{path}: decompresses to more than the input limit of {max_bytes} bytes"
                )
            buf = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if rest.startswith(_GZIP_MAGIC):  # concatenated gzip members
                    d = zlib.decompressobj(wbits=31)
                    buf = rest
                else:
                    break
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"{path}: corrupt gzip data ({exc})") from exc
    if not d.eof:
        raise InputError(f"{path}: truncated gzip data")
    # no bytes() copy: that would double the peak memory of a large (or hostile) input;
    # a bytearray serves every read-only use the readers make of it
    return cast(bytes, out)


def looks_binary(sample: bytes) -> bool:
    """True when ``sample`` (the file's head) is clearly not text: NULs or control bytes."""
    head = sample[:4096]
    if not head:
        return False
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    return ctrl > 0.02 * len(head)


def load_lines(path: str | Path, *, max_bytes: int, what: str) -> tuple[str, Lines]:
    """The common prologue of the text readers: read (gunzip), refuse empty or binary
    input with one clear error, and split into lines. Returns (source name, lines)."""
    source = str(path)
    data = read_source(path, max_bytes=max_bytes)
    if not data[:65536].strip() and not data.strip():  # no whole stripped copy of a log
        raise InputError(f"{source}: file is empty")
    if looks_binary(data[:65536]):
        raise InputError(f"{source}: binary data, not {what}")
    return source, split_lines(data)
