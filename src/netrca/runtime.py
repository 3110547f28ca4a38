"""Process-wide settings of the command line: Arrow's and glibc's allocators, numpy's pages."""

from __future__ import annotations

import ctypes
import os
import sys

import pyarrow as pa

__all__ = [
    "MALLOC_ENV",
    "MMAP_THRESHOLD",
    "TRIM_THRESHOLD",
    "configure_arrow_pool",
    "configure_malloc",
    "configure_numpy_pages",
    "release_free_memory",
]

#: glibc malloc settings from the environment; when any is set, :func:`configure_malloc`
#: leaves malloc alone.
MALLOC_ENV = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)
#: Blocks up to this size come from malloc's heap (reused), larger ones from mmap.
MMAP_THRESHOLD = 128 << 20
#: Free memory at the top of the heap beyond this goes back to the kernel.
TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def configure_arrow_pool() -> str:
    """Make jemalloc Arrow's default memory pool, unless the user chose one.

    Arrow's wheels default to mimalloc, which hands freed pages back to the kernel so
    eagerly that a 1M-flow ``netrca detect`` spent 5-8 s of system time re-faulting them;
    with jemalloc it spent 3.7-4.6 s and peaked up to 0.4 GiB lower (BENCHMARKS.md, #6).
    ``ARROW_DEFAULT_MEMORY_POOL`` (read by Arrow itself) still wins when it is set. Returns
    the backend in use. Called by the CLI and by Dask workers, not on import: a program
    that imports netrca as a library keeps its own allocator.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return str(pa.default_memory_pool().backend_name)
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):  # a build without jemalloc
        return str(pa.default_memory_pool().backend_name)
    pa.set_memory_pool(pool)
    return str(pool.backend_name)


def configure_malloc() -> bool:
    """Let glibc malloc reuse freed blocks of up to 128 MiB instead of unmapping them.

    By default glibc serves every block above a threshold (at most 32 MiB) with its own
    ``mmap`` and unmaps it on ``free``, so each of the many 8-64 MB temporaries of a
    1M-flow run came back as fresh pages the kernel had to zero: over a quarter of the run's
    CPU was system time. With blocks up to :data:`MMAP_THRESHOLD` taken from the heap
    and :data:`TRIM_THRESHOLD` of free heap kept, a 1M-flow ``netrca detect`` took about
    20% less time and its median peak RSS grew by 0.17 GiB (BENCHMARKS.md, #6).

    Only on glibc, and only when none of :data:`MALLOC_ENV` is set (the user's choice
    wins). Called by the CLI and by Dask workers, not on import. Returns whether malloc
    was configured.
    """
    libc = _glibc()
    if libc is None or any(os.environ.get(k) for k in MALLOC_ENV):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # the trim threshold alone would also freeze the mmap threshold at its 128 KiB
    # default, so it is set only once the mmap threshold is accepted
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)


def configure_numpy_pages() -> bool:
    """Stop numpy asking for transparent huge pages for its large arrays.

    numpy advises the kernel (``MADV_HUGEPAGE``) to back every array of 4 MiB or more
    with 2 MiB pages. Where the kernel's THP "defrag" setting lets such a fault compact
    memory, as on the AMD EPYC VM this project is measured on, a first touch can take
    several times as long as in 4 KiB pages: with the feature matrix already in 4 KiB
    pages, a 1M-flow partitioned ``netrca detect`` spent 1.35-1.54 s of system time with
    numpy's advice and 0.98-1.13 s without (BENCHMARKS.md, #6). netrca's arrays are read
    in passes, where huge pages save little. ``NUMPY_MADVISE_HUGEPAGE`` (read by numpy itself)
    still wins when it is set. Called by the CLI and by Dask workers, not on import.
    Returns whether numpy's advice was on and is now off.
    """
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE"):
        return False
    from numpy._core import multiarray

    advise = getattr(multiarray, "_set_madvise_hugepage", None)
    if advise is None:  # a numpy without it: its default stays
        return False
    return bool(advise(False))  # the setting it replaced: True when it was on


def release_free_memory() -> None:
    """Hand malloc's free heap memory back to the kernel (glibc ``malloc_trim``).

    With :func:`configure_malloc` the heap keeps freed blocks for reuse; between two
    partitions or split chunks nothing would reuse them soon, so they are returned
    rather than counted in the peak of the next one. A no-op off glibc.
    """
    libc = _glibc()
    if libc is None:
        return
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (musl and others: None; their
    ``mallopt`` does nothing and ``malloc_trim`` may not exist)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return None
    return libc
