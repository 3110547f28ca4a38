"""Rank-correlation matching: sampled numbers reordered among their rows so that their rank
correlations, with each other and with time, are the training flows' (per large class;
smaller classes: whole rows moved among their timestamps, for the gap's correlations).

The generator and the marginal calibration leave each number's distribution as the
training flows' but the pairwise dependence only as close as the generator learned it:
a few hundredths of rank correlation on some pairs (duration against the counts, latency
against packets). :class:`RankMatcher` stores, per class with at least ``min_rows``
training flows, the correlation matrix of the training flows' normal scores (van der
Waerden: ``Phi^-1((average rank - 1/2) / n)``) over the time of day, the gap to the
previous flow and the number columns. At sampling, inside each such class, the time
columns stay as they are and each number column's values are *reassigned among the
rows* (Iman and Conover's method, conditional on the fixed columns): the rows' scores
are whitened given the time columns and recoloured to the training correlations, and
each column's values go to the rows in the order of the recoloured scores. Two passes:
reassigning values moves the scores, and a second pass from where the first left them
closes most of what remains when the sample starts far from the training correlations.

Each column keeps its exact multiset of values within the class (so every marginal and
every count is what sampling produced), zeros, missing values and exact values named in
``keep`` (the exact top source ports) stay on their rows, and nothing is random: the
same frame gives the same result.

Classes with fewer training flows are not reordered column by column: that forces the
sample to the training sample's correlations between every pair, which helps where
those are estimated closely and the data are dense; on 1,402 clustered flows it made
the rows easier to tell from real ones (see BENCHMARKS.md). A class with at least
``MIN_TIME_ROWS`` is *matched in time* instead (``timed``): whole rows (every column
but the timestamp) move among the class's timestamps, within windows of consecutive
ones, so that the gap to the previous flow gets its training correlations with the
numbers, those that are significant at the 5% level (see :meth:`RankMatcher._retime`).
Every row stays a row the generator produced, so every relation among its columns is
kept; only which timestamp carries it changes, and only by a window's span.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import ModelError
from netrca.synth.encoders import TimeEncoder

__all__ = ["MIN_ROWS", "MIN_SAMPLE", "MIN_TIME_ROWS", "ROUNDS", "RankMatcher", "normal_scores"]

#: Training flows a class needs for its correlations to be matched.
MIN_ROWS = 5000
#: Sampled flows of a class below which its rows are left as generated.
MIN_SAMPLE = 200
#: Training flows a class needs for its rows to be matched in time (smaller classes than
#: ``MIN_ROWS``); each wanted correlation must also be significant at ``SIGNIFICANCE``.
MIN_TIME_ROWS = 100
#: Two-sided normal quantile a training correlation's Fisher z must reach (5% level) for
#: time matching to aim for it; weaker ones are left at the sample's own value.
SIGNIFICANCE = 1.96
#: Reassignment passes (values moved by one pass move the scores the next one starts from).
ROUNDS = 2
#: The time columns, computed from the timestamps (they are never reordered).
TIME_COLUMNS = ("time_of_day", "gap")


def _ranked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-missing rows of ``x`` in value order, and their van der Waerden scores
    (``Phi^-1((average rank - 1/2) / n)``, ties sharing their average rank) in that order."""
    from scipy.special import ndtri

    rows = np.flatnonzero(~np.isnan(x))
    order = rows[np.argsort(x[rows])]  # the order among equal values does not matter
    v, n = x[order], len(rows)
    if not n:
        return order, np.zeros(0)
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    sizes = np.diff(np.r_[starts, n])
    average = starts + (sizes + 1) / 2.0  # 1-based average rank of each run of ties
    return order, ndtri((np.repeat(average, sizes) - 0.5) / n)


def normal_scores(x: np.ndarray) -> np.ndarray:
    """van der Waerden scores of ``x``'s non-missing values (average ranks for ties);
    0 (the scores' mean) where ``x`` is missing."""
    z = np.zeros(len(x))
    order, scores = _ranked(x)
    z[order] = scores
    return z


def _psd_cholesky(c: np.ndarray) -> np.ndarray:
    """Cholesky factor of ``c`` with its eigenvalues floored just above zero."""
    w, v = np.linalg.eigh((c + c.T) / 2.0)
    w = np.clip(w, 1e-9, None)
    return np.linalg.cholesky((v * w) @ v.T + 1e-12 * np.eye(len(c)))


