"""Calibration: generated numbers moved onto the training flows' quantiles per group, and
generated tokens (client addresses) drawn with the training flows' frequencies per group.

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

Positions in time (timestamps, as seconds) are mapped the same way, so a class whose
flows the training data holds in one window (an incident) keeps them there. Second maps
per bin of another column (:class:`Calibrator`'s ``given``) carry pairs whose relation
quantile maps alone cannot keep: packets back given packets out, bytes given packets, the
duration given packets back, the client port given the time. They may chain, in order: a
map binned on a column that has its own second map comes after it, is fitted on its
output, and so follows it.

Tokens cannot be quantile-mapped (their order means nothing), and changing one after the
fact would leave the numbers generated for another. :class:`TokenCalibrator` instead
offsets the generator's logits for a token head per group, while it generates, so the
heads after it see the token drawn (see its docstring).

What the model stores is, per column or head and group, the two quantile vectors or the
logit offsets: aggregates of at least ``min_rows`` values (the training side includes
each group's minimum and maximum), never a row.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import ModelError
from netrca.synth.encoders import TimeEncoder, _float_values, _int_series

__all__ = ["LEVELS", "Calibrator", "TokenCalibrator", "assign_groups", "lookup_groups"]

#: Group levels, finest first: skeleton, coarse skeleton, class.
LEVELS: tuple[str, ...] = ("skeleton", "coarse", "class")


def assign_groups(
    real_keys: np.ndarray,
    gen_keys: np.ndarray,
    real_ok: np.ndarray,
    gen_ok: np.ndarray,
    min_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Groups with at least ``min_rows`` rows on both sides, finest level first, each
    counting only the (``*_ok``) rows no finer group holds: (level, key) per group, in
    level then key order, and each real and generated row's group (-1: none)."""
    r_of = np.full(len(real_keys), -1, dtype=np.int64)
    g_of = np.full(len(gen_keys), -1, dtype=np.int64)
    r_todo, g_todo = real_ok.copy(), gen_ok.copy()
    lv: list[int] = []
    ky: list[int] = []
    for li in range(len(LEVELS)):
        kr, kg = real_keys[:, li], gen_keys[:, li]
        ks, counts = np.unique(kr[r_todo & (kr >= 0)], return_counts=True)
        for k in ks[counts >= min_rows]:
            mr = r_todo & (kr == k)
            mg = g_todo & (kg == k)
            if int(mg.sum()) < min_rows:
                continue
            r_of[mr] = g_of[mg] = len(lv)
            lv.append(li)
            ky.append(int(k))
            r_todo &= ~mr
            g_todo &= ~mg
    return np.asarray(lv, dtype=np.int64), np.asarray(ky, dtype=np.int64), r_of, g_of


