"""The netrca command line: a thin typer app over the library (exit codes 0/1/2)."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from netrca import __version__, prefetch
from netrca.cli_view import register as register_view_commands
from netrca.errors import ConfigError, NetrcaError
from netrca.runtime import configure_arrow_pool, configure_malloc, configure_numpy_pages
from netrca.synth.cli import app as synth_app

__all__ = ["app", "entry", "main"]

app = typer.Typer(
    name="netrca",
    help="Find anomalies in network flow logs and explain their root cause.\n\n"
    "Exit codes: 0 success, 1 internal error (a bug), 2 bad input or usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Bytes per line up to which ``detect --engine local`` reads a log ahead: one that may
#: fit one partition (Zeek conn lines are ~120 bytes; a larger log is split, not read).
PREFETCH_LINE_BYTES = 256


def _read_ahead(path: Path, bound: int = prefetch.MAX_BYTES, gzip: bool = True) -> None:
    """Start reading ``path`` ahead (netrca.prefetch), never past the input limit the
    readers will apply (``NETRCA_MAX_INPUT_BYTES``)."""
    try:
        from netrca.config import Settings

        limit = Settings().max_input_bytes
    except Exception:  # a bad setting is reported where the run reads its settings
        return
    prefetch.start(path, max_bytes=min(bound, limit), gzip=gzip)


InputOpt = Annotated[
    Path | None, typer.Option("--input", "-i", help="Flow log to read (omit to simulate).")
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="auto, csv, parquet, jsonl, zeek, table, suricata, nfdump, cicflowmeter or pcap.",
    ),
]
MapFileOpt = Annotated[
    Path | None,
    typer.Option("--map-file", help="JSON or TOML object {canonical: column} (see --map)."),
]
LabelOpt = Annotated[str | None, typer.Option(help="Ground-truth label column (default: label).")]
CategoryOpt = Annotated[
    str | None, typer.Option(help="Ground-truth category column (default: root_cause).")
]
ExtraOpt = Annotated[
    str,
    typer.Option(
        help="Extra feature columns: auto (all eligible columns of a feature table), "
        "none, or a comma-separated list."
    ),
]
TargetFprOpt = Annotated[
    float | None,
    typer.Option(help="Set the threshold so about this share of the fitted flows alert."),
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


AnalyzerOpt = Annotated[
    str,
    typer.Option(
        help="rules (offline), gemini, openai (any OpenAI-compatible server) or ollama. "
        "LLM settings: NETRCA_LLM_MODEL, NETRCA_LLM_BASE_URL, GOOGLE_API_KEY/GEMINI_API_KEY."
    ),
]
BatchOpt = Annotated[
    int | None, typer.Option(help="Incidents per LLM request (default 20, NETRCA_LLM_BATCH_SIZE).")
]
RpmOpt = Annotated[
    float | None, typer.Option(help="Client-side limit on LLM requests per minute (0 = none).")
]
RedactOpt = Annotated[
    bool, typer.Option(help="Pseudonymise IP addresses in everything sent to the LLM.")
]
NoCacheOpt = Annotated[bool, typer.Option(help="Neither read nor write the LLM journal/cache.")]


def _analyzer(name: str, batch: int | None, rpm: float | None, redact: bool, no_cache: bool) -> Any:
    from netrca.rca.llm import make_analyzer

    return make_analyzer(
        name, batch_size=batch, max_rpm=rpm, redact_ips=redact or None, use_cache=not no_cache
    )


def _report_analyses(analyses: list[Any], where: Path | None) -> None:
    from collections import Counter

    by = Counter(a.analyzer for a in analyses)
    fb = Counter(a.fallback_reason for a in analyses if a.fallback_reason)
    line = f"{len(analyses)} analyses" + (f" written to {where}" if where else "")
    line += f" ({', '.join(f'{k}: {v}' for k, v in by.items())})"
    if fb:
        line += f"; rules fallbacks: {', '.join(f'{k}: {v}' for k, v in fb.items())}"
    typer.echo(line, err=True)


def _parse_contamination(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"--contamination must be 'auto' or a number, got {value!r}") from exc


def _parse_map(items: list[str] | None, map_file: Path | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    if map_file is not None:
        out.update(_read_map_file(map_file))
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--map expects CANONICAL=INPUT, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _read_map_file(path: Path) -> dict[str, str]:
    import tomllib

    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the column mapping ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{path}: the mapping must be an object of canonical name -> column")
    return {str(k): v for k, v in data.items()}


def _parse_extra(value: str) -> str | list[str]:
    if value in ("auto", "none"):
        return value
    return [v.strip() for v in value.split(",") if v.strip()]


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
    map_file: MapFileOpt = None,
    label_column: LabelOpt = None,
    category_column: CategoryOpt = None,
    extra_features: ExtraOpt = "auto",
    target_fpr: TargetFprOpt = None,
    analyzer: AnalyzerOpt = "rules",
    batch_size: BatchOpt = None,
    max_rpm: RpmOpt = None,
    redact_ips: RedactOpt = False,
    no_cache: NoCacheOpt = False,
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
    if input is not None:
        _read_ahead(input)  # read while the pipeline is imported
    from netrca.pipeline import run as run_pipeline

    result = run_pipeline(
        input,
        analyzer=_analyzer(analyzer, batch_size, max_rpm, redact_ips, no_cache),
        fmt=fmt,
        output=output,
        contamination=_parse_contamination(contamination),
        threshold=threshold,
        model=model,
        seed=seed,
        n_flows=flows,
        quiet=quiet,
        mapping=_parse_map(mapping, map_file),
        label_column=label_column,
        category_column=category_column,
        extra_features=_parse_extra(extra_features),
        target_fpr=target_fpr,
        synthetic=synthetic,
        gan_model=gan_model,
        gan_params={"max_steps": gan_steps} if gan_steps else None,
    )
    if not quiet:
        if analyzer != "rules":
            _report_analyses(result.analyses, None)
        typer.echo(f"outputs: {result.output_dir}", err=True)
        typer.echo(f"report: {Path(str(result.output_dir)) / 'report.html'}", err=True)


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
    map_file: MapFileOpt = None,
    label_column: LabelOpt = None,
    category_column: CategoryOpt = None,
    extra_features: ExtraOpt = "auto",
    target_fpr: TargetFprOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Learn a baseline detector from traffic and save it (safe format, no pickle)."""
    _read_ahead(input)  # read while the fitting code is imported
    from netrca.config import Settings
    from netrca.detect.persist import save_detector
    from netrca.detect.threshold import baseline_rate
    from netrca.io import read_flows
    from netrca.pipeline import fit_model, ground_truth_columns

    settings = Settings()
    read = read_flows(
        input,
        fmt,
        mapping=_parse_map(mapping, map_file),
        settings=settings,
        label_column=label_column,
        category_column=category_column,
    )
    det = fit_model(
        read.flows,
        settings,
        contamination=_parse_contamination(contamination),
        random_state=seed,
        extra_features=_parse_extra(extra_features),
        exclude=ground_truth_columns(read),
        target_fpr=target_fpr,
    )
    save_detector(det, output)
    if not quiet:
        rate = baseline_rate(det.train_score_quantiles_, det.threshold_)
        typer.echo(
            f"fitted on {len(read.flows):,} flows ({det.mode_} mode); threshold "
            f"{det.threshold_:.3f} alerts on {100 * rate:.2f}% of them; model written to {output}",
            err=True,
        )


