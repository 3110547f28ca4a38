"""Every reader on hostile input: parsed rows, rejected rows with reasons, or one clear error.

Quick in `make test` (a few hundred inputs); `make stress` runs the coverage-guided version.
"""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netrca.errors import NetrcaError
from netrca.io import read_flows
from tests.reliability.corpus import FORMAT, MUTATIONS, cli_outcome, seeds


@functools.cache
def _corpus() -> dict[str, bytes]:
    return seeds(Path(tempfile.mkdtemp(prefix="netrca-seeds-")))


def _seed(name: str) -> bytes:
    if name not in _corpus():
        pytest.skip("the 'pcap' extra (nfstream) is not installed")
    return _corpus()[name]


def outcome(path: Path, fmt: str) -> str:
    """'rows' or 'error'; anything else (a crash) propagates and fails the test."""
    try:
        result = read_flows(path, fmt)
    except NetrcaError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg.strip(), msg
        return "error"
    assert len(result.flows) > 0
    if len(result.rejects):
        assert list(result.rejects.columns) == ["file", "line", "reason", "raw"]
        assert result.rejects["reason"].astype(str).str.len().min() > 0
    return "rows"


@pytest.mark.parametrize("name", sorted(FORMAT))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=st.sampled_from(sorted(MUTATIONS)), seed=st.integers(0, 2**32 - 1))
def test_reader_never_crashes(name: str, mutation: str, seed: int, tmp_path: Path) -> None:
    data = MUTATIONS[mutation](_seed(name), random.Random(seed))
    path = tmp_path / f"in.{name}"
    path.write_bytes(data)
    for fmt in (FORMAT[name], "auto"):
        outcome(path, fmt)


@pytest.mark.parametrize("name", sorted(FORMAT))
def test_valid_seed_reads_all_rows(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"in.{name}"
    path.write_bytes(_seed(name))
    result = read_flows(path, FORMAT[name])
    assert len(result.flows) >= 2
    assert len(result.rejects) == 0


@pytest.mark.parametrize("name", ["cicflowmeter", "csv", "nfdump", "zeek"])  # named columns
@pytest.mark.parametrize("seed", [0, 1])
def test_reordered_columns_read_all_rows(name: str, seed: int, tmp_path: Path) -> None:
    """Columns are found by name: the same file with its columns permuted reads the same rows."""
    path = tmp_path / f"in.{name}"
    data = MUTATIONS["reorder_columns"](_corpus()[name], random.Random(seed))
    assert data != _corpus()[name]
    path.write_bytes(data)
    result = read_flows(path, FORMAT[name])
    base = tmp_path / f"base.{name}"
    base.write_bytes(_corpus()[name])
    expected = read_flows(base, FORMAT[name]).flows
    assert len(result.rejects) == 0
    cols = ["timestamp", "source_ip", "destination_ip", "destination_port", "bytes_sent"]
    got = result.flows[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[cols].reset_index(drop=True))


@pytest.mark.parametrize(
    ("name", "mutation", "fmt", "expected"),
    [
        ("zeek", "truncate", "zeek", "ok"),
        ("csv", "random_bytes", "auto", "error"),
        ("suricata", "empty", "suricata", "error"),
        ("nfdump", "reorder_columns", "auto", "ok"),
    ],
)
def test_cli_on_hostile_input(
    name: str, mutation: str, fmt: str, expected: str, tmp_path: Path
) -> None:
    """The whole `netrca run`: a folder that verifies, or exit 2 with one line; never a crash."""
    path = tmp_path / f"in.{name}"
    path.write_bytes(MUTATIONS[mutation](_corpus()[name], random.Random(3)))
    assert cli_outcome(path, fmt, tmp_path / "out") == expected
