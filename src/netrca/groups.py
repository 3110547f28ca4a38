"""Vectorised group-by primitives over integer keys (factorize + bincount, no Python loops)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Groups"]


class Groups:
    """Rows grouped by one or more integer key arrays.

    Every method returns a per-row array (the row's group aggregate), which is what
    windowed features need.

    Examples
    --------
    >>> g = Groups(np.array([0, 0, 1]), np.array([5, 5, 5]))
    >>> g.count().tolist()
    [2.0, 2.0, 1.0]
    """

    def __init__(self, *keys: np.ndarray) -> None:
        ids = np.zeros(len(keys[0]), dtype=np.int64)
        n = 1
        for k in keys:
            k_codes, k_uniq = pd.factorize(np.asarray(k), sort=False)
            combined = ids * (len(k_uniq) + 1) + k_codes.astype(np.int64)
            ids_codes, ids_uniq = pd.factorize(combined, sort=False)
            ids, n = ids_codes.astype(np.int64), len(ids_uniq)
        self.ids = ids
        self.n_groups = n

    def _per_row(self, per_group: np.ndarray) -> np.ndarray:
        return np.asarray(per_group[self.ids], dtype=np.float64)

    def size(self) -> np.ndarray:
        """Number of rows per group."""
        return np.bincount(self.ids, minlength=self.n_groups).astype(np.float64)

    def count(self) -> np.ndarray:
        """Per-row group size."""
        return self._per_row(self.size())

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-row group sum of ``values``."""
        return self._per_row(np.bincount(self.ids, weights=values, minlength=self.n_groups))

    def group_sum(self, values: np.ndarray) -> np.ndarray:
        """Per-group sum of ``values``."""
        return np.bincount(self.ids, weights=values, minlength=self.n_groups)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Per-row group mean of ``values``."""
        return self.sum(values) / self.count()

    def std(self, values: np.ndarray) -> np.ndarray:
        """Per-row group standard deviation (ddof=0)."""
        n = self.size()
        s = np.bincount(self.ids, weights=values, minlength=self.n_groups)
        s2 = np.bincount(self.ids, weights=values * values, minlength=self.n_groups)
        var = np.maximum(s2 / n - (s / n) ** 2, 0.0)
        return self._per_row(np.sqrt(var))

    def nunique(self, values: np.ndarray) -> np.ndarray:
        """Per-row number of distinct ``values`` in the group."""
        return self._per_row(self.group_nunique(values))

    def group_nunique(self, values: np.ndarray) -> np.ndarray:
        """Per-group number of distinct ``values``."""
        v_codes, v_uniq = pd.factorize(np.asarray(values), sort=False)
        pair = self.ids * (len(v_uniq) + 1) + v_codes.astype(np.int64)
        first = pd.Series(pair).drop_duplicates().index.to_numpy()
        return np.bincount(self.ids[first], minlength=self.n_groups).astype(np.float64)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Per-row group maximum."""
        out = np.full(self.n_groups, -np.inf)
        np.maximum.at(out, self.ids, values)
        return self._per_row(out)

    def median(self, values: np.ndarray) -> np.ndarray:
        """Per-row group median (NaN values ignored)."""
        s = pd.Series(values).groupby(self.ids).median()
        per_group = s.reindex(np.arange(self.n_groups)).to_numpy(dtype=np.float64)
        return self._per_row(per_group)
