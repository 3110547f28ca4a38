"""The Detector: Isolation Forest plus behavioural detectors, one calibrated score in [0, 1]."""

from __future__ import annotations

import contextvars
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from netrca.config import DEFAULT_INTERNAL_NETWORKS
from netrca.detect import _native
from netrca.detect._kernel import kernel_available, top_deviation
from netrca.detect.behavior import (
    DETECTORS,
    BehaviourBaseline,
    behaviour_frame,
    behaviour_tasks,
    failure_rate_columns,
    fit_baseline,
)
from netrca.detect.forest import FlatForest
from netrca.detect.threshold import QUANTILE_LEVELS, threshold_for_fpr
from netrca.errors import ConfigError, ModelError
from netrca.features import FeatureBuilder, FlowContext, flow_context

__all__ = ["DETECTOR_CAPS", "IF_CAP", "Detector", "Scores"]

#: Highest calibrated score each behavioural detector can give a flow. Hard evidence of an
#: attack ranks above behaviour that is often benign (periodic telemetry looks like a beacon).
DETECTOR_CAPS: dict[str, float] = {
    "scan": 0.98,
    "unsolicited": 0.95,
    "flood": 0.97,
    "brute_force": 0.95,
    "exfiltration": 0.95,
    "beacon": 0.62,
    "outage": 0.9,
    "congestion": 0.9,
    "mismatch": 0.8,
    "failures": 0.9,
}
#: Highest score rarity alone (the Isolation Forest) can give: rare is not malicious.
IF_CAP = 0.7
#: Rarity calibration: a robust z-score of the raw score (vs the trimmed training scores)
#: goes through a logistic curve centred at Z0 with width TAU. It is strictly increasing,
#: so ranking among ordinary flows is kept (no ties at zero).
_Z0, _TAU = 6.0, 1.5


@dataclass
class Scores:
    """Everything scoring computes for a batch of flows (rows in input order)."""

    score: np.ndarray  # calibrated anomaly score in [0, 1]
    forest: np.ndarray  # raw Isolation Forest score (higher = rarer)
    rarity: np.ndarray  # calibrated forest component in [0, IF_CAP]
    behaviour: pd.DataFrame  # one column per detector, capped
    #: per flow: "detector:score;..." strongest first ("" for none), as Arrow text
    reasons_text: pa.Array
    features: pd.DataFrame  # the feature matrix scored by the forest
    #: per flow: index (in ``features``) of the feature farthest from the training median
    top_feature: np.ndarray | None = None

    @cached_property
    def reasons(self) -> list[str]:
        """:attr:`reasons_text` as Python strings (made when first asked for)."""
        return cast(list[str], self.reasons_text.to_pylist())


