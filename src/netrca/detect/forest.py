"""A fitted Isolation Forest flattened into contiguous arrays, with a compiled scorer.

scikit-learn fits the forest; :class:`FlatForest` copies each tree's split features,
thresholds, children and leaf path lengths (depth + c(n_leaf) - 1, the correction
folded in) into flat arrays. Scoring reproduces ``IsolationForest.score_samples``
exactly, including the float32 cast scikit-learn applies to its input, with one of three
backends: the SIMD kernel of :mod:`netrca.detect._native` (a C extension built at
install; 16 rows a vector with AVX-512F, 8 with AVX2; parallel over cores; the default
where the CPU has either),
the numba kernel of :mod:`netrca.detect._kernel` (rows interleaved, parallel over cores;
the default elsewhere), or a numpy reference that walks all rows through a tree one
level at a time. The arrays are plain numbers, so they can be saved and loaded
without executing code, and they are bounds-checked before the kernel touches them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from netrca.detect import _kernel, _native
from netrca.errors import ConfigError, ModelError

if TYPE_CHECKING:  # scikit-learn is imported by whoever fits; scoring does not need it
    from sklearn.ensemble import IsolationForest

__all__ = ["BACKENDS", "FlatForest", "average_path_length"]

#: Scoring backends: "auto" (the fastest that runs here), "simd" (AVX-512F or AVX2), "numba",
#: "numpy". ``NETRCA_SCORER`` sets the default.
BACKENDS = ("auto", "simd", "numba", "numpy")

_LEAF = -1


def average_path_length(n: np.ndarray | float) -> np.ndarray:
    """c(n): average path length of an unsuccessful BST search over ``n`` samples."""
    n_arr = np.atleast_1d(np.asarray(n, dtype=np.float64))
    out = np.zeros_like(n_arr)
    two = n_arr == 2
    big = n_arr > 2
    out[two] = 1.0
    out[big] = (
        2.0 * (np.log(n_arr[big] - 1.0) + np.euler_gamma) - 2.0 * (n_arr[big] - 1.0) / n_arr[big]
    )
    return out


@dataclass
class FlatForest:
    """Flattened isolation trees.

    Node ``i`` of tree ``t`` lives at ``offsets[t] + i``; children indices are local to
    their tree. ``leaf_value`` holds, for leaves, the path length contribution.
    """

    feature: np.ndarray  # int32, -1 at leaves
    threshold: np.ndarray  # float64
    left: np.ndarray  # int32, local child index, -1 at leaves
    right: np.ndarray  # int32
    missing_left: np.ndarray  # uint8, NaN goes left when 1
    leaf_value: np.ndarray  # float64
    offsets: np.ndarray  # int64, start of each tree; len = n_trees + 1
    tree_features: np.ndarray  # int32 (n_trees, n_used): columns each tree sees
    n_features: int
    max_samples: int
    _compiled: _kernel.CompiledForest | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _perfect: _native.PerfectForest | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _perfect_built: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return len(self.offsets) - 1

    @classmethod
    def from_sklearn(cls, forest: IsolationForest) -> FlatForest:
        """Copy the fitted trees of ``forest``."""
        feats, thrs, lefts, rights, miss, leafv, offsets = [], [], [], [], [], [], [0]
        tree_features = []
        for est, cols, depth, avg in zip(
            forest.estimators_,
            forest.estimators_features_,
            forest._decision_path_lengths,
            forest._average_path_length_per_tree,
            strict=True,
        ):
            tree = est.tree_
            is_leaf = tree.children_left == _LEAF
            feats.append(np.where(is_leaf, -1, tree.feature).astype(np.int32))
            thrs.append(tree.threshold.astype(np.float64))
            lefts.append(tree.children_left.astype(np.int32))
            rights.append(tree.children_right.astype(np.int32))
            m = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
            miss.append(np.asarray(m, dtype=np.uint8))
            leafv.append(np.where(is_leaf, depth + avg - 1.0, 0.0).astype(np.float64))
            offsets.append(offsets[-1] + tree.node_count)
            tree_features.append(np.asarray(cols, dtype=np.int32))
        return cls(
            feature=np.concatenate(feats),
            threshold=np.concatenate(thrs),
            left=np.concatenate(lefts),
            right=np.concatenate(rights),
            missing_left=np.concatenate(miss),
            leaf_value=np.concatenate(leafv),
            offsets=np.asarray(offsets, dtype=np.int64),
            tree_features=np.stack(tree_features),
            n_features=int(forest.n_features_in_),
            max_samples=int(forest.max_samples_),
        )

    def validate(self) -> None:
        """Raise :class:`ModelError` unless every index is in bounds (safe to score)."""
        n = len(self.feature)
        arrays = (self.threshold, self.left, self.right, self.missing_left, self.leaf_value)
        if any(len(a) != n for a in arrays):
            raise ModelError("forest arrays have different lengths")
        if self.offsets[0] != 0 or self.offsets[-1] != n or np.any(np.diff(self.offsets) < 1):
            raise ModelError("forest tree offsets are inconsistent")
        if self.tree_features.shape[0] != self.n_trees:
            raise ModelError("forest tree_features does not match the number of trees")
        if np.any(self.tree_features < 0) or np.any(self.tree_features >= self.n_features):
            raise ModelError("forest refers to a feature index out of range")
        sizes = np.repeat(np.diff(self.offsets), np.diff(self.offsets))
        leaf = self.feature < 0
        inner = ~leaf
        used = self.tree_features.shape[1]
        if np.any(self.feature[inner] >= used):
            raise ModelError("forest node refers to a feature out of range")
        for child in (self.left, self.right):
            if np.any(child[inner] < 1) or np.any(child[inner] >= sizes[inner]):
                raise ModelError("forest node has a child index out of range")
        local = np.arange(n) - np.repeat(self.offsets[:-1], np.diff(self.offsets))
        if np.any(self.left[inner] <= local[inner]) or np.any(self.right[inner] <= local[inner]):
            raise ModelError("forest children must come after their parent (no cycles)")
        if not np.all(np.isfinite(self.leaf_value)):
            raise ModelError("forest leaf values are not finite")

    def path_lengths(self, X: np.ndarray) -> np.ndarray:
        """Sum over trees of each row's path length (depth + leaf correction)."""
        with np.errstate(over="ignore"):  # beyond float32 range becomes ±inf, as in sklearn
            X = np.asarray(X, dtype=np.float32).astype(np.float64)
        n = X.shape[0]
        total = np.zeros(n, dtype=np.float64)
        rows = np.arange(n)
        for t in range(self.n_trees):
            off = self.offsets[t]
            cols = self.tree_features[t]
            node = np.zeros(n, dtype=np.int64)
            active = rows
            while active.size:
                g = node[active] + off
                f = self.feature[g]
                leaf = f < 0
                if leaf.any():
                    done = active[leaf]
                    total[done] += self.leaf_value[node[done] + off]
                    active, g, f = active[~leaf], g[~leaf], f[~leaf]
                    if not active.size:
                        break
                x = X[active, cols[f]]
                go_left = np.where(np.isnan(x), self.missing_left[g] == 1, x <= self.threshold[g])
                node[active] = np.where(go_left, self.left[g], self.right[g])
        return total

    def compiled(self) -> _kernel.CompiledForest:
        """The kernel's layout of these trees (validated and built once, then cached)."""
        if self._compiled is None:
            self._compiled = _kernel.compile_forest(self)
        return self._compiled

    def perfect(self) -> _native.PerfectForest | None:
        """The SIMD kernel's layout (built once), or None when the trees are too deep."""
        if not self._perfect_built:
            self._perfect = _native.perfect_layout(self.compiled())
            self._perfect_built = True
        return self._perfect

    def _nan_rows(self, X: np.ndarray) -> np.ndarray:
        """Path lengths of rows the SIMD kernel leaves (NaN routed per node): the numba
        kernel's, or the numpy reference's where numba is missing (the same sums)."""
        if _kernel.kernel_available():
            return _kernel.path_lengths(self.compiled(), X)
        return self.path_lengths(X)

    def backend(self, backend: str | None = None) -> str:
        """The backend that ``score_samples(X, backend)`` runs: "simd", "numba" or "numpy"."""
        backend = backend or os.environ.get("NETRCA_SCORER", "auto")
        if backend not in BACKENDS:
            raise ConfigError(
                f"scorer backend must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        if backend == "simd" and not (_native.available() and self.perfect() is not None):
            raise ConfigError(
                "scorer backend 'simd' needs the built extension, a CPU with AVX-512F or AVX2 and "
                f"trees at most {_native.max_depth()} levels deep"
            )
        if backend == "numba" and not _kernel.kernel_available():
            raise ConfigError("scorer backend 'numba' needs numba (pip install numba)")
        if backend == "auto":
            if _native.available() and self.perfect() is not None:
                return "simd"
            return "numba" if _kernel.kernel_available() else "numpy"
        return backend

    def score_samples(self, X: np.ndarray, backend: str | None = None) -> np.ndarray:
        """Anomaly score in (0, 1]; higher = more anomalous (= -sklearn score_samples).

        ``backend``: "auto" (default: "simd" where it runs, else "numba"), "simd",
        "numba" or "numpy" (the reference); see :meth:`backend`. ``NETRCA_SCORER``
        changes the default.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ModelError(
                f"expected {self.n_features} features, got {X.shape[1] if X.ndim == 2 else X.shape}"
            )
        backend = self.backend(backend)
        denom = self.n_trees * float(average_path_length(self.max_samples)[0])
        if denom == 0:  # one sample a tree: scikit-learn's depths / denominator is 1 there
            return np.full(X.shape[0], 0.5)

        def to_scores(depth: np.ndarray) -> None:  # 2 ** (-depth / denom), in place
            np.negative(depth, out=depth)
            np.divide(depth, denom, out=depth)
            np.power(2.0, depth, out=depth)

        if backend == "simd":
            perfect = self.perfect()
            assert perfect is not None  # backend() checked
            return _native.path_lengths(
                perfect, self.compiled(), X, nan_rows=self._nan_rows, finish=to_scores
            )
        if backend == "numpy":
            depth = self.path_lengths(X)
        else:
            depth = _kernel.path_lengths(self.compiled(), X)
        to_scores(depth)
        return depth

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays for saving."""
        return {
            "feature": self.feature,
            "threshold": self.threshold,
            "left": self.left,
            "right": self.right,
            "missing_left": self.missing_left,
            "leaf_value": self.leaf_value,
            "offsets": self.offsets,
            "tree_features": self.tree_features,
            "shape": np.asarray([self.n_features, self.max_samples], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FlatForest:
        """Inverse of :meth:`to_arrays`; validates before returning."""
        try:
            shape = arrays["shape"]
            forest = cls(
                feature=np.asarray(arrays["feature"], dtype=np.int32),
                threshold=np.asarray(arrays["threshold"], dtype=np.float64),
                left=np.asarray(arrays["left"], dtype=np.int32),
                right=np.asarray(arrays["right"], dtype=np.int32),
                missing_left=np.asarray(arrays["missing_left"], dtype=np.uint8),
                leaf_value=np.asarray(arrays["leaf_value"], dtype=np.float64),
                offsets=np.asarray(arrays["offsets"], dtype=np.int64),
                tree_features=np.asarray(arrays["tree_features"], dtype=np.int32),
                n_features=int(shape[0]),
                max_samples=int(shape[1]),
            )
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ModelError(f"forest arrays are incomplete or malformed ({exc})") from exc
        forest.validate()
        return forest
