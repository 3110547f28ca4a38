"""The Detector: scikit-learn-style API, one score direction, seeded, honest threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from netrca.detect import Detector
from netrca.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def fitted(sim_flows: pd.DataFrame) -> Detector:
    return Detector(random_state=3).fit(sim_flows)


def test_scores_in_unit_interval_and_rank_anomalies_higher(
    fitted: Detector, sim_flows: pd.DataFrame
) -> None:
    s = fitted.score_samples(sim_flows)
    assert s.shape == (len(sim_flows),)
    assert (s >= 0).all() and (s <= 1).all()
    assert roc_auc_score(sim_flows["label"].astype(int), s) > 0.9


def test_predict_uses_threshold(fitted: Detector, sim_flows: pd.DataFrame) -> None:
    assert np.array_equal(
        fitted.predict(sim_flows), fitted.score_samples(sim_flows) >= fitted.threshold_
    )
    assert fitted.threshold_ == 0.5


def test_contamination_and_absolute_threshold(sim_flows: pd.DataFrame) -> None:
    det = Detector(contamination=0.2).fit(sim_flows)
    share = det.predict(sim_flows).mean()
    assert 0.15 < share < 0.3
    det = Detector(threshold=0.9).fit(sim_flows)
    assert det.threshold_ == 0.9


def test_same_seed_same_scores_and_column_order_irrelevant(sim_flows: pd.DataFrame) -> None:
    a = Detector(random_state=5).fit(sim_flows).score_samples(sim_flows)
    b = Detector(random_state=5).fit(sim_flows).score_samples(sim_flows)
    shuffled = sim_flows[list(reversed(sim_flows.columns))]
    c = Detector(random_state=5).fit(shuffled).score_samples(shuffled)
    assert np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_nothing_learned_at_score_time(fitted: Detector, sim_flows: pd.DataFrame) -> None:
    before = fitted.features_.state_.to_dict(), fitted.behaviour_.to_dict(), fitted.if_center_
    fitted.score_samples(sim_flows.head(100))
    assert (
        fitted.features_.state_.to_dict(),
        fitted.behaviour_.to_dict(),
        fitted.if_center_,
    ) == before


def test_reasons_name_the_evidence(fitted: Detector, sim_flows: pd.DataFrame) -> None:
    scores = fitted.score(sim_flows)
    scan = (sim_flows["root_cause"] == "port_scan").to_numpy() & (scores.score >= 0.5)
    top = [r.split(";")[0].split(":")[0] for r in np.asarray(scores.reasons)[scan]]
    assert np.mean([t in {"scan", "unsolicited"} for t in top]) > 0.9
    quiet = scores.score < 0.25
    assert all(r == "" for r in np.asarray(scores.reasons)[quiet])


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 0},
        {"contamination": 0.9},
        {"contamination": "high"},
        {"threshold": 2.0},
        {"trim": 0.7},
        {"window_seconds": 0},
    ],
)
def test_bad_parameters(params: dict[str, object], sim_flows: pd.DataFrame) -> None:
    with pytest.raises(ConfigError):
        Detector(**params).fit(sim_flows)  # type: ignore[arg-type]


def test_unfitted_and_tiny_inputs(sim_flows: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="not fitted"):
        Detector().score_samples(sim_flows)
    with pytest.raises(ModelError, match="at least 2"):
        Detector().fit(sim_flows.head(1))


def _reasons_one_by_one(det: Detector, parts: pd.DataFrame, X: np.ndarray) -> list[str]:
    """The reference: each flow's reasons formatted item by item in Python."""
    names = list(parts.columns)
    vals = parts.to_numpy()
    out = []
    for i in range(len(vals)):
        z = np.abs(X[i] - det.feature_center_) / det.feature_scale_
        items = []
        for j in np.argsort(-vals[i : i + 1], axis=1)[0]:
            if vals[i, j] < 0.25:
                break
            text = f"{names[j]}:{vals[i, j]:.2f}"
            if names[j] == "rarity":
                text += f"({det.feature_names_in_[int(np.argmax(z))]})"
            items.append(text)
        out.append(";".join(items))
    return out


def test_reasons_text_equals_item_by_item_formatting(
    fitted: Detector, sim_flows: pd.DataFrame
) -> None:
    scores = fitted.score(sim_flows)
    parts = scores.behaviour.assign(rarity=scores.rarity)
    X = scores.features.to_numpy(dtype=np.float64)
    # exact halves and ties stress the table lookup and the rank order
    rng = np.random.default_rng(0)
    parts.iloc[:200, 0] = rng.choice([0.125, 0.245, 0.255, 0.995, 0.5, 1.0], size=200)
    parts.iloc[:100, 1] = parts.iloc[:100, 0]
    # values past the table's [0, 1] are formatted by hand, the rarity's with its feature
    parts.iloc[200:260, 2] = rng.choice([1.5, 3.14159, 12.0], size=60)
    parts.iloc[230:290, -1] = rng.choice([1.25, 2.675, 0.9], size=60)
    assert fitted._reasons_text(parts, X).to_pylist() == _reasons_one_by_one(fitted, parts, X)
    assert any(r.startswith("rarity:") or ";rarity:" in r for r in scores.reasons)


