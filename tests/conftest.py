"""Shared fixtures: small simulated runs and the real captures in ../shared/datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netrca.io import read_flows
from netrca.simulate import Scenario, simulate, write_flows

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
ZEEK = DATASETS / "zeek"
CTU_NORMAL = ZEEK / "ctu_normal40_day1_conn.log.labeled"
CTU_NJRAT = ZEEK / "ctu_njrat_botnet230_conn.log.labeled"
NMAP = ZEEK / "nmap_portscan_conn.log"


def cli(*args: str) -> int:
    """``netrca ARGS`` in this process (netrca.cli.main): its exit code."""
    from netrca.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def need(path: Path) -> Path:
    """Skip (with the reason) when a real dataset is not beside the checkout."""
    if not path.exists():
        pytest.skip(f"real dataset not available: {path}")
    return path


@pytest.fixture(scope="session")
def sim_frame() -> pd.DataFrame:
    """6,000 simulated flows, every anomaly category present (seed 7)."""
    return simulate(Scenario(n_flows=6000), seed=7)


@pytest.fixture(scope="session")
def sim_csv(tmp_path_factory: pytest.TempPathFactory, sim_frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("sim") / "flows.csv"
    write_flows(sim_frame, path)
    return path


@pytest.fixture(scope="session")
def sim_flows(sim_csv: Path) -> pd.DataFrame:
    """The simulated flows read back through the CSV reader (canonical dtypes)."""
    return read_flows(sim_csv).flows
