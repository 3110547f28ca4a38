"""Detection and root-cause quality on every real dataset and the simulator, both modes.

Every number is measured in the same run as its comparisons:

- netrca with default settings through the CLI, in **unsupervised** mode (``netrca run``:
  fit and score the same data) and **baseline** mode (``netrca fit`` on known-good or
  training data, ``netrca detect --model`` on the evaluation data);
- the seed-style baseline: IsolationForest(100 trees, contamination 0.1) on bytes_sent,
  bytes_received and latency only (what the prototype did);
- a plain per-flow Isolation Forest (100 trees) on a standard feature matrix;
- for NSL-KDD, a kNN (k=5) distance baseline fitted on normal rows;
- the published anchors from ../shared/datasets/README.md, printed next to them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from netrca.cli import main as cli_main
from netrca.evaluate import ground_truth
from netrca.features import FeatureBuilder
from netrca.io import read_flows
from netrca.io.table import load_profiles
from netrca.simulate import Scenario, simulate, write_flows

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"

ANCHORS = {
    "nsl_all": 0.880,
    "nsl_normal": 0.944,
    "nsl_knn": 0.957,
    "kdd_http_roc": 0.9997,
    "kdd_http_pr": 0.93,
    "kdd_smtp_roc": 0.91,
    "ctu_plain_if": 0.09,
}
NSL_FAMILIES = {
    "DoS": "back land neptune pod smurf teardrop apache2 udpstorm processtable worm mailbomb",
    "Probe": "satan ipsweep nmap portsweep mscan saint",
    "R2L": "guess_passwd ftp_write imap phf multihop warezmaster warezclient spy xlock xsnoop "
    "snmpguess snmpgetattack httptunnel sendmail named",
    "U2R": "buffer_overflow loadmodule rootkit perl sqlattack xterm ps",
}


def _cli(*args: str) -> None:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(list(args))
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"netrca {' '.join(args)} exited {exc.code}") from exc


def metrics(y: np.ndarray, score: np.ndarray, pred: np.ndarray | None = None) -> dict[str, float]:
    """ROC-AUC and PR-AUC of a score; F1 and FPR of a prediction when given."""
    y = np.asarray(y, dtype=bool)
    out = {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
    }
    if pred is not None:
        pred = np.asarray(pred, dtype=bool)
        out["f1"] = float(f1_score(y, pred))
        out["fpr"] = float((pred & ~y).sum() / max((~y).sum(), 1))
    return out


def plain_if(
    X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """Isolation Forest (100 trees, contamination 0.1) fitted on X_train, scored on X_test."""
    f = IsolationForest(n_estimators=100, contamination=0.1, random_state=seed).fit(X_train)
    return metrics(y_test, -f.score_samples(X_test), f.predict(X_test) == -1)


def seed_style(flows: pd.DataFrame, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    X = flows[["bytes_sent", "bytes_received", "latency"]].astype("float64").fillna(0.0).to_numpy()
    return plain_if(X, X, y, seed)


def _netrca_eval(out: Path, label: str | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    args = ["evaluate", str(out)] + (["--label-column", label] if label else [])
    _cli(*args)
    ev: dict[str, Any] = json.loads((out / "evaluation.json").read_text())
    preds = pd.read_parquet(out / "network_logs_with_predictions.parquet")
    return ev, preds


def _summ(ev: dict[str, Any]) -> dict[str, Any]:
    rca = ev.get("root_cause") or {}
    return {
        "roc_auc": ev["roc_auc"],
        "pr_auc": ev["pr_auc"],
        "f1": ev["f1"],
        "fpr": ev["false_positive_rate"],
        "rca_accuracy": rca.get("accuracy"),
    }


# -- simulator -----------------------------------------------------------------------------
def simulated(work: Path, seeds: range) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        path = work / f"sim_{seed}.csv"
        write_flows(simulate(Scenario(), seed=seed), path)
        benign = work / f"sim_{seed}_benign.csv"
        write_flows(simulate(Scenario(incidents={}), seed=seed + 100), benign)
        t0 = time.perf_counter()
        _cli("run", "--input", str(path), "--output", str(work / f"sim_{seed}"), "--quiet")
        dt = time.perf_counter() - t0
        ev, _ = _netrca_eval(work / f"sim_{seed}")
        model = work / f"sim_{seed}_baseline.npz"
        _cli("fit", "--input", str(benign), "--output", str(model), "--quiet")
        _cli(
            "detect",
            "--input",
            str(path),
            "--model",
            str(model),
            "--output",
            str(work / f"sim_{seed}_b"),
            "--quiet",
        )
        evb, _ = _netrca_eval(work / f"sim_{seed}_b")
        flows = read_flows(path).flows
        y = ground_truth(flows)
        assert y is not None
        X = FeatureBuilder().fit(flows).transform(flows).to_numpy()
        rows.append(
            {
                "dataset": f"simulated seed {seed}",
                "flows": ev["n_flows"],
                "seconds": dt,
                "unsupervised": _summ(ev),
                "baseline": _summ(evb),
                "seed_style": seed_style(flows, y, seed),
                "plain_if": plain_if(X, X, y, seed),
                "per_category": ev["root_cause"]["per_category"],
                "per_category_baseline": evb["root_cause"]["per_category"],
                "confusion_matrix": ev["root_cause"]["confusion_matrix"],
            }
        )
    return rows


# -- real Zeek captures --------------------------------------------------------------------
def zeek_captures(work: Path) -> list[dict[str, Any]]:
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
        unsup = metrics(y, preds["anomaly_score"].to_numpy(), preds["is_anomaly"].to_numpy(bool))
        analyses = json.loads((out / "root_cause_analyses.json").read_text())
        cats = preds.loc[
            y & preds["is_anomaly"].to_numpy(bool), "predicted_category"
        ].value_counts()
        # baseline mode: fit on the non-malicious flows of the first half, score the second
        ts = flows["timestamp"]
        half = ts.quantile(0.5)
        first, second = flows[ts <= half], flows[ts > half].reset_index(drop=True)
        train = work / f"{name}.train.parquet"
        test = work / f"{name}.test.parquet"
        first[first["label"].astype(str) != "Malicious"].to_parquet(train)
        second.to_parquet(test)
        model = work / f"{name}.npz"
        _cli("fit", "--input", str(train), "--output", str(model), "--quiet")
        _cli(
            "detect",
            "--input",
            str(test),
            "--model",
            str(model),
            "--output",
            str(out) + "_b",
            "--quiet",
        )
        pb = pd.read_parquet(Path(str(out) + "_b") / "network_logs_with_predictions.parquet")
        y2 = (pb["label"].astype(str) == "Malicious").to_numpy()
        base = metrics(y2, pb["anomaly_score"].to_numpy(), pb["is_anomaly"].to_numpy(bool))
        X = FeatureBuilder().fit(flows).transform(flows).to_numpy()
        per = {
            str(k): float(g["is_anomaly"].mean())
            for k, g in preds.assign(d=flows["detailedlabel"].astype(str)).groupby("d")
        }
        rows.append(
            {
                "dataset": name,
                "flows": len(flows),
                "label": "Malicious vs rest",
                "unsupervised": unsup,
                "baseline": base,
                "baseline_split": f"fit on non-malicious flows before {half}, score the {len(second)} after",
                "seed_style": seed_style(flows, y),
                "plain_if": plain_if(X, X, y),
                "malicious_explained_as": {str(k): int(v) for k, v in cats.items()},
                "incidents": len(analyses),
                "detection_rate_by_detailedlabel": per,
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
                "sources": int(preds["source_ip"].nunique()),
                "top_source": ranking.index[0],
                "scanner_incident": biggest["category"] if biggest else None,
                "scanner_root_cause": biggest["root_cause"] if biggest else None,
                "flagged_share": float(preds["is_anomaly"].mean()),
            }
        )
    return rows


# -- NSL-KDD -------------------------------------------------------------------------------
def _nsl_frame(path: Path) -> pd.DataFrame:
    names = list(load_profiles()["nsl_kdd"].columns)
    return pd.read_csv(path, names=names)


def _nsl_matrix(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns plus one-hot protocol_type/service/flag (the usual IF setup)."""
    cat = ["protocol_type", "service", "flag"]
    num = [c for c in train.columns[:41] if c not in cat]
    dummies = pd.get_dummies(train[cat].astype(str))
    cols = list(dummies.columns)

    def mat(df: pd.DataFrame) -> np.ndarray:
        d = pd.get_dummies(df[cat].astype(str)).reindex(columns=cols, fill_value=0)
        return np.c_[df[num].to_numpy(float), d.to_numpy(float)]

    return mat(train), mat(test)


