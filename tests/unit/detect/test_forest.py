"""The flattened forest scores exactly like scikit-learn and refuses malformed arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from netrca.detect.forest import FlatForest
from netrca.errors import ModelError


@pytest.mark.parametrize("max_features", [1.0, 0.6])
def test_scores_equal_sklearn(max_features: float) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 12))
    X[:, 2] = np.round(X[:, 2])  # ties on thresholds
    X[:10] *= 8  # outliers
    forest = IsolationForest(n_estimators=60, max_features=max_features, random_state=1).fit(X)
    flat = FlatForest.from_sklearn(forest)
    test = np.vstack([X, rng.normal(size=(500, 12)) * 3])
    assert np.max(np.abs(flat.score_samples(test) + forest.score_samples(test))) <= 1e-9


def test_round_trip_arrays() -> None:
    X = np.random.default_rng(1).normal(size=(500, 4))
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=10, random_state=0).fit(X))
    again = FlatForest.from_arrays(flat.to_arrays())
    assert np.array_equal(again.score_samples(X), flat.score_samples(X))


@pytest.mark.parametrize(
    ("field", "value"),
    [("left", 10**6), ("right", -5), ("tree_features", 99), ("leaf_value", np.inf)],
)
def test_validate_rejects_out_of_bounds(field: str, value: float) -> None:
    X = np.random.default_rng(1).normal(size=(300, 4))
    arrays = FlatForest.from_sklearn(
        IsolationForest(n_estimators=5, random_state=0).fit(X)
    ).to_arrays()
    arr = arrays[field].copy()
    if field == "leaf_value":
        arr = arr.astype(float)
        arr[np.argmax(arr != 0)] = value
    else:
        inner = np.flatnonzero(arrays["feature"] >= 0)
        arr.flat[inner[0] if field != "tree_features" else 0] = value
    arrays[field] = arr
    with pytest.raises(ModelError):
        FlatForest.from_arrays(arrays)


def test_wrong_feature_count() -> None:
    X = np.random.default_rng(1).normal(size=(300, 4))
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=5, random_state=0).fit(X))
    with pytest.raises(ModelError, match="expected 4 features"):
        flat.score_samples(X[:, :3])
