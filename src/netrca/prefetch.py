"""Read an input log's bytes on a thread while the command imports its scoring code.

``netrca detect`` spends its first second importing pandas, the detectors and the
model, on one core. :func:`start` reads the input file meanwhile on a daemon thread;
the log readers' :func:`netrca.io._source.read_source` then :func:`take` s those bytes
instead of reading the file again (0.13-0.16 s at 1M Zeek flows, 118 MB). A light module
(no netrca.io, no pandas), so the read starts before those imports.

Bytes are only handed over for the same file: its path, size, modification and change
times, device and inode must be what they were when the read started, or :func:`take`
returns None and the reader reads the file itself (errors included: a failed read ahead
is never reported).
Files that are not text (Parquet, pcap: NUL bytes in their first 4 KiB, gzip excepted)
are not read ahead, nor files over :data:`MAX_BYTES` (or the caller's bound); a caller
that will not read the file whole after all calls :func:`discard`, and so does a reader
that refuses the file for its size. Bytes nobody takes (a run that fails before it reads)
are held until the process ends.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

__all__ = ["MAX_BYTES", "discard", "start", "take"]

#: Larger files are never read ahead (callers may bound it lower: the input limit, and
#: what ``detect --engine local`` scores as one partition).
MAX_BYTES = 1 << 30

_GZIP_MAGIC = b"\x1f\x8b"
_LOCK = threading.Lock()
_pending: dict[str, tuple[tuple[int, ...], Future[bytes]]] = {}


def _identity(path: Path) -> tuple[str, tuple[int, ...]] | None:
    """The file's resolved path and what changes when it is written or replaced: size,
    modification and change times (a rewrite that restores the modification time still
    moves the change time), device and inode."""
    try:
        st = path.stat()
        return str(path.resolve()), (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_dev,
            st.st_ino,
        )
    except OSError:
        return None


def _read(path: Path, done: Future[bytes]) -> None:
    try:
        with path.open("rb") as fh:
            done.set_result(fh.read())
    except BaseException as exc:  # handed to take(), which falls back to a plain read
        done.set_exception(exc)


def start(path: str | Path, max_bytes: int = MAX_BYTES, gzip: bool = True) -> bool:
    """Begin reading ``path`` on a daemon thread; False where it is not read ahead (not
    a regular file, not text, over ``max_bytes``, gzip where ``gzip`` is False,
    unreadable)."""
    p = Path(path)
    ident = _identity(p)
    if ident is None or not p.is_file() or ident[1][0] > min(max_bytes, MAX_BYTES):
        return False
    try:
        with p.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head.startswith(_GZIP_MAGIC):
        if not gzip:
            return False
    elif b"\x00" in head:
        return False
    done: Future[bytes] = Future()
    with _LOCK:
        _pending[ident[0]] = (ident[1], done)
    threading.Thread(target=_read, args=(p, done), name="netrca-prefetch", daemon=True).start()
    return True


def take(path: str | Path) -> bytes | None:
    """The bytes read ahead for ``path`` (waiting for the read to end), handed over
    once; None where none were read, the read failed, or the file has changed since."""
    p = Path(path)
    ident = _identity(p)
    if ident is None:
        return None
    with _LOCK:
        entry = _pending.pop(ident[0], None)
    if entry is None or entry[0] != ident[1]:
        return None
    try:
        data = entry[1].result()  # an interrupt while waiting is the user's: it propagates
    except Exception:
        return None
    # the file may have changed while it was read: then its size or time differs now
    return data if _identity(p) == ident and len(data) == ident[1][0] else None


def discard(path: str | Path) -> None:
    """Drop what was read ahead for ``path`` (its memory goes once the read ends)."""
    ident = _identity(Path(path))
    if ident is not None:
        with _LOCK:
            _pending.pop(ident[0], None)
