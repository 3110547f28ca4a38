"""Run folders are published all at once; an interrupted run has no manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from netrca import pipeline
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


def test_an_aborted_run_leaves_the_previous_one_whole(tmp_path: Path) -> None:
    first = RunWriter(tmp_path)
    first.path("a.txt").write_text("A")
    before = first.commit({"rows": 1}).read_bytes()
    w = RunWriter(tmp_path)  # nothing in the folder changes until commit
    assert (tmp_path / MANIFEST).read_bytes() == before
    w.path("a.txt").write_text("half")
    w.path("x").write_text("half")
    w.abort()
    assert (tmp_path / MANIFEST).read_bytes() == before
    assert (tmp_path / "a.txt").read_text() == "A" and not (tmp_path / "x").exists()
    assert not list(tmp_path.glob(".staging-*"))
    (tmp_path / MANIFEST).write_text(json.dumps({"status": "running"}))
    assert read_manifest(tmp_path) is None


def test_commit_removes_the_old_manifest_before_moving_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    RunWriter(tmp_path).commit({})
    w = RunWriter(tmp_path)
    w.path("a.txt").write_text("new")
    seen = []

    def replace(src: object, dst: object) -> None:  # a crash while moving files in
        seen.append((tmp_path / MANIFEST).exists())
        raise OSError(5, "I/O error")

    monkeypatch.setattr("netrca.report.outputs.os.replace", replace)
    with pytest.raises(OSError, match="I/O error"):
        w.commit({})
    assert seen == [False] and read_manifest(tmp_path) is None


def test_manifest_hashes_every_file(tmp_path: Path) -> None:
    w = RunWriter(tmp_path)
    blobs = {f"f{i}.bin": bytes([i]) * (i * 700_001) for i in range(5)}
    for name, data in blobs.items():
        w.path(name).write_bytes(data)
    m = w.commit({})
    files = json.loads(m.read_text())["files"]
    assert set(files) == set(blobs)
    for name, data in blobs.items():
        assert files[name] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_failed_parquet_write_fails_the_run_and_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    def disk_full(table: object, where: object, **kw: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pipeline.run(n_flows=600, output=tmp_path, quiet=True)
    assert read_manifest(tmp_path) is None
    assert not list(tmp_path.glob("*.parquet")) and not list(tmp_path.glob(".staging-*"))
    assert not (tmp_path / "network_logs.csv").exists()


def test_a_bad_model_fails_before_the_flows_are_read(tmp_path: Path) -> None:
    from netrca.errors import ModelError

    flows = tmp_path / "flows.csv"
    flows.write_text("not,a,flow,file\n1,2,3,4\n")  # reading it would fail too
    with pytest.raises(ModelError, match="no such model file"):
        pipeline.run(flows, model=tmp_path / "absent.npz", output=tmp_path / "out", quiet=True)
    assert read_manifest(tmp_path / "out") is None
