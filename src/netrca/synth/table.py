"""The training schema: which flow columns the GAN models and how, and flows <-> GAN arrays.

Column roles (decided in :meth:`FlowTable.fit`, recorded in the model file):

- ``modelled``: encoded for the generator (time, ip, port, count, positive, categorical);
- ``condition``: the class the generator is conditioned on (``root_cause`` by default);
  never generated, so a requested class is honoured exactly;
- ``derived``: a categorical column that is a function of the condition in the training
  data (``label`` given ``root_cause``), emitted through that mapping;
- ``fixed``: one value in every training row (e.g. the only source of a capture), emitted
  as that value;
- ``null``: null in every training row (e.g. ``latency`` of Zeek logs), emitted as null.

Without ``columns=`` every canonical and ground-truth column present is considered, and
all-null or constant ones become ``null``/``fixed``. With an explicit ``columns=`` list,
an all-null or constant column is an :class:`~netrca.errors.InputError` instead: the user
asked for a column to be learned and there is nothing to learn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from netrca.errors import ConfigError, InputError, ModelError
from netrca.schema import CANONICAL_COLUMNS, GROUND_TRUTH_COLUMNS
from netrca.synth.encoders import (
    CategoricalEncoder,
    ColumnEncoder,
    IPEncoder,
    ModeNormalizer,
    NumericEncoder,
    PortEncoder,
    Span,
    TimeEncoder,
    _float_values,
    encoder_from_dict,
    take_strings,
)

__all__ = ["COLUMN_KINDS", "MIN_ROWS", "ColumnPlan", "Encoded", "FlowTable", "TrainingSchema"]

#: How each canonical column is encoded.
COLUMN_KINDS: dict[str, str] = {
    "timestamp": "time",
    "source_ip": "ip",
    "destination_ip": "ip",
    "source_port": "port",
    "destination_port": "port",
    "bytes_sent": "count",
    "bytes_received": "count",
    "packets_sent": "count",
    "packets_received": "count",
    "duration": "positive",
    "latency": "positive",
    "protocol": "categorical",
    "status": "categorical",
    "error_code": "categorical",
    "label": "categorical",
    "root_cause": "categorical",
}
_DTYPES = {
    "time": "datetime64[ns, UTC]",
    "ip": "string",
    "port": "Int64",
    "count": "Int64",
    "positive": "float64",
    "linear": "float64",
    "categorical": "string",
}
#: Bytes columns modelled per packet of their direction.
_PER_PACKET = (("bytes_sent", "packets_sent"), ("bytes_received", "packets_received"))
#: Fewest training rows accepted.
MIN_ROWS = 10
#: Column kinds standardised per skeleton (see FlowTable ``standardise``).
_STANDARDISED_KINDS = ("count", "positive")
#: Rows a skeleton needs to get its own mean and spread (rarer ones use their class's).
STANDARD_MIN_ROWS = 5
#: Pseudo-rows of the parent's value each mean and variance is shrunk with (skeleton ->
#: class -> all rows).
PRIOR_ROWS = 10.0
#: Smallest spread (log scale) a skeleton gets: one exact value would otherwise give 0.
MIN_SPREAD = 0.01
#: Fewest modelled values for the held-out check that decides standardisation.
STANDARD_MIN_CHECK = 50

Role = Literal["modelled", "condition", "derived", "fixed", "null"]


class ColumnPlan(BaseModel):
    """How one column is handled (part of the model's recorded training schema)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: Role
    kind: str
    dtype: str
    value: str | int | float | None = None
    mapping: dict[str, str | int | None] | None = None


class TrainingSchema(BaseModel):
    """The columns a model was trained on and its conditioning classes."""

    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnPlan]
    condition: str | None
    condition_values: list[str]
    condition_counts: list[int]
    n_rows: int

    def column(self, name: str) -> ColumnPlan | None:
        """The plan of column ``name``, if it is in the schema."""
        return next((c for c in self.columns if c.name == name), None)

    def check_frame(self, flows: pd.DataFrame, what: str = "flows") -> None:
        """Raise :class:`ModelError` when ``flows`` lacks a column the model learned."""
        need = [c.name for c in self.columns if c.role in ("modelled", "condition")]
        missing = [c for c in need if c not in flows.columns]
        if missing:
            raise ModelError(
                f"{what} lack column(s) {', '.join(missing)} that the model was trained on; "
                f"its schema: {', '.join(need)}"
            )


@dataclass
class Encoded:
    """Flows as GAN arrays: token codes, offsets, bits, condition class per row."""

    codes: np.ndarray  # (n, softmax spans) int64
    values: np.ndarray  # (n, tanh spans) float64
    bits: np.ndarray  # (n, bit columns) float32
    cls: np.ndarray  # (n,) int64 condition class (0 when unconditioned)


def _is_null(s: pd.Series) -> np.ndarray:
    null = s.isna().to_numpy(dtype=bool)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        blank = s.astype("string").str.strip().fillna("").eq("").to_numpy(dtype=bool)
        return np.asarray(null | blank)
    return np.asarray(null, dtype=bool)


