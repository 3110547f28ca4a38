"""Marginal calibration: generated numbers moved onto the training flows' quantiles per group.

A generator that gets each column's joint structure roughly right can still miss its
marginal shape inside a skeleton (a service's byte counts, the edges of the ephemeral
port range). After training, :class:`Calibrator` compares, column by column, the
generator's own values (a large calibration sample) with the training flows' values in
the finest group that has at least ``min_rows`` rows of both: the row's skeleton (class,
destination, ports, protocol, status, error code), else its coarse skeleton (the same
without the addresses and the client's port), else its class. Each stores ``quantiles``
evenly spaced quantiles of both sides. Sampling maps a generated value ``x`` through
``F_real^-1(F_gen(x))`` (quantile mapping): ``F_gen`` is the piecewise-linear CDF
through the generator's quantiles, a value that hits a run of equal quantiles (a point
mass such as zero bytes) gets a level drawn uniformly across the jump, and ``F_real^-1``
interpolates the training quantiles. The map is monotone, so each row keeps its rank
within its group and the generator's dependence between columns (its copula) is kept,
while each group's marginal follows the training flows'. Values stay inside each group's
training range, so counts stay non-negative; integer columns are rounded. Values listed
in a column's ``skip`` (the GAN skips zero counts, so that whether a direction carried
anything stays the generator's joint decision, and exact top ports) are left as they are
and left out of both sides' quantiles.

What the model stores is, per column and group, the two quantile vectors: aggregates of
at least ``min_rows`` values (the training side includes each group's minimum and
maximum), never a row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import ModelError
from netrca.synth.encoders import _float_values, _int_series

__all__ = ["LEVELS", "Calibrator"]

#: Group levels, finest first: skeleton, coarse skeleton, class.
LEVELS: tuple[str, ...] = ("skeleton", "coarse", "class")


def _search(q: np.ndarray, g: np.ndarray, x: np.ndarray, *, right: bool) -> np.ndarray:
    """Per row, ``np.searchsorted(q[g], x, side)`` over the sorted rows of ``q`` (a binary
    search run on all rows at once)."""
    n = q.shape[1]
    flat, base = q.reshape(-1), g * n
    lo, hi = np.zeros(len(x), dtype=np.int64), np.full(len(x), n, dtype=np.int64)
    for _ in range(n.bit_length()):
        active = lo < hi
        mid = (lo + hi) >> 1
        v = flat[base + np.minimum(mid, n - 1)]
        go = active & ((v <= x) if right else (v < x))
        lo = np.where(go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)
    return lo


def _jump_levels(q: np.ndarray, g: np.ndarray, x: np.ndarray, u01: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] of each ``x`` under the piecewise-linear CDF through its group's
    quantiles ``q[g]`` (evenly spaced levels); a value equal to some quantiles gets a level
    drawn uniformly between the CDF just below and just above it."""
    n = q.shape[1]
    flat, base = q.reshape(-1), g * n
    lo = _search(q, g, x, right=False)
    hi = lo.copy()
    on = np.flatnonzero((lo < n) & (flat[base + np.minimum(lo, n - 1)] == x))
    if len(on):  # values equal to some quantiles: where their run ends
        hi[on] = _search(q, g[on], x[on], right=True)
    step = 1.0 / (n - 1)
    # strictly between quantiles j - 1 and j (or outside them all): linear
    j = np.clip(hi, 1, n - 1)
    left, right_q = flat[base + j - 1], flat[base + j]
    width = right_q - left
    frac = np.divide(x - left, width, out=np.zeros(len(x)), where=width > 0)
    u = np.clip((j - 1 + np.clip(frac, 0.0, 1.0)) * step, 0.0, 1.0)
    # equal to quantiles lo .. hi - 1: uniform across the jump
    hit = hi > lo
    if hit.any():
        lo_h, hi_h = lo[hit], hi[hit]
        below = np.where(lo_h > 0, (lo_h - 0.5) * step, 0.0)
        above = np.where(hi_h < n, (hi_h - 0.5) * step, 1.0)
        u[hit] = below + u01[hit] * (above - below)
    return u


