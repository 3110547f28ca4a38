"""CLI commands for the analyst's view: ``report``, ``serve`` and ``export`` (thin wrappers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["export", "register", "report", "serve"]

RunDir = Annotated[Path, typer.Argument(help="A run folder (output of `netrca run`).")]


def report(run_dir: RunDir) -> None:
    """Re-render report.html and report.json of a finished run (e.g. after adding fidelity.json)."""
    from netrca.report.html import rebuild_report

    typer.echo(f"report: {rebuild_report(run_dir)}", err=True)


def serve(
    run_dir: Annotated[Path, typer.Argument(help="A run folder or a folder of run folders.")],
    port: Annotated[
        int, typer.Option(help="TCP port; 0 takes a free one (the URL is printed).")
    ] = 8050,
    host: Annotated[
        str, typer.Option(help="Address to bind; keep 127.0.0.1 unless you mean to share the data.")
    ] = "127.0.0.1",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No access log.")] = False,
) -> None:
    """Local web dashboard: browse runs, filter incidents, open an incident and its flows."""
    from netrca.web.app import serve as serve_app

    serve_app(run_dir, host=host, port=port, quiet=quiet)


def export(
    run_dir: RunDir,
    fmt: Annotated[str, typer.Option("--format", "-f", help="ecs, splunk or csv.")] = "ecs",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
    per: Annotated[
        str, typer.Option(help="One alert per 'incident' or per anomalous 'flow'.")
    ] = "incident",
    host: Annotated[str, typer.Option(help="Splunk HEC 'host' value.")] = "netrca",
    index: Annotated[str | None, typer.Option(help="Splunk HEC 'index' (optional).")] = None,
) -> None:
    """Export alerts for a SIEM: ECS NDJSON (Elastic), Splunk HEC events, or CSV."""
    from netrca.report.export import export_alerts

    n = export_alerts(run_dir, fmt, output, per=per, host=host, index=index)
    if output is not None:
        typer.echo(f"{n} alert(s) written to {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command(name="report")(report)
    app.command(name="serve")(serve)
    app.command(name="export")(export)
