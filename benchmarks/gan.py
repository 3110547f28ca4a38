"""GAN fidelity, TSTR, training time and sampling speed (issue #3), through the real CLI.

``python benchmarks/gan.py [--out DIR] [--threads N]`` (default 2 torch threads) runs, for each training set:

1. ``netrca synth fit`` (timed, on ``--threads`` torch threads),
2. ``netrca synth report`` (GAN vs the independent-marginals and SMOTE baselines, all
   measured in the same run; with ``--holdout`` for the simulated data: TSTR),
3. sampling speed: ``FlowGAN.sample`` in-process (best of 3) and ``netrca synth sample``
   end to end (process start, model load, generation, CSV writing),
4. for each ``--candidates K`` (default 4, 8 and 16): ``netrca synth report --candidates K``
   (the refiner keeps the most real-looking of K generated flows per flow; baselines
   again in the same run) and the in-process sampling speed with K candidates.

Training sets: the Benign flows of ``ctu_normal40_day1_conn.log.labeled`` and 50,000
simulated flows (``netrca simulate -n 50000 --seed 0``; held-out real set:
``netrca simulate -n 20000 --seed 1``). Results: ``DIR/gan.json`` and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"
CTU = DATASETS / "zeek" / "ctu_normal40_day1_conn.log.labeled"
NETRCA = [sys.executable, "-m", "netrca"]


def _run(*args: str) -> float:
    """Run ``netrca ARGS``; return its wall time in seconds (raises on failure)."""
    t0 = time.perf_counter()
    proc = subprocess.run([*NETRCA, *args], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"netrca {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return time.perf_counter() - t0


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def prepare(out: Path) -> dict[str, dict[str, Path | None]]:
    """Training (and held-out) files for both datasets."""
    from netrca.io import read_flows
    from netrca.synth.source import write_synthetic

    ctu = read_flows(CTU).flows
    benign = ctu[ctu["label"].astype(str) == "Benign"].reset_index(drop=True)
    ctu_path = out / "ctu_benign.csv"
    write_synthetic(benign, ctu_path)
    sim, hold = out / "sim_train.csv", out / "sim_holdout.csv"
    _run("simulate", "-n", "50000", "--seed", "0", "-o", str(sim))
    _run("simulate", "-n", "20000", "--seed", "1", "-o", str(hold))
    return {
        "ctu_benign": {"train": ctu_path, "holdout": None},
        "simulated_50k": {"train": sim, "holdout": hold},
    }


def in_process_speed(model: Path, n: int, candidates: int = 1) -> float:
    """Best of 3 in-process sampling times (seconds), after a warm-up."""
    from netrca.synth.persist import load_gan

    gan = load_gan(model)
    gan.sample(1000, candidates=candidates)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        flows = gan.sample(n, random_state=1, candidates=candidates)
        best = min(best, time.perf_counter() - t0)
    assert len(flows) == n
    return best


def sampling_speed(model: Path, out: Path, n: int = 100_000) -> dict[str, Any]:
    """In-process flows/s (best of 3, after a warm-up) and the CLI's end-to-end rate."""
    best = in_process_speed(model, n)
    wall = _run("synth", "sample", "-m", str(model), "-n", str(n), "-o", str(out), "-q")
    return {
        "flows": n,
        "in_process_seconds": round(best, 3),
        "in_process_flows_per_second": round(n / best),
        "cli_wall_seconds": round(wall, 3),
        "cli_flows_per_second": round(n / wall),
    }


def refined(
    train: Path, model: Path, out: Path, name: str, hold: Path | None, k: int
) -> dict[str, Any]:
    """``synth report --candidates k`` and in-process sampling speed with k candidates."""
    report = out / f"{name}_report_k{k}.json"
    args = ["synth", "report", "-i", str(train), "-m", str(model), "-o", str(report)]
    args += ["--candidates", str(k), "-q"]
    if hold is not None:
        args += ["--holdout", str(hold)]
    wall = _run(*args)
    rep = json.loads(report.read_text())
    n = 50_000
    best = in_process_speed(model, n, k)
    return {
        "report_wall_seconds": round(wall, 1),
        "metrics": {kk: _headline(v) for kk, v in rep["metrics"].items()},
        "targets": rep["targets"],
        "sampling": {"flows": n, "in_process_flows_per_second": round(n / best)},
    }


