"""Detection and root-cause quality on simulated data and real captures, next to baselines.

Every number is measured in the same run as its comparison:

- netrca (default settings, unsupervised) via ``netrca run`` + ``netrca evaluate``;
- the seed-style baseline: scikit-learn IsolationForest on bytes_sent, bytes_received
  and latency only (100 trees, contamination 0.1, as the prototype did);
- a plain per-flow Isolation Forest on netrca's own feature matrix (no behaviour).
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from netrca.cli import main as cli_main
from netrca.evaluate import ground_truth
from netrca.features import FeatureBuilder
from netrca.io import read_flows
from netrca.simulate import Scenario, simulate, write_flows

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def _cli(*args: str) -> None:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(list(args))
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"netrca {' '.join(args)} exited {exc.code}") from exc


def _flow_metrics(y: np.ndarray, score: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    fp = float((pred & ~y).sum())
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "f1": float(f1_score(y, pred)),
        "fpr": fp / max(float((~y).sum()), 1.0),
    }


def seed_style_baseline(flows: pd.DataFrame, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The prototype's detector: IF(contamination=0.1) on three raw columns."""
    X = flows[["bytes_sent", "bytes_received", "latency"]].astype("float64").fillna(0.0).to_numpy()
    f = IsolationForest(n_estimators=100, contamination=0.1, random_state=seed).fit(X)
    return _flow_metrics(y, -f.score_samples(X), f.predict(X) == -1)


def plain_forest(flows: pd.DataFrame, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Isolation Forest on netrca's feature matrix, threshold by contamination 0.1."""
    X = FeatureBuilder().fit(flows).transform(flows).to_numpy()
    f = IsolationForest(n_estimators=100, contamination=0.1, random_state=seed).fit(X)
    return _flow_metrics(y, -f.score_samples(X), f.predict(X) == -1)


def netrca_run(path: Path, out: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """``netrca run`` then ``netrca evaluate`` on ``path``; returns evaluation.json."""
    _cli("run", "--input", str(path), "--output", str(out), "--quiet", *(extra or []))
    _cli("evaluate", str(out))
    result: dict[str, Any] = json.loads((out / "evaluation.json").read_text())
    return result


def simulated(work: Path, seeds: range) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        path = work / f"sim_{seed}.csv"
        write_flows(simulate(Scenario(), seed=seed), path)
        t0 = time.perf_counter()
        ev = netrca_run(path, work / f"sim_{seed}")
        dt = time.perf_counter() - t0
        flows = read_flows(path).flows
        y = ground_truth(flows)
        assert y is not None
        rca = ev["root_cause"]
        rows.append(
            {
                "dataset": f"simulated seed {seed}",
                "flows": ev["n_flows"],
                "netrca": {
                    "roc_auc": ev["roc_auc"],
                    "pr_auc": ev["pr_auc"],
                    "f1": ev["f1"],
                    "fpr": ev["false_positive_rate"],
                    "rca_accuracy": rca["accuracy"],
                    "rca_accuracy_all": rca["accuracy_all_anomalies"],
                    "seconds": dt,
                },
                "seed_baseline": seed_style_baseline(flows, y, seed),
                "plain_if": plain_forest(flows, y, seed),
                "per_category": rca["per_category"],
                "confusion_matrix": rca["confusion_matrix"],
            }
        )
    return rows


def real_zeek(work: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("ctu_normal40_day1_conn.log.labeled", "ctu_njrat_botnet230_conn.log.labeled"):
        path = DATASETS / "zeek" / name
        if not path.exists():
            continue
        flows = read_flows(path).flows
        y = (flows["label"].astype(str) == "Malicious").to_numpy()
        out = work / name
        _cli("run", "--input", str(path), "--output", str(out), "--quiet")
        preds = pd.read_parquet(out / "network_logs_with_predictions.parquet")
        m = _flow_metrics(y, preds["anomaly_score"].to_numpy(), preds["is_anomaly"].to_numpy(bool))
        rows.append(
            {
                "dataset": name,
                "flows": len(flows),
                "label": "Malicious vs rest",
                "netrca": m,
                "seed_baseline": seed_style_baseline(flows, y),
                "plain_if": plain_forest(flows, y),
            }
        )
    nmap = DATASETS / "zeek" / "nmap_portscan_conn.log"
    if nmap.exists():
        out = work / "nmap"
        _cli("run", "--input", str(nmap), "--output", str(out), "--quiet")
        preds = pd.read_parquet(out / "network_logs_with_predictions.parquet")
        analyses = json.loads((out / "root_cause_analyses.json").read_text())
        ranking = preds.groupby("source_ip")["anomaly_score"].mean().sort_values(ascending=False)
        scanner = [a for a in analyses if "172.16.1.11" in a["entities"]["sources"]]
        biggest = max(scanner, key=lambda a: a["flow_count"]) if scanner else None
        rows.append(
            {
                "dataset": "nmap_portscan_conn.log",
                "flows": len(preds),
                "top_source": ranking.index[0],
                "scanner_incident": biggest["category"] if biggest else None,
                "flagged_share": float(preds["is_anomaly"].mean()),
            }
        )
    return rows


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run(out_dir: Path, seeds: range = range(5)) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine(),
        "simulated": simulated(out_dir, seeds),
        "real": real_zeek(out_dir),
    }
    (out_dir / "quality.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        "| dataset | netrca ROC-AUC | F1 | FPR | RCA acc. | seed-style ROC-AUC | F1 | plain IF ROC-AUC | F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["simulated"] + [x for x in result["real"] if "netrca" in x]:
        n, b, p = r["netrca"], r["seed_baseline"], r["plain_if"]
        rca = n.get("rca_accuracy")
        lines.append(
            f"| {r['dataset']} | {n['roc_auc']:.3f} | {n['f1']:.3f} | {n['fpr']:.4f} | "
            f"{'' if rca is None else f'{rca:.3f}'} | {b['roc_auc']:.3f} | {b['f1']:.3f} | "
            f"{p['roc_auc']:.3f} | {p['f1']:.3f} |"
        )
    sims = result["simulated"]
    if sims:
        mean = {
            k: np.mean([r["netrca"][k] for r in sims])
            for k in ("roc_auc", "f1", "fpr", "rca_accuracy")
        }
        bm = {k: np.mean([r["seed_baseline"][k] for r in sims]) for k in ("roc_auc", "f1")}
        pm = {k: np.mean([r["plain_if"][k] for r in sims]) for k in ("roc_auc", "f1")}
        lines.append(
            f"| **simulated mean ({len(sims)} seeds)** | **{mean['roc_auc']:.3f}** | **{mean['f1']:.3f}** | "
            f"{mean['fpr']:.4f} | **{mean['rca_accuracy']:.3f}** | {bm['roc_auc']:.3f} | {bm['f1']:.3f} | "
            f"{pm['roc_auc']:.3f} | {pm['f1']:.3f} |"
        )
    for r in result["real"]:
        if "top_source" in r:
            lines.append(
                f"\nNmap capture: top-ranked source {r['top_source']}; its largest incident "
                f"is `{r['scanner_incident']}`; {100 * r['flagged_share']:.1f}% of flows flagged."
            )
    return "\n".join(lines)
