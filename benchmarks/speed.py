"""Speed: end-to-end `netrca run` throughput on simulated traffic of growing size."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.quality import machine
from netrca.simulate import Scenario, simulate, write_flows


def _run(path: Path, out: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "netrca",
        "run",
        "--input",
        str(path),
        "--output",
        str(out),
        "--quiet",
    ]
    subprocess.run(cmd, check=True)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"seconds": dt, "peak_rss_mib_max_so_far": peak}


def run(out_dir: Path, sizes: tuple[int, ...] = (10_000, 50_000, 200_000)) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        path = out_dir / f"sim_{n}.csv"
        write_flows(simulate(Scenario(n_flows=n), seed=0), path)
        r = _run(path, out_dir / f"run_{n}")
        rows.append({"flows": n, **r, "flows_per_second": n / r["seconds"]})
    result = {"machine": machine(), "end_to_end": rows}
    (out_dir / "speed.json").write_text(json.dumps(result, indent=2))
    return result


def render(result: dict[str, Any]) -> str:
    lines = ["| flows | seconds | flows/s |", "|---|---|---|"]
    for r in result["end_to_end"]:
        lines.append(f"| {r['flows']:,} | {r['seconds']:.1f} | {r['flows_per_second']:,.0f} |")
    return "\n".join(lines)
