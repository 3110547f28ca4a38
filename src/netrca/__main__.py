"""Entry point for ``python -m netrca`` and the ``netrca`` command (kept light: it runs
before numpy is imported)."""

from __future__ import annotations

import os
import sys

#: Subcommands that run with OpenBLAS held to one thread: scoring and fitting do no
#: matrix algebra. The others keep its default (``synth`` and ``run --synthetic gan``
#: measure fidelity with matrix products).
ONE_BLAS_THREAD = frozenset({"detect", "fit"})


def entry() -> None:
    """The ``netrca`` command: for :data:`ONE_BLAS_THREAD` commands OpenBLAS held to one
    thread (unless the user set ``OPENBLAS_NUM_THREADS``), then :func:`netrca.cli.entry`.

    numpy's OpenBLAS starts a worker thread per extra core when it loads, and that
    thread spins for a while before it sleeps: importing numpy, pandas and pyarrow took
    0.6-0.7 CPU-s with it, 0.4-0.5 alone, the difference taken from the core on which
    the input log is being read meanwhile (netrca.prefetch). The scoring path does no
    matrix algebra, and its own threads and processes use the cores. The setting is
    inherited by the Dask workers a run starts.
    """
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    if command in ONE_BLAS_THREAD:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from netrca.cli import entry as run

    run()


if __name__ == "__main__":
    entry()