def _recolour(z: np.ndarray, s: np.ndarray, t: np.ndarray, nf: int) -> np.ndarray:
    """Scores ``z`` (fixed columns first, ``nf`` of them, then free ones; correlations
    ``s``) with the free columns' part not explained by the fixed ones whitened and
    recoloured to the target correlations ``t``: ``z_fixed a' + e b'``, as one product."""
    s_ff, s_mf, s_mm = s[:nf, :nf], s[nf:, :nf], s[nf:, nf:]
    inv = np.linalg.pinv(s_ff) if nf else np.zeros((0, 0))
    # e = (z_free - z_fixed c') w', whitened given the fixed columns
    c = s_mf @ inv
    w = np.linalg.inv(_psd_cholesky(s_mm - c @ s_mf.T))
    a = t[nf:, :nf] @ inv
    b = _psd_cholesky(t[nf:, nf:] - a @ s_ff @ a.T)
    wb = w.T @ b.T
    return np.asarray(z @ np.vstack([a.T - c.T @ wb, wb]))


def _varies(x: np.ndarray) -> bool:
    """Whether ``x`` holds two different non-missing values (without copying it)."""
    ok = ~np.isnan(x)
    return bool(np.max(x, where=ok, initial=-np.inf) > np.min(x, where=ok, initial=np.inf))


