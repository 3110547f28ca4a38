"""Metrics against ground truth: detection (ROC/PR-AUC, F1, FPR) and root-cause accuracy."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.schema import CATEGORY_VALUES

__all__ = [
    "average_precision",
    "evaluate_predictions",
    "ground_truth",
    "roc_auc",
    "truth_categories",
]

_NEGATIVE = {
    "0",
    "false",
    "no",
    "n",
    "normal",
    "benign",
    "background",
    "legitimate",
    "good",
    "none",
    "clean",
    "0.0",
}
_POSITIVE = {
    "1",
    "true",
    "yes",
    "y",
    "anomaly",
    "anomalous",
    "attack",
    "malicious",
    "malware",
    "bad",
    "abnormal",
    "1.0",
    "suspicious",
}


def ground_truth(
    flows: pd.DataFrame, label_column: str = "label", category_column: str = "root_cause"
) -> np.ndarray | None:
    """Boolean truth per flow (True = anomalous), or None when the frame has no labels.

    ``label`` values: numbers (non-zero = anomalous) or words (normal/benign/background
    are negative; anything else, e.g. an attack name, is positive). Without a label
    column, a root-cause column other than ``normal`` marks anomalies.
    """
    if label_column in flows.columns:
        # computed once per distinct label value (labels have few), then broadcast
        codes, uniq = pd.factorize(flows[label_column], use_na_sentinel=False)
        raw = pd.Series(uniq, dtype=flows[label_column].dtype)
        num = pd.to_numeric(raw, errors="coerce")
        text = raw.astype(str).str.strip().str.lower()
        truth = np.where(num.notna(), num.fillna(0).to_numpy() != 0, ~text.isin(_NEGATIVE))
        missing = raw.isna().to_numpy() | text.isin({"", "nan", "<na>", "-"}).to_numpy()
        missing_rows = missing[codes]
        if missing_rows.all():
            return None
        return np.asarray((truth & ~missing)[codes], dtype=bool)
    if category_column in flows.columns:
        codes, uniq = pd.factorize(flows[category_column], use_na_sentinel=False)
        cat = pd.Series(uniq, dtype=flows[category_column].dtype).astype(str).str.strip()
        return np.asarray(~cat.str.lower().isin(_NEGATIVE | {"", "nan"}).to_numpy()[codes])
    return None


@functools.cache
def category_aliases() -> dict[str, str]:
    """Other datasets' category names (normalised) → taxonomy names, from
    ``rca/knowledge/category_aliases.toml``."""
    text = resources.files("netrca.rca").joinpath("knowledge", "category_aliases.toml")
    table = tomllib.loads(text.read_text("utf-8"))
    out = {_norm(c): c for c in CATEGORY_VALUES}
    for category, names in table.items():
        for name in names:
            out[_norm(name)] = category
    return out


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def truth_categories(flows: pd.DataFrame, category_column: str = "root_cause") -> np.ndarray | None:
    """Ground-truth category per flow, mapped onto the taxonomy where a known synonym
    ("ddos", "portscan", …) is used; None without a category column."""
    if category_column not in flows.columns:
        return None
    codes, uniq = pd.factorize(flows[category_column], use_na_sentinel=False)
    cat = pd.Series(uniq, dtype=flows[category_column].dtype).astype(str).str.strip().str.lower()
    cat = cat.mask(cat.isin(_NEGATIVE | {"", "nan"}), "normal")
    aliases = category_aliases()
    per_value = np.asarray(
        [c if c == "normal" else aliases.get(_norm(c), c) for c in cat], dtype=object
    )
    return np.asarray(per_value[codes], dtype=object)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic with tie-averaged ranks (equal to
    scikit-learn's ``roc_auc_score``; without importing scikit-learn, ~1 s of start-up)."""
    y = np.asarray(y, dtype=bool)
    ranks = pd.Series(np.asarray(score, dtype=np.float64)).rank(method="average").to_numpy()
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision, ``sum_n (R_n - R_(n-1)) P_n`` over the distinct scores from the
    highest down (equal to scikit-learn's ``average_precision_score``)."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    s = np.asarray(score, dtype=np.float64)[order]
    hits = np.asarray(y, dtype=bool)[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last row of each distinct score
    tp = np.cumsum(hits)[last].astype(np.float64)
    precision = tp / (last + 1.0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _safe(fn: Any, y: np.ndarray, s: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    if not np.isfinite(np.asarray(s, dtype=np.float64)).all():
        raise InputError("scores contain NaN or infinite values")
    return float(fn(y, s))


def evaluate_predictions(
    truth: np.ndarray,
    score: np.ndarray,
    predicted: np.ndarray,
    *,
    threshold: float,
    true_category: np.ndarray | None = None,
    predicted_category: np.ndarray | None = None,
    incident_id: np.ndarray | None = None,
) -> dict[str, Any]:
    """Detection metrics at ``threshold`` and, with categories, root-cause accuracy."""
    y = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if len(y) != len(p) or len(y) != len(score):
        raise InputError("truth, scores and predictions have different lengths")
    tp = int((y & p).sum())
    fp = int((~y & p).sum())
    fn = int((y & ~p).sum())
    tn = int((~y & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out: dict[str, Any] = {
        "n_flows": len(y),
        "n_anomalous_truth": int(y.sum()),
        "n_flagged": int(p.sum()),
        "threshold": threshold,
        "roc_auc": _safe(roc_auc, y, score),
        "pr_auc": _safe(average_precision, y, score),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
    if true_category is not None and predicted_category is not None:
        out["root_cause"] = _rca_metrics(y, p, true_category, predicted_category, incident_id)
    return out


def _rca_metrics(
    y: np.ndarray,
    p: np.ndarray,
    truth: np.ndarray,
    pred: np.ndarray,
    incident_id: np.ndarray | None,
) -> dict[str, Any]:
    truth = np.asarray(truth, dtype=object)
    pred = np.asarray(pred, dtype=object)
    pred = np.where(p, pred, "normal")
    detected = y & p & (truth != "normal")
    correct = truth == pred
    cats = sorted(set(truth[y]) | set(pred[p]))
    confusion = pd.crosstab(
        pd.Series(truth[y | p], name="truth"), pd.Series(pred[y | p], name="predicted")
    )
    per_cat = {}
    for c in sorted(set(truth[y]) - {"normal"}):
        m = truth == c
        per_cat[c] = {
            "flows": int(m.sum()),
            "detected": float(p[m].mean()),
            "rca_accuracy_detected": float(correct[m & p].mean()) if (m & p).any() else None,
        }
    out: dict[str, Any] = {
        "accuracy": float(correct[detected].mean()) if detected.any() else None,
        "accuracy_definition": "share of detected truly anomalous flows whose incident category "
        "equals their ground-truth root_cause",
        "accuracy_all_anomalies": float(correct[y & (truth != "normal")].mean())
        if (y & (truth != "normal")).any()
        else None,
        "categories": cats,
        "per_category": per_cat,
        "confusion_matrix": {
            str(r): {str(c): int(v) for c, v in row.items()} for r, row in confusion.iterrows()
        },
    }
    if incident_id is not None:
        inc = pd.DataFrame({"inc": incident_id, "truth": truth, "pred": pred})
        inc = inc[p & (inc["inc"].astype(str) != "")]
        if len(inc):
            major = inc.groupby("inc")["truth"].agg(lambda s: s.value_counts().index[0])
            cat = inc.groupby("inc")["pred"].first()
            out["incident_accuracy"] = float((major == cat).mean())
            out["n_incidents"] = len(major)
    return out
