"""Core probe: whether two cores score side by side at one core's speed (shared or busy hosts).

On a virtual machine two vCPUs may be two threads of one host core, or share it with
other guests, for minutes at a time; the two-thread scorer is then slower than the
one-thread figure predicts, and that is the host, not netrca. The probe keeps two worker
processes, each holding the same small forest and rows (seeded), and on request times
one-thread scoring in each of them alone, then in both at once. ``together / alone``
near 1.0 means the two cores were independent during that round; 1.4 means a worker ran
at about 70% of its solo speed. :func:`benchmarks.speed.scorer` probes once a round, so
the rounds' two-thread ratios can be read against it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

#: Rows each worker scores per timing, and timings per measurement (the median is kept).
ROWS = 200_000
REPEATS = 7


def _serve(conn: Connection, rows: int, repeats: int) -> None:
    """Worker process: build the forest and rows, then time scorings on each request."""
    os.environ["NUMBA_NUM_THREADS"] = "1"  # one thread where the numba kernel scores too
    from sklearn.ensemble import IsolationForest

    from netrca.detect import _native
    from netrca.detect.forest import FlatForest

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 44))
    flat = FlatForest.from_sklearn(IsolationForest(random_state=0).fit(X[:4096]))
    _native.limit_threads(1)
    flat.score_samples(X[:1000])
    conn.send("ready")
    while conn.recv() == "go":
        seconds = []
        for _ in range(repeats):
            t = time.perf_counter()
            flat.score_samples(X)
            seconds.append(time.perf_counter() - t)
        conn.send(float(np.median(seconds)))
    conn.close()


#: Seconds to wait for a worker's answer (start-up: imports and the forest's fit).
TIMEOUT = 300


class CoreProbe:
    """Two persistent worker processes; :meth:`measure` times each alone, then both at once.

    Two processes stand for a kernel on two threads, so the probe speaks for the
    two-thread runs of a 2-core machine (the machine ``make bench`` is recorded on)."""

    def __init__(self, rows: int = ROWS, repeats: int = REPEATS) -> None:
        ctx = mp.get_context("spawn")  # no threads of the parent carried into the workers
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        try:
            for _ in range(2):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, rows, repeats), daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            for conn in self._conns:
                if self._answer(conn) != "ready":
                    raise RuntimeError("core probe worker did not start")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _answer(conn: Connection) -> Any:
        """The worker's next message; RuntimeError when it has not answered in time."""
        if not conn.poll(TIMEOUT):
            raise RuntimeError(f"core probe worker did not answer within {TIMEOUT} s")
        return conn.recv()

    def measure(self) -> dict[str, float]:
        """One round: each worker's seconds alone, then side by side; ``slowdown`` is the
        larger of the two workers' side-by-side over alone."""
        alone = []
        for conn in self._conns:
            conn.send("go")
            alone.append(float(self._answer(conn)))
        for conn in self._conns:
            conn.send("go")
        together = [float(self._answer(conn)) for conn in self._conns]
        slowdown = max(t / a for t, a in zip(together, alone, strict=True))
        return {"alone_s": max(alone), "together_s": max(together), "slowdown": slowdown}

    def close(self) -> None:
        """Stop the workers (safe to call again, and after a worker died)."""
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send("stop")
            conn.close()
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
        self._conns, self._procs = [], []

    def __enter__(self) -> CoreProbe:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
