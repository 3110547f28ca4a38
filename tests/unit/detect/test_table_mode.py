"""Detector on feature tables: extras used, ground truth never, kNN novelty persisted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from netrca.detect import Detector
from netrca.detect.persist import load_detector, save_detector


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 3000
    attack = rng.random(n) < 0.1
    return pd.DataFrame(
        {
            "timestamp": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "source_ip": pd.Series(pd.NA, index=range(n), dtype="string"),
            "destination_ip": pd.Series(pd.NA, index=range(n), dtype="string"),
            "source_port": pd.array([pd.NA] * n, dtype="Int64"),
            "destination_port": pd.array([pd.NA] * n, dtype="Int64"),
            "protocol": np.where(rng.random(n) < 0.5, "HTTP", "DNS"),
            "bytes_sent": pd.array(rng.lognormal(6, 1, n).astype(int), dtype="Int64"),
            "bytes_received": pd.array(rng.lognormal(8, 1, n).astype(int), dtype="Int64"),
            "packets_sent": pd.array([pd.NA] * n, dtype="Int64"),
            "packets_received": pd.array([pd.NA] * n, dtype="Int64"),
            "duration": rng.exponential(1, n),
            "status": np.where(attack, "FAILED", "SUCCESS"),
            "latency": np.nan,
            "error_code": np.where(attack, "TIMEOUT", "NONE"),
            "serror_rate": np.where(attack, rng.uniform(0.8, 1, n), rng.uniform(0, 0.1, n)),
            "hot": np.where(attack, 5, 0) + rng.integers(0, 2, n),
            "attack": np.where(attack, "neptune", "normal"),
            "difficulty": np.where(attack, 20, 5),
            "id": np.arange(n),
        }
    )


def test_table_mode_uses_extras_but_never_ground_truth(table: pd.DataFrame) -> None:
    det = Detector(exclude=("attack", "difficulty")).fit(table)
    assert det.mode_ == "table"
    names = det.feature_names_in_
    assert "x:serror_rate" in names and "x:hot" in names
    assert not any(n.startswith(("x:attack", "x:difficulty", "x:id")) for n in names)
    assert not any(n.startswith("src_win") for n in names)  # no host/time windows
    assert det.failure_columns_ == ["serror_rate"]
    assert det.knn_ is not None
    s = det.score_samples(table)
    assert roc_auc_score(table["attack"] != "normal", s) > 0.9


def test_explicit_extras_and_errors(table: pd.DataFrame) -> None:
    det = Detector(extra_features=["hot"], exclude=("attack",)).fit(table)
    assert [n for n in det.feature_names_in_ if n.startswith("x:")] == ["x:hot"]
    with pytest.raises(Exception, match="not in the data"):
        Detector(extra_features=["nope"]).fit(table)


def test_table_model_round_trip(table: pd.DataFrame, tmp_path: Path) -> None:
    det = Detector(exclude=("attack", "difficulty")).fit(table)
    save_detector(det, tmp_path / "m.npz")
    again = load_detector(tmp_path / "m.npz")
    assert again.mode_ == "table" and again.knn_ is not None
    assert np.array_equal(again.score_samples(table), det.score_samples(table))


def test_target_fpr_sets_threshold_from_the_baseline(table: pd.DataFrame) -> None:
    clean = table[table["attack"] == "normal"].reset_index(drop=True)
    det = Detector(target_fpr=0.02, exclude=("attack",)).fit(clean)
    rate = (det.score_samples(clean) >= det.threshold_).mean()
    assert 0.005 < rate < 0.04
