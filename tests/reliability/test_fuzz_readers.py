"""Every reader on hostile input: parsed rows, rejected rows with reasons, or one clear error.

Quick in `make test` (a few hundred inputs); `make stress` runs the coverage-guided version.
"""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netrca.errors import NetrcaError
from netrca.io import read_flows
from tests.reliability.corpus import FORMAT, MUTATIONS, seeds


@functools.cache
def _corpus() -> dict[str, bytes]:
    return seeds(Path(tempfile.mkdtemp(prefix="netrca-seeds-")))


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
    data = MUTATIONS[mutation](_corpus()[name], random.Random(seed))
    path = tmp_path / f"in.{name}"
    path.write_bytes(data)
    for fmt in (FORMAT[name], "auto"):
        outcome(path, fmt)


@pytest.mark.parametrize("name", sorted(FORMAT))
def test_valid_seed_reads_all_rows(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"in.{name}"
    path.write_bytes(_corpus()[name])
    result = read_flows(path, FORMAT[name])
    assert len(result.flows) >= 2
    assert len(result.rejects) == 0
