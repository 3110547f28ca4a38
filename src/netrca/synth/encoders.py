"""Column encoders built for flows: counts in log space, ports, IP prefixes, categories, time.

Each encoder turns one column into *spans* of the GAN's data vector and back:

- ``softmax`` span: one categorical token per row (a one-hot block for the GAN);
- ``tanh`` span: one scalar in [-1, 1] per row (the value inside a Gaussian mode);
- ``bits`` span: a block of 0/1 values per row (address prefix bits).

``transform(values, rng)`` returns one array per span (int codes, floats, or 0/1
matrices); ``inverse(parts, rng)`` maps them back to values. With ``rng=None``
``transform`` is deterministic (the most likely mode, no dequantisation noise) and
``inverse(transform(x))`` reproduces ``x``: exactly for categories, ports, counts and
in-vocabulary addresses, within float rounding for real numbers and timestamps.

Non-negative columns are modelled in log space (``x = floor(exp(y)) + 1`` for counts,
``x = exp(y)`` for reals), so a decoded value is never negative whatever the network
outputs: nothing is clipped after the fact. Zero and other frequent exact values are
tokens of their own (zero-inflation).
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from netrca.errors import ConfigError, InputError, ModelError

__all__ = [
    "PORT_CLASSES",
    "CategoricalEncoder",
    "ColumnEncoder",
    "IPEncoder",
    "ModeNormalizer",
    "NumericEncoder",
    "PortEncoder",
    "Span",
    "TimeEncoder",
    "encoder_from_dict",
]

SpanKind = Literal["softmax", "tanh", "bits"]

#: IANA port classes: (name, first port, last port).
PORT_CLASSES: tuple[tuple[str, int, int], ...] = (
    ("well_known", 0, 1023),
    ("registered", 1024, 49151),
    ("ephemeral", 49152, 65535),
)
_DAY = 86400.0
_NULL = "<null>"


@dataclass(frozen=True)
class Span:
    """One block of the GAN's data vector."""

    name: str
    kind: SpanKind
    dim: int


# -- Gaussian modes ----------------------------------------------------------------------
def _em(y: np.ndarray, k: int, floor: float, iters: int = 150) -> tuple[np.ndarray, ...]:
    """1-D Gaussian mixture by expectation-maximisation, started at the quantiles."""
    means = np.quantile(y, (np.arange(k) + 0.5) / k)
    stds = np.full(k, max(float(np.std(y)) / k, floor))
    weights = np.full(k, 1.0 / k)
    prev = -np.inf
    for _ in range(iters):
        z = (y[:, None] - means[None, :]) / stds[None, :]
        logp = np.log(weights + 1e-300)[None, :] - np.log(stds)[None, :] - 0.5 * z * z
        top = logp.max(axis=1, keepdims=True)
        resp = np.exp(logp - top)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total
        ll = float(np.mean(np.log(total[:, 0]) + top[:, 0]))
        nk = resp.sum(axis=0) + 1e-12
        weights = nk / len(y)
        means = (resp * y[:, None]).sum(axis=0) / nk
        var = (resp * (y[:, None] - means[None, :]) ** 2).sum(axis=0) / nk
        stds = np.maximum(np.sqrt(var), floor)
        if ll - prev < 1e-7:
            break
        prev = ll
    return means, stds, weights


