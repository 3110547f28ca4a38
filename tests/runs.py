"""Small finished runs for report, export and dashboard tests."""

from __future__ import annotations

from pathlib import Path

from netrca.pipeline import RunResult, run


def make_run(out: Path, *, flows: int = 3000, seed: int = 3) -> RunResult:
    """A complete run folder of simulated traffic (ground truth included)."""
    return run(None, output=out, n_flows=flows, seed=seed, quiet=True)