class RankMatcher:
    """Per large class, the training flows' normal-score correlations; reorders samples."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.time_column: str | None = None
        self.condition: str | None = None
        self.keep: dict[str, list[float]] = {}
        self.classes: list[str] = []
        self.rows: list[int] = []
        #: the classes (of ``classes``) matched by moving whole rows in time, not numbers
        self.timed: list[str] = []
        #: (class, column, column) correlations over ``names``; NaN rows and columns for
        #: a column that is constant (or all missing) in that class's training flows
        self.targets = np.zeros((0, 0, 0))

    @property
    def names(self) -> list[str]:
        """The matrix's columns: the time columns (when there is a time column), then
        the number columns."""
        return [*(TIME_COLUMNS if self.time_column else ()), *self.columns]

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        cols: list[np.ndarray] = []
        if self.time_column:
            t = TimeEncoder.epoch(frame[self.time_column], self.time_column)
            cols += [np.mod(t, 86400.0) / 3600.0, TimeEncoder.gaps(t)]
        for c in self.columns:
            cols.append(pd.to_numeric(frame[c]).to_numpy(dtype=np.float64, na_value=np.nan))
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    def _groups(self, frame: pd.DataFrame) -> np.ndarray:
        if self.condition is None:  # one group, named ""
            return np.full(len(frame), "", dtype=object)
        return frame[self.condition].astype(str).to_numpy(dtype=object)

    def fit(
        self,
        flows: pd.DataFrame,
        columns: list[str],
        *,
        condition: str | None = None,
        time_column: str | None = None,
        keep: dict[str, list[float]] | None = None,
        min_rows: int = MIN_ROWS,
        time_min_rows: int = MIN_TIME_ROWS,
    ) -> RankMatcher:
        """Learn the correlations of ``flows`` per value of ``condition`` (one group
        without it) that has at least ``min_rows`` flows, and, with a time column, of
        each smaller one that has at least ``time_min_rows`` (matched in time only)."""
        self.columns = list(columns)
        self.time_column = time_column
        self.condition = condition
        self.keep = {c: [float(v) for v in (keep or {}).get(c, [])] for c in self.columns}
        x = self._values(flows)
        groups = self._groups(flows)
        classes, targets, rows, timed = [], [], [], []
        for g in sorted(set(groups.tolist()), key=str):
            idx = np.flatnonzero(groups == g)
            if len(idx) < min_rows:
                if time_column is None or len(idx) < max(time_min_rows, 4):
                    continue
                timed.append(str(g))
            xg = x[idx]
            var = np.array([_varies(xg[:, j]) for j in range(x.shape[1])], dtype=bool)
            corr = np.full((x.shape[1], x.shape[1]), np.nan)
            if var.sum() >= 2:
                z = np.column_stack([normal_scores(xg[:, j]) for j in np.flatnonzero(var)])
                corr[np.ix_(var, var)] = np.corrcoef(z, rowvar=False)
            classes.append(str(g))
            targets.append(corr)
            rows.append(len(idx))
        self.classes, self.rows, self.timed = classes, rows, timed
        k = x.shape[1]
        self.targets = np.stack(targets) if targets else np.zeros((0, k, k))
        return self

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each matched class's number values reordered among its rows, and
        each time-matched class's rows moved among its timestamps (see :meth:`match`)."""
        return self.match(frame)[0]

    def match(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """:meth:`apply`, with the rows' permutation: row ``i`` of the result holds row
        ``order[i]``'s contents (its timestamp aside); None when no row moved."""
        if not len(self.classes) or not len(frame):
            return frame, None
        x = self._values(frame)
        groups = self._groups(frame)
        n_time = len(self.names) - len(self.columns)
        reordered = False
        order: np.ndarray | None = None
        epoch: np.ndarray | None = None  # the timestamps in seconds, once, if a class is timed
        timed = set(self.timed)
        for g, target, n in zip(self.classes, self.targets, self.rows, strict=True):
            idx = np.flatnonzero(groups == g)
            if len(idx) < MIN_SAMPLE:
                continue
            if g in timed:
                if epoch is None:  # timed classes exist only with a time column
                    tcol = str(self.time_column)
                    epoch = TimeEncoder.epoch(frame[tcol], tcol)
                moved = self._retime(epoch, idx, x, target, n)
                if moved is not None:
                    if order is None:
                        order = np.arange(len(frame))
                    order[moved[0]] = moved[1]
            else:
                x[idx] = self._reorder(x[idx], target, n_time)
                reordered = True
        if reordered:
            frame = self._write_numbers(frame, x, n_time)
        if order is not None:
            frame = self._move_rows(frame, order)
        return frame, order

    def _move_rows(self, frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
        """``frame``'s rows taken in ``order``, all columns but the timestamp."""
        out = frame.take(order)
        out.index = frame.index
        if self.time_column is not None:
            out[self.time_column] = frame[self.time_column]
        return out

    def _retime(
        self, t: np.ndarray, idx: np.ndarray, x: np.ndarray, target: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A time-matched class's rows (``idx``; ``t`` every row's time in seconds, ``x``
        its values): the rows whose contents move and, for each, the row whose contents
        it takes; None if none do.

        The timestamps stay; each row's contents (every other column) may move to another
        of the class's timestamps within a window of consecutive ones. Each row gets a
        wanted normal score for its gap to the previous flow given its numbers (Iman and
        Conover's recolouring, conditional on the numbers, aimed at the training
        correlations between the gap and each number that are significant at the 5% level
        with ``n`` training flows); within each window, the contents with the k-th
        smallest wanted score go to the timestamp with the k-th smallest gap. Windows of
        ``ceil(sqrt(m))`` of the class's ``m`` rows: a row moves in time by at most a
        window's span, about 1/sqrt(m) of the sample's, while the ranks within a window
        reach the wanted ones to about 1/sqrt(m): both shrink alike as the sample grows.
        """
        idx = idx[np.argsort(t[idx], kind="stable")]
        xs = x[idx]
        gap = 1  # the time columns are (time of day, gap)
        ok = ~np.isnan(np.diag(target))
        if not (ok[gap] and _varies(xs[:, gap])):
            return None
        nums = [j for j in range(2, x.shape[1]) if ok[j] and _varies(xs[:, j])]
        if not nums:
            return None
        cols = [*nums, gap]
        with ThreadPoolExecutor(2) as pool:  # numpy's sorts release the GIL
            z = np.column_stack(list(pool.map(normal_scores, [xs[:, j] for j in cols])))
        s = np.atleast_2d(np.corrcoef(z, rowvar=False))
        t_ = target[np.ix_(cols, cols)].copy()
        k = len(nums)
        # the gap's wanted correlations: the training flows' where significant, else the
        # sample's own (aiming at the sample's own moves nothing)
        r = np.clip(t_[k, :k], -0.999999, 0.999999)
        weak = np.abs(np.arctanh(r)) * np.sqrt(max(n - 3, 1)) < SIGNIFICANCE
        if weak.all():
            return None
        t_[k, :k] = np.where(weak, s[k, :k], t_[k, :k])
        t_[:k, k] = t_[k, :k]
        wanted = _recolour(z, s, t_, k)[:, 0]
        m = len(idx)
        window = np.arange(m) // int(np.ceil(np.sqrt(m)))
        # per window (consecutive, so both orders keep each window's rows in its own
        # positions): timestamps by gap (ties: the contents already there that want the
        # least gap first), contents by wanted score; the k-th of each takes the k-th
        take = np.empty(m, dtype=np.int64)
        take[np.lexsort((wanted, xs[:, gap], window))] = np.lexsort((wanted, window))
        moved = take != np.arange(m)
        if not moved.any():
            return None
        return idx[moved], idx[take[moved]]

    def _write_numbers(self, frame: pd.DataFrame, x: np.ndarray, n_time: int) -> pd.DataFrame:
        """``frame`` with its number columns set from ``x``, in their own dtypes."""
        frame = frame.copy()
        for j, c in enumerate(self.columns, start=n_time):
            col = x[:, j]
            if isinstance(frame[c].dtype, pd.Int64Dtype):
                missing = np.isnan(col)
                ints = np.where(missing, 0, col).astype(np.int64)
                frame[c] = pd.arrays.IntegerArray(ints, missing)
            else:
                frame[c] = pd.Series(col, index=frame.index, dtype=frame[c].dtype)
        return frame

    def _reorder(self, x: np.ndarray, target: np.ndarray, n_time: int) -> np.ndarray:
        """One class's rows: the number columns reassigned (see the module docstring)."""
        ok = ~np.isnan(np.diag(target))
        var = np.array([ok[j] and _varies(x[:, j]) for j in range(x.shape[1])], dtype=bool)
        fixed = [j for j in range(n_time) if var[j]]
        free = [j for j in range(n_time, x.shape[1]) if var[j]]
        if not free or len(fixed) + len(free) < 2:
            return x
        x = np.asfortranarray(x)  # a copy, column by column
        nf = len(fixed)
        z = np.zeros((len(x), nf + len(free)), order="F")
        cols = fixed + free
        # per free column: the rows whose values may move, and their values in order
        movable: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(free)
        values, ordered = list(movable), list(movable)

        def rank(k: int) -> None:
            col = x[:, cols[k]]
            order, scores = _ranked(col)
            z[order, k] = scores
            if k >= nf:
                stay = col[order] == 0
                names = self.keep.get(self.names[cols[k]])
                if names:
                    stay |= np.isin(col[order], names)
                keep = order[~stay]
                movable[k - nf], values[k - nf], ordered[k - nf] = (
                    np.sort(keep),
                    col[keep],
                    scores[~stay],
                )

        def assign(k: int, z2: np.ndarray) -> None:
            rows = movable[k]
            if len(rows) > 1:
                order = rows[np.argsort(z2[rows, k])]
                x[order, free[k]] = values[k]
                z[order, nf + k] = ordered[k]  # the scores move with the values

        # columns are independent (each writes only its own), and numpy's sorts release
        # the GIL: two threads
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(rank, range(len(cols))))
            t = target[np.ix_(cols, cols)]
            for _ in range(ROUNDS):
                s = np.atleast_2d(np.corrcoef(z, rowvar=False))
                # the free scores recoloured to the training correlations with the fixed
                # columns and with each other
                z2 = np.asfortranarray(_recolour(z, s, t, nf))
                list(pool.map(assign, range(len(free)), [z2] * len(free)))
        return x

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; the matrices go with :meth:`arrays`."""
        return {
            "columns": self.columns,
            "time_column": self.time_column,
            "condition": self.condition,
            "keep": self.keep,
            "classes": self.classes,
            "rows": self.rows,
            "timed": self.timed,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The correlation matrices (numbers only)."""
        return {"targets": np.ascontiguousarray(self.targets, dtype=np.float64)}

    @classmethod
    def from_parts(cls, d: dict[str, Any], arrays: dict[str, np.ndarray]) -> RankMatcher:
        """Rebuild from :meth:`to_dict` and :meth:`arrays`, checking shapes and values."""
        r = cls()
        r.columns = [str(c) for c in d["columns"]]
        r.time_column = None if d["time_column"] is None else str(d["time_column"])
        r.condition = None if d["condition"] is None else str(d["condition"])
        r.keep = {str(k): [float(v) for v in vs] for k, vs in d["keep"].items()}
        r.classes = [str(c) for c in d["classes"]]
        r.rows = [int(v) for v in d["rows"]]
        r.timed = [str(c) for c in d.get("timed", [])]  # models saved before time matching
        if "targets" not in arrays:
            raise ModelError("rank matching lacks its correlation matrices")
        t = np.asarray(arrays["targets"], dtype=np.float64)
        k = len(r.names)
        ok = (
            t.shape == (len(r.classes), k, k)
            and len(r.rows) == len(r.classes)
            and len(set(r.classes)) == len(r.classes)
            and set(r.keep) <= set(r.columns)
            and len(set(r.columns)) == len(r.columns)
            and set(r.timed) <= set(r.classes)
            and len(set(r.timed)) == len(r.timed)
            and (not r.timed or r.time_column is not None)
        )
        if ok and t.size:
            fin = np.isfinite(t)
            ok = bool(
                (np.abs(t[fin]) <= 1.0 + 1e-9).all()
                and np.array_equal(fin, np.swapaxes(fin, 1, 2))
                and np.allclose(np.where(fin, t, 0.0), np.swapaxes(np.where(fin, t, 0.0), 1, 2))
            )
        if not ok:
            raise ModelError("rank matching's correlation matrices do not match its columns")
        r.targets = t
        return r
