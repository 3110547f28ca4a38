"""Process-wide runtime settings of the command line: which allocator Arrow uses."""

from __future__ import annotations

import os

import pyarrow as pa

__all__ = ["configure_arrow_pool"]


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
