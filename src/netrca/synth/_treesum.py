"""Compiled sum of gradient-boosted trees (numba) for the refiner's log-odds.

Every tree is walked from its root to a leaf with scikit-learn's rule (NaN goes where the
split sent missing values, otherwise left when ``x <= threshold``) and the leaf values
are added in tree order, starting from the baseline, as ``decision_function`` adds them,
so the sums equal scikit-learn's to the last bit. Rows are taken in blocks that walk
one tree after another (the block's rows stay in cache while a tree's nodes are read);
blocks run in parallel. The trees are those of a :class:`~netrca.synth.refine.Refiner`,
whose loading has checked every child and feature index; :func:`tree_sum` checks the
shapes it is given before the kernel trusts them.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from netrca.errors import ModelError

__all__ = ["tree_sum"]

#: Rows walked through one tree together.
BLOCK = 32


def _sum_trees(
    x: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_left: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
    value: np.ndarray,
    starts: np.ndarray,
    baseline: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba; tested against scikit-learn's predictor
    n = x.shape[0]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        lo = b * BLOCK
        m = min(BLOCK, n - lo)
        acc = np.full(m, baseline)
        for t in range(starts.shape[0] - 1):
            base = starts[t]
            for r in range(m):
                g = base
                while is_leaf[g] == 0:
                    v = x[lo + r, feature[g]]
                    if np.isnan(v):
                        g = base + (left[g] if missing_left[g] else right[g])
                    elif v <= threshold[g]:
                        g = base + left[g]
                    else:
                        g = base + right[g]
                acc[r] += value[g]
        for r in range(m):
            out[lo + r] = acc[r]


_COMPILED: dict[str, Any] = {}


def _kernel() -> Any:
    if "sum" not in _COMPILED:  # compiled on first use; numba caches it on disk
        _COMPILED["sum"] = numba.njit(parallel=True, nogil=True, cache=True, boundscheck=False)(
            _sum_trees
        )
    return _COMPILED["sum"]


def tree_sum(
    x: np.ndarray,
    nodes: dict[str, np.ndarray],
    tree_starts: np.ndarray,
    baseline: float,
    n_threads: int = 1,
) -> np.ndarray:
    """Per row of ``x``: ``baseline`` plus the leaf value each tree gives it.

    ``nodes`` holds the trees' node arrays (children indices local to their tree),
    ``tree_starts`` where each tree begins; ``n_threads`` caps the threads (the sums do
    not depend on it).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    starts = np.asarray(tree_starts, dtype=np.uint32)
    total = int(starts[-1]) if len(starts) else 0
    if x.ndim != 2 or any(len(v) != total for v in nodes.values()):
        raise ModelError("refiner trees do not match their node arrays")
    if total and (int(nodes["feature_idx"].max()) >= x.shape[1]):
        raise ModelError(f"refiner trees read beyond the {x.shape[1]} features given")
    out = np.empty(len(x), dtype=np.float64)
    if not len(x):
        return out
    previous = numba.get_num_threads()
    limit = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
    numba.set_num_threads(max(1, min(int(n_threads), limit)))
    try:
        _kernel()(
            x,
            np.asarray(nodes["feature_idx"], dtype=np.uint32),
            np.asarray(nodes["num_threshold"], dtype=np.float64),
            np.asarray(nodes["missing_go_to_left"], dtype=np.uint8),
            np.asarray(nodes["left"], dtype=np.uint32),
            np.asarray(nodes["right"], dtype=np.uint32),
            np.asarray(nodes["is_leaf"], dtype=np.uint8),
            np.asarray(nodes["value"], dtype=np.float64),
            starts,
            float(baseline),
            out,
        )
    finally:
        numba.set_num_threads(previous)
    return out