def _quantile_at(q: np.ndarray, g: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the piecewise-linear quantile function through ``q[g]`` at level ``u``."""
    n = q.shape[1]
    flat, base = q.reshape(-1), g * n
    t = u * (n - 1)
    i = np.clip(np.floor(t).astype(np.int64), 0, n - 2)
    f = t - i
    a, b = flat[base + i], flat[base + i + 1]
    return np.asarray(a + f * (b - a))


class Calibrator:
    """Per-column, per-group quantile maps from generated values to training values."""

    def __init__(self, *, quantiles: int = 101, min_rows: int = 50) -> None:
        if quantiles < 2 or min_rows < 2:
            raise ValueError("quantiles and min_rows must be at least 2")
        self.quantiles = quantiles
        self.min_rows = min_rows
        self.columns: list[str] = []
        self.integer: dict[str, bool] = {}
        self.skip: dict[str, list[float]] = {}
        # per column: group level (index into LEVELS), group key, quantile rows
        self.level: dict[str, np.ndarray] = {}
        self.key: dict[str, np.ndarray] = {}
        self.real: dict[str, np.ndarray] = {}
        self.gen: dict[str, np.ndarray] = {}

    # -- fitting -----------------------------------------------------------------------------
    def _rows(self, column: str, values: np.ndarray) -> np.ndarray:
        """Rows whose value is calibrated: not null and not one of the skipped values."""
        ok = ~np.isnan(values)
        if self.skip.get(column):
            ok &= ~np.isin(values, self.skip[column])
        return np.asarray(ok)

    def fit(
        self,
        real: pd.DataFrame,
        real_keys: np.ndarray,
        gen: pd.DataFrame,
        gen_keys: np.ndarray,
        columns: list[str],
        *,
        integer: dict[str, bool],
        skip: dict[str, list[float]] | None = None,
    ) -> Calibrator:
        """Learn the quantile maps; ``*_keys``: (n, 3) group keys per level (-1: none)."""
        self.columns = list(columns)
        self.integer = {c: bool(integer.get(c, False)) for c in self.columns}
        self.skip = {c: [float(v) for v in (skip or {}).get(c, [])] for c in self.columns}
        levels = np.linspace(0.0, 1.0, self.quantiles)
        for col in self.columns:
            xr = _float_values(real[col], col)
            xg = _float_values(gen[col], col)
            r_todo, g_todo = self._rows(col, xr), self._rows(col, xg)  # rows no group holds yet
            lv: list[int] = []
            ky: list[int] = []
            rq: list[np.ndarray] = []
            gq: list[np.ndarray] = []
            for li in range(len(LEVELS)):
                kr, kg = real_keys[:, li], gen_keys[:, li]
                ks, counts = np.unique(kr[r_todo & (kr >= 0)], return_counts=True)
                for k in ks[counts >= self.min_rows]:
                    mr = r_todo & (kr == k)
                    mg = g_todo & (kg == k)
                    if int(mg.sum()) < self.min_rows:
                        continue
                    lv.append(li)
                    ky.append(int(k))
                    rq.append(np.quantile(xr[mr], levels))
                    gq.append(np.quantile(xg[mg], levels))
                    r_todo &= ~mr
                    g_todo &= ~mg
            self.level[col] = np.asarray(lv, dtype=np.int64)
            self.key[col] = np.asarray(ky, dtype=np.int64)
            shape = (len(lv), self.quantiles)
            self.real[col] = np.asarray(rq, dtype=np.float64).reshape(shape)
            self.gen[col] = np.asarray(gq, dtype=np.float64).reshape(shape)
        return self

    # -- applying ----------------------------------------------------------------------------
    def groups(self, column: str, keys: np.ndarray) -> np.ndarray:
        """Each row's group index for ``column`` (-1 where no group covers it): the finest
        level whose key has a group."""
        out = np.full(len(keys), -1, dtype=np.int64)
        lv, ky = self.level[column], self.key[column]
        for li in range(len(LEVELS)):
            mine = np.flatnonzero(lv == li)
            if not len(mine):
                continue
            order = mine[np.argsort(ky[mine], kind="stable")]
            sorted_keys = ky[order]
            todo = np.flatnonzero((out < 0) & (keys[:, li] >= 0))
            at = np.searchsorted(sorted_keys, keys[todo, li])
            at_ok = at < len(sorted_keys)
            found = np.zeros(len(todo), dtype=bool)
            found[at_ok] = sorted_keys[at[at_ok]] == keys[todo[at_ok], li]
            out[todo[found]] = order[at[found]]
        return out

    def apply(
        self, frame: pd.DataFrame, keys: np.ndarray, rng: np.random.Generator
    ) -> pd.DataFrame:
        """``frame`` with its calibrated columns mapped onto the training quantiles."""
        frame = frame.copy()
        found: dict[bytes, np.ndarray] = {}  # columns with the same groups look them up once
        for col in self.columns:
            if col not in frame.columns:
                continue
            x = _float_values(frame[col], col)
            sig = self.level[col].tobytes() + b"|" + self.key[col].tobytes()
            if sig not in found:
                found[sig] = self.groups(col, keys)
            g = found[sig]
            ok = self._rows(col, x) & (g >= 0)
            u01 = rng.random(len(x))
            new = x.copy()
            gi, xi = g[ok], x[ok]
            u = _jump_levels(self.gen[col], gi, xi, u01[ok])
            new[ok] = _quantile_at(self.real[col], gi, u)
            if self.integer[col]:
                new[ok] = np.round(new[ok])
            frame[col] = _like(frame[col], new)
        return frame

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the arrays go to :meth:`arrays`)."""
        return {
            "quantiles": self.quantiles,
            "min_rows": self.min_rows,
            "columns": self.columns,
            "integer": self.integer,
            "skip": self.skip,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The quantile maps as named arrays."""
        out: dict[str, np.ndarray] = {}
        for i, col in enumerate(self.columns):
            out[f"{i}.level"] = self.level[col]
            out[f"{i}.key"] = self.key[col]
            out[f"{i}.real"] = self.real[col]
            out[f"{i}.gen"] = self.gen[col]
        return out

    @classmethod
    def from_parts(
        cls, state: dict[str, Any], arrays: dict[str, np.ndarray], n_classes: int
    ) -> Calibrator:
        """Rebuild from :meth:`to_dict` and :meth:`arrays`, checking every array."""
        try:
            out = cls(quantiles=int(state["quantiles"]), min_rows=int(state["min_rows"]))
            out.columns = [str(c) for c in state["columns"]]
            out.integer = {c: bool(state["integer"][c]) for c in out.columns}
            out.skip = {c: [float(v) for v in state["skip"][c]] for c in out.columns}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed calibration settings ({exc})") from exc
        expected = {f"{i}.{part}" for i in range(len(out.columns)) for part in _PARTS}
        if set(arrays) != expected or len(set(out.columns)) != len(out.columns):
            raise ModelError("calibration arrays do not match its columns")
        for i, col in enumerate(out.columns):
            lv, ky = arrays[f"{i}.level"], arrays[f"{i}.key"]
            rq, gq = arrays[f"{i}.real"], arrays[f"{i}.gen"]
            n = len(lv)
            pairs = {(int(a), int(b)) for a, b in zip(lv, ky, strict=False)}
            if (
                lv.ndim != 1
                or ky.shape != (n,)
                or rq.shape != (n, out.quantiles)
                or gq.shape != (n, out.quantiles)
                or ((lv < 0) | (lv >= len(LEVELS))).any()
                or (ky < 0).any()
                or (ky[lv == len(LEVELS) - 1] >= n_classes).any()
                or len(pairs) != n
                or not (np.isfinite(rq).all() and np.isfinite(gq).all())
                or (np.diff(rq, axis=1) < 0).any()
                or (np.diff(gq, axis=1) < 0).any()
            ):
                raise ModelError(f"malformed calibration for column {col!r}")
            out.level[col] = lv.astype(np.int64)
            out.key[col] = ky.astype(np.int64)
            out.real[col] = rq.astype(np.float64)
            out.gen[col] = gq.astype(np.float64)
        return out


_PARTS = ("level", "key", "real", "gen")


def _like(old: pd.Series, values: np.ndarray) -> pd.Series:
    """``values`` with ``old``'s dtype and index (nulls stay null)."""
    new = _int_series(values) if isinstance(old.dtype, pd.Int64Dtype) else pd.Series(values)
    return new.set_axis(old.index).rename(old.name).astype(old.dtype)
