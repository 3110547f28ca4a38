"""Vectorised group-by primitives over integer keys (factorize + bincount, no Python loops)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Groups"]


#: Mixed-radix group keys stay below this (int64 with room to spare).
_RADIX_LIMIT = 1 << 62


def _key_codes(k: np.ndarray) -> tuple[np.ndarray, int]:
    """Non-negative int64 codes of a key and how many values they can take."""
    if k.dtype.kind in "iub" and len(k):
        k = k.astype(np.int64, copy=False)
        lo, hi = int(k.min()), int(k.max())
        if hi - lo < _RADIX_LIMIT // 4:
            return k - lo, hi - lo + 1
    codes, uniq = pd.factorize(k, sort=False)  # NaN gets -1: shifted to a code of its own
    return codes.astype(np.int64) + 1, len(uniq) + 1


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
        # Keys are combined in mixed radix (integer keys by their offset from the
        # minimum, others by factorize codes) and the result factorized once, compacting
        # early only when the radix would overflow. Group ids are numbered by first
        # appearance, so they do not depend on how the combination was encoded.
        combined = np.zeros(len(keys[0]), dtype=np.int64)
        span = 1
        for k in keys:
            codes, k_span = _key_codes(np.asarray(k))
            if span * k_span >= _RADIX_LIMIT:
                c, uniq = pd.factorize(combined, sort=False)
                combined, span = c.astype(np.int64), len(uniq)
            combined = combined * k_span + codes
            span *= k_span
        ids, uniq = pd.factorize(combined, sort=False)
        self.ids = ids.astype(np.int64)
        self.n_groups = len(uniq)

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
        v_codes, v_span = _key_codes(np.asarray(values))
        if self.n_groups * v_span >= _RADIX_LIMIT:
            c, uniq = pd.factorize(v_codes, sort=False)
            v_codes, v_span = c.astype(np.int64), len(uniq) + 1
        # each distinct (group, value) pair once (a hash pass), counted by its group
        pairs = pd.unique(self.ids * v_span + v_codes)
        return np.bincount(pairs // v_span, minlength=self.n_groups).astype(np.float64)

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
