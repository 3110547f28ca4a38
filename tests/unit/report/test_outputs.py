"""Run folders are published all at once; an interrupted run has no manifest."""

from __future__ import annotations

import json
from pathlib import Path

from netrca.report import MANIFEST, RunWriter, read_manifest


def test_commit_publishes_files_then_manifest(tmp_path: Path) -> None:
    w = RunWriter(tmp_path)
    w.path("a.txt").write_text("A")
    assert not (tmp_path / "a.txt").exists() and read_manifest(tmp_path) is None
    w.commit({"rows": 1})
    m = read_manifest(tmp_path)
    assert m is not None and m["rows"] == 1 and set(m["files"]) == {"a.txt"}
    assert (tmp_path / "a.txt").read_text() == "A"
    assert not list(tmp_path.glob(".staging-*"))


def test_abort_and_restart_marks_incomplete(tmp_path: Path) -> None:
    RunWriter(tmp_path).commit({})
    w = RunWriter(tmp_path)  # a new run removes the old manifest first
    assert not (tmp_path / MANIFEST).exists()
    w.path("x").write_text("half")
    w.abort()
    assert read_manifest(tmp_path) is None and not (tmp_path / "x").exists()
    (tmp_path / MANIFEST).write_text(json.dumps({"status": "running"}))
    assert read_manifest(tmp_path) is None
