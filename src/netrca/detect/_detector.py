"""The Detector: Isolation Forest plus behavioural detectors, one calibrated score in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from netrca.config import DEFAULT_INTERNAL_NETWORKS
from netrca.detect.behavior import (
    DETECTORS,
    BehaviourBaseline,
    fit_baseline,
    ramp,
    score_behaviour,
)
from netrca.detect.forest import FlatForest
from netrca.errors import ConfigError, ModelError
from netrca.features import FeatureBuilder, flow_context

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
}
#: Highest score rarity alone (the Isolation Forest) can give: rare is not malicious.
IF_CAP = 0.7
#: Robust z-scores of the forest score that map to 0 and to IF_CAP.
_IF_Z = (3.0, 9.0)


@dataclass
class Scores:
    """Everything scoring computes for a batch of flows (rows in input order)."""

    score: np.ndarray  # calibrated anomaly score in [0, 1]
    forest: np.ndarray  # raw Isolation Forest score (higher = rarer)
    rarity: np.ndarray  # calibrated forest component in [0, IF_CAP]
    behaviour: pd.DataFrame  # one column per detector, capped
    reasons: list[str]  # per flow: "detector:score;..." strongest first
    features: pd.DataFrame  # the feature matrix scored by the forest


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
        Absolute score threshold; overrides ``contamination``.
    trim : float
        Robust fit: the share of the most anomalous training rows dropped before the
        forest is refitted, so clustered attacks do not shape "normal".
    window_seconds : float
        Window of the per-host aggregates.
    internal_networks : list of str, optional
        CIDRs counted as internal when logs carry no local flags.

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
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.threshold = threshold
        self.trim = trim
        self.window_seconds = window_seconds
        self.internal_networks = internal_networks
        self.random_state = random_state

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

    def fit(self, flows: pd.DataFrame) -> Detector:
        """Learn features, baselines and the forest from canonical ``flows``."""
        self._validate_params()
        if len(flows) < 2:
            raise ModelError(f"need at least 2 flows to fit, got {len(flows)}")
        nets = list(self.internal_networks or DEFAULT_INTERNAL_NETWORKS)
        self.features_ = FeatureBuilder(window_seconds=self.window_seconds, internal_networks=nets)
        self.features_.fit(flows)
        ctx = flow_context(flows, nets)
        X = self.features_.transform(flows, ctx).to_numpy(dtype=np.float64)
        self.behaviour_ = fit_baseline(ctx, self.window_seconds)
        forest = self._fit_forest(X)
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
        train = self._combine(raw, self._behaviour(flows, ctx)).max(axis=1)
        self.train_score_quantiles_ = np.quantile(train, np.linspace(0, 1, 101)).tolist()
        self.threshold_ = self._pick_threshold(train)
        del forest
        return self

    def _fit_forest(self, X: np.ndarray) -> IsolationForest:
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(X)),
            random_state=self.random_state,
        ).fit(X)
        if self.trim and len(X) >= 50:
            s = -forest.score_samples(X)
            keep = s <= np.quantile(s, 1.0 - self.trim)
            forest = IsolationForest(
                n_estimators=self.n_estimators,
                max_samples=min(self.max_samples, int(keep.sum())),
                random_state=self.random_state,
            ).fit(X[keep])
        self.forest_ = FlatForest.from_sklearn(forest)
        self.sklearn_forest_ = forest
        return forest

    def _pick_threshold(self, train: np.ndarray) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        if self.contamination == "auto":
            return 0.5
        return float(np.quantile(train, 1.0 - float(self.contamination)))

    # -- scoring -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise ModelError("this Detector is not fitted yet; call fit() or load a model")

    def _behaviour(self, flows: pd.DataFrame, ctx: Any) -> pd.DataFrame:
        base = self.features_.latency_baseline(flows, ctx)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (ctx.latency + 1.0) / (base + 1.0)
        return score_behaviour(ctx, self.behaviour_, flows["error_code"].to_numpy(str), ratio)

    def rarity(self, raw: np.ndarray) -> np.ndarray:
        """Calibrate raw forest scores: robust z against the trimmed training scores."""
        z = (raw - self.if_center_) / self.if_scale_
        return IF_CAP * ramp(z, *_IF_Z)

    def _combine(self, raw: np.ndarray, behaviour: pd.DataFrame) -> pd.DataFrame:
        capped = behaviour.copy()
        for name in DETECTORS:
            capped[name] = capped[name].to_numpy() * DETECTOR_CAPS[name]
        capped["rarity"] = self.rarity(raw)
        return capped

    def score(self, flows: pd.DataFrame) -> Scores:
        """Score ``flows`` and explain each score (see :class:`Scores`)."""
        self._check_fitted()
        ctx = flow_context(flows, self.features_.state_.internal_networks)
        feats = self.features_.transform(flows, ctx)
        raw = self.forest_.score_samples(feats.to_numpy(dtype=np.float64))
        parts = self._combine(raw, self._behaviour(flows, ctx))
        score = parts.max(axis=1).to_numpy()
        reasons = self._reasons(parts, feats.to_numpy(dtype=np.float64))
        return Scores(
            score=score,
            forest=raw,
            rarity=parts["rarity"].to_numpy(),
            behaviour=parts.drop(columns="rarity"),
            reasons=reasons,
            features=feats,
        )

    def _reasons(self, parts: pd.DataFrame, X: np.ndarray, floor: float = 0.25) -> list[str]:
        """Per flow: the detectors above ``floor``, strongest first, and for rarity the
        features that deviate most from the training median."""
        names = list(parts.columns)
        vals = parts.to_numpy()
        out = [""] * len(vals)
        rows = np.flatnonzero(vals.max(axis=1) >= floor)
        if not len(rows):
            return out
        sub = vals[rows]
        order = np.argsort(-sub, axis=1)
        z = np.abs(X[rows] - self.feature_center_) / self.feature_scale_
        top_feat = np.argmax(z, axis=1)
        fnames = self.feature_names_in_
        for k, i in enumerate(rows):
            items = []
            for j in order[k]:
                if sub[k, j] < floor:
                    break
                if names[j] == "rarity":
                    items.append(f"rarity:{sub[k, j]:.2f}({fnames[top_feat[k]]})")
                else:
                    items.append(f"{names[j]}:{sub[k, j]:.2f}")
            out[i] = ";".join(items)
        return out

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
        }

    def behaviour_baseline(self) -> BehaviourBaseline:
        """The fitted behaviour baseline."""
        self._check_fitted()
        return self.behaviour_