def nsl_kdd(work: Path) -> list[dict[str, Any]]:
    train_p = DATASETS / "nsl_kdd" / "KDDTrain+_20Percent.txt"
    test_p = DATASETS / "nsl_kdd" / "KDDTest+.txt"
    if not (train_p.exists() and test_p.exists()):
        return []
    train, test = _nsl_frame(train_p), _nsl_frame(test_p)
    y_tr = (train["attack"] != "normal").to_numpy()
    y = (test["attack"] != "normal").to_numpy()
    normal_p = work / "nsl_train_normal.txt"
    normal_p.write_text(
        "".join(
            line
            for line in train_p.read_text().splitlines(keepends=True)
            if line.split(",")[41] == "normal"
        )
    )
    results: dict[str, Any] = {}
    for mode, fit_on in (("all rows", train_p), ("normal rows", normal_p)):
        model = work / f"nsl_{mode.split()[0]}.npz"
        _cli("fit", "--input", str(fit_on), "--output", str(model), "--quiet")
        out = work / f"nsl_{mode.split()[0]}"
        _cli(
            "detect", "--input", str(test_p), "--model", str(model), "--output", str(out), "--quiet"
        )
        ev, preds = _netrca_eval(out)
        fam = {}
        for family, names in NSL_FAMILIES.items():
            m = test["attack"].isin(names.split()).to_numpy() | ~y
            fam[family] = float(roc_auc_score(y[m], preds["anomaly_score"].to_numpy()[m]))
        results[mode] = {**_summ(ev), "per_family_roc_auc": fam}
    _cli("run", "--input", str(test_p), "--output", str(work / "nsl_inplace"), "--quiet")
    ev_in, _ = _netrca_eval(work / "nsl_inplace")
    X_tr, X_te = _nsl_matrix(train, test)
    sc = StandardScaler().fit(X_tr[~y_tr])
    nn = NearestNeighbors(n_neighbors=5).fit(sc.transform(X_tr[~y_tr]))
    d, _ = nn.kneighbors(sc.transform(X_te))
    return [
        {
            "dataset": "NSL-KDD (fit KDDTrain+_20Percent, score KDDTest+)",
            "flows": len(test),
            "netrca_fit_all_rows": results["all rows"],
            "netrca_fit_normal_rows": results["normal rows"],
            "netrca_unsupervised_on_test": _summ(ev_in),
            "plain_if_all_rows": plain_if(X_tr, X_te, y),
            "plain_if_normal_rows": plain_if(X_tr[~y_tr], X_te, y),
            "knn_normal_rows": metrics(y, d.mean(axis=1)),
            "anchors": {
                "if_all": ANCHORS["nsl_all"],
                "if_normal": ANCHORS["nsl_normal"],
                "knn_normal": ANCHORS["nsl_knn"],
            },
        }
    ]


