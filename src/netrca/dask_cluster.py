"""The LocalCluster of ``--engine dask``, started on a thread so it comes up while other work runs.

A light module (Dask is imported only on use): the CLI starts the cluster before it
imports the scoring code and loads the model, so the worker processes start, import
the scoring path (Dask's ``preload``: :func:`netrca.partitioned.dask_setup`) and load
numba's compiler target while the client process does the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from netrca.errors import ConfigError

__all__ = ["WORKER_PRELOAD", "dask_module", "local_cluster"]

#: Module each worker of a LocalCluster netrca starts imports while it starts (Dask's
#: ``preload``), with its ``dask_setup`` hook: the scoring code and numba's target.
WORKER_PRELOAD = "netrca.partitioned"


def dask_module() -> Any:
    """``distributed`` (untyped), or a clear error when the dask extra is missing."""
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - the dask extra is installed in CI
        raise ConfigError(
            "--engine dask needs Dask: pip install 'netrca[dask]' (dask and distributed)"
        ) from exc
    return distributed


def _start(workers: int | None, processes: bool) -> tuple[Any, Any]:
    """A LocalCluster of ``workers`` one-thread workers (default 2) and its client."""
    import dask

    dist = dask_module()
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (its config's
    # pre-spawn-environ), which also pins glibc's mmap threshold at 128 KiB: every
    # larger block is mapped and unmapped, and the partition tasks spent ~30% of
    # their CPU in the kernel zeroing pages. Workers of a cluster netrca starts
    # itself use netrca's malloc settings instead (netrca.runtime.configure_malloc),
    # unless the user set the variable; a cluster given by --scheduler keeps its own.
    settings: dict[str, Any] = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    if _forkserver_is_better():
        # one server process imports Dask, numpy and pandas once and forks each worker
        # from it, instead of every worker importing them anew (spawn): 0.4-0.8 s less
        # to start a cluster of 1 or 2 workers on 2 cores (BENCHMARKS.md, #6)
        settings["distributed.worker.multiprocessing-method"] = "forkserver"
    with dask.config.set(settings):
        cluster = dist.LocalCluster(
            n_workers=workers or 2,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            # each worker imports the scoring code while it starts, not in its first task
            preload=[WORKER_PRELOAD] if processes else [],
        )
    try:
        return cluster, dist.Client(cluster)
    except BaseException:
        cluster.close()
        raise


def _forkserver_is_better() -> bool:
    """Whether to start workers through a fork server: where the platform has one and
    the user left Dask's start method at its default (spawn)."""
    import multiprocessing
    import os

    import dask

    chosen = os.environ.get("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD")
    method = dask.config.get("distributed.worker.multiprocessing-method", "spawn")
    return (
        not chosen and method == "spawn" and "forkserver" in multiprocessing.get_all_start_methods()
    )


@contextmanager
def local_cluster(
    workers: int | None = None, processes: bool = True
) -> Iterator[Future[tuple[Any, Any]]]:
    """Start a LocalCluster on a thread; yield the future of its (cluster, client).

    The cluster is closed on leaving the block, whether or not anyone used it (a run
    that fails before scoring waits for the start, then closes it). A start that failed
    raises where the future's result is taken.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    pool = ThreadPoolExecutor(1, thread_name_prefix="netrca-cluster")
    started = pool.submit(_start, workers, processes)
    try:
        yield started
    finally:
        pool.shutdown(wait=True)
        if started.exception() is None:
            cluster, client = started.result()
            client.close()
            cluster.close()
