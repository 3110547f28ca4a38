"""Feature building: numeric, finite, and fitted state reused unchanged."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from netrca.features import FeatureBuilder, FeatureState


def test_matrix_is_finite_and_named(sim_flows: pd.DataFrame) -> None:
    fb = FeatureBuilder().fit(sim_flows)
    X = fb.transform(sim_flows)
    assert len(X) == len(sim_flows)
    assert list(X.columns) == fb.state_.feature_names
    assert np.isfinite(X.to_numpy()).all()
    assert {"src_win_distinct_dport", "pair_interarrival_cv", "log_latency_ratio"} <= set(X.columns)


def test_transform_does_not_refit(sim_flows: pd.DataFrame) -> None:
    fb = FeatureBuilder().fit(sim_flows.iloc[:3000])
    state = copy.deepcopy(fb.state_.to_dict())
    other = sim_flows.iloc[3000:].reset_index(drop=True)
    X = fb.transform(other)
    assert fb.state_.to_dict() == state
    assert list(X.columns) == state["feature_names"]


def test_unseen_categories_and_missing_latency(sim_flows: pd.DataFrame) -> None:
    fb = FeatureBuilder().fit(sim_flows)
    new = sim_flows.head(50).copy()
    new["protocol"] = "GOPHER"
    new["error_code"] = "WEIRD"
    new["latency"] = np.nan
    X = fb.transform(new)
    assert np.isfinite(X.to_numpy()).all()
    assert (X[[c for c in X.columns if c.startswith("protocol=")]] == 0).all().all()


def test_state_round_trips_through_json(sim_flows: pd.DataFrame) -> None:
    import json

    fb = FeatureBuilder().fit(sim_flows)
    state = FeatureState.from_dict(json.loads(json.dumps(fb.state_.to_dict())))
    again = FeatureBuilder.from_state(state)
    assert np.array_equal(again.transform(sim_flows).to_numpy(), fb.transform(sim_flows).to_numpy())
