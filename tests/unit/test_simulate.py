"""The simulator: reproducible, labelled, every category injected, not trivially separable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from netrca.errors import ConfigError
from netrca.io import read_flows
from netrca.simulate import INJECTORS, Scenario, simulate, write_flows


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_flows(simulate(Scenario(n_flows=2000), seed=3), a)
    write_flows(simulate(Scenario(n_flows=2000), seed=3), b)
    write_flows(simulate(Scenario(n_flows=2000), seed=4), c)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]


def test_csv_bytes_are_those_pandas_writes(tmp_path: Path, sim_frame: pd.DataFrame) -> None:
    """The CSV goes through netrca's Arrow-based writer; the file is what pandas writes."""
    path = tmp_path / "flows.csv"
    write_flows(sim_frame, path)
    assert path.read_bytes() == sim_frame.to_csv(index=False, lineterminator="\n").encode()


def test_every_category_is_labelled(sim_frame: pd.DataFrame) -> None:
    counts = sim_frame["root_cause"].value_counts()
    assert set(INJECTORS) <= set(counts.index)
    assert (sim_frame["label"] == (sim_frame["root_cause"] != "normal")).all()
    assert 0.03 < sim_frame["label"].mean() < 0.3


def test_values_are_valid_canonical_rows(sim_csv: Path, sim_frame: pd.DataFrame) -> None:
    r = read_flows(sim_csv)
    assert len(r.rejects) == 0 and len(r.flows) == len(sim_frame)
    assert (sim_frame[["bytes_sent", "bytes_received"]] >= 0).all().all()
    assert set(sim_frame["status"]) == {"SUCCESS", "FAILED"}
    assert sim_frame["timestamp"].is_monotonic_increasing


def test_no_single_column_gives_the_answer(sim_frame: pd.DataFrame) -> None:
    """No one raw column separates anomalies well (the detector must combine evidence)."""
    y = sim_frame["label"].to_numpy()
    for col in ("bytes_sent", "bytes_received", "latency", "duration", "destination_port"):
        x = sim_frame[col].to_numpy(dtype=float)
        auc = roc_auc_score(y, x)
        assert max(auc, 1 - auc) < 0.85, col
    for col in ("status", "error_code", "protocol"):
        share = sim_frame.groupby(col)["label"].mean()
        big = sim_frame[col].map(sim_frame[col].value_counts()) > 50
        assert not ((sim_frame[col].map(share) == 1.0) & big).all()


def test_zeek_output_reads_back(tmp_path: Path) -> None:
    frame = simulate(Scenario(n_flows=1000), seed=1)
    p = tmp_path / "conn.log"
    write_flows(frame, p, "zeek")
    r = read_flows(p)
    assert len(r.flows) == len(frame) and len(r.rejects) == 0
    assert np.array_equal(
        r.flows["bytes_sent"].to_numpy(dtype=np.int64), frame["bytes_sent"].to_numpy()
    )


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(n_flows=10),
        Scenario(hours=0),
        Scenario(incidents={"ddos": 1}),
        Scenario(incidents={"port_scan": -1}),
    ],
)
def test_bad_scenarios(scenario: Scenario) -> None:
    with pytest.raises(ConfigError):
        simulate(scenario)