# -- KDD Cup 99 subsets --------------------------------------------------------------------
def kdd99(work: Path) -> list[dict[str, Any]]:
    path = DATASETS / "kddcup99" / "kddcup.data_10_percent.gz"
    if not path.exists():
        return []
    names = list(load_profiles()["kdd99"].columns)
    full = pd.read_csv(path, names=names)
    rows = []
    for service in ("http", "smtp"):
        sub = full[(full["logged_in"] == 1) & (full["service"] == service)].reset_index(drop=True)
        y = (sub["attack"] != "normal.").to_numpy()
        X = np.log(sub[["duration", "src_bytes", "dst_bytes"]].to_numpy(float) + 0.1)
        f = IsolationForest(n_estimators=100, random_state=0).fit(X)
        ref = metrics(y, -f.score_samples(X))
        p = work / f"kdd99_{service}.txt"
        sub.to_csv(p, header=False, index=False)
        out = work / f"kdd99_{service}"
        _cli("run", "--input", str(p), "--output", str(out), "--quiet")
        ev, _ = _netrca_eval(out)
        rows.append(
            {
                "dataset": f"KDD Cup 99 10% '{service}' subset (logged_in=1)",
                "flows": len(sub),
                "attacks": int(y.sum()),
                "netrca_unsupervised": _summ(ev),
                "plain_if_3_log_features": ref,
                "anchors": {
                    "roc_auc": ANCHORS[f"kdd_{service}_roc"],
                    **({"pr_auc": ANCHORS["kdd_http_pr"]} if service == "http" else {}),
                },
            }
        )
    return rows


