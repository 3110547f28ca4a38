"""Ground-truth parsing and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netrca.errors import InputError
from netrca.evaluate import (
    average_precision,
    evaluate_predictions,
    ground_truth,
    roc_auc,
    truth_categories,
)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 1, 0], [False, True, False]),
        (["normal", "anomaly", "Normal"], [False, True, False]),
        (["Benign", "Malicious", "Background"], [False, True, False]),
        (["normal", "neptune", "smurf"], [False, True, True]),
        (["false", "true", "0"], [False, True, False]),
    ],
)
def test_label_forms(labels: list[object], expected: list[bool]) -> None:
    assert ground_truth(pd.DataFrame({"label": labels})).tolist() == expected


def test_root_cause_only_and_no_labels() -> None:
    df = pd.DataFrame({"root_cause": ["normal", "port_scan", "benign"]})
    assert ground_truth(df).tolist() == [False, True, False]
    assert truth_categories(df).tolist() == ["normal", "port_scan", "normal"]
    assert ground_truth(pd.DataFrame({"x": [1]})) is None


def test_metrics_on_a_known_case() -> None:
    y = np.array([1, 1, 0, 0, 0, 1], bool)
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
    p = s >= 0.5
    cats = np.array(["dos_flood", "port_scan", "normal", "normal", "normal", "port_scan"], object)
    pred = np.array(["dos_flood", "dos_flood", "dos_flood", "normal", "normal", "normal"], object)
    m = evaluate_predictions(
        y,
        s,
        p,
        threshold=0.5,
        true_category=cats,
        predicted_category=pred,
        incident_id=np.array(["A", "A", "A", "", "", ""], object),
    )
    assert m["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["false_positive_rate"] == pytest.approx(1 / 3)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    assert m["root_cause"]["accuracy"] == pytest.approx(0.5)
    assert m["root_cause"]["accuracy_all_anomalies"] == pytest.approx(1 / 3)
    assert m["root_cause"]["confusion_matrix"]["port_scan"]["dos_flood"] == 1


def test_category_synonyms_map_onto_the_taxonomy() -> None:
    df = pd.DataFrame(
        {
            "root_cause": [
                "DDoS",
                "Port Scan",
                "brute-force",
                "Exfiltration",
                "C&C",
                "normal",
                "something_new",
            ]
        }
    )
    assert truth_categories(df).tolist() == [
        "dos_flood",
        "port_scan",
        "brute_force",
        "data_exfiltration",
        "c2_beaconing",
        "normal",
        "something_new",
    ]


@pytest.mark.parametrize("seed", range(6))
def test_auc_and_average_precision_equal_scikit_learn(seed: int) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 5000))
    y = rng.random(n) < rng.uniform(0.01, 0.5)
    y[:2] = [True, False]
    # coarse scores so that ties (between and within classes) are common
    score = np.round(rng.normal(size=n) + 1.5 * y, int(rng.integers(0, 3)))
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert average_precision(y, score) == pytest.approx(
        average_precision_score(y, score), abs=1e-12
    )


def test_auc_edge_cases() -> None:
    y = np.array([False, False, True, True])
    assert roc_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert roc_auc(y, np.ones(4)) == 0.5
    assert average_precision(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert average_precision(y, np.ones(4)) == 0.5
    with pytest.raises(InputError, match="NaN"):
        evaluate_predictions(y, np.array([0.1, np.nan, 0.3, 0.4]), y, threshold=0.25)