@app.command()
def detect(
    input: Annotated[Path, typer.Option("--input", "-i", help="Flows to score.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model from `netrca fit`.")],
    output: OutputOpt = None,
    fmt: FormatOpt = "auto",
    mapping: MapOpt = None,
    map_file: MapFileOpt = None,
    label_column: LabelOpt = None,
    category_column: CategoryOpt = None,
    quiet: QuietOpt = False,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Partitioned scoring: local or dask (input: a folder of Parquet partitions, "
            "or a Zeek/CSV log or a folder of them, gzip too, split into partitions). Omit "
            "for the in-memory pipeline."
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: a LocalCluster).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="LocalCluster workers (default 2).")] = None,
    partition_flows: Annotated[
        int, typer.Option(help="Flows per partition when splitting one large log.")
    ] = 1_000_000,
) -> None:
    """Score new traffic with a saved baseline model, then analyse and write outputs.

    Reports the expected alert volume (measured on the baseline the model was fitted on)
    next to this run's; with ground truth, evaluation.json holds the precision/recall
    trade-off at neighbouring thresholds ("threshold_tradeoff"). With --engine, flows are
    scored partition by partition in bounded memory (see docs/architecture.md, "Scale").
    """
    if engine is None:
        _read_ahead(input)  # the log is read while the scoring code is imported
    elif engine == "local":  # only a plain log that can be one partition (else it is split)
        _read_ahead(input, partition_flows * PREFETCH_LINE_BYTES, gzip=False)
    if engine is not None:
        from contextlib import ExitStack

        from netrca.dask_cluster import local_cluster

        with ExitStack() as stack:
            # a LocalCluster's workers start (and load the scoring code) while this
            # process imports it and loads the model
            cluster = (
                stack.enter_context(local_cluster(workers))
                if engine == "dask" and not scheduler
                else None
            )
            from netrca.detect.persist import load_detector
            from netrca.partitioned import detect_partitioned

            summary = detect_partitioned(
                input,
                load_detector(model),
                output or Path("data"),
                engine=engine,
                scheduler=scheduler,
                workers=workers,
                partition_flows=partition_flows,
                fmt=fmt,
                cluster=cluster,
            )
        if not quiet:
            typer.echo(
                f"scored {summary['rows']:,} flows in {summary['partitions']} partition(s) "
                f"({engine}); {summary['anomalies']:,} anomalous; outputs: "
                f"{output or Path('data')}/predictions/",
                err=True,
            )
        return

    from netrca.pipeline import run as run_pipeline

    result = run_pipeline(
        input,
        fmt=fmt,
        output=output,
        model=model,
        quiet=quiet,
        mapping=_parse_map(mapping, map_file),
        label_column=label_column,
        category_column=category_column,
    )
    if not quiet:
        typer.echo(f"outputs: {result.output_dir}", err=True)
        typer.echo(f"report: {Path(str(result.output_dir)) / 'report.html'}", err=True)


