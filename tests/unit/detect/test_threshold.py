"""Threshold advice: alert volumes and the precision/recall trade-off."""

from __future__ import annotations

import numpy as np
import pytest

from netrca.detect.threshold import QUANTILE_LEVELS, baseline_rate, threshold_advice


def test_baseline_rate_matches_the_training_scores() -> None:
    train = np.random.default_rng(0).random(10000)
    q = np.quantile(train, QUANTILE_LEVELS).tolist()
    for t in (0.5, 0.9, 0.99):
        assert baseline_rate(q, t) == pytest.approx((train >= t).mean(), abs=0.002)


def test_advice_grid_with_truth() -> None:
    train = np.linspace(0, 0.6, 1000)
    q = np.quantile(train, QUANTILE_LEVELS).tolist()
    scores = np.array([0.1, 0.2, 0.55, 0.95, 0.96])
    truth = np.array([0, 0, 1, 1, 1], bool)
    adv = threshold_advice(q, 0.5, scores, truth)
    row = next(r for r in adv["grid"] if r["threshold"] == 0.5)
    assert row["alerts"] == 3 and row["precision"] == 1.0 and row["recall"] == 1.0
    row9 = next(r for r in adv["grid"] if r["threshold"] == 0.9)
    assert row9["recall"] == pytest.approx(2 / 3)
    assert adv["expected_alert_rate"] == pytest.approx(1 / 6, abs=0.01)
    assert adv["thresholds_for_target_fpr"]["0.01"] == pytest.approx(
        np.quantile(train, 0.99), abs=0.01
    )
