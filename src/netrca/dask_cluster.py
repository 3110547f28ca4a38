"""The LocalCluster of ``--engine dask``, started on a thread so it comes up while other work runs.

A light module (Dask is imported only on use): the CLI starts the cluster before it
imports the scoring code and loads the model. The fork server that forks the workers is
started first and imports the scoring path while this process imports Dask, so the
workers start with it loaded (Dask's ``preload`` then runs
:func:`netrca.partitioned.dask_setup`, which loads numba's compiler target where the
numba kernels will run) while the client process imports the same and plans.
"""

from __future__ import annotations

import os
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

    forkserver = processes and _forkserver_is_better()
    if forkserver:
        _start_forkserver()
    dist = dask_module()
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (its config's
    # pre-spawn-environ), which also pins glibc's mmap threshold at 128 KiB: every
    # larger block is mapped and unmapped, and the partition tasks spent ~30% of
    # their CPU in the kernel zeroing pages. Workers of a cluster netrca starts
    # itself use netrca's malloc settings instead (netrca.runtime.configure_malloc),
    # unless the user set the variable; a cluster given by --scheduler keeps its own.
    settings: dict[str, Any] = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    if not os.environ.get(PROFILE_ENV):
        # Dask's workers sample every thread's stack every 10 ms for the dashboard's
        # profile page, which this cluster does not serve; with two workers on two
        # cores the sampling cost the tasks 8-16% more CPU (BENCHMARKS.md, #6)
        settings["distributed.worker.profile.enabled"] = False
    if forkserver:
        # one server process imports Dask, numpy, pandas and the scoring code once and
        # forks each worker from it, instead of every worker importing them anew
        # (spawn): 0.4-0.8 s less to start a cluster of 1 or 2 workers on 2 cores, and
        # started before Dask is imported here (_start_forkserver), 0.6 s less again
        # from the command's start to the first task (BENCHMARKS.md, #6)
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


#: Dask's setting of the workers' statistical profiler: set, it is left to the user.
PROFILE_ENV = "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"

#: What the fork server imports before it forks the first worker: what Dask's own list
#: (``distributed.utils.get_mp_context``) loads (``distributed`` imports the other
#: packages it names; numpy, pandas; ``lz4`` where installed is left to the workers)
#: and the scoring code the workers preload.
FORKSERVER_PRELOAD = ("distributed", "numpy", "pandas", WORKER_PRELOAD)


def _start_forkserver() -> None:
    """Start multiprocessing's fork server now, importing :data:`FORKSERVER_PRELOAD`.

    Dask starts it when the first worker is due, after this process has imported
    Dask and started the scheduler, and the server then imports Dask, numpy and pandas
    before it forks a worker, which imports the scoring code itself. Started here, the
    server imports all of it while this process imports Dask (on the other core), and
    every worker is forked with the scoring code already loaded. A server that is
    already running (an earlier cluster of this process) is kept as it is.
    """
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(FORKSERVER_PRELOAD))
    forkserver.ensure_running()


def _forkserver_is_better() -> bool:
    """Whether to start workers through a fork server: where the platform has one and
    the user left Dask's start method at its default (spawn)."""
    import multiprocessing

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
