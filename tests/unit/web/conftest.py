"""A small finished run for the dashboard store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runs import make_run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("web") / "run"
    make_run(out)
    return out