class Detector:
    """Anomaly detector for network flows (higher score = more anomalous).

    The score of a flow is its strongest piece of evidence: the highest capped
    behavioural detector score, or the calibrated Isolation Forest rarity. Fitting
    learns feature vocabularies, baselines and the forest; nothing is learned when
    scoring.

    Parameters
    ----------
    n_estimators, max_samples, random_state
        Passed to :class:`sklearn.ensemble.IsolationForest`.
    contamination : "auto" or float
        ``"auto"``: flag scores >= 0.5. A float in (0, 0.5]: flag that share of the
        training flows (the threshold is their score quantile).
    threshold : float, optional
        Absolute score threshold; overrides ``contamination`` and ``target_fpr``.
    target_fpr : float, optional
        Fit on known-good traffic and alert on about this share of it: the threshold is
        the training scores' (1 - target_fpr) quantile. Overrides ``contamination``.
    trim : float
        Robust fit: the share of the most anomalous training rows dropped before the
        forest is refitted, so clustered attacks do not shape "normal".
    window_seconds : float
        Window of the per-host aggregates.
    internal_networks : list of str, optional
        CIDRs counted as internal when logs carry no local flags.
    extra_features : "auto", "none" or list of str
        Non-canonical columns used as features. ``"auto"``: every eligible column of a
        feature table (never ground truth, label-like or identifier columns), none for
        flow logs.
    exclude : tuple of str
        Columns never used as features (ground-truth columns, label-derived metadata).
    novelty : "auto", "knn" or "none"
        Add a k-nearest-neighbour distance to the rarity score. ``"auto"``: for feature
        tables only (flow logs rely on the behavioural detectors, and kNN costs time).

    Examples
    --------
    >>> from netrca.simulate import simulate
    >>> flows = simulate(seed=0)  # doctest: +SKIP
    >>> det = Detector().fit(flows)  # doctest: +SKIP
    >>> det.predict(flows).mean() < 0.3  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: int = 256,
        contamination: str | float = "auto",
        threshold: float | None = None,
        trim: float = 0.05,
        window_seconds: float = 300.0,
        internal_networks: list[str] | None = None,
        random_state: int = 0,
        extra_features: str | list[str] = "auto",
        exclude: tuple[str, ...] = (),
        novelty: str = "auto",
        target_fpr: float | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.threshold = threshold
        self.trim = trim
        self.window_seconds = window_seconds
        self.internal_networks = internal_networks
        self.random_state = random_state
        self.extra_features = extra_features
        self.exclude = tuple(exclude)
        self.novelty = novelty
        self.target_fpr = target_fpr

    # -- fitting -------------------------------------------------------------------------
    def _validate_params(self) -> None:
        if not isinstance(self.n_estimators, int) or self.n_estimators < 1:
            raise ConfigError(f"n_estimators must be a positive integer, got {self.n_estimators!r}")
        if not isinstance(self.max_samples, int) or self.max_samples < 2:
            raise ConfigError(f"max_samples must be an integer >= 2, got {self.max_samples!r}")
        c = self.contamination
        if c != "auto" and not (isinstance(c, (int, float)) and 0 < float(c) <= 0.5):
            raise ConfigError(f"contamination must be 'auto' or in (0, 0.5], got {c!r}")
        if self.threshold is not None and not 0.0 <= float(self.threshold) <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {self.threshold!r}")
        if not 0.0 <= self.trim < 0.5:
            raise ConfigError(f"trim must be in [0, 0.5), got {self.trim!r}")
        if self.window_seconds <= 0:
            raise ConfigError(f"window_seconds must be positive, got {self.window_seconds!r}")
        if self.target_fpr is not None and not 0 < float(self.target_fpr) <= 0.5:
            raise ConfigError(f"target_fpr must be in (0, 0.5], got {self.target_fpr!r}")
        if self.novelty not in ("auto", "knn", "none"):
            raise ConfigError(f"novelty must be 'auto', 'knn' or 'none', got {self.novelty!r}")

    def fit(self, flows: pd.DataFrame) -> Detector:
        """Learn features, baselines and the forest from canonical ``flows``."""
        self._validate_params()
        if len(flows) < 2:
            raise ModelError(f"need at least 2 flows to fit, got {len(flows)}")
        nets = list(self.internal_networks or DEFAULT_INTERNAL_NETWORKS)
        self.features_ = FeatureBuilder(
            window_seconds=self.window_seconds,
            internal_networks=nets,
            extra_features=self.extra_features,
            exclude=self.exclude,
        )
        self.features_.fit(flows)
        self.mode_ = self.features_.state_.mode
        ctx = flow_context(flows, nets)
        X = self.features_.transform(flows, ctx).to_numpy(dtype=np.float64)
        self.behaviour_ = fit_baseline(ctx, self.window_seconds)
        self.failure_columns_ = (
            [
                c
                for c in failure_rate_columns([str(c) for c in flows.columns])
                if c not in self.exclude
            ]
            if self.mode_ == "table"
            else []
        )
        self._fit_forest(X)
        raw = self.forest_.score_samples(X)
        keep = raw <= np.quantile(raw, 1.0 - self.trim) if self.trim else np.ones(len(raw), bool)
        self.if_center_ = float(np.median(raw[keep]))
        mad = float(np.median(np.abs(raw[keep] - self.if_center_)) * 1.4826)
        self.if_scale_ = max(mad, 1e-6)
        self.feature_center_ = np.median(X[keep], axis=0)
        spread = np.median(np.abs(X[keep] - self.feature_center_), axis=0) * 1.4826
        std = X[keep].std(axis=0)
        self.feature_scale_ = np.where(spread > 1e-9, spread, np.maximum(std, 1e-3))
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = list(self.features_.state_.feature_names)
        self.extremes_ = _Extremes.fit(
            self.feature_names_in_, X[keep], ctx.failed[keep], ctx.protocol[keep], ctx.src[keep]
        )
        use_knn = self.novelty == "knn" or (self.novelty == "auto" and self.mode_ == "table")
        self.knn_ = _KnnNovelty.fit(X[keep], self.random_state) if use_knn else None
        knn = self.knn_.score(X) if self.knn_ is not None else None
        ext = self.extremes_.score(X, ctx.failed, ctx.protocol_in)
        train = self._combine(raw, self._behaviour(flows, ctx), knn, ext).max(axis=1)
        self.train_score_quantiles_ = np.quantile(train, QUANTILE_LEVELS).tolist()
        self.threshold_ = self._pick_threshold(train)
        return self

    def _fit_forest(self, X: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest  # fitting only: scoring needs no sklearn

        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(X)),
            random_state=self.random_state,
        ).fit(X)
        if self.trim and len(X) >= 50:
            # the compiled scorer: scikit-learn's scores (-score_samples), 20x as fast
            s = FlatForest.from_sklearn(forest).score_samples(X)
            keep = s <= np.quantile(s, 1.0 - self.trim)
            forest = IsolationForest(
                n_estimators=self.n_estimators,
                max_samples=min(self.max_samples, int(keep.sum())),
                random_state=self.random_state,
            ).fit(X[keep])
        self.forest_ = FlatForest.from_sklearn(forest)
        self.sklearn_forest_ = forest

    def _pick_threshold(self, train: np.ndarray) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        if self.target_fpr is not None:
            return threshold_for_fpr(train, float(self.target_fpr))
        if self.contamination == "auto":
            return 0.5
        return float(np.quantile(train, 1.0 - float(self.contamination)))

    # -- scoring -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise ModelError("this Detector is not fitted yet; call fit() or load a model")

    def _behaviour_tasks(
        self, flows: pd.DataFrame, ctx: Any
    ) -> list[tuple[str, Callable[[], np.ndarray]]]:
        base = self.features_.latency_baseline(flows, ctx)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (ctx.latency + 1.0) / (base + 1.0)
        return behaviour_tasks(
            ctx,
            self.behaviour_,
            ratio,
            mode=self.mode_,
            flows=flows,
            failure_columns=[c for c in self.failure_columns_ if c in flows.columns],
        )

    def _behaviour(self, flows: pd.DataFrame, ctx: Any) -> pd.DataFrame:
        return behaviour_frame({name: task() for name, task in self._behaviour_tasks(flows, ctx)})

    def rarity(
        self, raw: np.ndarray, knn: np.ndarray | None = None, extreme: np.ndarray | None = None
    ) -> np.ndarray:
        """Calibrated rarity in (0, IF_CAP).

        The forest's robust z-score through a logistic curve (averaged with the kNN
        novelty's when that is on), or the largest one-sided robust z-score of a key
        per-flow quantity (bytes, latency vs path baseline, duration) through the same
        curve, whichever is higher: a forest over many features dilutes an anomaly that
        is extreme in one of them.
        """
        p = _logistic((raw - self.if_center_) / self.if_scale_)
        if knn is not None and self.knn_ is not None:
            p = 0.5 * (p + _logistic(self.knn_.z(knn)))
        if extreme is not None:
            p = np.maximum(p, _logistic(extreme))
        return IF_CAP * p

    def _combine(
        self,
        raw: np.ndarray,
        behaviour: pd.DataFrame,
        knn: np.ndarray | None = None,
        extreme: np.ndarray | None = None,
    ) -> pd.DataFrame:
        behaviour_scores = {d: behaviour[d].to_numpy() for d in DETECTORS}
        return self._capped(raw, behaviour_scores, knn, extreme)[0]

    def _capped(
        self,
        raw: np.ndarray,
        behaviour: dict[str, np.ndarray],
        knn: np.ndarray | None = None,
        extreme: np.ndarray | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray, bool]:
        """Each detector's score within [0, 1] times its cap, then the rarity: one
        column-major block, each column written in place (pandas keeps it as its one
        block); each row's largest part, NaN skipped (``max(axis=1)``), taken column by
        column on the way in; and whether any part is NaN."""
        parts = np.empty((len(raw), len(DETECTORS) + 1), order="F")
        best = self.rarity(raw, knn, extreme)
        parts[:, -1] = best
        any_nan = bool(np.isnan(best).any())
        best = best.copy()
        for j, name in enumerate(DETECTORS):
            column = parts[:, j]
            np.clip(behaviour[name], 0.0, 1.0, out=column)
            column *= DETECTOR_CAPS[name]
            np.fmax(best, column, out=best)
            any_nan = any_nan or bool(np.isnan(column).any())
        frame = pd.DataFrame(parts, columns=[*DETECTORS, "rarity"], copy=False)
        return frame, best, any_nan

    def score(self, flows: pd.DataFrame, ctx: FlowContext | None = None) -> Scores:
        """Score ``flows`` and explain each score (see :class:`Scores`).

        ``ctx``: the flows' :func:`~netrca.features.flow_context` when the caller has it.
        """
        self._check_fitted()
        if ctx is None:
            ctx = flow_context(flows, self.features_.state_.internal_networks)
        # the behavioural detectors and the feature/forest path share only read-only
        # inputs (``ctx``'s cache is filled under its lock): a worker thread
        # takes the detectors, most work first, while this thread builds features, scores
        # the forest, then takes the detectors the worker has not started, from the other
        # end (numpy and pandas release the GIL in their heavy loops). In a process with
        # one core (a Dask worker pins Arrow's pool to its share) they all run here.
        tasks = self._behaviour_tasks(flows, ctx)
        with ThreadPoolExecutor(1) as pool:
            futures: list[Future[np.ndarray]] = []
            if pa.cpu_count() >= 2:  # copy_context: numpy's error state goes along
                futures = [pool.submit(contextvars.copy_context().run, task) for _, task in tasks]
            feats = self.features_.transform(flows, ctx)
            X = feats.to_numpy(dtype=np.float64)
            raw = self.forest_.score_samples(X)
            knn = self.knn_.score(X) if self.knn_ is not None else None
            ext = self.extremes_.score(X, ctx.failed, ctx.protocol_in)
            top = self._top_features(X)
            here: dict[str, np.ndarray] = {}
            for i in reversed(range(len(tasks))):  # least work first
                if futures and not futures[i].cancel():
                    break  # the worker has this one, and every one before it
                here[tasks[i][0]] = tasks[i][1]()
            behaviour = {
                name: here[name] if name in here else futures[i].result()
                for i, (name, _) in enumerate(tasks)
            }
            parts, score, any_nan = self._capped(raw, behaviour, knn, ext)
        # the reasons skip a row with a NaN part (its row maximum is NaN): they get the
        # skipping maximum only where no part is NaN
        reasons = self._reasons_text(parts, X, top=top, best=None if any_nan else score)
        return Scores(
            score=score,
            forest=raw,
            rarity=parts["rarity"].to_numpy(),
            behaviour=parts.drop(columns="rarity"),
            reasons_text=reasons,
            features=feats,
            top_feature=top,
        )

    def _top_features(self, X: np.ndarray) -> np.ndarray:
        """Per row: index of the feature farthest from the training median (robust z)."""
        if _native.top_available():  # one compiled pass, equal to the numpy blocks below
            return _native.top_deviation(X, self.feature_center_, self.feature_scale_)
        if kernel_available():
            return top_deviation(X, self.feature_center_, self.feature_scale_)
        out = np.empty(len(X), dtype=np.int64)
        for start in range(0, len(X), 65536):  # cache-sized blocks: 3x less memory traffic
            block = X[start : start + 65536]
            z = np.abs(block - self.feature_center_) / self.feature_scale_
            out[start : start + len(block)] = np.argmax(z, axis=1)
        return out

    def _reasons_text(
        self,
        parts: pd.DataFrame,
        X: np.ndarray,
        floor: float = 0.25,
        top: np.ndarray | None = None,
        best: np.ndarray | None = None,
    ) -> pa.Array:
        """Per flow: the detectors above ``floor``, strongest first, and for rarity the
        features that deviate most from the training median ("" where none is).
        ``best``: each row's largest part (``max(axis=1)``, NaN if one is), where the
        caller has it.

        Built rank by rank from a table of item texts (no loop over flows) and joined by
        Arrow, where the text stays; the text is the same as formatting
        ``f"{name}:{score:.2f}"`` item by item.
        """
        names = [str(c) for c in parts.columns]
        vals = parts.to_numpy()
        where = np.full(len(vals), 0, dtype=np.int64)  # row -> its text; 0: ""
        rows = np.flatnonzero((vals.max(axis=1) if best is None else best) >= floor)
        if not len(rows):
            return pa.array([""], type=pa.string()).take(pa.array(where))
        sub = np.ascontiguousarray(vals[rows])  # row by row from here (parts: by column)
        order = np.argsort(-sub, axis=1)
        top_feat = self._top_features(X[rows]) if top is None else top[rows]
        fnames = [str(f) for f in self.feature_names_in_]
        n_feat = len(fnames)
        # item texts, looked up by Arrow: detector j at k hundredths at j * 101 + k, then
        # rarity at k hundredths for feature f, then any texts formatted by hand
        texts = [f"{n}:{c}" for n in names for c in _CENTS]
        rarity_at = len(texts)
        texts += [f"rarity:{c}({f})" for c in _CENTS for f in fnames]
        items = pa.array(texts, type=pa.string())
        rarity_col = names.index("rarity") if "rarity" in names else -1
        idx = np.arange(len(rows))
        ranks = []
        for rank in range(order.shape[1]):
            col = order[:, rank]
            v = sub[idx, col]
            live = v >= floor  # descending order: once below the floor, always below
            if not live.any():
                break
            k, exact = _cent_index(v)
            cents = np.clip(k, 0, 100)
            is_rarity = col == rarity_col
            pos = np.where(
                is_rarity, rarity_at + cents * n_feat + top_feat, col * len(_CENTS) + cents
            )
            odd = np.flatnonzero(~exact & live)  # outside [0, 1]: format by hand
            if len(odd):
                hand = [
                    f"{names[col[i]]}:{float(v[i]):.2f}"
                    + (f"({fnames[top_feat[i]]})" if is_rarity[i] else "")
                    for i in odd
                ]
                pos[odd] = len(items) + np.arange(len(odd))
                items = pa.concat_arrays([items, pa.array(hand, type=pa.string())])
            ranks.append(items.take(pa.array(pos, mask=~live)))
        joined = pc.binary_join_element_wise(*ranks, ";", null_handling="skip")
        where[rows] = np.arange(1, len(rows) + 1)
        return pa.concat_arrays([pa.array([""], type=pa.string()), joined]).take(pa.array(where))

    def score_samples(self, flows: pd.DataFrame) -> np.ndarray:
        """Calibrated anomaly scores in [0, 1]; higher = more anomalous."""
        return self.score(flows).score

    def predict(self, flows: pd.DataFrame) -> np.ndarray:
        """True where a flow's score reaches the threshold."""
        return self.score_samples(flows) >= self.threshold_

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style)."""
        return {
            "n_estimators": self.n_estimators,
            "max_samples": self.max_samples,
            "contamination": self.contamination,
            "threshold": self.threshold,
            "trim": self.trim,
            "window_seconds": self.window_seconds,
            "internal_networks": self.internal_networks,
            "random_state": self.random_state,
            "extra_features": self.extra_features,
            "exclude": list(self.exclude),
            "novelty": self.novelty,
            "target_fpr": self.target_fpr,
        }

    def behaviour_baseline(self) -> BehaviourBaseline:
        """The fitted behaviour baseline."""
        self._check_fitted()
        return self.behaviour_


#: Per-flow quantities whose extremes count as rarity on their own (upper tail): upload
#: size and latency against the path baseline. Durations and download sizes are left out:
#: in real traffic they are heavy-tailed by nature (long-lived sessions, big downloads).
EXTREME_FEATURES = ("log_bytes_sent", "log_latency_ratio")
#: Smallest robust scale per feature (log units): an upload must be ~1,600x its protocol's
#: median to be extreme on its own (z 7.4 at a scale of 1.0); latency is already a ratio to
#: the path's baseline, so a tighter floor applies.
_EXTREME_FLOOR = {"log_bytes_sent": 1.0, "log_latency_ratio": 0.25}


@dataclass
class _Extremes:
    """One-sided robust z-scores of a few key per-flow features, against the same
    protocol's flows (uploads of SMTP are large, DNS queries small): max over them."""

    columns: list[int]
    center: dict[str, list[float]]  # protocol ("*" for all) -> per-column median
    scale: dict[str, list[float]]
    latency_col: int  # position in ``columns`` of the latency ratio, or -1

    MIN_FLOWS = 30

    @classmethod
    def fit(
        cls,
        names: list[str],
        X: np.ndarray,
        failed: np.ndarray,
        protocol: np.ndarray,
        source: np.ndarray | None = None,
    ) -> _Extremes:
        cols = [names.index(f) for f in EXTREME_FEATURES if f in names]
        lat = names.index("log_latency_ratio") if "log_latency_ratio" in names else -1
        lat_pos = cols.index(lat) if lat in cols else -1
        # normal sizes and durations are learned from established connections: failed
        # attempts (probes, floods) carry no payload and would define "normal" as empty
        ok = ~failed
        if ok.sum() >= cls.MIN_FLOWS:
            X, failed, protocol = X[ok], failed[ok], protocol[ok]
            source = source[ok] if source is not None else None
        E = cls._matrix(X, cols, lat_pos, failed)
        center: dict[str, list[float]] = {}
        scale: dict[str, list[float]] = {}
        groups = [("*", np.ones(len(E), dtype=bool))]
        values, counts = np.unique(protocol.astype(str), return_counts=True)
        for v, c in zip(values, counts, strict=True):
            mask = protocol == v
            if c < cls.MIN_FLOWS:
                continue
            if source is not None:  # one busy host (an attacker) must not define normal
                _, per_src = np.unique(source[mask], return_counts=True)
                if per_src.max() > 0.5 * c:
                    continue
            groups.append((str(v), mask))
        global_scale = None
        floor = np.asarray([_EXTREME_FLOOR[names[c]] for c in cols], dtype=float)
        for name, mask in groups:
            sub = E[mask]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(sub, axis=0) if sub.size else np.zeros(len(cols))
                mad = np.nanmedian(np.abs(sub - med), axis=0) * 1.4826
                # zero-inflated quantities (ICMP payloads) have MAD 0: the upper spread
                # (90th percentile over the median, in normal-sigma units) keeps them sane
                upper = (np.nanpercentile(sub, 90, axis=0) - med) / 1.2816 if sub.size else mad
                mad = np.fmax(mad, upper)
            # a floor keeps near-constant quantities (fixed-size DNS) from exploding
            mad = np.nan_to_num(mad, nan=1.0)
            if global_scale is None:
                global_scale = mad
            center[name] = np.nan_to_num(med).tolist()
            scale[name] = np.maximum(np.maximum(mad, 0.5 * global_scale), floor).tolist()
        return cls(cols, center, scale, lat_pos)

    @staticmethod
    def _matrix(X: np.ndarray, cols: list[int], lat_pos: int, failed: np.ndarray) -> np.ndarray:
        E = X[:, cols].astype(float)
        if lat_pos >= 0:  # a failed connection's latency is a timeout, not a measurement
            E[failed, lat_pos] = np.nan
        return E

    def score(
        self, X: np.ndarray, failed: np.ndarray, protocol_in: Callable[[str], np.ndarray]
    ) -> np.ndarray:
        """Largest upper-tail robust z-score per row; 0 for protocols without a baseline of
        their own (too few flows, or dominated by one host) and when nothing is measured.
        ``protocol_in(name)``: which rows have that protocol (``FlowContext.protocol_in``)."""
        out = np.zeros(len(X))
        if not self.columns:
            return out
        # each row's protocol baseline gathered into one (rows, columns) pair of arrays,
        # then one pass over every row: the same z-scores as protocol by protocol
        names = [name for name in self.center if name != "*"]
        which = np.zeros(len(X), dtype=np.int64)  # 0: no baseline of its own
        for i, name in enumerate(names, start=1):
            which[protocol_in(name)] = i
        has = which > 0
        if not has.any():
            return out
        width = len(self.columns)
        center = np.vstack([np.zeros(width), *(np.asarray(self.center[n]) for n in names)])
        scale = np.vstack([np.ones(width), *(np.asarray(self.scale[n]) for n in names)])
        E = self._matrix(X, self.columns, self.latency_col, failed)
        top = np.full(len(X), -np.inf)
        for j in range(width):  # column by column: a row's largest, a NaN never winning
            z = (E[:, j] - center[which, j]) / scale[which, j]
            np.fmax(top, z, out=top)
        return np.where(has, np.nan_to_num(top, neginf=0.0), 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "columns": self.columns,
            "center": self.center,
            "scale": self.scale,
            "latency_col": self.latency_col,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Extremes:
        """Inverse of :meth:`to_dict`."""
        return cls(
            [int(c) for c in d["columns"]],
            {str(k): [float(x) for x in v] for k, v in d["center"].items()},
            {str(k): [float(x) for x in v] for k, v in d["scale"].items()},
            int(d["latency_col"]),
        )


_CENTS = np.asarray([f"{k / 100:.2f}" for k in range(101)], dtype=object)


def _cent_index(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``k`` with ``f"{x:.2f}" == _CENTS[k]`` for each ``x``, and whether ``x`` is in the
    table's range [0, 1]. Values whose hundredths sit (numerically) on a rounding boundary
    are rounded by Python's formatting, so the lookup is exact."""
    scaled = np.asarray(v, dtype=np.float64) * 100.0
    scaled = np.where(np.isfinite(scaled) & (np.abs(scaled) < 1e6), scaled, -100.0)
    k = np.floor(scaled + 0.5).astype(np.int64)
    edge = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(edge):  # rare: (near) exact halves
        k[i] = round(float(f"{float(v[i]):.2f}") * 100)
    return k, (k >= 0) & (k <= 100)


def _logistic(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-(np.asarray(z, dtype=float) - _Z0) / _TAU)))


