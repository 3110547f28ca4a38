"""GAN checks beside `make bench-gan`: judging on unseen rows, and calibration's cost.

``split``: the simulated training set (from ``make bench-gan``'s output folder) is cut at
random into halves A and B; ``netrca synth fit -i A`` trains a model, and ``netrca synth
report`` judges the same generated flows (same seed, same count) against A, the rows the
model saw, and B, rows it never saw, with 1 and 8 candidates.

``speed``: in one process, ``FlowGAN.sample(100_000)`` as the model samples, without its
rank matching, and without calibration (token offsets, quantile maps) or rank matching,
alternating, three rounds each (flows/s per round).

Usage: ``.venv/bin/python benchmarks/gan_checks.py split|speed [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
NETRCA = [sys.executable, "-m", "netrca"]


def _run(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([*NETRCA, *args], check=True)
    return time.perf_counter() - t0


def split(out: Path) -> dict[str, Any]:
    """Fit on half A; judge the same samples against A (seen) and B (unseen)."""
    train = out / "sim_train.csv"
    if not train.exists():
        raise SystemExit(f"{train} is missing: run `make bench-gan` first")
    work = out / "split"
    work.mkdir(parents=True, exist_ok=True)
    flows = pd.read_csv(train, dtype=str, keep_default_na=False)
    perm = np.random.default_rng(9).permutation(len(flows))
    half = len(flows) // 2
    for name, rows in (("A", perm[:half]), ("B", perm[half : 2 * half])):
        flows.iloc[np.sort(rows)].to_csv(work / f"sim{name}.csv", index=False)
    model = work / "simA.pt"
    fit = _run("synth", "fit", "-i", str(work / "simA.csv"), "-o", str(model), "--threads", "2")
    result: dict[str, Any] = {"rows_per_half": half, "fit_wall_seconds": round(fit, 1)}
    for k in (1, 8):
        for name in ("A", "B"):
            report = work / f"report_{name}_k{k}.json"
            _run(
                "synth", "report", "-i", str(work / f"sim{name}.csv"), "-m", str(model),
                "-o", str(report), "--candidates", str(k), "-q",
            )  # fmt: skip
            rep = json.loads(report.read_text())
            m = rep["metrics"]
            result[f"k{k}_vs_{name}"] = {
                "gan_classifier_auc": round(m["gan"]["classifier_auc"], 4),
                "smote_classifier_auc": round(m["smote"]["classifier_auc"], 4),
                # SMOTE interpolates the half it is given, so it always sees the rows it
                # is judged against; the GAN saw only A
                "gan_correlation_difference": round(m["gan"]["correlation_difference"], 5),
                "smote_correlation_difference": round(m["smote"]["correlation_difference"], 5),
                "correlation_floor": round(rep["floor"]["correlation_difference"], 5),
                "dcr_median": round(m["gan"]["dcr_median"], 4),
                "real_nn_median": round(m["gan"]["real_nn_median"], 4),
            }
    return result


def speed(out: Path) -> dict[str, Any]:
    """Sampling flows/s with and without rank matching and calibration, same process."""
    from netrca.synth.persist import load_gan

    result: dict[str, Any] = {}
    for name in ("simulated_50k", "ctu_benign"):
        gan = load_gan(out / f"{name}.pt")
        cal, tokens, ranks = gan.calibrator_, gan.token_calibrator_, gan.rank_matcher_
        gan.sample(1000)
        rates: dict[str, list[int]] = {"calibrated": [], "without_ranks": [], "without": []}
        for _ in range(3):
            for mode, got in rates.items():
                on = mode != "without"
                gan.calibrator_, gan.token_calibrator_ = (cal, tokens) if on else (None, None)
                gan.rank_matcher_ = ranks if mode == "calibrated" else None
                t0 = time.perf_counter()
                gan.sample(100_000, random_state=1)
                got.append(round(100_000 / (time.perf_counter() - t0)))
        result[name] = rates
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("check", choices=["split", "speed"])
    ap.add_argument("--out", type=Path, default=HERE / "out" / "gan")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    result = split(args.out) if args.check == "split" else speed(args.out)
    result = {"started": started, "load_average": list(os.getloadavg()), **result}
    path = args.out / f"check_{args.check}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