@dataclass
class ModeNormalizer:
    """Mode-specific normalisation: a 1-D Gaussian mixture; value = mode + scaled offset.

    A value is represented by its mode (the most likely, or one drawn from the posterior)
    and ``alpha = (value - mean) / (4 * std)`` of that mode.
    """

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, y: np.ndarray, max_modes: int, seed: int) -> ModeNormalizer:
        """Fit a Gaussian mixture on ``y`` by EM and keep the modes that carry weight."""
        y = np.asarray(y, dtype=np.float64)
        spread = float(np.std(y)) if len(y) > 1 else 0.0
        floor = max(1e-3 * spread, 1e-4)
        uniq = np.unique(y)
        if len(uniq) < 3:
            means = uniq.astype(np.float64)
            counts = np.asarray([(y == u).sum() for u in uniq], dtype=np.float64)
            return cls(means, np.full(len(uniq), max(spread, floor)), counts / counts.sum())
        rng = np.random.default_rng(seed)
        sub = y if len(y) <= 5000 else rng.choice(y, 5000, replace=False)
        means, stds, weights = _em(sub, min(max_modes, len(uniq)), floor)
        keep = weights > 0.005
        if not keep.any():
            keep = weights == weights.max()
        order = np.argsort(means[keep])
        w = weights[keep][order]
        return cls(means[keep][order], stds[keep][order], w / w.sum())

    @property
    def n_modes(self) -> int:
        """Number of modes."""
        return len(self.means)

    def _log_posterior(self, y: np.ndarray) -> np.ndarray:
        z = (y[:, None] - self.means[None, :]) / self.stds[None, :]
        return np.log(self.weights)[None, :] - np.log(self.stds)[None, :] - 0.5 * z * z

    def log_density(self, y: np.ndarray) -> np.ndarray:
        """Log density of the mixture at each value."""
        lp = self._log_posterior(np.asarray(y, dtype=np.float64)) - 0.5 * np.log(2.0 * np.pi)
        top = lp.max(axis=1, keepdims=True)
        return np.asarray(np.log(np.exp(lp - top).sum(axis=1)) + top[:, 0])

    def transform(
        self, y: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mode per value (most likely, or drawn from the posterior) and offset alpha."""
        if len(y) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        lp = self._log_posterior(y)
        if rng is None:
            mode = np.argmax(lp, axis=1)
        else:
            p = np.exp(lp - lp.max(axis=1, keepdims=True))
            cum = np.cumsum(p, axis=1)
            u = rng.random(len(y)) * cum[:, -1]
            mode = np.minimum((cum < u[:, None]).sum(axis=1), self.n_modes - 1)
        alpha = (y - self.means[mode]) / (4.0 * self.stds[mode])
        return mode.astype(np.int64), alpha

    def inverse(self, mode: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """Values back from (mode, alpha)."""
        return np.asarray(alpha * 4.0 * self.stds[mode] + self.means[mode], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "means": self.means.tolist(),
            "stds": self.stds.tolist(),
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModeNormalizer:
        """Rebuild from :meth:`to_dict`."""
        out = cls(
            np.asarray(d["means"], dtype=np.float64),
            np.asarray(d["stds"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
        )
        if not (len(out.means) == len(out.stds) == len(out.weights) > 0) or (out.stds <= 0).any():
            raise ModelError("malformed Gaussian mode state")
        return out


# -- base ---------------------------------------------------------------------------------
class ColumnEncoder:
    """Base class: one column (or a derived group) to spans and back."""

    kind: str = ""

    def __init__(self, column: str) -> None:
        self.column = column

    def spans(self) -> list[Span]:
        """The blocks this column occupies in the data vector, in order."""
        raise NotImplementedError

    def cond_spans(self) -> list[int]:
        """Indices (into :meth:`spans`) of softmax spans used for training-by-sampling."""
        return []

    def numeric_parts(self) -> list[tuple[NumericEncoder, int, int]]:
        """(number encoder, token span, offset span) of each modelled number inside."""
        return []

    def transform(self, values: pd.Series, rng: np.random.Generator | None) -> list[np.ndarray]:
        """One array per span."""
        raise NotImplementedError

    def inverse(self, parts: list[np.ndarray], rng: np.random.Generator) -> pd.Series:
        """Values from one array per span."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (always includes ``kind`` and ``column``)."""
        raise NotImplementedError


def _int_series(values: np.ndarray) -> pd.Series:
    """Float values (NaN for null) as a nullable Int64 series."""
    return pd.Series(values, dtype="float64").astype("Int64")


def _float_values(values: pd.Series, column: str) -> np.ndarray:
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        raise InputError(
            f"column {column!r}: non-numeric value {values[bad].iloc[0]!r} "
            f"at row {int(np.flatnonzero(bad.to_numpy())[0])}"
        )
    return np.asarray(num.astype("float64").to_numpy(na_value=np.nan), dtype=np.float64)


class _NumberTokens(ColumnEncoder):
    """Numbers as tokens (null first, then exact values, then modelled ranges): the
    steps numbers and ports share."""

    has_null: bool

    def _check_domain(self, v: np.ndarray) -> None:
        raise NotImplementedError

    def _start_transform(
        self, values: pd.Series
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """``(x, null mask, codes, offsets, first non-null code)`` with null rows coded."""
        x = _float_values(values, self.column)
        null = np.isnan(x)
        if null.any() and not self.has_null:
            raise InputError(f"column {self.column!r} has nulls but had none when fitted")
        self._check_domain(x[~null])
        return x, null, np.zeros(len(x), dtype=np.int64), np.zeros(len(x)), int(self.has_null)

    def _start_decode(self, codes: np.ndarray, exact: np.ndarray) -> np.ndarray:
        """Floats with the exact-value tokens filled in (NaN elsewhere)."""
        out = np.full(len(codes), np.nan)
        base = int(self.has_null)
        hit = (codes >= base) & (codes < base + len(exact))
        out[hit] = exact[codes[hit] - base]
        return out

    def decode(self, codes: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
        """Float values (NaN for null) from codes and offsets."""
        raise NotImplementedError

    def _decoded(self, parts: list[np.ndarray]) -> np.ndarray:
        return self.decode(parts[0], parts[1] if len(parts) > 1 else None)


# -- numbers ------------------------------------------------------------------------------
SPIKE_WINDOW = 0.1  # relative half-width of the neighbourhood an exact value must stand out from


def _local_mean(vals: np.ndarray, counts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Rows per integer within 10% of each value of ``at`` (the value itself included):
    the local density a point mass stands out from. ``vals`` sorted unique integers,
    ``counts`` their counts."""
    lo, hi = np.ceil(at * (1.0 - SPIKE_WINDOW)), np.floor(at * (1.0 + SPIKE_WINDOW))
    cum = np.r_[0, np.cumsum(counts)]
    rows = cum[np.searchsorted(vals, hi, side="right")] - cum[np.searchsorted(vals, lo)]
    return np.asarray(rows / np.maximum(hi - lo + 1.0, 1.0), dtype=np.float64)


class NumericEncoder(_NumberTokens):
    """Numbers as a token (null / frequent exact value / Gaussian mode) plus an offset.

    ``count``: integers >= 0, continuous part ``y = log(x - 1 + u)`` (x >= 1, u the
    dequantisation in [0, 1), 0.5 when deterministic), decoded ``floor(exp(y)) + 1``.
    ``positive``: reals >= 0, ``y = log(x)``, decoded ``exp(y)``; zero is a token.
    ``linear``: any real, ``y = x``.

    ``per`` (counts only) names a count column the continuous part is divided by: bytes
    are modelled as bytes per packet, ``y = log((x - 1 + u) / d)`` with ``d = max(packets,
    1)``, decoded ``floor(exp(y) * d) + 1``, so the generator cannot pair two packets with a
    megabyte; the frequent exact values stay tokens. The divisor is passed in by
    :class:`~netrca.synth.table.FlowTable`. ``per_zero`` records that the training flows
    never had a value without one of ``per`` (no bytes without packets): such rows decode
    to 0.

    Decoding keeps the continuous part inside the range the training values spanned on
    the modelled scale (``bounds``; per packet for ``per`` columns): the Gaussian modes'
    tails (an outer mode can be many times wider than the data) would otherwise reach
    durations of years or bytes per packet beyond any MTU. Non-negativity needs no bound:
    it holds by construction.

    Exact-value tokens (counts): zero, then the ``top_specials`` most frequent values on
    ``special_share`` of the rows or more, then, up to ``max_specials`` in all, further such
    values only where they are point masses: more than twice as frequent as the integers
    within 10% of them are on average (a 1,317-byte TLS record among sizes seen once or
    twice; not one packet count in a run of equally frequent counts, which the continuous
    part already describes).
    """

    kind = "numeric"

    def __init__(
        self,
        column: str,
        scale: Literal["count", "positive", "linear"] = "count",
        *,
        max_specials: int = 8,
        top_specials: int = 8,
        special_share: float = 0.005,
        max_modes: int = 6,
        per: str | None = None,
    ) -> None:
        super().__init__(column)
        if per is not None and scale != "count":
            raise ConfigError(f"column {column!r}: only counts can be modelled per {per!r}")
        self.scale = scale
        self.per = per
        self.per_zero = False
        self.standardised = False
        self.special_centres: np.ndarray | None = None
        self.max_specials = max_specials
        self.top_specials = top_specials
        self.special_share = special_share
        self.max_modes = max_modes
        self.has_null = False
        self.specials = np.zeros(0)
        self.modes: ModeNormalizer | None = None
        #: the continuous part's range on the modelled scale, which decoding keeps to
        self.bounds: tuple[float, float] | None = None

    # fitting
    def fit(
        self,
        values: pd.Series,
        seed: int = 0,
        divisor: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        spread: np.ndarray | None = None,
    ) -> NumericEncoder:
        """Learn null presence, the exact-value tokens and the Gaussian modes.

        ``shift`` and ``spread`` (optional, per row) standardise the continuous part
        before the modes are fitted, ``(y - shift) / spread``, and are undone when
        decoding: the row's centre and spread on the modelled scale
        (:class:`~netrca.synth.table.FlowTable` passes each row's skeleton statistics), so
        the modes describe the shape around them."""
        x = _float_values(values, self.column)
        null = np.isnan(x)
        self.has_null = bool(null.any())
        v = x[~null]
        self._check_domain(v)
        self.specials = self._pick_specials(v)
        d = self._divisor(divisor, len(x))
        h = self._per_row(shift, len(x), 0.0, "shift")
        w = self._per_row(spread, len(x), 1.0, "spread")
        self.standardised = shift is not None
        if self.per is not None:
            self.per_zero = not bool(((x > 0) & (d == 0)).any())
        rest = ~null & ~np.isin(x, self.specials)
        if rest.any():
            rng = np.random.default_rng(seed)
            raw = self._forward(x[rest], rng, self._safe(d)[rest])
            self.bounds = (float(raw.min()), float(raw.max()))
            self.modes = ModeNormalizer.fit((raw - h[rest]) / w[rest], self.max_modes, seed)
        if self.scale == "count" and (self.per is not None or self.standardised):
            # where each exact value sits on the modelled (per-packet, centred) scale
            centre = [
                (np.log(np.maximum(s - 0.5, 0.25) / self._safe(d)[x == s]) - h[x == s]) / w[x == s]
                for s in self.specials
            ]
            self.special_centres = np.asarray([float(np.mean(c)) for c in centre])
        return self

    @staticmethod
    def _per_row(values: np.ndarray | None, n: int, default: float, name: str) -> np.ndarray:
        """A per-row centre or spread (``default`` everywhere when none is given)."""
        if values is None:
            return np.full(n, default)
        if len(values) != n:
            raise ConfigError(f"{name} has {len(values)} values for {n} rows")
        return np.asarray(values, dtype=np.float64)

    def _divisor(self, divisor: np.ndarray | None, n: int) -> np.ndarray:
        """The per-row divisor as floats (NaN for null); ones when there is no ``per``."""
        if self.per is None:
            return np.ones(n)
        if divisor is None or len(divisor) != n:
            raise ConfigError(f"column {self.column!r} is modelled per {self.per!r}: pass it")
        return np.asarray(divisor, dtype=np.float64)

    @staticmethod
    def _safe(d: np.ndarray) -> np.ndarray:
        """Divisor with null and 0 read as 1."""
        return np.where(np.isnan(d) | (d < 1.0), 1.0, d)

    def _check_domain(self, v: np.ndarray) -> None:
        if self.scale == "linear" or not len(v):
            return
        if (v < 0).any():
            raise InputError(f"column {self.column!r}: negative value {v[v < 0][0]:g}")
        if self.scale == "count" and (v != np.floor(v)).any():
            bad = v[v != np.floor(v)][0]
            raise InputError(f"column {self.column!r}: non-integer count {bad:g}")

    def _pick_specials(self, v: np.ndarray) -> np.ndarray:
        if self.scale == "linear" or not len(v):
            return np.zeros(0)
        vals, counts = np.unique(v, return_counts=True)
        zero = vals == 0
        if self.scale == "positive":
            return vals[zero]
        frequent = (counts >= self.special_share * len(v)) & (counts >= 2) & ~zero
        order = np.lexsort((vals[frequent], -counts[frequent]))
        ranked, ranked_counts = vals[frequent][order], counts[frequent][order]
        room = max(self.max_specials - int(zero.any()), 0)
        n_top = min(max(self.top_specials - int(zero.any()), 0), room)
        rest, rest_counts = ranked[n_top:], ranked_counts[n_top:]
        spikes = rest[rest_counts > 2.0 * _local_mean(vals, counts, rest)]
        top = np.concatenate([ranked[:n_top], spikes[: room - n_top]])
        return np.sort(np.concatenate([vals[zero], top]))

    def _forward(
        self, x: np.ndarray, rng: np.random.Generator | None, d: np.ndarray | float = 1.0
    ) -> np.ndarray:
        if self.scale == "count":
            u = rng.uniform(0.001, 0.999, len(x)) if rng is not None else 0.5
            return np.asarray(np.log((x - 1.0 + u) / d))
        if self.scale == "positive":
            return np.asarray(np.log(x))
        return x

    def _backward(self, y: np.ndarray, d: np.ndarray | float = 1.0) -> np.ndarray:
        if self.scale == "count":
            return np.floor(np.exp(np.minimum(y, 700.0)) * d) + 1.0
        if self.scale == "positive":
            return np.asarray(np.exp(np.minimum(y, 700.0)))
        return y

    # layout
    @property
    def n_tokens(self) -> int:
        """Tokens: null (if any), exact values, Gaussian modes."""
        return int(self.has_null) + len(self.specials) + (self.modes.n_modes if self.modes else 0)

    def numeric_parts(self) -> list[tuple[NumericEncoder, int, int]]:
        """This number: token span 0, offset span 1."""
        return [(self, 0, 1)] if self.modes is not None else []

    def spans(self) -> list[Span]:
        """A token span, plus an offset span when there is a continuous part."""
        out = [Span(f"{self.column}.token", "softmax", self.n_tokens)]
        if self.modes is not None:
            out.append(Span(f"{self.column}.value", "tanh", 1))
        return out

    # transform
    def transform(
        self,
        values: pd.Series,
        rng: np.random.Generator | None,
        divisor: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        spread: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Token codes (and offsets) for ``values``."""
        x, null, codes, alpha, base = self._start_transform(values)
        d = self._safe(self._divisor(divisor, len(x)))
        h = self._per_row(shift, len(x), 0.0, "shift")
        w = self._per_row(spread, len(x), 1.0, "spread")
        special = np.isin(x, self.specials) & ~null
        codes[special] = base + np.searchsorted(self.specials, x[special])
        rest = ~null & ~special
        if rest.any():
            if self.modes is None:
                bad = x[rest][0]
                raise InputError(f"column {self.column!r}: value {bad:g} not seen when fitted")
            y = (self._forward(x[rest], rng, d[rest]) - h[rest]) / w[rest]
            mode, a = self.modes.transform(y, rng)
            codes[rest] = base + len(self.specials) + mode
            alpha[rest] = a
        return [codes, alpha] if self.modes is not None else [codes]

    def decode(
        self,
        codes: np.ndarray,
        alpha: np.ndarray | None,
        divisor: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        spread: np.ndarray | None = None,
    ) -> np.ndarray:
        """Float values (NaN for null) from codes and offsets."""
        out = self._start_decode(codes, self.specials)
        d = self._divisor(divisor, len(codes))
        h = self._per_row(shift, len(codes), 0.0, "shift")
        w = self._per_row(spread, len(codes), 1.0, "spread")
        base = int(self.has_null)
        cont = codes >= base + len(self.specials)
        if cont.any() and self.modes is not None and alpha is not None:
            mode = codes[cont] - base - len(self.specials)
            y = self.modes.inverse(mode, alpha[cont]) * w[cont] + h[cont]
            if self.bounds is not None:  # a wide outer mode could reach years or petabytes
                y = np.clip(y, *self.bounds)
            out[cont] = self._backward(y, self._safe(d)[cont])
        if self.per_zero:
            out[(d == 0) & ~np.isnan(out)] = 0.0
        return out

    def token_values(self) -> tuple[np.ndarray, np.ndarray]:
        """Per token, ``(centre, scale)`` on the modelled scale: a row's value is about
        ``centre + scale * alpha`` (scale 0 for null and exact-value tokens)."""
        if self.modes is not None:
            lo = float((self.modes.means - 4.0 * self.modes.stds).min())
        else:
            lo = float(self._forward(np.maximum(self.specials, 1.0), None).min()) - 1.0
        centre = [lo - 1.0] if self.has_null else []
        for j, v in enumerate(self.specials):
            if self.special_centres is not None:
                centre.append(float(self.special_centres[j]))
            elif self.scale == "count":
                centre.append(float(np.log(max(v - 0.5, 0.25))))
            elif self.scale == "positive":
                centre.append(lo - 0.5 if v == 0 else float(np.log(v)))
            else:
                centre.append(float(v))
        scale = [0.0] * len(centre)
        if self.modes is not None:
            centre += self.modes.means.tolist()
            scale += (4.0 * self.modes.stds).tolist()
        return np.asarray(centre), np.asarray(scale)

    def inverse(
        self,
        parts: list[np.ndarray],
        rng: np.random.Generator,
        divisor: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        spread: np.ndarray | None = None,
    ) -> pd.Series:
        """Values back (Int64 for counts, float64 otherwise)."""
        vals = self.decode(parts[0], parts[1] if len(parts) > 1 else None, divisor, shift, spread)
        if self.scale == "count":
            return _int_series(vals)
        return pd.Series(vals, dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "kind": self.kind,
            "column": self.column,
            "scale": self.scale,
            "has_null": self.has_null,
            "specials": self.specials.tolist(),
            "modes": self.modes.to_dict() if self.modes else None,
            **({"per": self.per, "per_zero": self.per_zero} if self.per else {}),
            **({"standardised": True} if self.standardised else {}),
            **({"bounds": list(self.bounds)} if self.bounds is not None else {}),
            **(
                {"special_centres": self.special_centres.tolist()}
                if self.special_centres is not None
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericEncoder:
        """Rebuild from :meth:`to_dict`."""
        enc = cls(d["column"], d["scale"], per=d.get("per"))
        enc.per_zero = bool(d.get("per_zero", False))
        enc.standardised = bool(d.get("standardised", False))
        centres = d.get("special_centres")
        enc.special_centres = None if centres is None else np.asarray(centres, dtype=np.float64)
        enc.has_null = bool(d["has_null"])
        enc.specials = np.asarray(d["specials"], dtype=np.float64)
        if enc.special_centres is not None and len(enc.special_centres) != len(enc.specials):
            raise ModelError(f"column {enc.column!r}: exact values and their centres disagree")
        enc.modes = ModeNormalizer.from_dict(d["modes"]) if d["modes"] else None
        bounds = d.get("bounds")  # models saved before bounds existed decode unbounded
        if bounds is not None:
            lo, hi = (float(b) for b in bounds)
            if not lo <= hi:
                raise ModelError(f"column {enc.column!r}: malformed value bounds {bounds!r}")
            enc.bounds = (lo, hi)
        if enc.n_tokens == 0:
            raise ModelError(f"column {enc.column!r}: encoder has no tokens")
        return enc


# -- categories ---------------------------------------------------------------------------
class CategoricalEncoder(ColumnEncoder):
    """Categories one-hot (most frequent first); integers are kept as integers."""

    kind = "categorical"

    def __init__(self, column: str, *, max_categories: int = 512) -> None:
        super().__init__(column)
        self.max_categories = max_categories
        self.categories: list[str] = []
        self.has_null = False
        self.integer = False

    def fit(self, values: pd.Series) -> CategoricalEncoder:
        """Learn the categories of ``values``."""
        self.integer = pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(
            values.dtype
        )
        text = self._text(values)
        self.has_null = bool(text.isna().any())
        counts = text.dropna().value_counts()
        frame = pd.DataFrame({"v": counts.index.astype(str), "n": counts.to_numpy()})
        frame = frame.sort_values(["n", "v"], ascending=[False, True])
        if len(frame) > self.max_categories:
            raise InputError(
                f"column {self.column!r} has {len(frame):,} distinct values, more than the "
                f"{self.max_categories} a categorical column may have; leave it out of columns="
            )
        self.categories = frame["v"].tolist()
        return self

    @staticmethod
    def _text(values: pd.Series) -> pd.Series:
        s = values.astype("string")
        return s.mask(s.str.strip() == "")

    @property
    def tokens(self) -> list[str]:
        """Token names: null (if any) first, then categories."""
        return ([_NULL] if self.has_null else []) + self.categories

    def spans(self) -> list[Span]:
        """One softmax span."""
        return [Span(f"{self.column}.token", "softmax", len(self.tokens))]

    def cond_spans(self) -> list[int]:
        """The token span is used for training-by-sampling."""
        return [0]

    def codes(self, values: pd.Series) -> np.ndarray:
        """Token code per value; an unseen category is an :class:`InputError`."""
        text = self._text(values).fillna(_NULL)
        idx = pd.Index(self.tokens).get_indexer(text.to_numpy(dtype=object))
        if (idx < 0).any():
            bad = text.to_numpy(dtype=object)[idx < 0][0]
            raise InputError(
                f"column {self.column!r}: category {bad!r} was not seen when fitted "
                f"(known: {', '.join(self.categories[:12])}"
                f"{', …' if len(self.categories) > 12 else ''})"
            )
        return idx.astype(np.int64)

    def transform(self, values: pd.Series, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Token codes."""
        return [self.codes(values)]

    def inverse(self, parts: list[np.ndarray], rng: np.random.Generator) -> pd.Series:
        """Categories back (string, or Int64 for integer columns)."""
        if not self.integer:
            return take_strings([None if t == _NULL else t for t in self.tokens], parts[0])
        tokens = np.asarray(self.tokens, dtype=object)[parts[0]]
        tokens[tokens == _NULL] = None
        return pd.Series(pd.array(pd.to_numeric(pd.Series(tokens)), dtype="Int64"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "kind": self.kind,
            "column": self.column,
            "categories": self.categories,
            "has_null": self.has_null,
            "integer": self.integer,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CategoricalEncoder:
        """Rebuild from :meth:`to_dict`."""
        enc = cls(d["column"])
        enc.categories = [str(c) for c in d["categories"]]
        enc.has_null = bool(d["has_null"])
        enc.integer = bool(d["integer"])
        if not enc.tokens:
            raise ModelError(f"column {enc.column!r}: encoder has no categories")
        return enc


# -- ports --------------------------------------------------------------------------------
class PortEncoder(_NumberTokens):
    """Ports as exact top-K values plus IANA classes; the rest by position in their class.

    Tokens: null (if any), the top-K ports, then one token per (class, Gaussian mode) of
    the other ports' position inside their class (logit scale), with an offset span.

    A class whose other ports are few in training (at most ``max_support`` distinct: the
    ports a scan probed, a service's few alternates) keeps them as its *support*, and a
    decoded position snaps to the nearest of them: the generator learned positions at
    those ports, and a port between them is one the traffic never used. A class with
    more (ephemeral client ports) decodes to any port of its range.
    """

    kind = "port"

    def __init__(
        self,
        column: str,
        *,
        max_top: int = 32,
        min_share: float = 0.002,
        min_count: int = 5,
        max_modes: int = 4,
        max_support: int = 256,
    ) -> None:
        super().__init__(column)
        self.max_top = max_top
        self.min_share = min_share
        self.min_count = min_count
        self.max_modes = max_modes
        self.max_support = max_support
        self.has_null = False
        self.top: list[int] = []
        self.class_modes: dict[int, ModeNormalizer] = {}  # PORT_CLASSES index -> modes
        #: PORT_CLASSES index -> the class's other training ports, sorted (few only)
        self.support: dict[int, np.ndarray] = {}

    def fit(self, values: pd.Series, seed: int = 0) -> PortEncoder:
        """Learn the frequent ports and the in-class position of the others."""
        x = _float_values(values, self.column)
        null = np.isnan(x)
        self.has_null = bool(null.any())
        v = x[~null]
        self._check_domain(v)
        vals, counts = np.unique(v, return_counts=True)
        ok = (counts >= self.min_count) & (counts >= self.min_share * max(len(v), 1))
        order = np.lexsort((vals[ok], -counts[ok]))
        self.top = sorted(int(p) for p in vals[ok][order][: self.max_top])
        tail = v[~np.isin(v, self.top)]
        cls = self._class_of(tail)
        rng = np.random.default_rng(seed)
        self.class_modes, self.support = {}, {}
        for c in np.unique(cls):
            pos = self._position(tail[cls == c], int(c), rng)
            self.class_modes[int(c)] = ModeNormalizer.fit(pos, self.max_modes, seed + int(c))
            ports = np.unique(tail[cls == c])
            if len(ports) <= self.max_support:
                self.support[int(c)] = ports
        return self

    def _check_domain(self, v: np.ndarray) -> None:
        bad = (v < 0) | (v > 65535) | (v != np.floor(v))
        if bad.any():
            raise InputError(f"column {self.column!r}: {v[bad][0]:g} is not a port (0-65535)")

    @staticmethod
    def _class_of(p: np.ndarray) -> np.ndarray:
        return np.searchsorted([c[2] for c in PORT_CLASSES], p, side="left")

    @staticmethod
    def _position(p: np.ndarray, c: int, rng: np.random.Generator | None) -> np.ndarray:
        _, lo, hi = PORT_CLASSES[c]
        u = rng.uniform(0.001, 0.999, len(p)) if rng is not None else 0.5
        q = (p - lo + u) / (hi - lo + 1.0)
        return np.asarray(np.log(q) - np.log1p(-q))

    @property
    def classes(self) -> list[int]:
        """Port classes present among the non-top ports."""
        return sorted(self.class_modes)

    def _class_offsets(self) -> dict[int, int]:
        off, out = int(self.has_null) + len(self.top), {}
        for c in self.classes:
            out[c] = off
            off += self.class_modes[c].n_modes
        return out

    @property
    def tokens(self) -> list[str]:
        """Token names: null, the exact ports, then (class, mode) of the others."""
        return (
            ([_NULL] if self.has_null else [])
            + [str(p) for p in self.top]
            + [
                f"other_{PORT_CLASSES[c][0]}#{m}"
                for c in self.classes
                for m in range(self.class_modes[c].n_modes)
            ]
        )

    def spans(self) -> list[Span]:
        """A token span, plus the in-class offset when some ports are not in the top-K."""
        out = [Span(f"{self.column}.token", "softmax", len(self.tokens))]
        if self.class_modes:
            out.append(Span(f"{self.column}.position", "tanh", 1))
        return out

    def cond_spans(self) -> list[int]:
        """The token span is used for training-by-sampling."""
        return [0]

    def transform(self, values: pd.Series, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Token codes (and in-class offsets)."""
        x, null, codes, alpha, base = self._start_transform(values)
        top = np.isin(x, self.top) & ~null
        codes[top] = base + np.searchsorted(self.top, x[top])
        tail = ~null & ~top
        cls = self._class_of(x)
        offsets = self._class_offsets()
        for c in np.unique(cls[tail]):
            rows = tail & (cls == c)
            if int(c) not in self.class_modes:
                raise InputError(
                    f"column {self.column!r}: port {x[rows][0]:g} is in a class "
                    f"({PORT_CLASSES[int(c)][0]}) not seen when fitted"
                )
            pos = self._position(x[rows], int(c), rng)
            mode, a = self.class_modes[int(c)].transform(pos, rng)
            codes[rows] = offsets[int(c)] + mode
            alpha[rows] = a
        return [codes, alpha] if self.class_modes else [codes]

    def decode(self, codes: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
        """Ports as floats (NaN for null)."""
        out = self._start_decode(codes, np.asarray(self.top, dtype=np.float64))
        if alpha is None:
            return out
        for c, off in self._class_offsets().items():
            modes = self.class_modes[c]
            rows = (codes >= off) & (codes < off + modes.n_modes)
            if not rows.any():
                continue
            z = modes.inverse(codes[rows] - off, alpha[rows])
            q = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
            _, lo, hi = PORT_CLASSES[c]
            p = lo + np.floor(q * (hi - lo + 1.0))
            if c in self.support:
                p = _nearest(self.support[c], p)
            out[rows] = p
        return out

    def inverse(self, parts: list[np.ndarray], rng: np.random.Generator) -> pd.Series:
        """Ports back as Int64."""
        return _int_series(self._decoded(parts))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "kind": self.kind,
            "column": self.column,
            "has_null": self.has_null,
            "top": self.top,
            "class_modes": {str(c): m.to_dict() for c, m in self.class_modes.items()},
            "support": {str(c): [int(p) for p in v] for c, v in self.support.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PortEncoder:
        """Rebuild from :meth:`to_dict`."""
        enc = cls(d["column"])
        enc.has_null = bool(d["has_null"])
        enc.top = [int(p) for p in d["top"]]
        enc.class_modes = {int(c): ModeNormalizer.from_dict(m) for c, m in d["class_modes"].items()}
        # models saved before supports decode every class to its whole range
        enc.support = {
            int(c): np.asarray(v, dtype=np.float64) for c, v in d.get("support", {}).items()
        }
        if (
            any(not 0 <= p <= 65535 for p in enc.top)
            or any(not 0 <= c < len(PORT_CLASSES) for c in enc.class_modes)
            or not set(enc.support) <= set(enc.class_modes)
            or any(not _is_support(v, c) for c, v in enc.support.items())
        ):
            raise ModelError(f"column {enc.column!r}: malformed port encoder state")
        if not enc.tokens:
            raise ModelError(f"column {enc.column!r}: port encoder has no tokens")
        return enc


def _nearest(support: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each value of ``p`` replaced by the nearest value of the sorted ``support`` (the
    lower one on a tie)."""
    i = np.clip(np.searchsorted(support, p), 1, max(len(support) - 1, 1))
    lo, hi = support[i - 1], support[np.minimum(i, len(support) - 1)]
    return np.where(p - lo <= hi - p, lo, hi)


def _is_support(v: np.ndarray, c: int) -> bool:
    """Whether ``v`` is a non-empty sorted set of ports of ``PORT_CLASSES[c]``."""
    _, lo, hi = PORT_CLASSES[c]
    return bool(
        len(v) > 0
        and (v >= lo).all()
        and (v <= hi).all()
        and (np.diff(v) > 0).all()
        and (v == np.floor(v)).all()
    )


def take_strings(vocab: list[str | None], codes: np.ndarray) -> pd.Series:
    """A string column of ``vocab[codes]`` built by one Arrow take (no Python string per
    row; None is a missing value)."""
    column = pa.array(vocab, type=pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))
    return pd.Series(pd.arrays.ArrowStringArray(column))


# -- addresses ----------------------------------------------------------------------------
def _format_v4(ints: np.ndarray) -> pa.Array:
    """Dotted quads for uint32 addresses, as an Arrow string array (vectorised)."""
    octets = [pc.cast(pa.array((ints >> s) & 255), pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def _v4_networks(cidrs: list[str]) -> list[tuple[int, int]]:
    nets = []
    for c in cidrs:
        net = ipaddress.ip_network(c, strict=False)
        if net.version == 4:
            nets.append((int(net.network_address), int(net.netmask)))
    return nets


class PrefixSpace:
    """The IPv4 /``bits`` prefixes of one address class (internal or external, reserved
    ranges 0/8, 127/8 and 224/3 left out), numbered in address order and spread over the
    ``bits``-bit codes: any code decodes to a prefix of the class, nearby prefixes get
    nearby codes, and a prefix of the class round-trips exactly.

    Prefixes only partly inside an internal network (a /28 network, say) belong to
    neither class; an address there is coded as the nearest prefix of its class.
    """

    def __init__(self, internal_networks: list[str], bits: int, internal: bool) -> None:
        size = 1 << bits
        octet = 1 << (bits - 8)
        reserved = [(0, octet), (127 * octet, 128 * octet), (224 * octet, size)]
        full, touched = [], []
        for net, mask in _v4_networks(internal_networks):
            length = bin(mask).count("1")
            start = net >> (32 - bits)
            span = 1 << max(bits - length, 0)
            touched.append((start, start + span))
            if length <= bits:
                full.append((start, start + span))
        points = sorted({0, size, *(x for r in reserved + touched for x in r)})
        starts: list[int] = []
        ends: list[int] = []
        for a, b in itertools.pairwise(points):
            if any(lo <= a < hi for lo, hi in reserved):
                continue
            keep = (
                any(lo <= a < hi for lo, hi in full)
                if internal
                else not any(lo <= a < hi for lo, hi in touched)
            )
            if not keep:
                continue
            if ends and ends[-1] == a:
                ends[-1] = b
            else:
                starts.append(a)
                ends.append(b)
        self.size = size
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.before = np.concatenate([[0], np.cumsum(self.ends - self.starts)]).astype(np.int64)

    @property
    def n(self) -> int:
        """Prefixes in the class."""
        return int(self.before[-1])

    def code(self, prefix: np.ndarray) -> np.ndarray:
        """Code of each prefix (a prefix outside the class: its nearest one's)."""
        p = np.asarray(prefix, dtype=np.int64)
        seg = np.clip(np.searchsorted(self.starts, p, side="right") - 1, 0, len(self.starts) - 1)
        rank = self.before[seg] + np.clip(
            p - self.starts[seg], 0, self.ends[seg] - self.starts[seg] - 1
        )
        return np.asarray(-((-rank * self.size) // self.n), dtype=np.int64)  # ceil(r * M / N)

    def prefix(self, code: np.ndarray) -> np.ndarray:
        """Prefix of each code (every code in [0, 2**bits) gives one of the class)."""
        rank = np.asarray(code, dtype=np.int64) * self.n // self.size
        seg = np.searchsorted(self.before, rank, side="right") - 1
        return np.asarray(self.starts[seg] + rank - self.before[seg], dtype=np.int64)


class IPEncoder(ColumnEncoder):
    """Addresses as exact tokens for the frequent ones, else an internal/external class token
    plus the address's prefix bits (bounded memory however many addresses there are).

    A decoded "other" IPv4 address is the generated /``prefix_bits`` prefix with a random
    host part, so new addresses are plausible for their subnet. The prefix bits are a
    :class:`PrefixSpace` code of the token's class (``coding="class"``), so whatever bits
    the generator emits, an "internal" token decodes to an internal address and an
    "external" one to a public one. Models saved before this coding (``coding="raw"``:
    plain prefix bits) are still read; there, a generated prefix outside the token's
    class is replaced by a prefix of that class seen in training and the row is counted
    as repaired.
    """

    kind = "ip"
    _CLASSES = ("other_internal4", "other_external4", "other_internal6", "other_external6")

    def __init__(
        self,
        column: str,
        *,
        max_addresses: int = 64,
        min_count: int = 2,
        prefix_bits: int = 24,
        internal_networks: list[str] | None = None,
    ) -> None:
        from netrca.config import DEFAULT_INTERNAL_NETWORKS

        super().__init__(column)
        self.max_addresses = max_addresses
        self.min_count = min_count
        self.prefix_bits = prefix_bits
        self.internal_networks = list(internal_networks or DEFAULT_INTERNAL_NETWORKS)
        self.has_null = False
        self.exact: list[str] = []
        self.classes: list[str] = []
        self.fallback: dict[str, list[tuple[int, int]]] = {}  # class -> (prefix, count)
        self.coding = "class"
        self._spaces: dict[bool, PrefixSpace] = {}

    def _space(self, internal: bool) -> PrefixSpace:
        if internal not in self._spaces:
            self._spaces[internal] = PrefixSpace(self.internal_networks, self.prefix_bits, internal)
        return self._spaces[internal]

    def _bits(self, prefix: np.ndarray, internal: np.ndarray) -> np.ndarray:
        """Prefix bits (one row per address) of the prefixes' codes within their class."""
        code = np.asarray(prefix, dtype=np.int64)
        if self.coding == "class":
            code = code.copy()
            for inside in (True, False):
                rows = internal == inside
                if rows.any():
                    code[rows] = self._space(inside).code(code[rows])
        return (code[:, None] >> np.arange(self.prefix_bits - 1, -1, -1)[None, :]) & 1

    # parsing (over unique values only)
    def _parse(self, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
        nets = [ipaddress.ip_network(c, strict=False) for c in self.internal_networks]
        version = np.zeros(len(uniq), dtype=np.int64)
        internal = np.zeros(len(uniq), dtype=bool)
        ints: list[int] = []
        for i, u in enumerate(uniq):
            try:
                addr = ipaddress.ip_address(str(u))
            except ValueError as exc:
                raise InputError(f"column {self.column!r}: {u!r} is not an IP address") from exc
            version[i] = addr.version
            internal[i] = any(addr.version == n.version and addr in n for n in nets)
            ints.append(int(addr))
        return version, internal, ints

    def _class_name(self, version: np.ndarray, internal: np.ndarray) -> np.ndarray:
        where = np.where(internal, "internal", "external")
        return np.char.add(np.char.add("other_", where), version.astype(str))

    def fit(self, values: pd.Series, seed: int = 0) -> IPEncoder:
        """Learn the frequent addresses, the classes of the others and fallback prefixes."""
        text = values.astype("string")
        self.has_null = bool(text.isna().any())
        counts = text.dropna().value_counts()
        frame = pd.DataFrame({"a": counts.index.astype(str), "n": counts.to_numpy()})
        frame = frame.sort_values(["n", "a"], ascending=[False, True]).reset_index(drop=True)
        ok = frame["n"] >= self.min_count
        self.exact = frame.loc[ok, "a"].head(self.max_addresses).tolist()
        tail = frame[~frame["a"].isin(self.exact)]
        version, internal, ints = self._parse(tail["a"].to_numpy())
        names = self._class_name(version, internal)
        self.classes = [c for c in self._CLASSES if c in set(names.tolist())]
        self.fallback = {}
        n = tail["n"].to_numpy()
        for cname in self.classes:
            rows = np.flatnonzero(names == cname)
            shift = (32 - self.prefix_bits) if cname.endswith("4") else 64
            pref = pd.Series(n[rows]).groupby([ints[i] >> shift for i in rows]).sum()
            pref = pref.sort_values(ascending=False, kind="stable").head(16)
            self.fallback[cname] = [(int(p), int(c)) for p, c in pref.items()]
        # a class with no whole /prefix_bits prefix (internal networks all smaller than
        # that) has nothing to number: plain prefix bits, repaired when they stray
        v4 = [c for c in self.classes if c.endswith("4")]
        self.coding = "class"
        if any(self._space(c == "other_internal4").n == 0 for c in v4):
            self.coding = "raw"
        return self

    @property
    def tokens(self) -> list[str]:
        """Token names: null, exact addresses, then classes of the others."""
        return ([_NULL] if self.has_null else []) + self.exact + self.classes

    @property
    def has_bits(self) -> bool:
        """Whether some IPv4 addresses are generated from prefix bits."""
        return any(c.endswith("4") for c in self.classes)

    def spans(self) -> list[Span]:
        """A token span, plus the prefix bits when IPv4 addresses are not all exact."""
        out = [Span(f"{self.column}.token", "softmax", len(self.tokens))]
        if self.has_bits:
            out.append(Span(f"{self.column}.prefix", "bits", self.prefix_bits))
        return out

    def cond_spans(self) -> list[int]:
        """The token span is used for training-by-sampling."""
        return [0]

    def transform(self, values: pd.Series, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Token codes (and IPv4 prefix bits)."""
        text = values.astype("string").fillna(_NULL)
        codes_u, uniq = pd.factorize(text.to_numpy(dtype=object), sort=False)
        uniq = np.asarray(uniq, dtype=object)
        tok = pd.Index(self.tokens).get_indexer(uniq)
        other = (tok < 0) & (uniq != _NULL)
        if (uniq == _NULL).any() and not self.has_null:
            raise InputError(f"column {self.column!r} has nulls but had none when fitted")
        bits_u = np.zeros((len(uniq), self.prefix_bits), dtype=np.float32)
        real = uniq != _NULL
        version, internal, ints = self._parse(uniq[real])
        names = self._class_name(version, internal)
        idx_real = np.flatnonzero(real)
        for j, i in enumerate(idx_real):
            if other[i]:
                if names[j] not in self.classes:
                    raise InputError(
                        f"column {self.column!r}: {uniq[i]!r} is an {names[j][6:]} address; "
                        "no such address was seen when fitted"
                    )
                tok[i] = self.tokens.index(str(names[j]))
        v4 = version == 4
        if v4.any():
            prefixes = np.asarray([ints[j] >> (32 - self.prefix_bits) for j in np.flatnonzero(v4)])
            bits_u[idx_real[v4]] = self._bits(prefixes, internal[v4])
        codes = tok[codes_u].astype(np.int64)
        return [codes, bits_u[codes_u]] if self.has_bits else [codes]

    def _internal_v4(self, ints: np.ndarray) -> np.ndarray:
        out = np.zeros(len(ints), dtype=bool)
        for net, mask in _v4_networks(self.internal_networks):
            out |= (ints & mask) == net
        return out

    def decode(
        self, parts: list[np.ndarray], rng: np.random.Generator
    ) -> tuple[pd.Series, np.ndarray]:
        """Addresses and a mask of rows whose generated prefix had to be replaced."""
        codes = parts[0]
        tokens = self.tokens
        # each row's place in [tokens, then the addresses drawn for prefix classes]: one
        # Arrow take builds the column, no Python string per row
        where = np.asarray(codes, dtype=np.int64).copy()
        drawn: list[pa.Array] = []
        start = len(tokens)
        repaired = np.zeros(len(codes), dtype=bool)
        for cname in self.classes:
            rows = np.flatnonzero(codes == tokens.index(cname))
            if not len(rows):
                continue
            if cname.endswith("4"):
                made, repaired[rows] = self._decode_v4(cname, parts[1][rows], rng)
            else:
                made = pa.array(self._decode_v6(cname, len(rows), rng), type=pa.string())
            drawn.append(made)
            where[rows] = start + np.arange(len(rows))
            start += len(rows)
        vocab = pa.array([None if t == _NULL else t for t in tokens], type=pa.string())
        column = pa.concat_arrays([vocab, *drawn]).take(pa.array(where))
        return pd.Series(pd.arrays.ArrowStringArray(column)), repaired

    def _pick_fallback(self, cname: str, n: int, rng: np.random.Generator) -> np.ndarray:
        pref = np.asarray([p for p, _ in self.fallback[cname]], dtype=object)
        w = np.asarray([c for _, c in self.fallback[cname]], dtype=np.float64)
        return np.asarray(pref[rng.choice(len(pref), size=n, p=w / w.sum())])

    def _decode_v4(
        self, cname: str, bits: np.ndarray, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        host_bits = 32 - self.prefix_bits
        weights = (1 << np.arange(self.prefix_bits - 1, -1, -1)).astype(np.int64)
        prefix = (np.asarray(bits) > 0.5).astype(np.int64) @ weights
        if self.coding == "class":
            prefix = self._space(cname == "other_internal4").prefix(prefix)
        host = rng.integers(1, (1 << host_bits) - 1, size=len(prefix))
        ints = (prefix << host_bits) | host
        first = ints >> 24
        internal = self._internal_v4(ints)
        want_internal = cname == "other_internal4"
        bad = (internal != want_internal) | (first == 0) | (first >= 224) | (first == 127)
        if bad.any():
            fb = self._pick_fallback(cname, int(bad.sum()), rng).astype(np.int64)
            ints[bad] = (fb << host_bits) | host[bad]
        return _format_v4(ints), bad

    def _decode_v6(self, cname: str, n: int, rng: np.random.Generator) -> np.ndarray:
        prefixes = self._pick_fallback(cname, n, rng)
        hosts = rng.integers(1, 2**62, size=n)
        return np.asarray(
            [
                str(ipaddress.IPv6Address((int(p) << 64) | int(h)))
                for p, h in zip(prefixes, hosts, strict=True)
            ],
            dtype=object,
        )

    def inverse(self, parts: list[np.ndarray], rng: np.random.Generator) -> pd.Series:
        """Addresses back (exact for in-vocabulary ones, same prefix otherwise)."""
        return self.decode(parts, rng)[0]

    def internal_tokens(self) -> np.ndarray:
        """Internal flag per token (False for null)."""
        nets = [ipaddress.ip_network(c, strict=False) for c in self.internal_networks]
        flags = []
        for t in self.tokens:
            if t == _NULL:
                flags.append(False)
            elif t.startswith("other_"):
                flags.append(t.startswith("other_internal"))
            else:
                a = ipaddress.ip_address(t)
                flags.append(any(a.version == n.version and a in n for n in nets))
        return np.asarray(flags, dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "kind": self.kind,
            "column": self.column,
            "prefix_bits": self.prefix_bits,
            "internal_networks": self.internal_networks,
            "has_null": self.has_null,
            "coding": self.coding,
            "exact": self.exact,
            "classes": self.classes,
            "fallback": {k: [[str(p), c] for p, c in v] for k, v in self.fallback.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IPEncoder:
        """Rebuild from :meth:`to_dict`."""
        enc = cls(
            d["column"],
            prefix_bits=int(d["prefix_bits"]),
            internal_networks=list(d["internal_networks"]),
        )
        enc.has_null = bool(d["has_null"])
        enc.coding = str(d.get("coding", "raw"))
        enc.exact = [str(ipaddress.ip_address(a)) for a in d["exact"]]
        enc.classes = [str(c) for c in d["classes"]]
        enc.fallback = {k: [(int(p), int(c)) for p, c in v] for k, v in d["fallback"].items()}
        if (
            enc.coding not in ("class", "raw")
            or not 8 <= enc.prefix_bits <= 30
            or any(c not in cls._CLASSES or not enc.fallback.get(c) for c in enc.classes)
        ):
            raise ModelError(f"column {enc.column!r}: malformed address encoder state")
        return enc


# -- time ---------------------------------------------------------------------------------
class TimeEncoder(ColumnEncoder):
    """Timestamps as day, time of day and inter-arrival time relative to the local rate.

    The inter-arrival time of a flow (seconds since the previous flow) is divided by the
    mean gap of the ``window`` flows before and after it, so it describes burstiness
    rather than the daily load curve (which time of day already carries). Decoding places
    rows by day and time of day, turns relative gaps back into seconds with the local
    rate of the decoded positions, and lays rows out along those gaps, warped
    piecewise-linearly onto the positions every ``knot`` flows: bursts keep their
    spacing and the daily profile is kept. For real rows this round-trips exactly.
    """

    kind = "time"
    window = 25
    knot = 50

    def __init__(self, column: str = "timestamp", *, max_modes: int = 8) -> None:
        super().__init__(column)
        self.max_modes = max_modes
        self.origin = 0.0
        self.days: list[int] = [0]
        self.tod = NumericEncoder(f"{column}.time_of_day", "linear", max_modes=max_modes)
        self.iat = NumericEncoder(f"{column}.inter_arrival", "positive", max_modes=max_modes)

    @staticmethod
    def epoch(values: pd.Series, column: str) -> np.ndarray:
        """Seconds since the Unix epoch (float64); a missing timestamp is an InputError."""
        ts = pd.to_datetime(values, utc=True, errors="coerce")
        bad = ts.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"column {column!r}: missing or invalid timestamp at row {i}")
        delta = ts - pd.Timestamp(0, tz="UTC")
        return np.asarray(delta.dt.total_seconds(), dtype=np.float64)

    @staticmethod
    def gaps(t: np.ndarray) -> np.ndarray:
        """Per row: seconds since the previous flow in time order (0 for the first)."""
        order = np.argsort(t, kind="stable")
        g = np.diff(t[order], prepend=t[order][:1])
        out = np.empty_like(g)
        out[order] = np.maximum(g, 0.0)
        return out

    @classmethod
    def local_gap(cls, t: np.ndarray) -> np.ndarray:
        """Per row: mean gap between flows over ``window`` flows either side (time order)."""
        order = np.argsort(t, kind="stable")
        ts = t[order]
        i = np.arange(len(ts))
        lo = np.maximum(i - cls.window, 0)
        hi = np.minimum(i + cls.window, len(ts) - 1)
        local = (ts[hi] - ts[lo]) / np.maximum(hi - lo, 1)
        out = np.empty(len(ts))
        out[order] = local
        return out

    @classmethod
    def relative_gaps(cls, t: np.ndarray) -> np.ndarray:
        """Inter-arrival times divided by the local mean gap (0 where the rate is unknown)."""
        gap, local = cls.gaps(t), cls.local_gap(t)
        ok = local > 0
        return np.where(ok, gap / np.where(ok, local, 1.0), 0.0)

    def _split(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = t - self.origin
        day = np.floor(rel / _DAY)
        return day.astype(np.int64), rel - day * _DAY

    def fit(self, values: pd.Series, seed: int = 0) -> TimeEncoder:
        """Learn the days, the time-of-day modes and the inter-arrival modes."""
        t = self.epoch(values, self.column)
        self.origin = float(np.floor(t.min() / _DAY) * _DAY)
        day, tod = self._split(t)
        self.days = sorted(int(d) for d in np.unique(day))
        if len(self.days) > 1000:
            raise InputError(f"column {self.column!r} spans more than 1000 days")
        self.tod.fit(pd.Series(tod), seed)
        self.iat.fit(pd.Series(self.relative_gaps(t)), seed + 1)
        return self

    def numeric_parts(self) -> list[tuple[NumericEncoder, int, int]]:
        """Time of day and relative inter-arrival time."""
        k = 1 if len(self.days) > 1 else 0
        out: list[tuple[NumericEncoder, int, int]] = []
        for enc in (self.tod, self.iat):
            if enc.modes is not None:
                out.append((enc, k, k + 1))
            k += len(enc.spans())
        return out

    def spans(self) -> list[Span]:
        """Day (when several), time of day, inter-arrival time."""
        day = [Span(f"{self.column}.day", "softmax", len(self.days))] if len(self.days) > 1 else []
        return day + self.tod.spans() + self.iat.spans()

    def transform(self, values: pd.Series, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Day codes, time-of-day and inter-arrival parts."""
        t = self.epoch(values, self.column)
        return self.position_parts(t - self.origin, rng) + self.iat.transform(
            pd.Series(self.relative_gaps(t)), rng
        )

    def positions(self, values: pd.Series) -> np.ndarray:
        """Seconds since ``origin`` (the first training day's midnight) of timestamps."""
        return self.epoch(values, self.column) - self.origin

    def position_parts(
        self, position: np.ndarray, rng: np.random.Generator | None
    ) -> list[np.ndarray]:
        """The day and time-of-day parts of positions (seconds since ``origin``) on the
        training days, as :meth:`transform` gives them."""
        day = np.floor(position / _DAY)
        out: list[np.ndarray] = []
        if len(self.days) > 1:
            code = np.searchsorted(self.days, day)
            known = (code < len(self.days)) & (
                np.asarray(self.days)[np.minimum(code, len(self.days) - 1)] == day
            )
            if not known.all():
                raise InputError(f"column {self.column!r}: a day not seen when fitted")
            out.append(code.astype(np.int64))
        return out + self.tod.transform(pd.Series(position - day * _DAY), rng)

    def inverse(self, parts: list[np.ndarray], rng: np.random.Generator) -> pd.Series:
        """Timestamps (UTC, microseconds) back."""
        k = 1 if len(self.days) > 1 else 0
        n_tod = len(self.tod.spans())
        day = np.asarray(self.days)[parts[0]] if k else np.full(len(parts[0]), self.days[0])
        tp = parts[k : k + n_tod]
        ip = parts[k + n_tod :]
        tod = np.mod(self.tod.decode(tp[0], tp[1] if len(tp) > 1 else None), _DAY)
        position = day * _DAY + tod
        relative = self.iat.decode(ip[0], ip[1] if len(ip) > 1 else None)
        t = self.timeline(position, relative * self.local_gap(position))
        return self.from_epoch(self.origin + t)

    @staticmethod
    def from_epoch(seconds: np.ndarray) -> pd.Series:
        """UTC timestamps (to the microsecond) of seconds since the epoch; NaN: NaT."""
        missing = np.isnan(seconds)
        micros = np.round(np.where(missing, 0.0, seconds) * 1e6).astype(np.int64)
        t = pd.Series(pd.to_datetime(micros, unit="us", utc=True))
        return (t.where(~missing) if missing.any() else t).astype("datetime64[ns, UTC]")

    @classmethod
    def timeline(cls, position: np.ndarray, gap: np.ndarray) -> np.ndarray:
        """Lay rows out along their gaps, anchored to their positions every ``knot`` rows."""
        n = len(position)
        if n < 3:
            return position
        order = np.argsort(position, kind="stable")
        p = position[order]
        g = gap[order]
        c = np.cumsum(g) - g[0]
        k = max(n // cls.knot, 2) + 1
        idx = np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))
        xp, fp = c[idx], p[idx]
        keep = np.diff(xp, prepend=-np.inf) > 0
        if keep.sum() < 2:
            return position
        out = np.empty(n)
        out[order] = np.interp(c, xp[keep], fp[keep])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "kind": self.kind,
            "column": self.column,
            "origin": self.origin,
            "days": self.days,
            "tod": self.tod.to_dict(),
            "iat": self.iat.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimeEncoder:
        """Rebuild from :meth:`to_dict`."""
        enc = cls(d["column"])
        enc.origin = float(d["origin"])
        enc.days = [int(x) for x in d["days"]]
        enc.tod = NumericEncoder.from_dict(d["tod"])
        enc.iat = NumericEncoder.from_dict(d["iat"])
        if not enc.days:
            raise ModelError(f"column {enc.column!r}: time encoder has no days")
        return enc


def encoder_from_dict(d: dict[str, Any]) -> ColumnEncoder:
    """Rebuild any encoder from its :meth:`~ColumnEncoder.to_dict` state."""
    kinds: dict[str, Any] = {
        "numeric": NumericEncoder,
        "categorical": CategoricalEncoder,
        "port": PortEncoder,
        "ip": IPEncoder,
        "time": TimeEncoder,
    }
    kind = d.get("kind")
    if kind not in kinds:
        raise ModelError(f"unknown encoder kind {kind!r}")
    try:
        enc: ColumnEncoder = kinds[kind].from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"malformed {kind} encoder state: {exc}") from exc
    return enc
