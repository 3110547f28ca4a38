"""Baselines every fidelity report compares the GAN with, computed in the same run.

- :class:`IndependentSampler`: each column drawn on its own from its empirical marginal
  (perfect marginals, no dependence between columns);
- :class:`SmoteSampler`: SMOTE-NC style interpolation: a real row, one of its ``k``
  nearest neighbours of the same class (standardised numeric space, counts and durations
  on a log scale), numbers interpolated at a uniform point between the two, categories
  (addresses, ports, protocol, status, ...) set to the most frequent among the ``k``
  neighbours, as SMOTE-NC does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.synth.table import COLUMN_KINDS

__all__ = ["IndependentSampler", "SmoteSampler"]

_LOG = ("count", "positive")


class IndependentSampler:
    """Independent empirical marginals."""

    def fit(self, flows: pd.DataFrame) -> IndependentSampler:
        """Keep the columns' values."""
        if not len(flows):
            raise InputError("no flows to fit the independent-marginals baseline on")
        self.flows_ = flows.reset_index(drop=True)
        return self

    def sample(self, n: int, random_state: int = 0) -> pd.DataFrame:
        """``n`` rows, every column resampled independently."""
        rng = np.random.default_rng(random_state)
        m = len(self.flows_)
        out = {c: self.flows_[c].iloc[rng.integers(0, m, n)].to_numpy() for c in self.flows_}
        frame = pd.DataFrame(out).astype(self.flows_.dtypes.to_dict())
        if "timestamp" in frame:
            frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
        return frame


def _kind(name: str, s: pd.Series) -> str:
    if name in COLUMN_KINDS:
        return COLUMN_KINDS[name]
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return "positive"
    return "categorical"


class SmoteSampler:
    """SMOTE-NC style interpolation between same-class nearest neighbours."""

    def __init__(self, *, k: int = 5, condition: str | None = "root_cause") -> None:
        self.k = k
        self.condition = condition

    def fit(self, flows: pd.DataFrame) -> SmoteSampler:
        """Standardise the numeric columns and index each class for neighbour search."""
        from scipy.spatial import cKDTree

        flows = flows.reset_index(drop=True)
        if len(flows) < 2:
            raise InputError("need at least 2 flows for the SMOTE baseline")
        self.flows_ = flows
        kinds = {c: _kind(c, flows[c]) for c in flows.columns}
        self.numeric_ = [
            c for c, k in kinds.items() if k in ("time", "count", "positive", "linear")
        ]
        self.numeric_ += [c for c in ("source_port",) if c in flows.columns]
        self.categorical_ = [c for c in flows.columns if c not in self.numeric_]
        x = np.column_stack([self._forward(c) for c in self.numeric_]) if self.numeric_ else None
        self.x_ = x if x is not None else np.zeros((len(flows), 0))
        known = ~np.isnan(self.x_).all(axis=0)
        fill = np.zeros(self.x_.shape[1])
        fill[known] = np.nanmedian(self.x_[:, known], axis=0)
        filled = np.where(np.isnan(self.x_), fill, self.x_)
        std = filled.std(axis=0)
        self.z_ = (filled - filled.mean(axis=0)) / np.where(std > 0, std, 1.0)
        cond = self.condition if self.condition in flows.columns else None
        groups = flows[cond].astype(str).to_numpy() if cond else np.zeros(len(flows), dtype=object)
        self.groups_: dict[object, np.ndarray] = {}
        self.trees_ = {}
        for g in pd.unique(groups):
            rows = np.flatnonzero(groups == g)
            self.groups_[g] = rows
            self.trees_[g] = cKDTree(self.z_[rows])
        self.group_of_ = groups
        return self

    def _forward(self, c: str) -> np.ndarray:
        s = self.flows_[c]
        kind = _kind(c, s)
        if kind == "time":
            t = pd.to_datetime(s, utc=True)
            return np.asarray((t - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), dtype=float)
        v = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        return np.log1p(v) if kind in _LOG else v

    def _backward(self, c: str, v: np.ndarray) -> pd.Series:
        s = self.flows_[c]
        kind = _kind(c, s)
        if kind == "time":
            micros = np.round(v * 1e6).astype(np.int64)
            return pd.Series(pd.to_datetime(micros, unit="us", utc=True)).astype(s.dtype)
        if kind in _LOG:
            v = np.expm1(v)
        if pd.api.types.is_integer_dtype(s.dtype):
            return pd.Series(np.round(v), dtype="float64").astype(s.dtype)
        return pd.Series(v, dtype="float64")

    def _neighbours(self, base: np.ndarray) -> np.ndarray:
        """(len(base), k) neighbour row indices (same class, self excluded when possible)."""
        out = np.repeat(base[:, None], self.k, axis=1)
        for g, rows in self.groups_.items():
            m = np.flatnonzero(self.group_of_[base] == g)
            if not len(m) or len(rows) < 2:
                continue
            k = min(self.k + 1, len(rows))
            _, idx = self.trees_[g].query(self.z_[base[m]], k=k)
            idx = np.asarray(idx).reshape(len(m), k)
            nb = rows[idx]
            # drop the base itself (first match), keep k neighbours
            is_self = nb == base[m][:, None]
            order = np.argsort(is_self, axis=1, kind="stable")
            nb = np.take_along_axis(nb, order, axis=1)[:, : k - 1]
            if nb.shape[1] < self.k:
                nb = np.concatenate([nb, np.repeat(nb[:, -1:], self.k - nb.shape[1], 1)], 1)
            out[m] = nb
        return out

    @staticmethod
    def _majority(codes: np.ndarray) -> np.ndarray:
        """Most frequent value per row (ties: the nearest neighbour's)."""
        counts = (codes[:, :, None] == codes[:, None, :]).sum(axis=2)
        pick = np.argmax(counts, axis=1)
        return codes[np.arange(len(codes)), pick]

    def sample(self, n: int, random_state: int = 0) -> pd.DataFrame:
        """``n`` interpolated rows (classes in their training proportions)."""
        rng = np.random.default_rng(random_state)
        base = rng.integers(0, len(self.flows_), n)
        nbs = self._neighbours(base)
        partner = nbs[np.arange(n), rng.integers(0, self.k, n)]
        lam = rng.random(n)
        out: dict[str, pd.Series] = {}
        for j, c in enumerate(self.numeric_):
            a, b = self.x_[base, j], self.x_[partner, j]
            v = np.where(np.isnan(b), a, a + lam * (b - a))
            out[c] = self._backward(c, v)
        cond = self.condition if self.condition in self.flows_.columns else None
        for c in self.categorical_:
            col = self.flows_[c]
            if c == cond:
                out[c] = col.iloc[base].reset_index(drop=True)
                continue
            codes, uniq = pd.factorize(col.astype("string").fillna("\x00null"), sort=False)
            pick = self._majority(codes[nbs])
            first = self._first_index(codes, uniq)
            out[c] = col.iloc[first[pick]].reset_index(drop=True)
        frame = pd.DataFrame({c: out[c].reset_index(drop=True) for c in self.flows_.columns})
        if "timestamp" in frame:
            frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
        return frame

    @staticmethod
    def _first_index(codes: np.ndarray, uniq: pd.Index) -> np.ndarray:
        """Row index of the first occurrence of each code."""
        first = np.full(len(uniq), -1, dtype=np.int64)
        seen = np.unique(codes, return_index=True)
        first[seen[0]] = seen[1]
        return first