def run(out: Path, threads: int, candidates: list[int]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        "threads": threads,
        "load_average_start": _load(),
        "datasets": {},
    }
    for name, files in prepare(out).items():
        train, hold = files["train"], files["holdout"]
        assert train is not None
        model, report = out / f"{name}.pt", out / f"{name}_report.json"
        fit_wall = _run(
            "synth", "fit", "-i", str(train), "-o", str(model), "--threads", str(threads), "-q"
        )
        args = ["synth", "report", "-i", str(train), "-m", str(model), "-o", str(report)]
        args += ["--fidelity-json", str(out / f"{name}_fidelity.json"), "-q"]
        if hold is not None:
            args += ["--holdout", str(hold)]
        report_wall = _run(*args)
        rep = json.loads(report.read_text())
        result["datasets"][name] = {
            "fit_wall_seconds": round(fit_wall, 1),
            "training": rep["training"],
            "report_wall_seconds": round(report_wall, 1),
            "metrics": {k: _headline(v) for k, v in rep["metrics"].items()},
            "tstr": rep["tstr"],
            "targets": rep["targets"],
            "floor": rep.get("floor"),
            "sampling": sampling_speed(model, out / f"{name}_sample.csv"),
            "candidates": {str(k): refined(train, model, out, name, hold, k) for k in candidates},
        }
    result["load_average_end"] = _load()
    (out / "gan.json").write_text(json.dumps(result, indent=2, default=str))
    return result


_HEADLINE = (
    "ks_mean",
    "wasserstein_mean",
    "jsd_mean",
    "correlation_difference",
    "contingency_difference",
    "classifier_auc",
    "exact_copies",
    "exact_copies_without_timestamp",
    "dcr_median",
    "real_nn_median",
    "validity",
    "raw_validity",
    "raw_validity_named_rules",
    "tstr_ratio",
)


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in _HEADLINE if k in m}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def render(result: dict[str, Any]) -> str:
    lines = [f"machine: {result['machine']}; torch threads {result['threads']}"]
    lines.append(
        f"load average at start {result['load_average_start']}, at end {result['load_average_end']}"
    )
    for name, d in result["datasets"].items():
        t = d["training"]
        lines.append(f"\n### {name}")
        lines.append(
            f"training: {t.get('steps')} steps ({t.get('epochs')} epochs) in "
            f"{t.get('seconds')} s ({t.get('stopped')}); `synth fit` wall {d['fit_wall_seconds']} s"
        )
        s = d["sampling"]
        lines.append(
            f"sampling: {s['in_process_flows_per_second']:,} flows/s in-process, "
            f"{s['cli_flows_per_second']:,} flows/s via `synth sample` ({s['flows']:,} flows)"
        )
        cols = ["metric", "GAN", "independent marginals", "SMOTE", "target", "met"]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        m = d["metrics"]
        targets = d["targets"]
        for k in _HEADLINE:
            if k not in m["gan"]:
                continue
            tgt = targets.get(k, {})
            beat = targets.get(f"{k}_beats_baselines", {})
            met = tgt.get("met")
            met_s = "" if met is None else ("yes" if met else "**no**")
            if beat:
                met_s += (" / " if met_s else "") + (
                    "beats both" if beat["met"] else "**does not beat both**"
                )
            row = [k, _fmt(m["gan"].get(k))]
            row += [_fmt(m[b].get(k)) for b in ("independent_marginals", "smote")]
            row += [tgt.get("target", ""), met_s]
            lines.append("| " + " | ".join(row) + " |")
        floor = (d.get("floor") or {}).get("correlation_difference")
        if floor is not None:
            lines.append(
                f"correlation difference left by sampling noise alone (floor): {floor:.4f}"
            )
        if d["tstr"]:
            lines.append(f"TSTR: real-trained detector ROC-AUC {d['tstr']['real_roc_auc']:.4f}")
        if d.get("candidates"):
            lines.extend(_render_candidates(d))
    return "\n".join(lines)


def _render_candidates(d: dict[str, Any]) -> list[str]:
    ks = list(d["candidates"])
    lines = ["", "With candidates (`synth report --candidates K`; baselines as above):"]
    cols = ["metric", "GAN", *(f"GAN, K={k}" for k in ks), "SMOTE (K run)"]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for k in _HEADLINE:
        if k not in d["metrics"]["gan"]:
            continue
        row = [k, _fmt(d["metrics"]["gan"].get(k))]
        row += [_fmt(d["candidates"][c]["metrics"]["gan"].get(k)) for c in ks]
        row += [_fmt(d["candidates"][ks[-1]]["metrics"]["smote"].get(k))]
        lines.append("| " + " | ".join(row) + " |")
    speed = [f"{d['sampling']['in_process_flows_per_second']:,}"]
    speed += [f"{d['candidates'][c]['sampling']['in_process_flows_per_second']:,}" for c in ks]
    lines.append("| sampling flows/s (in-process) | " + " | ".join(speed) + " | |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "gan")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--candidates",
        default="4,8,16",
        help="comma-separated K values for `synth report --candidates K` ('' = none)",
    )
    args = ap.parse_args()
    ks = [int(k) for k in args.candidates.split(",") if k.strip()]
    print(render(run(args.out, args.threads, ks)))


if __name__ == "__main__":
    main()
