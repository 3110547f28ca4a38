"""The netrca command line: a thin typer app over the library (exit codes 0/1/2)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from netrca import __version__
from netrca.errors import ConfigError, NetrcaError
from netrca.synth.cli import app as synth_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="netrca",
    help="Find anomalies in network flow logs and explain their root cause.\n\n"
    "Exit codes: 0 success, 1 internal error (a bug), 2 bad input or usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

InputOpt = Annotated[
    Path | None, typer.Option("--input", "-i", help="Flow log to read (omit to simulate).")
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="auto, csv, parquet, jsonl or zeek.")
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Output folder (default ./data).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map", help="Column mapping CANONICAL=INPUT (repeatable), e.g. bytes_sent=sbytes."
    ),
]


def _parse_contamination(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"--contamination must be 'auto' or a number, got {value!r}") from exc


def _parse_map(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--map expects CANONICAL=INPUT, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


@app.command()
def run(
    input: InputOpt = None,
    fmt: FormatOpt = "auto",
    output: OutputOpt = None,
    contamination: Annotated[
        str, typer.Option(help="'auto' (score >= 0.5) or the share of flows to flag.")
    ] = "auto",
    threshold: Annotated[float | None, typer.Option(help="Absolute score threshold.")] = None,
    model: Annotated[Path | None, typer.Option(help="Score with a saved detector.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for simulation and fitting.")] = 0,
    flows: Annotated[int, typer.Option(help="Flows to simulate when no input.")] = 20000,
    mapping: MapOpt = None,
    quiet: QuietOpt = False,
    synthetic: Annotated[
        str | None, typer.Option(help="Generate the flows instead: 'gan' (writes fidelity.json).")
    ] = None,
    gan_model: Annotated[
        Path | None,
        typer.Option(help="GAN from `netrca synth fit` (default: fit one on simulated flows)."),
    ] = None,
    gan_steps: Annotated[
        int | None, typer.Option(help="Training steps when the GAN is fitted in this run.")
    ] = None,
) -> None:
    """Run the whole pipeline: read (or simulate) → detect → analyse → write outputs."""
    from netrca.pipeline import run as run_pipeline

    result = run_pipeline(
        input,
        fmt=fmt,
        output=output,
        contamination=_parse_contamination(contamination),
        threshold=threshold,
        model=model,
        seed=seed,
        n_flows=flows,
        quiet=quiet,
        mapping=_parse_map(mapping),
        synthetic=synthetic,
        gan_model=gan_model,
        gan_params={"max_steps": gan_steps} if gan_steps else None,
    )
    if not quiet:
        typer.echo(f"outputs: {result.output_dir}", err=True)


@app.command()
def simulate(
    n: Annotated[int, typer.Option("-n", "--flows", help="Number of flows (about).")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path(
        "network_logs.csv"
    ),
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, parquet or zeek.")] = "csv",
    hours: Annotated[float, typer.Option(help="Time span of the traffic.")] = 24.0,
    anomalies: Annotated[
        str | None,
        typer.Option(help="Incidents per category, e.g. port_scan=3,dos_flood=1 (others 0)."),
    ] = None,
) -> None:
    """Generate labelled synthetic traffic with injected anomalies (ground truth)."""
    from netrca.simulate import DEFAULT_INCIDENTS, Scenario, write_flows
    from netrca.simulate import simulate as sim

    incidents = dict(DEFAULT_INCIDENTS)
    if anomalies is not None:
        incidents = {}
        for part in filter(None, (p.strip() for p in anomalies.split(","))):
            name, _, count = part.partition("=")
            try:
                incidents[name.strip()] = int(count)
            except ValueError as exc:
                raise ConfigError(f"--anomalies expects NAME=COUNT, got {part!r}") from exc
    frame = sim(Scenario(n_flows=n, hours=hours, incidents=incidents), seed=seed)
    write_flows(frame, output, fmt)
    typer.echo(f"wrote {len(frame):,} flows to {output}", err=True)


@app.command()
def fit(
    input: Annotated[Path, typer.Option("--input", "-i", help="Known-good (baseline) flows.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")] = Path(
        "anomaly_detector.npz"
    ),
    fmt: FormatOpt = "auto",
    contamination: Annotated[str, typer.Option(help="'auto' or share to flag.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    mapping: MapOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Learn a baseline detector from traffic and save it (safe format, no pickle)."""
    from netrca.config import Settings
    from netrca.detect.persist import save_detector
    from netrca.io import read_flows
    from netrca.pipeline import fit_model

    settings = Settings()
    read = read_flows(input, fmt, mapping=_parse_map(mapping), settings=settings)
    det = fit_model(
        read.flows, settings, contamination=_parse_contamination(contamination), random_state=seed
    )
    save_detector(det, output)
    if not quiet:
        typer.echo(f"fitted on {len(read.flows):,} flows; model written to {output}", err=True)


@app.command()
def detect(
    input: Annotated[Path, typer.Option("--input", "-i", help="Flows to score.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model from `netrca fit`.")],
    output: OutputOpt = None,
    fmt: FormatOpt = "auto",
    mapping: MapOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score new traffic with a saved baseline model, then analyse and write outputs."""
    from netrca.pipeline import run as run_pipeline

    result = run_pipeline(
        input, fmt=fmt, output=output, model=model, quiet=quiet, mapping=_parse_map(mapping)
    )
    if not quiet:
        typer.echo(f"outputs: {result.output_dir}", err=True)


@app.command()
def analyze(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a previous run.")],
    analyzer: Annotated[str, typer.Option(help="rules (offline).")] = "rules",
    quiet: QuietOpt = False,
) -> None:
    """Re-run root-cause analysis on a finished run's anomalies."""
    from netrca.pipeline import reanalyze

    analyses = reanalyze(run_dir, analyzer_name=analyzer, quiet=quiet)
    if not quiet:
        typer.echo(f"{len(analyses)} analyses written to {run_dir}", err=True)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a previous run.")],
    label_column: Annotated[str, typer.Option(help="Ground-truth label column.")] = "label",
    category_column: Annotated[
        str, typer.Option(help="Ground-truth category column.")
    ] = "root_cause",
) -> None:
    """Compute metrics against ground truth; write evaluation.json and print it."""
    from netrca.pipeline import evaluate_run

    _print_json(evaluate_run(run_dir, label_column=label_column, category_column=category_column))


@app.command()
def version() -> None:
    """Print the netrca version."""
    typer.echo(__version__)


app.add_typer(synth_app, name="synth")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and maps errors to exit codes."""
    try:
        app(args=argv, standalone_mode=False)
    except NetrcaError as exc:
        typer.echo(f"netrca: error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("netrca: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("netrca: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "format_message"):
            typer.echo(f"netrca: error: {exc.format_message()}", err=True)
            sys.exit(int(code))
        if os.environ.get("NETRCA_DEBUG"):
            raise
        typer.echo(
            f"netrca: internal error: {type(exc).__name__}: {exc} "
            "(set NETRCA_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(1)