@app.command()
def analyze(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a previous run.")],
    analyzer: AnalyzerOpt = "rules",
    batch_size: BatchOpt = None,
    max_rpm: RpmOpt = None,
    redact_ips: RedactOpt = False,
    no_cache: NoCacheOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Re-run root-cause analysis on a finished run's anomalies."""
    from netrca.pipeline import reanalyze

    chosen = _analyzer(analyzer, batch_size, max_rpm, redact_ips, no_cache)
    analyses = reanalyze(run_dir, analyzer=chosen, quiet=quiet)
    if not quiet:
        _report_analyses(analyses, run_dir)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a previous run.")],
    label_column: LabelOpt = None,
    category_column: CategoryOpt = None,
) -> None:
    """Compute metrics against ground truth; write evaluation.json and print it."""
    from netrca.pipeline import evaluate_run

    _print_json(evaluate_run(run_dir, label_column=label_column, category_column=category_column))


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a run.")],
) -> None:
    """Check a run folder: complete (manifest), unchanged (sizes, SHA-256) and consistent
    (row count, flow ids, one analysis per incident). Exit 0 if so, 2 with the reason."""
    from netrca.report.verify import verify_run

    check = verify_run(run_dir)
    if not check.ok:
        raise NetrcaError(check.summary())
    typer.echo(check.summary())


@app.command()
def version() -> None:
    """Print the netrca version."""
    typer.echo(__version__)


register_view_commands(app)
from netrca.dev.cli import dev_app  # noqa: E402

app.add_typer(dev_app, name="dev")
app.add_typer(synth_app, name="synth")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and maps errors to exit codes."""
    configure_arrow_pool()
    configure_malloc()
    configure_numpy_pages()
    # A run allocates millions of short-lived objects in bursts (per-value text, JSON):
    # with the default 700-object threshold the young-generation collector ran ~400
    # times on 1M flows (0.2 s); 10,000 cuts it to ~80 runs (0.09 s). Cycles are still
    # collected, only less often.
    gc.set_threshold(10_000, 20, 20)
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


def entry() -> None:
    """The ``netrca`` command (console script and ``python -m netrca``): :func:`main`,
    then a shorter interpreter exit.

    What a run leaves is moved out of the garbage collector's reach (``gc.freeze``)
    before the interpreter finalises: its module teardown runs several full
    collections, and over what a 1M-flow ``netrca detect`` had imported and built they
    cost ~0.2 s (0.24-0.26 s from the command's return to the process's end, 0.06-0.07 s
    frozen). Exit handlers and module teardown still run and the process's end returns
    the memory; what is lost is the finalisers (``__del__``, weakref callbacks) of
    reference cycles still uncollected at exit, which the collector no longer reaches.
    netrca closes its files and temporary outputs explicitly and relies on none. Not in
    :func:`main`, which tests and programs call in their own process.
    """
    try:
        main()
    finally:
        gc.freeze()
