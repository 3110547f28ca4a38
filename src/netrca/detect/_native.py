"""The SIMD forest scorer's Python side: perfect-tree layout, threads, NaN fallback.

:mod:`netrca.detect._simd` (C, built by ``pip install``; see its source for the kernel)
walks 16 rows a vector with AVX-512F, or 8 with AVX2 where the CPU has no AVX-512:
a tree's top four levels by comparing every node on every row (no gather), then nodes
picked by permutes and values by gathers. This module lays a validated
:class:`~netrca.detect._kernel.CompiledForest` out as padded perfect trees
(:func:`perfect_layout`), splits rows into chunks scored on every core with the GIL
released (:func:`path_lengths`), and leaves rows of blocks that hold a NaN to the numba
kernel (or the numpy reference), which route NaN per node as scikit-learn does. Sums
equal the numba kernel's bit for bit and scikit-learn's to 1e-9 (tests).

Where the extension is missing (no C compiler at install) or the CPU has neither
AVX-512F nor AVX2 (or is not x86-64), :func:`available` is False and scoring uses the
numba kernel. The extension's :func:`top_deviation` (each row's most deviating feature)
is plain C and runs on any CPU it was built for; so a CLI run on a CPU with the SIMD
kernel loads numba only for rows of blocks holding a NaN.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import ModuleType

import numpy as np

from netrca.detect import _kernel
from netrca.errors import ModelError

__all__ = [
    "LEVELS",
    "PerfectForest",
    "available",
    "level",
    "max_depth",
    "path_lengths",
    "perfect_layout",
    "steps",
    "threads",
    "top_available",
    "top_deviation",
]

_simd: ModuleType | None
try:
    from netrca.detect import _simd
except ImportError:  # pragma: no cover - only where the extension could not be built
    _simd = None

#: Largest padded forest laid out (nodes + leaves); larger ones use the numba kernel.
MAX_SLOTS = 1 << 24
#: Rows per chunk handed to a thread (a multiple of the kernel's 128-row block).
CHUNK = 1 << 15


def max_depth() -> int:
    """Deepest tree the SIMD kernel walks (0 where it is not built)."""
    return int(_simd.MAX_DEPTH) if _simd is not None else 0


#: Kernel levels: what each needs of the CPU.
LEVELS = {2: "AVX-512F", 1: "AVX2"}


def level() -> int:
    """The SIMD kernel this CPU runs: 2 (AVX-512F), 1 (AVX2), 0 (none, or not built)."""
    return int(_simd.level()) if _simd is not None else 0


def available() -> bool:
    """True when the SIMD kernel is built and this CPU can run it (AVX-512F or AVX2)."""
    return level() > 0


@dataclass(frozen=True)
class PerfectForest:
    """Trees padded to perfect binary trees (layout in ``_simd.c``)."""

    column: np.ndarray  # int32, per inner node: column * BLOCK (offset in a row block)
    threshold: np.ndarray  # float32, rounded down: x > it exactly when x > the float64 one
    leaf: np.ndarray  # float64, per leaf slot: path length (0 where no real leaf ends)
    node_off: np.ndarray  # int64, first inner node of each tree
    leaf_off: np.ndarray  # int64, first leaf slot of each tree
    depth: np.ndarray  # int32, steps of every walk in each tree (at least MIN_DEPTH)
    n_features: int
    # leaf_tables(): per tree, a byte code per leaf (LUT_LEAVES, viewed as int32), the
    # distinct path lengths (LUT_VALUES, float64) and whether the tree has them (uint8)
    leaf_code: np.ndarray
    leaf_table: np.ndarray
    coded: np.ndarray


def _round_down_f32(threshold: np.ndarray) -> np.ndarray:
    """Largest float32 not above each value: for float32 x, x > it iff x > the value."""
    with np.errstate(over="ignore"):
        t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def perfect_layout(c: _kernel.CompiledForest) -> PerfectForest | None:
    """``c`` as padded perfect trees, or None when the padding would be too large."""
    if _simd is None:
        return None
    block, min_depth = int(_simd.BLOCK), int(_simd.MIN_DEPTH)
    depth = np.maximum(c.depth, min_depth).astype(np.int32)
    if depth.size and (int(depth.max()) > int(_simd.MAX_DEPTH)):
        return None
    inner = (1 << depth.astype(np.int64)) - 1
    if int(2 * inner.sum() + len(depth)) > MAX_SLOTS:
        return None
    node_off = np.concatenate(([0], np.cumsum(inner)[:-1])).astype(np.int64)
    leaf_off = np.concatenate(([0], np.cumsum(inner + 1)[:-1])).astype(np.int64)
    # spare entries at the end: the AVX2 kernel's loads of a level may run past its tree
    n_inner, n_leaf = int(inner.sum()) + int(_simd.PAD), int((inner + 1).sum())
    column = np.zeros(n_inner, dtype=np.int32)
    threshold = np.full(n_inner, np.inf, dtype=np.float32)  # padding: always left
    leaf = np.zeros(n_leaf, dtype=np.float64)
    is_leaf = c.children[0::2] == np.arange(len(c.threshold), dtype=np.uint64)
    t32 = _round_down_f32(c.threshold)
    # walk every tree a level at a time: g = node in c, p = position in the perfect tree
    tree = np.arange(len(depth), dtype=np.int64)
    g = c.roots.astype(np.int64)
    p = np.zeros(len(depth), dtype=np.int64)
    for level in range(int(depth.max()) if depth.size else 0):
        here = level < depth[tree]  # walks still above their tree's depth
        real = here & ~is_leaf[g]
        slot = node_off[tree[real]] + p[real]
        column[slot] = (c.column[g[real]].astype(np.int64) * block).astype(np.int32)
        threshold[slot] = t32[g[real]]
        # real nodes branch; a leaf above its tree's depth walks on down the left
        gi = g[real].astype(np.uint64)
        rest = ~real
        g = np.concatenate(
            (g[rest], c.children[2 * gi].astype(np.int64), c.children[2 * gi + 1].astype(np.int64))
        )
        p = np.concatenate(
            (np.where(here[rest], 2 * p[rest] + 1, p[rest]), 2 * p[real] + 1, 2 * p[real] + 2)
        )
        tree = np.concatenate((tree[rest], tree[real], tree[real]))
    # every walk has reached its tree's depth: p is a leaf slot
    slot = leaf_off[tree] + p - inner[tree]
    if not bool(np.all(is_leaf[g])) or len(np.unique(slot)) != len(slot):  # pragma: no cover
        raise ModelError("forest does not fit its depths")
    leaf[slot] = c.leaf_value[g]
    return PerfectForest(
        column=column,
        threshold=threshold,
        leaf=leaf,
        node_off=node_off,
        leaf_off=leaf_off,
        depth=depth,
        n_features=c.n_features,
        **leaf_tables(leaf, leaf_off, depth),
    )


def leaf_tables(leaf: np.ndarray, leaf_off: np.ndarray, depth: np.ndarray) -> dict[str, np.ndarray]:
    """Per tree of at most ``LUT_LEAVES`` leaves with at most ``LUT_VALUES`` distinct path
    lengths: each leaf's index among them (a byte; 4 to an int32 as the kernel reads
    them), the values, and a flag; other trees keep flag 0 and their leaves are gathered.
    The values are the leaves' own float64s, so sums do not change by a bit."""
    if _simd is None:  # pragma: no cover - perfect_layout checks
        raise ModelError("the SIMD scorer is not built")
    n_leaves, n_values = int(_simd.LUT_LEAVES), int(_simd.LUT_VALUES)
    code = np.zeros((len(depth), n_leaves), dtype=np.uint8)
    table = np.zeros((len(depth), n_values), dtype=np.float64)
    coded = np.zeros(len(depth), dtype=np.uint8)
    for t, (off, d) in enumerate(zip(leaf_off.tolist(), depth.tolist(), strict=True)):
        if (1 << d) > n_leaves:
            continue
        values, index = np.unique(leaf[off : off + (1 << d)], return_inverse=True)
        if len(values) <= n_values:
            code[t, : 1 << d], table[t, : len(values)], coded[t] = index, values, 1
    return {
        "leaf_code": code.view("<i4").reshape(-1),
        "leaf_table": table.reshape(-1),
        "coded": coded,
    }


