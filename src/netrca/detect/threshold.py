"""Threshold advice: expected alert volume from the baseline, and the precision/recall trade-off."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["QUANTILE_LEVELS", "baseline_rate", "threshold_advice", "threshold_for_fpr"]

#: Quantile levels stored from the training scores (fine in the upper tail).
QUANTILE_LEVELS = np.unique(
    np.concatenate([np.linspace(0.0, 0.99, 100), np.linspace(0.99, 1.0, 101)])
)

_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def threshold_for_fpr(train_scores: np.ndarray, target_fpr: float) -> float:
    """The score at which about ``target_fpr`` of (known-good) training flows alert."""
    return float(np.quantile(train_scores, 1.0 - target_fpr))


def baseline_rate(quantiles: list[float], threshold: float) -> float:
    """Share of the training flows scoring at or above ``threshold`` (from stored quantiles)."""
    q = np.asarray(quantiles, dtype=float)
    levels = QUANTILE_LEVELS if len(q) == len(QUANTILE_LEVELS) else np.linspace(0, 1, len(q))
    if threshold > q[-1]:
        return 0.0
    if threshold <= q[0]:
        return 1.0
    # the level of the first stored quantile at or above the threshold, interpolated
    i = int(np.argmax(q >= threshold))
    lo_q, hi_q = q[i - 1], q[i]
    frac = 1.0 if hi_q == lo_q else (threshold - lo_q) / (hi_q - lo_q)
    return float(1.0 - (levels[i - 1] + frac * (levels[i] - levels[i - 1])))


def threshold_advice(
    quantiles: list[float],
    threshold: float,
    scores: np.ndarray,
    truth: np.ndarray | None = None,
) -> dict[str, Any]:
    """Alert volume at the threshold and at neighbouring thresholds.

    ``expected_alert_rate`` is measured on the flows the detector was fitted on (the
    baseline); ``alert_rate`` on the flows just scored. With ``truth``, each grid row has
    precision, recall, F1 and false-positive rate.
    """
    grid = sorted({*_GRID, round(float(threshold), 3)})
    rows = []
    for t in grid:
        flagged = scores >= t
        row: dict[str, Any] = {
            "threshold": t,
            "alerts": int(flagged.sum()),
            "alert_rate": float(flagged.mean()) if len(scores) else 0.0,
            "expected_alert_rate": baseline_rate(quantiles, t),
        }
        if truth is not None:
            y = np.asarray(truth, dtype=bool)
            tp = int((flagged & y).sum())
            fp = int((flagged & ~y).sum())
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / int(y.sum()) if y.any() else 0.0
            row.update(
                precision=p,
                recall=r,
                f1=2 * p * r / (p + r) if p + r else 0.0,
                false_positive_rate=fp / max(int((~y).sum()), 1),
            )
        rows.append(row)
    q = np.asarray(quantiles, dtype=float)
    levels = QUANTILE_LEVELS if len(q) == len(QUANTILE_LEVELS) else np.linspace(0, 1, len(q))
    return {
        "threshold": float(threshold),
        "expected_alert_rate": baseline_rate(quantiles, threshold),
        "alert_rate": float((scores >= threshold).mean()) if len(scores) else 0.0,
        "thresholds_for_target_fpr": {
            str(f): float(np.interp(1.0 - f, levels, q)) for f in (0.05, 0.01, 0.001)
        },
        "grid": rows,
    }