# -- an independent generator ---------------------------------------------------------
def independent(work: Path) -> list[dict[str, Any]]:
    """netrca on benchmarks/altgen.py data (rows unlike the simulator's), three settings."""
    from benchmarks.altgen import generate

    rows = []
    for label, cfg in (
        ("private addresses, 7 days", {"private_only": True}),
        ("with public servers, 7 days", {"private_only": False}),
        ("private addresses, 1 day", {"private_only": True, "days": 1}),
    ):
        df = generate(**cfg)  # type: ignore[arg-type]
        path = work / f"alt_{len(rows)}.csv"
        df.to_csv(path, index=False)
        out = work / f"alt_{len(rows)}"
        _cli("run", "--input", str(path), "--output", str(out), "--quiet")
        ev, _ = _netrca_eval(out)
        flows = read_flows(path).flows
        y = ground_truth(flows)
        assert y is not None
        X = FeatureBuilder().fit(flows).transform(flows).to_numpy()
        per = ev["root_cause"]["per_category"]
        rows.append(
            {
                "dataset": f"independent generator: {label}",
                "flows": len(df),
                "unsupervised": _summ(ev),
                "seed_style": seed_style(flows, y),
                "plain_if": plain_if(X, X, y),
                "per_category": {
                    c: (v["detected"], v["rca_accuracy_detected"]) for c, v in per.items()
                },
            }
        )
    return rows


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run(out_dir: Path, seeds: range = range(5)) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = {
        "machine": machine(),
        "simulated": simulated(out_dir, seeds),
        "zeek": zeek_captures(out_dir),
        "nsl_kdd": nsl_kdd(out_dir),
        "kdd99": kdd99(out_dir),
        "independent": independent(out_dir),
    }
    result["seconds"] = time.perf_counter() - t0
    (out_dir / "quality.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def _f(v: Any, nd: int = 3) -> str:
    return "" if v is None else f"{v:.{nd}f}"


def render(result: dict[str, Any]) -> str:
    out = [
        "### Simulated (default scenario, 5 seeds)",
        "",
        "| seed | unsup. ROC-AUC | PR-AUC | F1 | FPR | RCA acc. | baseline ROC-AUC | F1 | FPR | seed-style ROC-AUC | F1 | plain IF ROC-AUC | F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sims = result["simulated"]
    for r in sims:
        u, b, s, p = r["unsupervised"], r["baseline"], r["seed_style"], r["plain_if"]
        out.append(
            f"| {r['dataset'].split()[-1]} | {_f(u['roc_auc'])} | {_f(u['pr_auc'])} | {_f(u['f1'])} | "
            f"{_f(u['fpr'], 4)} | {_f(u['rca_accuracy'])} | {_f(b['roc_auc'])} | {_f(b['f1'])} | "
            f"{_f(b['fpr'], 4)} | {_f(s['roc_auc'])} | {_f(s['f1'])} | {_f(p['roc_auc'])} | {_f(p['f1'])} |"
        )
    if sims:

        def mean(key: str, k: str) -> float:
            return float(np.mean([r[key][k] for r in sims]))

        out.append(
            f"| **mean** | **{mean('unsupervised', 'roc_auc'):.3f}** | {mean('unsupervised', 'pr_auc'):.3f} | "
            f"**{mean('unsupervised', 'f1'):.3f}** | {mean('unsupervised', 'fpr'):.4f} | "
            f"**{mean('unsupervised', 'rca_accuracy'):.3f}** | {mean('baseline', 'roc_auc'):.3f} | "
            f"{mean('baseline', 'f1'):.3f} | {mean('baseline', 'fpr'):.4f} | {mean('seed_style', 'roc_auc'):.3f} | "
            f"{mean('seed_style', 'f1'):.3f} | {mean('plain_if', 'roc_auc'):.3f} | {mean('plain_if', 'f1'):.3f} |"
        )
        cats = sorted(sims[0]["per_category"])
        out += [
            "",
            "Detection rate per category (unsupervised, mean over seeds) and RCA accuracy on detected flows:",
            "",
            "| category | detected | RCA acc. | detected (baseline mode) |",
            "|---|---|---|---|",
        ]
        for c in cats:
            det = np.mean(
                [r["per_category"][c]["detected"] for r in sims if c in r["per_category"]]
            )
            acc = [
                r["per_category"][c]["rca_accuracy_detected"]
                for r in sims
                if c in r["per_category"]
                and r["per_category"][c]["rca_accuracy_detected"] is not None
            ]
            detb = np.mean(
                [
                    r["per_category_baseline"][c]["detected"]
                    for r in sims
                    if c in r["per_category_baseline"]
                ]
            )
            out.append(f"| {c} | {det:.3f} | {np.mean(acc):.3f} | {detb:.3f} |")
    out += [
        "",
        "### Real Zeek captures",
        "",
        "| capture | unsup. ROC-AUC | PR-AUC | F1 | FPR | baseline ROC-AUC | F1 | FPR | seed-style ROC-AUC | plain IF ROC-AUC | anchor (plain IF) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["zeek"]:
        if "unsupervised" not in r:
            continue
        u, b = r["unsupervised"], r["baseline"]
        anchor = _f(ANCHORS["ctu_plain_if"], 2) if r["dataset"].startswith("ctu_normal") else ""
        out.append(
            f"| {r['dataset']} | {_f(u['roc_auc'])} | {_f(u['pr_auc'])} | {_f(u['f1'])} | {_f(u['fpr'], 4)} | "
            f"{_f(b['roc_auc'])} | {_f(b['f1'])} | {_f(b['fpr'], 4)} | {_f(r['seed_style']['roc_auc'])} | "
            f"{_f(r['plain_if']['roc_auc'])} | {anchor} |"
        )
    for r in result["zeek"]:
        if "malicious_explained_as" in r:
            out.append(
                f"\n{r['dataset']}: detected malicious flows explained as {r['malicious_explained_as']} "
                f"({r['incidents']} incidents)."
            )
        if "top_source" in r:
            out.append(
                f"\nNmap capture ({r['sources']} source(s)): top-ranked source {r['top_source']}; its largest "
                f'incident is `{r["scanner_incident"]}`: "{r["scanner_root_cause"]}"'
            )
    for r in result["nsl_kdd"]:
        a = r["anchors"]
        out += [
            "",
            f"### {r['dataset']}",
            "",
            "| model | ROC-AUC | PR-AUC | F1 | FPR | published anchor |",
            "|---|---|---|---|---|---|",
        ]
        for label, key, anchor in (
            ("netrca, fit on all training rows", "netrca_fit_all_rows", None),
            ("plain IF, fit on all training rows", "plain_if_all_rows", a["if_all"]),
            ("netrca, fit on normal training rows (baseline mode)", "netrca_fit_normal_rows", None),
            ("plain IF, fit on normal training rows", "plain_if_normal_rows", a["if_normal"]),
            ("kNN (k=5), fit on normal training rows", "knn_normal_rows", a["knn_normal"]),
            ("netrca unsupervised on KDDTest+ itself", "netrca_unsupervised_on_test", None),
        ):
            m = r[key]
            out.append(
                f"| {label} | {_f(m['roc_auc'])} | {_f(m['pr_auc'])} | {_f(m.get('f1'))} | "
                f"{_f(m.get('fpr'), 4)} | {_f(anchor)} |"
            )
        fa, fn = (
            r["netrca_fit_all_rows"]["per_family_roc_auc"],
            r["netrca_fit_normal_rows"]["per_family_roc_auc"],
        )
        out.append(
            "\nPer attack family (ROC-AUC vs normal), netrca fit on all rows / normal rows: "
            + ", ".join(f"{k} {fa[k]:.3f} / {fn[k]:.3f}" for k in fa)
        )
    if result["kdd99"]:
        out += [
            "",
            "### KDD Cup 99 subsets (scikit-learn's definition: logged_in = 1, one service)",
            "",
            "| subset | rows (attacks) | netrca ROC-AUC | PR-AUC | F1 | FPR | plain IF (3 log features) ROC-AUC | PR-AUC | anchor ROC-AUC | anchor PR-AUC |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in result["kdd99"]:
            n, p, a = r["netrca_unsupervised"], r["plain_if_3_log_features"], r["anchors"]
            out.append(
                f"| {r['dataset'].split(chr(39))[1]} | {r['flows']:,} ({r['attacks']:,}) | {_f(n['roc_auc'], 4)} | "
                f"{_f(n['pr_auc'])} | {_f(n['f1'])} | {_f(n['fpr'], 4)} | {_f(p['roc_auc'], 4)} | {_f(p['pr_auc'])} | "
                f"{_f(a['roc_auc'], 4)} | {_f(a.get('pr_auc'))} |"
            )
    if result.get("independent"):
        out += [
            "",
            "### Independent generator (benchmarks/altgen.py: per-row anomalies, uniform times)",
            "",
            "| setting | netrca ROC-AUC | PR-AUC | F1 | FPR | RCA acc. | seed-style ROC-AUC | F1 | plain IF ROC-AUC | F1 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in result["independent"]:
            u, s_, p = r["unsupervised"], r["seed_style"], r["plain_if"]
            out.append(
                f"| {r['dataset'].split(': ')[1]} | {_f(u['roc_auc'])} | {_f(u['pr_auc'])} | {_f(u['f1'])} | "
                f"{_f(u['fpr'], 4)} | {_f(u['rca_accuracy'])} | {_f(s_['roc_auc'])} | {_f(s_['f1'])} | "
                f"{_f(p['roc_auc'])} | {_f(p['f1'])} |"
            )
        worst = {
            c: v for r in result["independent"] for c, v in r["per_category"].items() if v[0] < 0.8
        }
        if worst:
            out.append(
                "\nCategories detected below 80% in some setting: "
                + ", ".join(f"{c} ({v[0]:.2f})" for c, v in sorted(worst.items()))
            )
    out.append(f"\nTotal benchmark time: {result['seconds']:.0f} s.")
    return "\n".join(out)