def test_detectors_beside_the_forest_or_in_line_score_alike(
    fitted: Detector, sim_flows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two cores a worker thread takes the behavioural detectors, most work first,
    beside the features and forest, and this thread the ones it has not started; with one
    (a Dask worker's share) all run in line: the same scores."""
    import threading

    import pyarrow as pa

    from netrca.detect import behavior

    seen: dict[str, list[str]] = {"outage": [], "mismatch": []}

    def spy(name: str, original: Any) -> Any:
        def run(*args: object, **kwargs: object) -> np.ndarray:
            seen[name].append(threading.current_thread().name)
            return np.asarray(original(*args, **kwargs))

        return run

    monkeypatch.setattr(behavior, "outage_score", spy("outage", behavior.outage_score))
    monkeypatch.setattr(behavior, "mismatch_score", spy("mismatch", behavior.mismatch_score))
    here = threading.current_thread().name
    monkeypatch.setattr(pa, "cpu_count", lambda: 2)
    beside = fitted.score(sim_flows)
    assert seen["outage"] == [seen["outage"][0]] and seen["outage"][0] != here
    monkeypatch.setattr(pa, "cpu_count", lambda: 1)
    in_line = fitted.score(sim_flows)
    assert seen["outage"][1:] == [here] and seen["mismatch"][1:] == [here]
    assert np.array_equal(beside.score, in_line.score)
    assert beside.reasons == in_line.reasons
    pd.testing.assert_frame_equal(beside.behaviour, in_line.behaviour)
    # every detector ran once a call, wherever it ran
    assert len(seen["mismatch"]) == 2


def test_extremes_in_one_pass_equal_protocol_by_protocol() -> None:
    """The extremes score gathers each row's protocol baseline and scores every row in
    one pass: equal to scoring each protocol's rows on their own (NaN never wins; rows
    of protocols without a baseline, and rows with nothing measured, score 0)."""
    from netrca.detect._detector import _Extremes

    rng = np.random.default_rng(4)
    n = 3000
    X = rng.normal(size=(n, 5)) * 3
    X[rng.random((n, 5)) < 0.1] = np.nan
    X[:50, [0, 3]] = np.nan  # nothing measured
    failed = rng.random(n) < 0.2
    proto = rng.choice(np.array(["TCP", "UDP", "DNS", "ICMP"], dtype=object), n)
    ext = _Extremes(
        columns=[0, 3],
        center={"*": [0.0, 0.0], "TCP": [0.5, -1.0], "DNS": [1.0, 2.0], "ICMP": [0.0, 0.1]},
        scale={"*": [1.0, 1.0], "TCP": [2.0, 0.5], "DNS": [1.5, 1.0], "ICMP": [0.3, 4.0]},
        latency_col=1,
    )

    def protocol_in(name: str) -> np.ndarray:
        return np.asarray(proto == name)

    want = np.zeros(n)
    E = ext._matrix(X, ext.columns, ext.latency_col, failed)
    for name in ("TCP", "DNS", "ICMP"):
        m = protocol_in(name)
        z = (E[m] - np.asarray(ext.center[name])) / np.asarray(ext.scale[name])
        with np.errstate(all="ignore"):
            want[m] = np.nan_to_num(
                np.nanmax(np.where(np.isnan(z), -np.inf, z), axis=1), neginf=0.0
            )
    got = ext.score(X, failed, protocol_in)
    assert np.array_equal(got, want)
    assert (got[proto == "UDP"] == 0).all() and (got[:50] == 0).all() and (got > 3).any()


def test_reasons_skip_rows_with_a_nan_part_as_before(
    fitted: Detector, sim_flows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NaN part makes its row's maximum NaN for the reasons (no reasons), while the score
    skips it: scoring gives the reasons the row maximums only where no part is NaN."""
    from netrca.detect import behavior

    original = behavior.mismatch_score

    def with_nan(ctx: object) -> np.ndarray:
        out = np.asarray(original(ctx), dtype=float).copy()  # type: ignore[arg-type]
        out[::7] = np.nan
        return out

    monkeypatch.setattr(behavior, "mismatch_score", with_nan)
    scores = fitted.score(sim_flows)
    parts = scores.behaviour.assign(rarity=scores.rarity)
    X = scores.features.to_numpy(dtype=np.float64)
    assert parts["mismatch"].isna().any()
    assert scores.reasons == fitted._reasons_text(parts, X).to_pylist()
    assert all(r == "" for r in np.asarray(scores.reasons, dtype=object)[::7])


def test_trimmed_forest_is_fitted_on_the_rows_scikit_learn_scores_keep(
    fitted: Detector, sim_flows: pd.DataFrame
) -> None:
    """The second forest sees the rows scikit-learn's own scores of the first keep (the
    compiled scorer only replaces the slower call): its trees are those of a forest fitted
    on exactly those rows."""
    from sklearn.ensemble import IsolationForest

    X = fitted.features_.transform(sim_flows).to_numpy(dtype=np.float64)
    params = {"n_estimators": fitted.n_estimators, "random_state": fitted.random_state}
    first = IsolationForest(max_samples=min(fitted.max_samples, len(X)), **params).fit(X)
    s = -first.score_samples(X)
    keep = s <= np.quantile(s, 1.0 - fitted.trim)
    assert 0 < (~keep).sum() < len(X) // 5
    second = IsolationForest(max_samples=min(fitted.max_samples, int(keep.sum())), **params)
    second.fit(X[keep])
    for mine, theirs in zip(fitted.sklearn_forest_.estimators_, second.estimators_, strict=True):
        assert np.array_equal(mine.tree_.threshold, theirs.tree_.threshold)
        assert np.array_equal(mine.tree_.feature, theirs.tree_.feature)
