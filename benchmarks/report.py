"""Report size and cost: report.html/report.json of runs of growing size.

Anchor (same run): the predictions CSV, i.e. what a report that embedded every row
would have to carry (the failure mode Evidently documented), and the pipeline's own time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks.quality import machine
from netrca.pipeline import run as run_pipeline
from netrca.report.html import rebuild_report, render_report
from netrca.report.runfolder import RunFolder
from netrca.report.view import build_view
from netrca.simulate import Scenario, simulate, write_flows


def run(out_dir: Path, sizes: tuple[int, ...] = (100_000, 1_000_000)) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        path = out_dir / f"sim_{n}.csv"
        write_flows(simulate(Scenario(n_flows=n), seed=0), path)
        folder = out_dir / f"run_{n}"
        t0 = time.perf_counter()
        result = run_pipeline(path, output=folder, quiet=True)
        pipeline_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rebuild_report(folder)  # load the run back and re-render: the report's own cost
        report_s = time.perf_counter() - t0
        html = (folder / "report.html").stat().st_size
        twin = (folder / "report.json").stat().st_size
        csv = (folder / "network_logs_with_predictions.csv").stat().st_size
        rows.append(
            {
                "flows": len(result.flows),
                "incidents": len(result.analyses),
                "report_html_bytes": html,
                "report_json_bytes": twin,
                "predictions_csv_bytes": csv,
                "html_to_csv_ratio": html / csv,
                "pipeline_seconds": pipeline_s,
                "report_rebuild_seconds": report_s,
                "rebuild_to_pipeline_ratio": report_s / pipeline_s,
            }
        )
        path.unlink()
    result_all = {"machine": machine(), "runs": rows, "worst_case": _worst_case(out_dir, sizes[0])}
    (out_dir / "report.json").write_text(json.dumps(result_all, indent=2))
    return result_all


def _worst_case(out_dir: Path, n: int, incidents: int = 3000) -> dict[str, Any]:
    """The largest report the caps allow: a run's incidents repeated to ``incidents``."""
    folder = RunFolder(out_dir / f"run_{n}")
    base = folder.analyses
    many = [
        base[i % len(base)].model_copy(update={"incident_id": f"INC-{i:05d}"})
        for i in range(incidents)
    ]
    view = build_view(folder.predictions(), many, folder.summary, folder.evaluation)
    html = render_report(view)
    return {
        "incidents_given": incidents,
        "incidents_shown": len(view["incidents"]),
        "sample_flows": sum(len(i["flow_sample"]) for i in view["incidents"]),
        "report_html_bytes": len(html.encode("utf-8")),
        "report_json_bytes": len(json.dumps(view).encode("utf-8")),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        "| flows | incidents | report.html | report.json | predictions CSV (all rows) | "
        "html / CSV | pipeline s | report rebuild s | rebuild / pipeline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['flows']:,} | {r['incidents']:,} | {r['report_html_bytes'] / 1e6:.2f} MB | "
            f"{r['report_json_bytes'] / 1e6:.2f} MB | {r['predictions_csv_bytes'] / 1e6:.1f} MB | "
            f"{r['html_to_csv_ratio']:.4f} | {r['pipeline_seconds']:.1f} | "
            f"{r['report_rebuild_seconds']:.1f} | {r['rebuild_to_pipeline_ratio']:.3f} |"
        )
    w = result["worst_case"]
    lines.append(
        f"\nWorst case (caps reached): {w['incidents_given']:,} incidents given, "
        f"{w['incidents_shown']:,} shown with {w['sample_flows']:,} sample flows: "
        f"report.html {w['report_html_bytes'] / 1e6:.2f} MB, "
        f"report.json {w['report_json_bytes'] / 1e6:.2f} MB."
    )
    return "\n".join(lines)