def _infer_kind(s: pd.Series) -> str:
    num = pd.to_numeric(s.dropna(), errors="coerce")
    if len(num) and num.notna().all():
        if (num >= 0).all() and (num == np.floor(num)).all():
            return "count"
        return "positive" if (num >= 0).all() else "linear"
    return "categorical"


def _dtype(kind: str, s: pd.Series) -> str:
    if kind == "categorical" and pd.api.types.is_integer_dtype(s.dtype):
        return "Int64"
    return _DTYPES[kind]


def _json_value(v: Any) -> str | int | float | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v)


def _keyable(radix: list[int]) -> bool:
    """Whether mixed-radix keys over ``radix`` fit comfortably in an int64."""
    return float(np.prod([float(r) for r in radix])) < 2.0**62


class FlowTable:
    """Plans the columns, fits their encoders and converts flows to GAN arrays and back."""

    def __init__(
        self,
        *,
        columns: list[str] | None = None,
        condition: str | None = "auto",
        max_addresses: int = 64,
        max_ports: int = 32,
        max_modes: int = 6,
        time_modes: int = 8,
        internal_networks: list[str] | None = None,
        max_exact: int = 24,
        per_packet: bool = True,
        skeleton_addresses: list[str] | None = None,
        standardise: bool = True,
    ) -> None:
        self.columns = columns
        self.condition = condition
        self.max_addresses = max_addresses
        self.max_ports = max_ports
        self.max_modes = max_modes
        self.time_modes = time_modes
        self.internal_networks = internal_networks
        self.max_exact = max_exact
        self.per_packet = per_packet
        self.skeleton_addresses = (
            ["destination_ip"] if skeleton_addresses is None else list(skeleton_addresses)
        )
        self.standardise = standardise
        self.standard_: dict[str, dict[str, list[float]]] = {}
        self.standard_keys_ = np.zeros(0, dtype=np.int64)
        # per number: held-out log-likelihood gain of standardising it (None: not checked)
        self.standard_gain_: dict[str, float | None] = {}

    # -- planning ----------------------------------------------------------------------------
    def _candidates(self, flows: pd.DataFrame) -> list[str]:
        if self.columns is None:
            return [c for c in (*CANONICAL_COLUMNS, *GROUND_TRUTH_COLUMNS) if c in flows.columns]
        missing = [c for c in self.columns if c not in flows.columns]
        if missing:
            raise InputError(f"column(s) {', '.join(missing)} not in the training flows")
        if len(set(self.columns)) != len(self.columns):
            raise ConfigError(f"columns= lists a column twice: {self.columns}")
        return list(self.columns)

    def _condition_column(self, flows: pd.DataFrame, names: list[str]) -> str | None:
        if self.condition is None:
            return None
        if self.condition == "auto":
            return "root_cause" if "root_cause" in names else None
        if self.condition not in flows.columns:
            raise InputError(f"condition column {self.condition!r} not in the training flows")
        if self.condition not in names:
            names.append(self.condition)
        return self.condition

    def _plan_one(self, flows: pd.DataFrame, name: str, explicit: bool) -> ColumnPlan:
        s = flows[name]
        n = len(s)
        kind = COLUMN_KINDS.get(name) or _infer_kind(s)
        dtype = _dtype(kind, s)
        null = _is_null(s)
        if null.all():
            if explicit:
                raise InputError(
                    f"column {name!r} is null in all {n:,} training rows, so it cannot be "
                    "modelled; leave it out of columns= (by default all-null columns are "
                    "emitted as null)"
                )
            return ColumnPlan(name=name, role="null", kind=kind, dtype=dtype)
        values = s[~null]
        if values.nunique() == 1 and not null.any():
            if explicit:
                raise InputError(
                    f"column {name!r} has the same value {values.iloc[0]!r} in all {n:,} "
                    "training rows: there is nothing to learn; leave it out of columns= "
                    "(by default constant columns are emitted as that value)"
                )
            return ColumnPlan(
                name=name, role="fixed", kind=kind, dtype=dtype, value=_json_value(values.iloc[0])
            )
        return ColumnPlan(name=name, role="modelled", kind=kind, dtype=dtype)

    def _derive(self, flows: pd.DataFrame, plan: ColumnPlan, cond: str) -> ColumnPlan:
        if plan.role != "modelled" or plan.kind != "categorical" or plan.name == cond:
            return plan
        pair = pd.DataFrame(
            {"c": flows[cond].astype("string"), "v": flows[plan.name].astype("string")}
        )
        if pair["v"].isna().any() or (pair.groupby("c")["v"].nunique() != 1).any():
            return plan
        first = pair.groupby("c")["v"].first()
        integer = plan.dtype == "Int64"
        mapping: dict[str, str | int | None] = {
            str(k): (int(v) if integer else str(v)) for k, v in first.items()
        }
        return plan.model_copy(update={"role": "derived", "mapping": mapping})

    def fit(self, flows: pd.DataFrame, seed: int = 0) -> FlowTable:
        """Plan the columns of ``flows`` and fit an encoder per modelled column."""
        if len(flows) < MIN_ROWS:
            raise InputError(f"need at least {MIN_ROWS} flows to train the GAN, got {len(flows)}")
        names = self._candidates(flows)
        explicit = self.columns is not None
        cond = self._condition_column(flows, names)
        plans = [self._plan_one(flows, c, explicit and c != cond) for c in names]
        cond_plan = next((p for p in plans if p.name == cond), None)
        if cond is not None and cond_plan is not None and cond_plan.role == "modelled":
            cond_plan.role = "condition"
            cond_plan.kind = "categorical"
            cond_plan.dtype = _dtype("categorical", flows[cond])
            if _is_null(flows[cond]).any():
                raise InputError(f"condition column {cond!r} has nulls")
            plans = [self._derive(flows, p, cond) for p in plans]
        else:
            cond = None
        if not any(p.role == "modelled" for p in plans):
            raise InputError(
                "no column varies in the training flows: there is nothing for the GAN to learn"
            )
        self.plans_ = plans
        self.condition_ = cond
        if cond is not None:
            counts = flows[cond].astype("string").value_counts()
            frame = pd.DataFrame({"v": counts.index.astype(str), "n": counts.to_numpy()})
            frame = frame.sort_values(["n", "v"], ascending=[False, True])
            self.condition_values_ = frame["v"].tolist()
            self.condition_counts_ = frame["n"].astype(int).tolist()
        else:
            self.condition_values_, self.condition_counts_ = [], []
        self.n_rows_ = len(flows)
        per = self._per_packet_pairs(plans)
        fitted: dict[str, ColumnEncoder] = {}
        numbers = [p for p in plans if p.role == "modelled" and p.kind in _STANDARDISED_KINDS]
        for i, p in enumerate(plans):  # the skeleton's encoders first: numbers depend on it
            if p.role == "modelled" and p not in numbers:
                fitted[p.name] = self._fit_encoder(p, flows[p.name], seed + i)
        self.encoders_ = [fitted[p.name] for p in plans if p.name in fitted]
        self.standard_, self.standard_keys_ = {}, np.zeros(0, dtype=np.int64)
        self.standard_gain_ = {}
        keys = self._fit_keys(flows) if self.standardise and numbers else None
        for i, p in enumerate(plans):
            if p not in numbers:
                continue
            d = _float_values(flows[per[p.name]], per[p.name]) if p.name in per else None
            enc = NumericEncoder(
                p.name, "count" if p.kind == "count" else "positive",
                max_modes=self.max_modes, per=per.get(p.name), max_specials=self.max_exact,
            )  # fmt: skip
            shift, spread = (
                (None, None)
                if keys is None
                else self._fit_standard(enc, flows[p.name], d, keys, seed + i)
            )
            fitted[p.name] = enc.fit(flows[p.name], seed + i, divisor=d, shift=shift, spread=spread)
        self.encoders_ = [fitted[p.name] for p in plans if p.role == "modelled"]
        self._layout()
        return self

    # -- per-skeleton standardisation of the numbers ------------------------------------------
    def _skeleton_encoders(self) -> list[tuple[ColumnEncoder, int]]:
        """(encoder, span) of each token of the discrete skeleton, in layout order."""
        return [
            (e, j)
            for e in self.encoders_
            if not isinstance(e, IPEncoder) or e.column in self.skeleton_addresses
            for j in e.cond_spans()
        ]

    def _radix(self) -> list[int]:
        return [self.n_classes] + [e.spans()[j].dim for e, j in self._skeleton_encoders()]

    def _key_ints(self, columns: list[np.ndarray]) -> np.ndarray:
        """Each row's (class, skeleton tokens) as one integer, in mixed radix."""
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for c, r in zip(columns, self._radix(), strict=True):
            key = key * r + np.asarray(c, dtype=np.int64)
        return key

    def _skeleton_tokens(self, flows: pd.DataFrame) -> list[np.ndarray]:
        """Each skeleton token's code per row of ``flows``, in layout order."""
        return [
            e.transform(flows[e.column].reset_index(drop=True), None)[j]
            for e, j in self._skeleton_encoders()
        ]

    def _keys_of_flows(self, flows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(key integer, class) per row of ``flows``."""
        cls = self.row_classes(flows)
        return self._key_ints([cls, *self._skeleton_tokens(flows)]), cls

    # -- groups of the marginal calibration (see netrca.synth.calibrate) ---------------------
    def _coarse_tokens(self) -> list[bool]:
        """Per skeleton token, whether the coarse skeleton keeps it: all but the addresses
        and the client's port (``source_port``)."""
        return [
            not isinstance(e, IPEncoder) and e.column != "source_port"
            for e, _ in self._skeleton_encoders()
        ]

    def in_coarse_skeleton(self, column: str) -> bool:
        """Whether ``column``'s tokens are in the coarse skeleton."""
        return any(
            keep and e.column == column
            for (e, _), keep in zip(self._skeleton_encoders(), self._coarse_tokens(), strict=True)
        )

    def _group_keys(self, cls: np.ndarray, tokens: list[np.ndarray]) -> np.ndarray:
        """(n, 3) calibration group keys: the skeleton, the coarse skeleton (each -1 when
        too large to key as one integer), the class."""
        cls = np.asarray(cls, dtype=np.int64)
        keys = np.full((len(cls), 3), -1, dtype=np.int64)
        radix = self._radix()
        if _keyable(radix):
            keys[:, 0] = self._key_ints([cls, *tokens])
        keep = self._coarse_tokens()
        coarse = [(t, r) for t, r, k in zip(tokens, radix[1:], keep, strict=True) if k]
        if _keyable([radix[0]] + [r for _, r in coarse]):
            key = cls.copy()
            for t, r in coarse:
                key = key * r + np.asarray(t, dtype=np.int64)
            keys[:, 1] = key
        keys[:, 2] = cls
        return keys

    def calibration_keys(self, enc: Encoded) -> np.ndarray:
        """:meth:`_group_keys` of generated arrays."""
        parts = self._parts(enc)
        return self._group_keys(enc.cls, [parts[i] for i in self.cond_spans_])

    def skeleton_keys(self, tokens: np.ndarray, cls: np.ndarray) -> np.ndarray:
        """:meth:`_group_keys` of skeleton token rows (n, skeleton tokens), as a skeleton
        sampler's combinations hold them, before anything is generated."""
        return self._group_keys(cls, [tokens[:, j] for j in range(tokens.shape[1])])

    def calibration_keys_of_flows(self, flows: pd.DataFrame) -> np.ndarray:
        """:meth:`_group_keys` of flows (their tokens as the encoders give them)."""
        return self._group_keys(self.row_classes(flows), self._skeleton_tokens(flows))

    def _fit_keys(self, flows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """Keys of the skeletons with enough rows to have their own statistics, and each
        row's (key, class); None when the skeleton is too large to key as one integer
        (then the numbers are not standardised)."""
        if not _keyable(self._radix()):
            return None
        key, cls = self._keys_of_flows(flows)
        uniq, counts = np.unique(key, return_counts=True)
        self.standard_keys_ = uniq[counts >= STANDARD_MIN_ROWS]
        return key, cls

    def _fit_standard(
        self,
        enc: NumericEncoder,
        values: pd.Series,
        divisor: np.ndarray | None,
        keys: tuple[np.ndarray, np.ndarray],
        seed: int,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Learn a column's mean and standard deviation on its modelled scale, over the rows
        its modes will model: per class (shrunk towards all rows') and per skeleton with
        enough rows (shrunk towards its class's). The column is standardised only when
        that describes held-out rows better (:meth:`_standardising_helps`). Returns each
        row's (centre, spread), or (None, None) for a column left as it is."""
        key, cls = keys
        x = _float_values(values, enc.column)
        d = enc._safe(enc._divisor(divisor, len(x)))
        specials = enc._pick_specials(x[~np.isnan(x)])
        rest = ~np.isnan(x) & ~np.isin(x, specials) & (x > 0)
        y = np.zeros(len(x))
        y[rest] = enc._forward(x[rest], None, d[rest])
        kid = self._key_index(key)
        gain = self._standardising_helps(enc, y, kid, cls, rest, seed)
        self.standard_gain_[enc.column] = gain
        if gain is None or gain <= 0.0:
            return None, None
        stats = self._stats(y, kid, cls, rest)
        self.standard_[enc.column] = {f: v.tolist() for f, v in stats.items()}
        return self._row_stats(stats, kid, cls)

    def _stats(
        self, y: np.ndarray, kid: np.ndarray, cls: np.ndarray, rows: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Shrunk means and standard deviations of ``y`` over ``rows``, per skeleton with
        its own statistics and per class."""
        known = rows & (kid >= 0)
        m, n_cls = len(self.standard_keys_), self.n_classes
        k_cls = self.standard_keys_ // int(np.prod(self._radix()[1:], dtype=np.int64))
        c_n = np.bincount(cls[rows], minlength=n_cls)
        k_n = np.bincount(kid[known], minlength=m)

        def shrunk(v: np.ndarray, overall: float) -> tuple[np.ndarray, np.ndarray]:
            by_class = (
                np.bincount(cls[rows], weights=v[rows], minlength=n_cls) + PRIOR_ROWS * overall
            ) / (c_n + PRIOR_ROWS)
            by_key = (
                np.bincount(kid[known], weights=v[known], minlength=m)
                + PRIOR_ROWS * by_class[k_cls]
            ) / (k_n + PRIOR_ROWS)
            return by_key, by_class

        centre_key, centre_class = shrunk(y, float(y[rows].mean()))
        sq = (y - self._per_row(centre_key, centre_class, kid, cls)) ** 2
        # variances are shrunk towards the column's whole variance (not the pooled spread
        # within skeletons): a class or skeleton with few rows is not assumed tighter than
        # the data (development runs: better KS and classifier on both training sets)
        var_key, var_class = shrunk(sq, float(y[rows].var()))
        return {
            "centre_key": centre_key,
            "centre_class": centre_class,
            "spread_key": np.sqrt(np.maximum(var_key, MIN_SPREAD**2)),
            "spread_class": np.sqrt(np.maximum(var_class, MIN_SPREAD**2)),
        }

    def _row_stats(
        self, stats: dict[str, Any], kid: np.ndarray, cls: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's (centre, spread) from a column's statistics."""
        return (
            self._per_row(stats["centre_key"], stats["centre_class"], kid, cls),
            self._per_row(stats["spread_key"], stats["spread_class"], kid, cls),
        )

    def _standardising_helps(
        self,
        enc: NumericEncoder,
        y: np.ndarray,
        kid: np.ndarray,
        cls: np.ndarray,
        rest: np.ndarray,
        seed: int,
    ) -> float | None:
        """Two-fold held-out log-likelihood per row of the column's Gaussian modes fitted
        on the standardised values (with the Jacobian of the standardisation) minus that of
        the modes fitted on the values as they are; None when too few rows to tell.

        Standardising helps where a number's distribution is much the same shape in every
        skeleton, only shifted and scaled (simulated latency, bytes per packet); it hurts
        where one skeleton holds several modes that standardisation smears together
        (CTU's durations: short lookups and minute-long sessions to the same service)."""
        idx = np.flatnonzero(rest)
        if len(idx) < STANDARD_MIN_CHECK:
            return None
        fold = np.random.default_rng(seed).permutation(len(idx)) % 2
        total = 0.0
        for f in (0, 1):
            train = np.zeros(len(y), dtype=bool)
            train[idx[fold != f]] = True
            test = idx[fold == f]
            centre, spread = self._row_stats(self._stats(y, kid, cls, train), kid, cls)
            z = (y - centre) / spread
            raw = ModeNormalizer.fit(y[train], enc.max_modes, seed)
            std = ModeNormalizer.fit(z[train], enc.max_modes, seed)
            gain = std.log_density(z[test]) - np.log(spread[test]) - raw.log_density(y[test])
            total += float(gain.sum())
        return total / len(idx)

    def _key_index(self, key: np.ndarray) -> np.ndarray:
        """Index of each key among the skeletons with their own statistics (-1: others)."""
        keys = self.standard_keys_
        if not len(keys):
            return np.full(len(key), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        return np.where(keys[pos] == key, pos, -1)

    @staticmethod
    def _per_row(
        key_values: Any, class_values: Any, kid: np.ndarray, cls: np.ndarray
    ) -> np.ndarray:
        """The skeleton's value per row, or the class's for a rare skeleton."""
        by_key = np.asarray(key_values, dtype=np.float64)
        by_class = np.asarray(class_values, dtype=np.float64)
        safe = by_key[np.maximum(kid, 0)] if len(by_key) else np.zeros(len(kid))
        return np.asarray(np.where(kid >= 0, safe, by_class[cls]))

    def _standards(
        self, key: np.ndarray, cls: np.ndarray
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per standardised column, each row's (centre, spread)."""
        kid = self._key_index(key)
        return {c: self._row_stats(t, kid, cls) for c, t in self.standard_.items()}

    def _per_packet_pairs(self, plans: list[ColumnPlan]) -> dict[str, str]:
        """``{bytes column: packets column}`` for the directions modelled as bytes per packet."""
        if not self.per_packet:
            return {}
        counts = {p.name for p in plans if p.role == "modelled" and p.kind == "count"}
        return {b: k for b, k in _PER_PACKET if b in counts and k in counts}

    def _fit_encoder(self, plan: ColumnPlan, values: pd.Series, seed: int) -> ColumnEncoder:
        kind = plan.kind
        if kind == "time":
            return TimeEncoder(plan.name, max_modes=self.time_modes).fit(values, seed)
        if kind == "ip":
            return IPEncoder(
                plan.name,
                max_addresses=self.max_addresses,
                internal_networks=self.internal_networks,
            ).fit(values, seed)
        if kind == "port":
            return PortEncoder(plan.name, max_top=self.max_ports).fit(values, seed)
        if kind in ("count", "positive", "linear"):
            scale: Any = kind
            return NumericEncoder(
                plan.name, scale, max_modes=self.max_modes, max_specials=self.max_exact
            ).fit(values, seed)
        return CategoricalEncoder(plan.name).fit(values)

    # -- layout ------------------------------------------------------------------------------
    def _layout(self) -> None:
        spans: list[Span] = []
        owner: list[tuple[int, int]] = []  # (encoder index, part index)
        cond: list[int] = []
        for e, enc in enumerate(self.encoders_):
            enc_spans = enc.spans()
            for j, sp in enumerate(enc_spans):
                if j in enc.cond_spans():
                    cond.append(len(spans))
                spans.append(sp)
                owner.append((e, j))
        self.spans_ = spans
        self.span_owner_ = owner
        # the discrete skeleton of a row: categorical and port tokens and the destination
        # address token (a frequent server, or internal/external), not source addresses or
        # numeric modes; the generator is conditioned on it, never asked to produce it
        self.cond_spans_ = [
            i
            for i in cond
            if not isinstance(self.encoders_[owner[i][0]], IPEncoder)
            or self.encoders_[owner[i][0]].column in self.skeleton_addresses
        ]
        self.generated_spans_ = [i for i in range(len(spans)) if i not in self.cond_spans_]
        self.softmax_spans_ = [i for i, s in enumerate(spans) if s.kind == "softmax"]
        self.tanh_spans_ = [i for i, s in enumerate(spans) if s.kind == "tanh"]
        self.bit_spans_ = [i for i, s in enumerate(spans) if s.kind == "bits"]
        offsets = np.cumsum([0] + [s.dim for s in spans])
        self.offsets_ = offsets[:-1].astype(np.int64)
        self.data_dim_ = int(offsets[-1])

    @property
    def n_classes(self) -> int:
        """Conditioning classes (1 when the model is unconditioned)."""
        return max(len(self.condition_values_), 1)

    def schema(self) -> TrainingSchema:
        """The recorded training schema."""
        return TrainingSchema(
            columns=self.plans_,
            condition=self.condition_,
            condition_values=self.condition_values_,
            condition_counts=self.condition_counts_,
            n_rows=self.n_rows_,
        )

    # -- encode / decode ---------------------------------------------------------------------
    def row_classes(self, flows: pd.DataFrame) -> np.ndarray:
        """Condition class index of each flow (all 0 when the model is unconditioned)."""
        if self.condition_ is None:
            return np.zeros(len(flows), dtype=np.int64)
        return self.class_codes(flows[self.condition_])

    def class_codes(self, values: pd.Series) -> np.ndarray:
        """Condition class index per value (InputError for an unseen class)."""
        if self.condition_ is None:
            return np.zeros(len(values), dtype=np.int64)
        idx = pd.Index(self.condition_values_).get_indexer(values.astype("string").to_numpy())
        if (idx < 0).any():
            bad = values.to_numpy()[idx < 0][0]
            raise InputError(
                f"{self.condition_} {bad!r} was not seen when fitted "
                f"(known: {', '.join(self.condition_values_)})"
            )
        return idx.astype(np.int64)

    def encode(self, flows: pd.DataFrame, rng: np.random.Generator | None) -> Encoded:
        """GAN arrays for ``flows`` (``rng=None``: deterministic, for round trips)."""
        n = len(flows)
        parts: list[np.ndarray] = []
        std = self._standards(*self._keys_of_flows(flows)) if self.standard_ else {}
        for enc in self.encoders_:
            column = flows[enc.column].reset_index(drop=True)
            if isinstance(enc, NumericEncoder):
                divisor = (
                    None
                    if enc.per is None
                    else _float_values(flows[enc.per].reset_index(drop=True), enc.per)
                )
                parts.extend(
                    enc.transform(column, rng, divisor, *std.get(enc.column, (None, None)))
                )
            else:
                parts.extend(enc.transform(column, rng))
        codes = np.zeros((n, len(self.softmax_spans_)), dtype=np.int64)
        values = np.zeros((n, len(self.tanh_spans_)), dtype=np.float64)
        bits = np.zeros((n, sum(self.spans_[i].dim for i in self.bit_spans_)), dtype=np.float32)
        for k, i in enumerate(self.softmax_spans_):
            codes[:, k] = parts[i]
        for k, i in enumerate(self.tanh_spans_):
            values[:, k] = parts[i]
        col = 0
        for i in self.bit_spans_:
            d = self.spans_[i].dim
            bits[:, col : col + d] = parts[i]
            col += d
        cls = self.row_classes(flows)
        return Encoded(codes=codes, values=values, bits=bits, cls=cls)

    def _parts(self, enc: Encoded) -> list[np.ndarray]:
        parts: list[np.ndarray] = [np.zeros(0)] * len(self.spans_)
        for k, i in enumerate(self.softmax_spans_):
            parts[i] = enc.codes[:, k]
        for k, i in enumerate(self.tanh_spans_):
            parts[i] = enc.values[:, k].astype(np.float64)
        col = 0
        for i in self.bit_spans_:
            d = self.spans_[i].dim
            parts[i] = enc.bits[:, col : col + d]
            col += d
        return parts

    def _position_spans(self) -> list[int]:
        """Span indices of the time encoder's day and time-of-day parts, in part order."""
        found = self._time_encoder()
        if found is None:
            return []
        e, enc = found
        n_position = (1 if len(enc.days) > 1 else 0) + len(enc.tod.spans())
        return [i for i, (o, j) in enumerate(self.span_owner_) if o == e and j < n_position]

    def position_columns(self) -> tuple[list[int], list[int]]:
        """Columns of ``Encoded.codes`` and ``Encoded.values`` that place a row in time: the
        time encoder's day and time-of-day spans (not its inter-arrival gap)."""
        mine = self._position_spans()
        codes = [self.softmax_spans_.index(i) for i in mine if i in self.softmax_spans_]
        values = [self.tanh_spans_.index(i) for i in mine if i in self.tanh_spans_]
        return codes, values

    def _time_encoder(self) -> tuple[int, TimeEncoder] | None:
        for e, enc in enumerate(self.encoders_):
            if isinstance(enc, TimeEncoder):
                return e, enc
        return None

    def positions(self, flows: pd.DataFrame) -> np.ndarray | None:
        """Each flow's position in time (seconds since the first training day's midnight);
        None without a modelled timestamp."""
        found = self._time_encoder()
        if found is None:
            return None
        enc = found[1]
        return enc.positions(flows[enc.column].reset_index(drop=True))

    def encode_positions(
        self, position: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions in time as the ``(codes, values)`` columns of :meth:`position_columns`."""
        found = self._time_encoder()
        if found is None:
            raise ModelError("this model has no timestamp column")
        parts = found[1].position_parts(np.asarray(position, dtype=np.float64), rng)
        mine = self._position_spans()
        codes = [parts[k] for k, i in enumerate(mine) if i in self.softmax_spans_]
        values = [parts[k] for k, i in enumerate(mine) if i in self.tanh_spans_]
        n = len(position)
        return (
            np.column_stack(codes).astype(np.int64) if codes else np.zeros((n, 0), np.int64),
            np.column_stack(values).astype(np.float64) if values else np.zeros((n, 0)),
        )

    def decode(
        self, enc: Encoded, rng: np.random.Generator, *, sort: bool = True
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """Flows from GAN arrays, in time order (row order with ``sort=False``), and
        per-row repair masks by rule."""
        n = len(enc.cls)
        parts = self._parts(enc)
        out: dict[str, pd.Series] = {}
        repairs: dict[str, np.ndarray] = {}
        std: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.standard_:  # each row's centre and spread, from its class and skeleton
            std = self._standards(
                self._key_ints([enc.cls] + [parts[i] for i in self.cond_spans_]), enc.cls
            )
        for e, enc_ in enumerate(self.encoders_):
            mine = [parts[i] for i, (o, _) in enumerate(self.span_owner_) if o == e]
            if isinstance(enc_, IPEncoder):
                out[enc_.column], repairs[f"ip_prefix:{enc_.column}"] = enc_.decode(mine, rng)
            elif isinstance(enc_, NumericEncoder):
                if enc_.per is None:
                    out[enc_.column] = enc_.inverse(
                        mine, rng, None, *std.get(enc_.column, (None, None))
                    )
            else:
                out[enc_.column] = enc_.inverse(mine, rng)
        for e, num in enumerate(self.encoders_):  # bytes per packet x the packets generated
            if isinstance(num, NumericEncoder) and num.per is not None:
                mine = [parts[i] for i, (o, _) in enumerate(self.span_owner_) if o == e]
                divisor = out[num.per].to_numpy(dtype=np.float64, na_value=np.nan)
                out[num.column] = num.inverse(
                    mine, rng, divisor, *std.get(num.column, (None, None))
                )
        frame = pd.DataFrame(index=pd.RangeIndex(n))
        cls = np.asarray(enc.cls, dtype=np.int64) if self.condition_ else np.zeros(n, np.int64)
        for p in self.plans_:
            frame[p.name] = self._column(p, out, cls)
        return self.time_order(frame, repairs) if sort else (frame, repairs)

    @staticmethod
    def time_order(
        frame: pd.DataFrame, repairs: dict[str, np.ndarray]
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """``frame`` and its per-row masks sorted by timestamp (stable; as is without one)."""
        if "timestamp" not in frame.columns:
            return frame, repairs
        order = np.argsort(frame["timestamp"].to_numpy(dtype="datetime64[ns]"), kind="stable")
        return frame.iloc[order].reset_index(drop=True), {k: v[order] for k, v in repairs.items()}

    def retime(self, enc: Encoded, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (decoded from ``enc`` row for row, unsorted) with its timestamps laid
        out anew for these rows alone: a subset of decoded rows gets its own timeline."""
        parts = self._parts(enc)
        for e, enc_ in enumerate(self.encoders_):
            if isinstance(enc_, TimeEncoder) and enc_.column in frame.columns:
                mine = [parts[i] for i, (o, _) in enumerate(self.span_owner_) if o == e]
                frame = frame.copy()
                times = enc_.inverse(mine, np.random.default_rng(0))
                frame[enc_.column] = times.set_axis(frame.index)
        return frame

    @staticmethod
    def _typed(values: Any, dtype: str, n: int) -> pd.Series:
        if dtype == "datetime64[ns, UTC]":
            return pd.Series(pd.to_datetime(values, utc=True)).astype(dtype)
        if dtype == "Int64":
            return pd.Series(pd.array(pd.to_numeric(pd.Series(values)), dtype="Int64"))
        if dtype == "float64":
            return pd.Series(values, dtype="float64")
        return pd.Series(values, dtype="string")

    def _column(self, p: ColumnPlan, out: dict[str, pd.Series], cls: np.ndarray) -> pd.Series:
        """Column ``p`` of the decoded rows (``cls``: each row's condition code)."""
        if p.role == "modelled":
            return out[p.name].reset_index(drop=True)
        # the other columns take one value per class (or one for all): a vocabulary and codes
        conds: list[Any] = list(self.condition_values_) if self.condition_ else [0]
        vocab: list[Any]
        if p.role == "condition":
            vocab = conds
        elif p.role == "derived":
            assert p.mapping is not None
            vocab = [p.mapping.get(c) for c in conds]
        else:
            vocab = [p.value if p.role == "fixed" else None]
            cls = np.zeros(len(cls), dtype=np.int64)
        if p.dtype == "string" and all(v is None or isinstance(v, str) for v in vocab):
            return take_strings(cast(list[str | None], vocab), cls)
        return self._typed(np.asarray(vocab, dtype=object)[cls], p.dtype, len(cls))

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: schema and encoders."""
        return {
            "params": {
                "columns": self.columns,
                "condition": self.condition,
                "max_addresses": self.max_addresses,
                "max_ports": self.max_ports,
                "max_modes": self.max_modes,
                "time_modes": self.time_modes,
                "internal_networks": self.internal_networks,
                "max_exact": self.max_exact,
                "per_packet": self.per_packet,
                "skeleton_addresses": self.skeleton_addresses,
                **({"standardise": True} if self.standardise else {}),
            },
            "schema": self.schema().model_dump(mode="json"),
            "encoders": [e.to_dict() for e in self.encoders_],
            **(
                {
                    "standard": {
                        "keys": self.standard_keys_.tolist(),
                        "columns": {  # copies: the caller may edit the state it gets
                            c: {f: list(v) for f, v in t.items()} for c, t in self.standard_.items()
                        },
                        # why each number is or is not standardised (information only)
                        "heldout_gain": dict(self.standard_gain_),
                    }
                }
                if self.standard_ or self.standard_gain_
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowTable:
        """Rebuild from :meth:`to_dict` (ModelError when malformed)."""
        try:
            # models saved before the destination token joined the skeleton, before
            # standardisation or before the exact-value cap was an option lack those keys
            table = cls(
                **{"skeleton_addresses": [], "standardise": False, "max_exact": 8, **d["params"]}
            )
            schema = TrainingSchema.model_validate(d["schema"])
            encoders = [encoder_from_dict(e) for e in d["encoders"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model schema is malformed: {exc}") from exc
        modelled = [c.name for c in schema.columns if c.role == "modelled"]
        if modelled != [e.column for e in encoders]:
            raise ModelError("model schema and encoders disagree on the modelled columns")
        table.plans_ = schema.columns
        table.condition_ = schema.condition
        table.condition_values_ = schema.condition_values
        table.condition_counts_ = schema.condition_counts
        table.n_rows_ = schema.n_rows
        table.encoders_ = encoders
        table._layout()
        table._load_standard(d.get("standard"))
        return table

    def _load_standard(self, d: dict[str, Any] | None) -> None:
        """The standardisation statistics of a saved model (ModelError when they do not
        fit its skeleton and columns)."""
        if not d:
            if any(isinstance(e, NumericEncoder) and e.standardised for e in self.encoders_):
                raise ModelError("model standardisation is missing for standardised numbers")
            return
        fields = ("centre_key", "centre_class", "spread_key", "spread_class")
        try:
            keys = np.asarray(d["keys"], dtype=np.int64)
            columns = {
                str(c): {f: [float(v) for v in t[f]] for f in fields}
                for c, t in d["columns"].items()
            }
            gains = {
                str(c): None if g is None else float(g)
                for c, g in (d.get("heldout_gain") or {}).items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"model standardisation is malformed: {exc}") from exc
        numbers = {e.column: e for e in self.encoders_ if isinstance(e, NumericEncoder)}
        span = float(np.prod([float(r) for r in self._radix()]))
        if (
            not set(columns) <= set(numbers)
            # an encoder fitted on standardised values needs its statistics, and only it
            or any(e.standardised != (c in columns) for c, e in numbers.items())
            or keys.ndim != 1
            or (len(keys) > 0 and (keys.min() < 0 or float(keys.max()) >= span))
            or bool(np.any(np.diff(keys) <= 0))
            or any(
                len(t["centre_key"]) != len(keys)
                or len(t["spread_key"]) != len(keys)
                or len(t["centre_class"]) != self.n_classes
                or len(t["spread_class"]) != self.n_classes
                or not all(np.isfinite(t[f]).all() for f in fields)
                or min(t["spread_key"] + t["spread_class"]) <= 0
                for t in columns.values()
            )
        ):
            raise ModelError("model standardisation does not match its skeleton")
        self.standard_keys_ = keys
        self.standard_ = columns
        self.standard_gain_ = gains
