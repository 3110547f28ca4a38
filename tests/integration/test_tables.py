"""The CLI on feature tables (NSL-KDD slices): both modes, threshold advice, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.conftest import DATASETS, need
from tests.integration.test_cli import check_contract, cli

TRAIN = DATASETS / "nsl_kdd" / "KDDTrain+_20Percent.txt"
TEST = DATASETS / "nsl_kdd" / "KDDTest+.txt"


def _slice(src: Path, dst: Path, n: int, keep: str | None = None) -> Path:
    lines = need(src).read_text().splitlines()
    if keep == "normal":
        lines = [ln for ln in lines if ln.split(",")[41] == "normal"]
    dst.write_text("\n".join(lines[:n]) + "\n")
    return dst


def test_unsupervised_run_on_a_headerless_table(tmp_path: Path) -> None:
    data = _slice(TEST, tmp_path / "test.txt", 3000)
    out = tmp_path / "out"
    assert cli("run", "--input", str(data), "--output", str(out), "--quiet") == 0
    check_contract(out, 3000)
    summary = json.loads((out / "analysis_summary.json").read_text())
    assert summary["run"]["format"] == "table" and summary["run"]["label_column"] == "attack"
    assert summary["run"]["feature_mode"] == "table"
    assert "grid" in summary["threshold_advice"]
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["n_anomalous_truth"] == sum(
        1 for ln in data.read_text().splitlines() if ",normal," not in ln
    )
    assert ev["roc_auc"] > 0.8
    assert {row["threshold"] for row in ev["threshold_tradeoff"]} >= {0.3, 0.5, 0.9}


def test_baseline_mode_with_target_fpr(tmp_path: Path) -> None:
    base = _slice(TRAIN, tmp_path / "train_normal.txt", 4000, keep="normal")
    data = _slice(TEST, tmp_path / "test.txt", 3000)
    model = tmp_path / "m.npz"
    assert (
        cli("fit", "--input", str(base), "-o", str(model), "--target-fpr", "0.02", "--quiet") == 0
    )
    out = tmp_path / "out"
    assert (
        cli("detect", "--input", str(data), "--model", str(model), "--output", str(out), "--quiet")
        == 0
    )
    summary = json.loads((out / "analysis_summary.json").read_text())
    assert summary["run"]["mode"] == "baseline"
    assert 0.005 < summary["threshold_advice"]["expected_alert_rate"] < 0.05
    preds = pd.read_parquet(out / "network_logs_with_predictions.parquet")
    assert "attack" in preds.columns and len(preds) == 3000
    assert cli("evaluate", str(out)) == 0
    assert json.loads((out / "evaluation.json").read_text())["roc_auc"] > 0.85


def test_map_file_and_label_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    rows = ["srcbytes,dstbytes,outcome,kind"] + [
        f"{i % 7 * 100},{i % 5 * 1000},0,normal" for i in range(300)
    ]
    rows += ["99999,0,1,port_scan"] * 10
    p.write_text("\n".join(rows) + "\n")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"bytes_sent": "srcbytes", "bytes_received": "dstbytes"}))
    out = tmp_path / "out"
    args = [
        "run",
        "--input",
        str(p),
        "--format",
        "table",
        "--map-file",
        str(mapping),
        "--label-column",
        "outcome",
        "--category-column",
        "kind",
        "--output",
        str(out),
        "--quiet",
    ]
    assert cli(*args) == 0
    preds = pd.read_parquet(out / "network_logs_with_predictions.parquet")
    assert preds["bytes_sent"].iloc[-1] == 99999
    model_features = json.loads((out / "analysis_summary.json").read_text())["run"]
    assert model_features["label_column"] == "outcome"
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["n_anomalous_truth"] == 10
    assert "root_cause" in ev  # the category column was used for RCA metrics
