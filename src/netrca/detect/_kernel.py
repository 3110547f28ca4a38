"""Compiled Isolation Forest scorer (numba): fixed-length tree walks, rows interleaved.

Layout (built from a validated :class:`~netrca.detect.forest.FlatForest` by
:func:`compile_forest`): every node has a *global* index; ``children[2 * g]`` and
``children[2 * g + 1]`` are its left and right children; leaves point at themselves,
so a walk can take exactly ``depth[t]`` steps in tree ``t`` with no test for "is this
a leaf". One step is::

    x = X[row, column[g]]
    g = children[2 * g + go_right]      # go_right: x > threshold, or NaN and not missing_left

A block of 64 rows walks the same tree in lockstep (their loads are independent, so the
CPU overlaps them; 4x faster than one row at a time), indices are unsigned (numba then
emits no negative-index wraparound code: 2x), and blocks run in parallel over the cores.
Path lengths are added tree by tree in the forest's order, as scikit-learn does, so the
sums match it.

The kernel trusts its arrays completely: :func:`compile_forest` calls
``FlatForest.validate`` first and checks every derived index again, so a model file
that passed loading cannot make it read out of bounds.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from netrca.errors import ModelError

if TYPE_CHECKING:
    from netrca.detect.forest import FlatForest

__all__ = [
    "BLOCK",
    "CompiledForest",
    "compile_forest",
    "kernel_available",
    "path_lengths",
    "top_deviation",
]

#: Rows walked through one tree together (interleaved).
BLOCK = 64

# numba is a core dependency, imported on first use only: a run scored by the SIMD kernel
# (netrca.detect._native) loads it only for rows of blocks holding a NaN, or in a Dask
# worker, which sets numba's thread count (its import and first call cost ~0.5 s).
# The numpy scorer stays as the reference and fallback.
_HAVE_NUMBA = importlib.util.find_spec("numba") is not None
numba: Any = None


def kernel_available() -> bool:
    """True when the compiled scorer can run (numba is importable)."""
    return _HAVE_NUMBA


def _numba() -> Any:
    """The numba module, imported on first use (the kernels' ``numba.prange`` reads it)."""
    global numba  # noqa: PLW0603 - the compiled kernels read the module global
    if numba is None:
        import numba as module

        numba = module
    return numba


@dataclass(frozen=True)
class CompiledForest:
    """The forest in the kernel's layout (see the module docstring)."""

    column: np.ndarray  # uint64, per node: column of X it tests (0 at leaves)
    threshold: np.ndarray  # float64
    children: np.ndarray  # uint64, 2 per node, global indices; leaves point at themselves
    missing_right: np.ndarray  # uint8: NaN goes right when 1
    leaf_value: np.ndarray  # float64, 0 for inner nodes
    roots: np.ndarray  # int64, global index of each tree's root
    depth: np.ndarray  # int64, steps to reach every leaf of each tree
    n_features: int


def _tree_depths(flat: FlatForest) -> np.ndarray:
    """Longest root-to-leaf path of each tree (vectorised over trees, one level a step)."""
    n = len(flat.feature)
    sizes = np.diff(flat.offsets)
    base = np.repeat(flat.offsets[:-1], sizes)
    inner = flat.feature >= 0
    level = np.full(n, -1, dtype=np.int64)
    frontier = flat.offsets[:-1].astype(np.int64)
    d = 0
    while frontier.size:
        level[frontier] = d
        inner_f = frontier[inner[frontier]]
        frontier = np.concatenate(
            (base[inner_f] + flat.left[inner_f], base[inner_f] + flat.right[inner_f])
        )
        d += 1
        if d > n:  # pragma: no cover - validate() rules out cycles
            raise ModelError("forest has a cycle")
    tree = np.repeat(np.arange(flat.n_trees), sizes)
    depth = np.zeros(flat.n_trees, dtype=np.int64)
    np.maximum.at(depth, tree, level)
    return depth


def compile_forest(flat: FlatForest) -> CompiledForest:
    """Validate ``flat`` and lay it out for the kernel."""
    flat.validate()
    n = len(flat.feature)
    sizes = np.diff(flat.offsets)
    base = np.repeat(flat.offsets[:-1], sizes).astype(np.int64)
    tree = np.repeat(np.arange(flat.n_trees), sizes)
    inner = flat.feature >= 0
    self_idx = np.arange(n, dtype=np.int64)
    children = np.empty(2 * n, dtype=np.uint64)
    children[0::2] = np.where(inner, base + flat.left, self_idx)
    children[1::2] = np.where(inner, base + flat.right, self_idx)
    column = np.where(inner, flat.tree_features[tree, np.maximum(flat.feature, 0)], 0)
    compiled = CompiledForest(
        column=np.ascontiguousarray(column, dtype=np.uint64),
        threshold=np.ascontiguousarray(flat.threshold, dtype=np.float64),
        children=children,
        missing_right=np.ascontiguousarray(1 - (flat.missing_left != 0), dtype=np.uint8),
        leaf_value=np.ascontiguousarray(np.where(inner, 0.0, flat.leaf_value), dtype=np.float64),
        roots=np.ascontiguousarray(flat.offsets[:-1], dtype=np.int64),
        depth=_tree_depths(flat),
        n_features=flat.n_features,
    )
    _check(compiled)
    return compiled


def _check(c: CompiledForest) -> None:
    """Belt and braces: every index the kernel follows is in bounds."""
    n = len(c.threshold)
    ok = (
        len(c.column) == n
        and len(c.children) == 2 * n
        and len(c.missing_right) == n
        and len(c.leaf_value) == n
        and len(c.roots) == len(c.depth)
        and c.children.dtype == np.uint64
        and c.column.dtype == np.uint64
        and bool(np.all(c.children < n))
        and bool(np.all(c.column < c.n_features))
        and bool(np.all((c.roots >= 0) & (c.roots < n)))
        and bool(np.all((c.depth >= 0) & (c.depth <= n)))
    )
    if not ok:
        raise ModelError("forest arrays are out of bounds for the compiled scorer")


def _walk(
    X: np.ndarray,
    n: int,
    row_stride: int,
    column: np.ndarray,
    threshold: np.ndarray,
    children: np.ndarray,
    missing_right: np.ndarray,
    leaf_value: np.ndarray,
    roots: np.ndarray,
    depth: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba; tested through path_lengths
    # X is the matrix flattened: value (r, c) at r * row_stride + column[...] (``column``
    # holds each node's column offset: the column itself for row-major X, column * n for
    # column-major X). Indices are unsigned so numba emits no negative-index wraparound
    # code (half the work of each step). The NaN test keeps LLVM from turning the loop
    # into gathers, which are slower than scalar loads here. Values are rounded to
    # float32 first, as scikit-learn's trees see them (a no-op for float32 X).
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        r0 = b * BLOCK
        m = min(BLOCK, n - r0)
        acc = np.zeros(BLOCK, dtype=np.float64)
        node = np.empty(BLOCK, dtype=np.uint64)
        row = np.empty(BLOCK, dtype=np.uint64)
        for j in range(m):
            row[j] = np.uint64((r0 + j) * row_stride)
        for t in range(roots.shape[0]):
            root = np.uint64(roots[t])
            for j in range(m):
                node[j] = root
            for _ in range(depth[t]):
                for j in range(m):
                    g = node[j]
                    x = np.float64(np.float32(X[row[j] + column[g]]))
                    isnan = np.isnan(x)
                    right = ((not isnan) and not (x <= threshold[g])) or (
                        isnan and missing_right[g] == 1
                    )
                    node[j] = children[np.uint64(2) * g + np.uint64(right)]
            for j in range(m):
                acc[j] += leaf_value[node[j]]
        for j in range(m):
            out[r0 + j] = acc[j]


_COMPILED: dict[str, Any] = {}


def _kernel() -> Any:
    """The compiled walk (compiled on first use; numba caches it on disk)."""
    if "walk" not in _COMPILED:
        _COMPILED["walk"] = _numba().njit(parallel=True, nogil=True, cache=True, boundscheck=False)(
            _walk
        )
    return _COMPILED["walk"]


def rows_and_out(X: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a 2-D array of ``n_features`` columns (ModelError otherwise) and a zeroed
    float64 output, one value per row: what every path-length kernel starts from."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ModelError(f"expected {n_features} features, got shape {X.shape}")
    return X, np.zeros(X.shape[0], dtype=np.float64)


def top_inputs(
    X: np.ndarray, center: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The checked inputs of a top-deviation kernel (float64 center and scale) and its
    zeroed int64 output."""
    X = np.asarray(X)
    center = np.ascontiguousarray(center, dtype=np.float64)
    scale = np.ascontiguousarray(scale, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(center) or len(scale) != len(center):
        raise ModelError(f"expected {len(center)} features, got shape {X.shape}")
    return X, center, scale, np.zeros(X.shape[0], dtype=np.int64)


def path_lengths(c: CompiledForest, X: np.ndarray) -> np.ndarray:
    """Sum over trees of each row's path length, like ``FlatForest.path_lengths``.

    Values are compared as float32 (scikit-learn's trees compare float32 inputs). A
    column-major float64 ``X`` (the feature frame's own layout) is read in place, each
    value rounded to float32 in the kernel; anything else is cast to a row-major float32
    copy first. Both give the same sums.
    """
    X, out = rows_and_out(X, c.n_features)
    n = X.shape[0]
    if not n:
        return out
    if X.dtype == np.float64 and X.flags.f_contiguous and not X.flags.c_contiguous:
        flat, row_stride = X.ravel(order="F"), 1
        column = c.column * np.uint64(n)  # each node's column offset in the flat array
    else:
        with np.errstate(over="ignore"):  # beyond float32 range becomes ±inf, as in sklearn
            flat = np.ascontiguousarray(X, dtype=np.float32).reshape(-1)
        row_stride, column = c.n_features, c.column
    _kernel()(
        flat,
        n,
        row_stride,
        column,
        c.threshold,
        c.children,
        c.missing_right,
        c.leaf_value,
        c.roots,
        c.depth,
        out,
    )
    return out


def _top(
    X: np.ndarray, center: np.ndarray, scale: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba; tested through top_deviation
    # numpy's argmax over |x - center| / scale, one pass: the first largest value wins,
    # and a NaN counts as larger than everything (the first NaN wins, as in argmax).
    n, m = X.shape
    n_blocks = (n + _TOP_BLOCK - 1) // _TOP_BLOCK
    for b in numba.prange(n_blocks):
        r0 = b * _TOP_BLOCK
        r1 = min(r0 + _TOP_BLOCK, n)
        best = np.empty(r1 - r0, dtype=np.float64)
        nan = np.zeros(r1 - r0, dtype=np.bool_)
        for i in range(r0, r1):
            z = abs(X[i, 0] - center[0]) / scale[0]
            best[i - r0] = z
            out[i] = 0
            nan[i - r0] = np.isnan(z)
        for j in range(1, m):
            c, s = center[j], scale[j]
            for i in range(r0, r1):
                if nan[i - r0]:
                    continue
                z = abs(X[i, j] - c) / s
                if np.isnan(z):
                    nan[i - r0] = True
                    out[i] = j
                elif z > best[i - r0]:
                    best[i - r0] = z
                    out[i] = j


#: Rows per block of :func:`top_deviation` (its running maxima stay in cache).
_TOP_BLOCK = 4096


def top_deviation(X: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per row, the column of ``X`` with the largest ``|x - center| / scale``: equal to
    ``np.argmax(np.abs(X - center) / scale, axis=1)`` (ties and NaN alike) in one pass."""
    X, center, scale, out = top_inputs(X, center, scale)
    X = X.astype(np.float64, copy=False)
    if X.shape[0] and X.shape[1]:
        if "top" not in _COMPILED:
            _COMPILED["top"] = _numba().njit(
                parallel=True, nogil=True, cache=True, error_model="numpy"
            )(_top)
        _COMPILED["top"](X, center, scale, out)
    return out