@dataclass
class _KnnNovelty:
    """Mean distance to the k nearest of a sample of (trimmed) training rows."""

    reference: np.ndarray  # standardised training rows
    center: np.ndarray
    scale: np.ndarray
    z_center: float
    z_scale: float
    k: int = 5

    @classmethod
    def fit(cls, X: np.ndarray, random_state: int, size: int = 4000, k: int = 5) -> _KnnNovelty:
        center = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        rng = np.random.default_rng(random_state)
        idx = rng.choice(len(X), size=min(size, len(X)), replace=False)
        ref = ((X[np.sort(idx)] - center) / scale).astype(np.float32)
        model = cls(ref, center, scale, 0.0, 1.0, k)
        loo = model._distances(ref, exclude_self=True)
        med = float(np.median(loo))
        model.z_center = med
        model.z_scale = max(float(np.median(np.abs(loo - med)) * 1.4826), 1e-6)
        return model

    def _distances(self, Z: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        from sklearn.neighbors import NearestNeighbors

        k = min(self.k + int(exclude_self), len(self.reference))
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(self.reference)
        out = np.empty(len(Z))
        for start in range(0, len(Z), 20000):
            d, _ = nn.kneighbors(Z[start : start + 20000])
            out[start : start + 20000] = (d[:, 1:] if exclude_self else d).mean(axis=1)
        return out

    def score(self, X: np.ndarray) -> np.ndarray:
        """Raw novelty: mean distance to the k nearest reference rows."""
        return self._distances(((X - self.center) / self.scale).astype(np.float32))

    def z(self, distance: np.ndarray) -> np.ndarray:
        """Robust z-score of distances against the reference's own (leave-one-out)."""
        return (distance - self.z_center) / self.z_scale