def lookup_groups(level: np.ndarray, key: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each row's group index among groups (``level``, ``key``) for its (n, 3) ``keys``:
    the finest level whose key has a group (-1 where none does)."""
    bases = [np.unique(key[level == li]) for li in range(len(LEVELS))]
    return _Placed(keys, bases).groups(level, key)


class _Placed:
    """Rows' keys placed once, per level, among the (sorted, distinct) keys of one or many
    maps' groups, so that each map's lookup is a table read instead of a search over the
    rows (for maps binned on a column, a group's key is ``base * width + bin``)."""

    def __init__(self, keys: np.ndarray, bases: list[np.ndarray]) -> None:
        self.bases = bases
        self.at: list[np.ndarray] = []  # per level: each row's index in bases (-1: absent)
        for li, u in enumerate(bases):
            k = keys[:, li]
            at = np.searchsorted(u, k)
            hit = (k >= 0) & (at < len(u))
            hit[hit] = u[at[hit]] == k[hit]
            self.at.append(np.where(hit, at, -1))

    def groups(
        self,
        level: np.ndarray,
        key: np.ndarray,
        width: int = 1,
        bins: np.ndarray | None = None,
        fits: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Each row's group among (``level``, ``key``); for a binned map (``width`` > 1)
        a group's key is ``base * width + bin`` and ``bins`` holds each row's bin, and
        ``fits[li]`` marks the rows whose level-``li`` key is small enough to combine."""
        out = np.full(len(self.at[0]), -1, dtype=np.int64)
        for li, u in enumerate(self.bases):
            mine = np.flatnonzero(level == li)
            if not len(mine):
                continue
            table = np.full((len(u), width), -1, dtype=np.int64)
            table[np.searchsorted(u, key[mine] // width), key[mine] % width] = mine
            at = self.at[li]
            todo = np.flatnonzero((out < 0) & (at >= 0))
            if fits is not None:
                todo = todo[fits[li][todo]]
            out[todo] = table[at[todo], 0 if bins is None else bins[todo]]
        return out


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


def _map_rows(
    gen_q: np.ndarray, real_q: np.ndarray, g: np.ndarray, x: np.ndarray, u01: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled by numba; equal to the numpy path (tested)
    """:func:`_quantile_at` of :func:`_jump_levels`, one row at a time (the same
    arithmetic, in the same order, so the same values to the last bit)."""
    n = gen_q.shape[1]
    step = 1.0 / (n - 1)
    out = np.empty(len(x))
    for r in range(len(x)):
        q = gen_q[g[r]]
        v = x[r]
        lo, hi = 0, n  # first quantile >= v
        while lo < hi:
            mid = (lo + hi) >> 1
            if q[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        first = lo
        last = first
        if first < n and q[first] == v:  # first quantile > v
            lo, hi = first, n
            while lo < hi:
                mid = (lo + hi) >> 1
                if q[mid] <= v:
                    lo = mid + 1
                else:
                    hi = mid
            last = lo
        if last > first:
            below = (first - 0.5) * step if first > 0 else 0.0
            above = (last - 0.5) * step if last < n else 1.0
            u = below + u01[r] * (above - below)
        else:
            j = min(max(last, 1), n - 1)
            left = q[j - 1]
            width = q[j] - left
            frac = (v - left) / width if width > 0 else 0.0
            u = min(max((j - 1 + min(max(frac, 0.0), 1.0)) * step, 0.0), 1.0)
        t = u * (n - 1)
        i = min(max(int(np.floor(t)), 0), n - 2)
        f = t - i
        a = real_q[g[r], i]
        out[r] = a + f * (real_q[g[r], i + 1] - a)
    return out


_COMPILED: dict[str, Any] = {}
_THREADS = 2  # threads for the row loop: sampling's other steps leave a second core idle
_ROWS_PER_THREAD = 20_000  # below this a thread costs more than it saves


def map_values(
    gen_q: np.ndarray, real_q: np.ndarray, g: np.ndarray, x: np.ndarray, u01: np.ndarray
) -> np.ndarray:
    """Each ``x`` (of group ``g``) through its group's generated CDF, then the training
    quantile function: the compiled row loop when numba is there, else numpy."""
    if not len(x):
        return np.zeros(0)
    if "map" not in _COMPILED:
        try:
            import numba

            _COMPILED["map"] = numba.njit(nogil=True, cache=True, boundscheck=False)(_map_rows)
        except ImportError:  # pragma: no cover - numba is a core dependency
            _COMPILED["map"] = None
    kernel = _COMPILED["map"]
    if kernel is None:  # pragma: no cover
        return _quantile_at(real_q, g, _jump_levels(gen_q, g, x, u01))
    workers = min(_THREADS, os.cpu_count() or 1, len(x) // _ROWS_PER_THREAD)
    if workers < 2:
        return np.asarray(kernel(gen_q, real_q, g, x, u01))
    # every row is mapped on its own, so the rows split over threads (the compiled loop
    # releases the GIL) give the same values
    cuts = np.linspace(0, len(x), workers + 1).astype(np.int64)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(
            lambda lo, hi: kernel(gen_q, real_q, g[lo:hi], x[lo:hi], u01[lo:hi]),
            cuts[:-1],
            cuts[1:],
        )
        return np.concatenate(list(parts))


class Calibrator:
    """Per-column, per-group quantile maps from generated values to training values, and
    second maps per group and bin of another column (packets back given packets out, bytes
    given packets, the duration given packets back, the client's port given the time).

    ``given[c] = d``: after every column has its own map, column ``c`` gets a second one
    per group *and* bin of ``d``'s value (calibrated, when ``d`` is calibrated; seconds,
    for a timestamp; up to ``bins`` bins at the training values' quantiles, with about
    ``2 * min_rows`` training values each), fitted on the
    first maps' output. Quantile maps keep each column's ranks but not how tightly two
    columns move together: bytes and packets generated with the right marginals can still
    scatter around their training relation, and a host's ephemeral ports, handed out in
    turn, climb with time. The second map gives each (group, bin of ``d``) the training
    flows' distribution of ``c``, so the pair's joint follows the training flows' up to
    the bins; rows whose group and bin have fewer than ``min_rows`` rows keep the first
    map's value. Second maps apply in ``given``'s order; one binned on a column that has a
    second map itself must come after that map (a chain), and is fitted on its output.
    """

    def __init__(self, *, quantiles: int = 101, min_rows: int = 50, bins: int = 16) -> None:
        if quantiles < 2 or min_rows < 2 or bins < 1:
            raise ValueError("quantiles and min_rows must be at least 2, bins at least 1")
        self.quantiles = quantiles
        self.min_rows = min_rows
        self.bins = bins
        self.columns: list[str] = []
        self.integer: dict[str, bool] = {}
        self.skip: dict[str, list[float]] = {}
        self.times: list[str] = []  # columns read as timestamps (seconds since the epoch)
        self.given: dict[str, str] = {}  # column -> the column its second map is binned on
        self.edges: dict[str, np.ndarray] = {}  # binned column -> inner bin edges
        # per map (a column's name, or "column|given" for a second map): group level
        # (index into LEVELS), group key, quantile rows
        self.level: dict[str, np.ndarray] = {}
        self.key: dict[str, np.ndarray] = {}
        self.real: dict[str, np.ndarray] = {}
        self.gen: dict[str, np.ndarray] = {}

    @property
    def maps(self) -> list[str]:
        """The maps, in the order they are applied: each column's, then the second ones."""
        return self.columns + [f"{c}|{d}" for c, d in self.given.items()]

    # -- fitting -----------------------------------------------------------------------------
    def _rows(self, column: str, values: np.ndarray) -> np.ndarray:
        """Rows whose value is calibrated: not null and not one of the skipped values."""
        ok = ~np.isnan(values)
        if self.skip.get(column):
            ok &= ~np.isin(values, self.skip[column])
        return np.asarray(ok)

    def _bin_of(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        """Each row's bin of ``frame[column]`` (nulls: a bin of their own, the last)."""
        x = _numbers(frame[column], column, column in self.times)
        width = self.bins + 2
        return np.where(np.isnan(x), width - 1, np.searchsorted(self.edges[column], x, "right"))

    def _fits(self, keys: np.ndarray) -> np.ndarray:
        """Whether each key can be combined with a bin (not -1, not too large)."""
        width = self.bins + 2
        return (keys >= 0) & (keys <= (np.iinfo(np.int64).max - width) // width)

    def _binned(self, frame: pd.DataFrame, keys: np.ndarray, column: str) -> np.ndarray:
        """``keys`` combined with the bin of ``frame[column]`` (nulls: a bin of their own);
        -1 where a key is -1 or too large to combine."""
        b = self._bin_of(frame, column)
        return np.where(self._fits(keys), keys * (self.bins + 2) + b[:, None], -1)

    def _fit_map(
        self,
        name: str,
        column: str,
        real: pd.DataFrame,
        real_keys: np.ndarray,
        gen: pd.DataFrame,
        gen_keys: np.ndarray,
    ) -> None:
        levels = np.linspace(0.0, 1.0, self.quantiles)
        time = column in self.times
        xr = _numbers(real[column], column, time)
        xg = _numbers(gen[column], column, time)
        lv, ky, rg, gg = assign_groups(
            real_keys, gen_keys, self._rows(column, xr), self._rows(column, xg), self.min_rows
        )
        self.level[name] = lv
        self.key[name] = ky
        shape = (len(lv), self.quantiles)
        for side, x, g in ((self.real, xr, rg), (self.gen, xg, gg)):
            q = [np.quantile(part, levels) for part in _by_group(x, g, len(lv))]
            side[name] = np.asarray(q, dtype=np.float64).reshape(shape)

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
        given: dict[str, str] | None = None,
        times: list[str] | None = None,
    ) -> Calibrator:
        """Learn the quantile maps; ``*_keys``: (n, 3) group keys per level (-1: none);
        ``given``: second maps (see the class docstring); ``times``: the columns (mapped
        or binned on) that hold timestamps."""
        self.columns = list(columns)
        self.integer = {c: bool(integer.get(c, False)) for c in self.columns}
        self.skip = {c: [float(v) for v in (skip or {}).get(c, [])] for c in self.columns}
        self.given = dict(given or {})
        self.times = list(times or [])
        if _bad_pairs(self.columns, self.given, self.times):
            raise ValueError(f"second maps must be of calibrated columns: {self.given}")
        for col in self.columns:
            self._fit_map(col, col, real, real_keys, gen, gen_keys)
        if self.given:
            first = self._apply_maps(gen, gen_keys, self.columns, np.random.default_rng(0))
            binned_on = set(self.given.values())
            for d in dict.fromkeys(self.given.values()):
                x = _numbers(real[d], d, d in self.times)
                x = x[self._rows(d, x)] if d in self.columns else x[~np.isnan(x)]
                # at most ``bins``, and about 2 x min_rows training values per bin
                n_bins = int(np.clip(len(x) // (2 * self.min_rows), 1, self.bins))
                inner = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
                self.edges[d] = np.unique(np.quantile(x, inner)) if len(x) else np.zeros(0)
            for c, d in self.given.items():
                name = f"{c}|{d}"
                self._fit_map(
                    name,
                    c,
                    real,
                    self._binned(real, real_keys, d),
                    first,
                    self._binned(first, gen_keys, d),
                )
                if c in binned_on:  # a later map is binned on this one's output (a chain)
                    first = self._apply_maps(first, gen_keys, [name], np.random.default_rng(1))
        return self

    # -- applying ----------------------------------------------------------------------------
    def groups(self, column: str, keys: np.ndarray) -> np.ndarray:
        """Each row's group index for map ``column`` (-1 where no group covers it): the
        finest level whose key has a group."""
        return lookup_groups(self.level[column], self.key[column], keys)

    def timed(self) -> tuple[list[str], list[str]]:
        """(the maps of timestamp columns, the second maps binned on them or chained to
        those): what a new timeline must be mapped with again."""
        first = [c for c in self.columns if c in self.times]
        moved, second = set(self.times), []
        for c, d in self.given.items():  # in order, so chains follow their first link
            if d in moved:
                moved.add(c)
                second.append(f"{c}|{d}")
        return first, second

    def apply(
        self,
        frame: pd.DataFrame,
        keys: np.ndarray,
        rng: np.random.Generator,
        maps: list[str] | None = None,
    ) -> pd.DataFrame:
        """``frame`` with its calibrated columns mapped onto the training quantiles (all
        maps in order, or those of ``maps``)."""
        names = self.maps if maps is None else [m for m in self.maps if m in maps]
        return self._apply_maps(frame, keys, names, rng)

    def _apply_maps(
        self, frame: pd.DataFrame, keys: np.ndarray, maps: list[str], rng: np.random.Generator
    ) -> pd.DataFrame:
        frame = frame.copy()
        width = self.bins + 2
        # every map's group keys (a binned map's without the bin), per level: the rows are
        # placed among them once, then each map reads its groups from a small table
        parts: list[list[np.ndarray]] = [[] for _ in LEVELS]
        for name in maps:
            w = width if "|" in name else 1
            for li in range(len(LEVELS)):
                parts[li].append(self.key[name][self.level[name] == li] // w)
        bases = [np.unique(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]
        placed = _Placed(keys, bases)
        fits = [self._fits(keys[:, li]) for li in range(len(LEVELS))] if self.given else None
        found: dict[bytes, np.ndarray] = {}  # maps with the same groups look them up once
        bins: dict[str, np.ndarray] = {}  # binned column -> each row's bin, until it moves
        for name in maps:
            col, _, by = name.partition("|")
            if col not in frame.columns or (by and by not in frame.columns):
                continue
            x = _numbers(frame[col], col, col in self.times)
            if by:  # a second map: keys binned by the column's calibrated value
                if by not in bins:
                    bins[by] = self._bin_of(frame, by)
                lv, ky = self.level[name], self.key[name]
                g = placed.groups(lv, ky, width, bins[by], fits)
            else:
                sig = self.level[name].tobytes() + b"|" + self.key[name].tobytes()
                if sig not in found:
                    found[sig] = placed.groups(self.level[name], self.key[name])
                g = found[sig]
            ok = self._rows(col, x) & (g >= 0)
            u01 = rng.random(len(x))
            new = x.copy()
            new[ok] = map_values(self.gen[name], self.real[name], g[ok], x[ok], u01[ok])
            if self.integer[col]:
                new[ok] = np.round(new[ok])
            frame[col] = _like(frame[col], new)
            bins.pop(col, None)
        return frame

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the arrays go to :meth:`arrays`)."""
        return {
            "quantiles": self.quantiles,
            "min_rows": self.min_rows,
            "bins": self.bins,
            "columns": self.columns,
            "integer": self.integer,
            "skip": self.skip,
            "given": self.given,
            "times": self.times,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The quantile maps (and bin edges) as named arrays."""
        out: dict[str, np.ndarray] = {}
        for i, name in enumerate(self.maps):
            out[f"{i}.level"] = self.level[name]
            out[f"{i}.key"] = self.key[name]
            out[f"{i}.real"] = self.real[name]
            out[f"{i}.gen"] = self.gen[name]
        for i, d in enumerate(dict.fromkeys(self.given.values())):
            out[f"edges.{i}"] = self.edges[d]
        return out

    @classmethod
    def from_parts(
        cls, state: dict[str, Any], arrays: dict[str, np.ndarray], n_classes: int
    ) -> Calibrator:
        """Rebuild from :meth:`to_dict` and :meth:`arrays`, checking every array."""
        try:
            out = cls(
                quantiles=int(state["quantiles"]),
                min_rows=int(state["min_rows"]),
                bins=int(state.get("bins", 16)),
            )
            out.columns = [str(c) for c in state["columns"]]
            out.integer = {c: bool(state["integer"][c]) for c in out.columns}
            out.skip = {c: [float(v) for v in state["skip"][c]] for c in out.columns}
            out.given = {str(c): str(d) for c, d in (state.get("given") or {}).items()}
            out.times = [str(c) for c in state.get("times") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed calibration settings ({exc})") from exc
        if _bad_pairs(out.columns, out.given, out.times):
            raise ModelError("calibration's second maps must be of calibrated columns")
        by = list(dict.fromkeys(out.given.values()))
        expected = {f"{i}.{part}" for i in range(len(out.maps)) for part in _PARTS}
        expected |= {f"edges.{i}" for i in range(len(by))}
        if set(arrays) != expected or len(set(out.columns)) != len(out.columns):
            raise ModelError("calibration arrays do not match its columns")
        for i, d in enumerate(by):
            e = arrays[f"edges.{i}"]
            if e.ndim != 1 or len(e) > out.bins - 1 or not np.isfinite(e).all():
                raise ModelError(f"malformed calibration bins for column {d!r}")
            if (np.diff(e) <= 0).any():
                raise ModelError(f"malformed calibration bins for column {d!r}")
            out.edges[d] = e.astype(np.float64)
        for i, name in enumerate(out.maps):
            lv, ky = arrays[f"{i}.level"], arrays[f"{i}.key"]
            rq, gq = arrays[f"{i}.real"], arrays[f"{i}.gen"]
            n = len(lv)
            if (
                _bad_groups(lv, ky, n_classes, out.bins + 2 if "|" in name else 1)
                or rq.shape != (n, out.quantiles)
                or gq.shape != (n, out.quantiles)
                or not (np.isfinite(rq).all() and np.isfinite(gq).all())
                or (np.diff(rq, axis=1) < 0).any()
                or (np.diff(gq, axis=1) < 0).any()
            ):
                raise ModelError(f"malformed calibration for {name!r}")
            out.level[name] = lv.astype(np.int64)
            out.key[name] = ky.astype(np.int64)
            out.real[name] = rq.astype(np.float64)
            out.gen[name] = gq.astype(np.float64)
        return out


class TokenCalibrator:
    """Per-group logit offsets for the generator's categorical heads (client address,
    ports or categories it generates rather than takes from the skeleton).

    The generator picks such a token by the largest logit, and its choices inside a
    group can be off (a client that talks to a service three times too often). For each
    head, in the generator's order, :meth:`fit_head` takes the head's logits on a
    calibration sample and finds, per group, offsets ``b`` so that tokens drawn as
    ``argmax((logit + b) / T + Gumbel)`` have, on average over the group's generated rows,
    the training flows' token frequencies in that group, shrunk towards its class's
    frequencies by ``prior_rows`` pseudo-rows (so a group of 60 flows does not have its
    sampling noise copied). The offsets are found by iterative proportional fitting of
    the softmax frequencies (each step multiplies a token's share by target / current).
    Sampling draws the token with the offsets and Gumbel noise for the rows of a group,
    and the generator's later heads (addresses' prefixes, numbers) see the drawn token,
    so they stay consistent with it. Rows of no group keep the generator's own choice.
    """

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        min_rows: int = 50,
        prior_rows: float = 20.0,
        iterations: int = 300,
    ) -> None:
        finite = np.isfinite(temperature) and np.isfinite(prior_rows)
        if not finite or temperature <= 0 or min_rows < 2 or prior_rows < 0 or iterations < 1:
            raise ValueError("temperature > 0, min_rows >= 2, prior_rows >= 0, iterations >= 1")
        self.temperature = float(temperature)
        self.min_rows = int(min_rows)
        self.prior_rows = float(prior_rows)
        self.iterations = int(iterations)
        self.heads: list[str] = []
        self.level: dict[str, np.ndarray] = {}
        self.key: dict[str, np.ndarray] = {}
        self.offset: dict[str, np.ndarray] = {}
        self.fit_error: dict[str, float] = {}

    def fit_head(
        self,
        head: str,
        logits: np.ndarray,
        gen_keys: np.ndarray,
        real_codes: np.ndarray,
        real_keys: np.ndarray,
    ) -> None:
        """Learn ``head``'s offsets from its ``logits`` (m, k) on generated rows with group
        keys ``gen_keys`` and the training flows' token codes and keys."""
        m, k = logits.shape
        real_codes = np.asarray(real_codes, dtype=np.int64)
        if (real_codes < 0).any() or (real_codes >= k).any():
            raise ValueError(f"{head}: training token codes outside the head's {k} tokens")
        lv, ky, r_of, g_of = assign_groups(
            real_keys,
            gen_keys,
            np.ones(len(real_codes), dtype=bool),
            np.ones(m, dtype=bool),
            self.min_rows,
        )
        n_groups = len(lv)
        offset = np.zeros((n_groups, k), dtype=np.float64)
        error = 0.0
        if n_groups:
            target = self._targets(lv, r_of, real_codes, real_keys[:, -1], k)
            rows = np.flatnonzero(g_of >= 0)
            order = rows[np.argsort(g_of[rows], kind="stable")]
            grp = g_of[order]
            starts = np.searchsorted(grp, np.arange(n_groups))
            counts = np.bincount(grp, minlength=n_groups).astype(np.float64)[:, None]
            z = logits[order].astype(np.float64) / self.temperature
            log_target = np.log(np.maximum(target, 1e-12))
            for _ in range(self.iterations):
                share = self._shares(z, offset[grp], starts, counts)
                error = float(np.abs(share - target).sum(axis=1).max())
                if error < 1e-4:
                    break
                offset += log_target - np.log(np.maximum(share, 1e-12))
                np.clip(offset, -50.0, 50.0, out=offset)
            offset *= self.temperature
        self.heads.append(head)
        self.level[head], self.key[head] = lv, ky
        self.offset[head] = offset
        self.fit_error[head] = error

    @staticmethod
    def _shares(
        z: np.ndarray, shift: np.ndarray, starts: np.ndarray, counts: np.ndarray
    ) -> np.ndarray:
        """Per group, the mean softmax of ``z + shift`` over its rows (sorted by group)."""
        a = z + shift
        a -= a.max(axis=1, keepdims=True)
        np.exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)
        return np.asarray(np.add.reduceat(a, starts, axis=0) / counts)

    def _targets(
        self,
        level: np.ndarray,
        r_of: np.ndarray,
        codes: np.ndarray,
        real_cls: np.ndarray,
        k: int,
    ) -> np.ndarray:
        """Each group's training token frequencies, shrunk towards its class's (a class
        group towards all flows') by ``prior_rows`` pseudo-rows."""
        n_groups = len(level)
        held = r_of >= 0
        counts = np.zeros((n_groups, k))
        np.add.at(counts, (r_of[held], codes[held]), 1.0)
        overall = np.bincount(codes, minlength=k).astype(np.float64)
        overall /= max(overall.sum(), 1.0)
        prior = np.tile(overall, (n_groups, 1))
        fine = np.flatnonzero(level < len(LEVELS) - 1)
        for c in np.unique(real_cls[held][np.isin(r_of[held], fine)]):
            of_c = np.bincount(codes[real_cls == c], minlength=k).astype(np.float64)
            mine = fine[np.isin(fine, np.unique(r_of[held & (real_cls == c)]))]
            prior[mine] = of_c / of_c.sum()
        total = counts.sum(axis=1, keepdims=True)
        return np.asarray((counts + self.prior_rows * prior) / (total + self.prior_rows))

    def groups(self, head: str, keys: np.ndarray) -> np.ndarray:
        """Each row's group for ``head`` (-1 where none covers it)."""
        return lookup_groups(self.level[head], self.key[head], keys)

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the arrays go to :meth:`arrays`)."""
        return {
            "temperature": self.temperature,
            "min_rows": self.min_rows,
            "prior_rows": self.prior_rows,
            "iterations": self.iterations,
            "heads": self.heads,
            "fit_error": self.fit_error,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The groups and offsets as named arrays."""
        out: dict[str, np.ndarray] = {}
        for i, head in enumerate(self.heads):
            out[f"{i}.level"] = self.level[head]
            out[f"{i}.key"] = self.key[head]
            out[f"{i}.offset"] = self.offset[head]
        return out

    @classmethod
    def from_parts(
        cls,
        state: dict[str, Any],
        arrays: dict[str, np.ndarray],
        n_classes: int,
        dims: dict[str, int],
    ) -> TokenCalibrator:
        """Rebuild from :meth:`to_dict` and :meth:`arrays`, checking every array against
        the heads' token counts ``dims``."""
        try:
            out = cls(
                temperature=float(state["temperature"]),
                min_rows=int(state["min_rows"]),
                prior_rows=float(state["prior_rows"]),
                iterations=int(state["iterations"]),
            )
            out.heads = [str(h) for h in state["heads"]]
            out.fit_error = {h: float(state["fit_error"][h]) for h in out.heads}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed token calibration settings ({exc})") from exc
        expected = {f"{i}.{part}" for i in range(len(out.heads)) for part in _TOKEN_PARTS}
        if set(arrays) != expected or len(set(out.heads)) != len(out.heads):
            raise ModelError("token calibration arrays do not match its heads")
        for i, head in enumerate(out.heads):
            if head not in dims:
                raise ModelError(f"token calibration names {head!r}, not a generated token head")
            lv, ky, off = arrays[f"{i}.level"], arrays[f"{i}.key"], arrays[f"{i}.offset"]
            if (
                _bad_groups(lv, ky, n_classes, 1)
                or off.shape != (len(lv), dims[head])
                or not np.isfinite(off).all()
            ):
                raise ModelError(f"malformed token calibration for {head!r}")
            out.level[head] = lv.astype(np.int64)
            out.key[head] = ky.astype(np.int64)
            out.offset[head] = off.astype(np.float64)
        return out


_TOKEN_PARTS = ("level", "key", "offset")


_PARTS = ("level", "key", "real", "gen")


def _bad_pairs(columns: list[str], given: dict[str, str], times: list[str]) -> bool:
    """Whether second maps or time columns are inconsistent: a second map of a column
    without a first map, binned on itself or on a column whose own second map comes
    later (a chain must be in order), or a time column that is neither mapped nor binned
    on."""
    used = set(columns) | set(given.values())
    order = {c: i for i, c in enumerate(given)}
    bad_map = any(
        c not in columns or c == d or order.get(d, -1) > order[c] for c, d in given.items()
    )
    return bad_map or not set(times) <= used


def _bad_groups(level: np.ndarray, key: np.ndarray, n_classes: int, width: int) -> bool:
    """Whether saved groups are malformed: shapes, levels out of range, negative or
    repeated keys, or a class group (its key divided by ``width``, for keys combined
    with a bin) of a class the model does not have."""
    n = len(level)
    if level.ndim != 1 or key.shape != (n,):
        return True
    pairs = {(int(a), int(b)) for a, b in zip(level, key, strict=True)}
    return bool(
        ((level < 0) | (level >= len(LEVELS))).any()
        or (key < 0).any()
        or (key[level == len(LEVELS) - 1] // width >= n_classes).any()
        or len(pairs) != n
    )


def _by_group(values: np.ndarray, group: np.ndarray, n: int) -> list[np.ndarray]:
    """``values`` of each group ``0 .. n - 1`` (rows of group -1 left out), from one sort."""
    rows = np.flatnonzero(group >= 0)
    order = rows[np.argsort(group[rows], kind="stable")]
    return np.split(values[order], np.searchsorted(group[order], np.arange(1, n)))[:n]


def _numbers(values: pd.Series, column: str, time: bool) -> np.ndarray:
    """A column's values as float64; timestamps (``time``) as seconds since the epoch."""
    return TimeEncoder.epoch(values, column) if time else _float_values(values, column)


def _like(old: pd.Series, values: np.ndarray) -> pd.Series:
    """``values`` with ``old``'s dtype and index (nulls stay null; seconds become
    timestamps, to the microsecond)."""
    if isinstance(old.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(old):
        new = TimeEncoder.from_epoch(values)
    elif isinstance(old.dtype, pd.Int64Dtype):
        new = _int_series(values)
    else:
        new = pd.Series(values)
    return new.set_axis(old.index).rename(old.name).astype(old.dtype)