_limit = threading.local()


def limit_threads(n: int | None) -> None:
    """Score on at most ``n`` threads in the calling thread (None: lift the limit). A Dask
    worker's task thread sets it to the worker's share of cores; like numba's own
    setting, it holds for this thread only, so a worker running as a thread of the
    client's process leaves the client's scoring as it was."""
    _limit.n = n


def threads() -> int:
    """Threads to score with: this thread's limit (:func:`limit_threads`) where one is
    set, else as the numba kernel: numba's setting where numba is loaded, else
    ``NUMBA_NUM_THREADS`` or every core. numba is not imported for this: its import
    costs a CLI run ~0.2 s."""
    limit = getattr(_limit, "n", None)
    if limit is not None:
        return max(1, int(limit))
    numba = sys.modules.get("numba")
    if numba is not None:
        return int(numba.get_num_threads())
    configured = os.environ.get("NUMBA_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else os.cpu_count() or 1


def steps(X: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``X`` as a flat float64 array with its row and column steps: read in place when
    column-major (the feature frame's layout) or row-major float64; anything else is
    copied once (float32 to float64 is exact)."""
    n, m = X.shape
    if X.dtype == np.float64 and X.flags.f_contiguous:
        return X.ravel(order="F"), 1, n
    return np.ascontiguousarray(X, dtype=np.float64).reshape(-1), m, 1


def top_available() -> bool:
    """True when the extension is built (its :func:`top_deviation` runs on any CPU)."""
    return _simd is not None


def top_deviation(X: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per row, the column of ``X`` with the largest ``|x - center| / scale``: equal to
    ``np.argmax(np.abs(X - center) / scale, axis=1)`` (ties and NaN alike), as
    ``_kernel.top_deviation``."""
    if _simd is None:  # pragma: no cover - callers check top_available()
        raise ModelError("the native scorer is not built")
    X, center, scale, out = _kernel.top_inputs(X, center, scale)
    if X.shape[0] and X.shape[1]:
        flat, row_step, col_step = steps(X)
        _simd.top_deviation(flat, X.shape[0], X.shape[1], row_step, col_step, center, scale, out)
    return out


def path_lengths(
    p: PerfectForest,
    c: _kernel.CompiledForest,
    X: np.ndarray,
    n_threads: int | None = None,
    kernel: int = 0,
    nan_rows: Callable[[np.ndarray], np.ndarray] | None = None,
    finish: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """Sum over trees of each row's path length; equal to ``_kernel.path_lengths(c, X)``.
    ``kernel``: a level of :data:`LEVELS` (tests run both), 0 for the best this CPU runs.
    ``nan_rows``: scores the rows of blocks that hold a NaN (default: the numba kernel;
    ``FlatForest`` passes the numpy reference where numba is missing).
    ``finish``: changes sums in place (``FlatForest`` turns them into scores), a chunk at a
    time in the thread that scored it while the chunk is in cache; the result is then
    ``finish`` of the sums."""
    if _simd is None:  # pragma: no cover - callers check available()
        raise ModelError("the SIMD scorer is not built")
    X, out = _kernel.rows_and_out(X, p.n_features)
    n = X.shape[0]
    if not n:
        return out
    flat, row_step, col_step = steps(X)
    args = (
        *(row_step, col_step, p.column, p.threshold, p.leaf, p.node_off, p.leaf_off, p.depth),
        *(p.leaf_code, p.leaf_table, p.coded),
    )

    def run(begin: int, end: int) -> int:
        left = int(_simd.score(flat, n, p.n_features, *args, out, begin, end, kernel))
        if finish is not None:
            finish(out[begin:end])  # a NaN left for nan_rows stays NaN
        return left

    bounds = [*range(0, n, CHUNK), n]
    n_threads = max(1, min(n_threads or threads(), len(bounds) - 1))
    if n_threads == 1:
        left = sum(run(a, b) for a, b in itertools.pairwise(bounds))
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            left = sum(pool.map(run, bounds[:-1], bounds[1:]))
    if left:  # blocks with a NaN: a kernel that routes NaN per node scores them
        rows = np.flatnonzero(np.isnan(out))
        sums = (nan_rows or partial(_kernel.path_lengths, c))(X[rows])
        if finish is not None:
            finish(sums)
        out[rows] = sums
    return out
