"""``netrca synth``: fit a flow GAN, sample from it, and report its fidelity (thin typer app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from netrca.errors import ConfigError

__all__ = ["app", "parse_counts"]

app = typer.Typer(
    name="synth",
    help="GAN-generated synthetic flows: fit a model, sample flows (optionally anomalous), "
    "measure fidelity against the real flows and two baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="Input format: auto, csv, parquet, jsonl or zeek.")
]


CandidatesOpt = Annotated[
    int | None,
    typer.Option(
        help="Generate K flows per flow kept; the model's refiner keeps the most "
        "real-looking (slower about K times; default: the model's, 1 = off).",
        min=1,
    ),
]


def parse_counts(text: str) -> dict[str, int]:
    """``port_scan=200,dos_flood=500`` -> ``{"port_scan": 200, "dos_flood": 500}``."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, count = part.partition("=")
        try:
            value = int(count)
        except ValueError:
            value = -1
        if not sep or not name.strip() or value < 0:
            raise ConfigError(f"--anomalies expects NAME=COUNT[,NAME=COUNT…], got {part!r}")
        out[name.strip()] = out.get(name.strip(), 0) + value
    return out


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _echo(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text, err=True)


@app.command()
def fit(
    input: Annotated[Path, typer.Option("--input", "-i", help="Training flows.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")] = Path(
        "flows_gan.pt"
    ),
    fmt: FormatOpt = "auto",
    seed: Annotated[int, typer.Option(help="Random seed (same seed + data = same model).")] = 0,
    max_steps: Annotated[int, typer.Option(help="Generator updates at most.")] = 3000,
    max_seconds: Annotated[
        float | None,
        typer.Option(help="Stop training after this many seconds (not reproducible)."),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            help="Torch threads (part of reproducibility); 2 trains 1.5x faster on an "
            "idle 2-core machine, several times slower on a busy one."
        ),
    ] = 1,
    columns: Annotated[
        str | None,
        typer.Option(help="Comma-separated columns to model (default: every canonical column)."),
    ] = None,
    condition: Annotated[
        str, typer.Option(help="Class column to condition on ('auto' = root_cause if present).")
    ] = "auto",
    checkpoint: Annotated[
        Path | None, typer.Option(help="Also save the best model so far here while training.")
    ] = None,
    skeleton_weighting: Annotated[
        str,
        typer.Option(
            help="How training draws a class's skeletons: sqrt (of their frequency), "
            "frequency or log."
        ),
    ] = "sqrt",
    condition_weight: Annotated[
        float, typer.Option(help="Weight of the per-condition means loss (0 = off).")
    ] = 5.0,
    standardise: Annotated[
        bool,
        typer.Option(
            help="Model each count and duration standardised by its skeleton's mean and "
            "spread (log scale)."
        ),
    ] = True,
    refiner: Annotated[
        bool,
        typer.Option(
            help="Also fit the real-vs-generated classifier that `sample --candidates K` "
            "uses to keep the most real-looking flows."
        ),
    ] = True,
    refiner_stages: Annotated[
        int,
        typer.Option(
            min=1,
            help="Classifiers in the refiner: each after the first learns the training "
            "flows against what the ones before it pick (about 10 s each on 50k flows).",
        ),
    ] = 3,
    pool_time: Annotated[
        bool,
        typer.Option(
            help="Where the training flows show that time tells nothing more about a flow "
            "of a class (tested class by class; recorded in the model), draw the class's "
            "positions in time from its training flows' counts per minute, or swap them "
            "within skeletons.",
        ),
    ] = True,
    calibrate: Annotated[
        bool,
        typer.Option(
            help="After training, map each generated count, duration, latency and client "
            "port onto the training flows' quantiles within its skeleton, coarse skeleton "
            "or class (monotone: ranks and the dependence between columns are kept).",
        ),
    ] = True,
    match_ranks: Annotated[
        bool,
        typer.Option(
            help="In each class with at least 5,000 training flows, reorder the sampled "
            "counts, durations, latencies and client ports among their rows so that their "
            "rank correlations (with each other, time of day and the gap between flows) "
            "are the training flows' (every column keeps its values).",
        ),
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Train a conditional GAN on flows and save it (safe format: tensors + JSON)."""
    from netrca.io import read_flows
    from netrca.synth.gan import FlowGAN
    from netrca.synth.persist import save_gan

    read = read_flows(input, fmt)
    gan = FlowGAN(
        max_steps=max_steps,
        max_seconds=max_seconds,
        n_threads=threads,
        columns=_columns(columns),
        condition=None if condition == "none" else condition,
        random_state=seed,
        verbose=not quiet,
        checkpoint=checkpoint,
        skeleton_weighting=skeleton_weighting,
        condition_weight=condition_weight,
        standardise=standardise,
        refiner=refiner,
        refiner_stages=refiner_stages,
        pool_time=pool_time,
        calibrate=calibrate,
        match_ranks=match_ranks,
    ).fit(read.flows)
    save_gan(gan, output)
    t = gan.training_
    _echo(
        quiet,
        f"trained on {len(read.flows):,} flows: {t['steps']} steps ({t['epochs']} epochs) in "
        f"{t['seconds']:.1f} s, best fidelity {t['best_fidelity']:.3f} at step "
        f"{t['best_step']} ({t['stopped']}); model written to {output}",
    )
    pooling = t.get("time_pooling", {})
    pooled = {
        name: c["pooling"]
        for name, c in pooling.get("classes", {}).items()
        if c["pooling"] != "none"
    }
    if pooled:
        _echo(
            quiet,
            "positions in time pooled (time tells nothing more about these flows): "
            + ", ".join(f"{name} by {how}" for name, how in pooled.items()),
        )
    listed: list[tuple[str, dict[str, str]]] = [
        (
            f"calibrated {what} (groups by skeleton/coarse skeleton/class)",
            {c: "/".join(map(str, g)) for c, g in (t.get(key) or {}).items()},
        )
        for what, key in (("columns", "calibration_groups"), ("tokens", "token_calibration_groups"))
    ]
    listed += [
        (what, {c or "all": f"({n:,} training flows)" for c, n in (t.get(key) or {}).items()})
        for key, what in (
            ("rank_matching_classes", "rank correlations matched for"),
            ("time_matching_classes", "gap correlations matched in time for"),
        )
    ]
    for what, items in listed:
        if items:
            _echo(quiet, f"{what}: " + ", ".join(f"{c} {v}" for c, v in items.items()))


@app.command()
def sample(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model from `netrca synth fit`.")],
    n: Annotated[int, typer.Option("-n", "--flows", help="Number of flows to write.")] = 10000,
    anomalies: Annotated[
        str | None,
        typer.Option(
            help="Flows per class among the n, e.g. port_scan=200,dos_flood=500; the rest "
            "are 'normal'. Default: classes in their training proportions."
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path(
        "synthetic_flows.csv"
    ),
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or parquet.")] = "csv",
    seed: Annotated[int, typer.Option(help="Sampling seed (same seed, same bytes).")] = 0,
    candidates: CandidatesOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Generate flows from a trained model and write them (canonical columns)."""
    from netrca.synth.persist import load_gan
    from netrca.synth.source import class_mix, write_synthetic

    gan = load_gan(model)
    counts = class_mix(gan, n, parse_counts(anomalies)) if anomalies is not None else None
    if counts is None:
        result = gan.sample_result(n, random_state=seed, candidates=candidates)
    else:
        result = gan.sample_classes(counts, random_state=seed, candidates=candidates)
    write_synthetic(result.flows, output, fmt)
    _echo(
        quiet,
        f"wrote {len(result.flows):,} flows to {output} (model output valid for "
        f"{result.raw_validity:.2%} of rows before enforcement)",
    )


@app.command()
def report(
    input: Annotated[Path, typer.Option("--input", "-i", help="The real (training) flows.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model from `netrca synth fit`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Report JSON to write.")] = Path(
        "fidelity_report.json"
    ),
    fmt: FormatOpt = "auto",
    n: Annotated[
        int | None,
        typer.Option("-n", "--flows", help="Flows to sample (default: as many as real)."),
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option(help="Labelled held-out real flows: also measure TSTR with the Detector."),
    ] = None,
    fidelity_json: Annotated[
        Path | None, typer.Option(help="Also write the HTML report's fidelity.json here.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling, baselines and metrics.")] = 0,
    candidates: CandidatesOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Measure a model's fidelity against the real flows and both baselines (JSON)."""
    from netrca.io import read_flows
    from netrca.io.writers import write_json
    from netrca.synth.fidelity import fidelity_file, fidelity_report
    from netrca.synth.persist import load_gan

    gan = load_gan(model)
    real = read_flows(input, fmt).flows
    held = read_flows(holdout).flows if holdout is not None else None
    rep = fidelity_report(real, gan, n=n, seed=seed, holdout=held, candidates=candidates)
    write_json(output, rep)
    if fidelity_json is not None:
        write_json(fidelity_json, fidelity_file(rep))
    if not quiet:
        _print_targets(rep)
        typer.echo(f"report written to {output}", err=True)


def _print_targets(rep: dict[str, Any]) -> None:
    for name, t in rep["targets"].items():
        mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        value = t["value"]
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        extra = ""
        if "baselines" in t:
            extra = "  vs " + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in t["baselines"].items()
            )
        typer.echo(f"  {name:40s} {shown:>10s}  {t.get('target', ''):>8s}  {mark}{extra}", err=True)
