"""Partitioned scoring: halos make windowed features exact; Dask equals the local engine."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.detect import Detector
from netrca.errors import ConfigError, InputError
from netrca.partitioned import (
    detect_partitioned,
    partition_files,
    plan_partitions,
    split_input,
    with_halo,
)

WINDOWED = [
    "src_win_flows",
    "src_win_distinct_dst",
    "src_win_distinct_dport",
    "src_win_fail_ratio",
    "src_win_log_bytes_sent",
    "dst_win_flows",
    "dst_win_distinct_src",
    "dst_win_fail_ratio",
    "pair_win_flows",
]


@pytest.fixture(scope="module")
def detector(sim_flows: pd.DataFrame) -> Detector:
    return Detector(random_state=0, n_estimators=30).fit(sim_flows)


@pytest.fixture(scope="module")
def parts_dir(tmp_path_factory: pytest.TempPathFactory, sim_flows: pd.DataFrame) -> Path:
    """The flows cut into 5 partitions by row position, rows shuffled inside: partition
    boundaries fall inside windows, and rows are out of time order."""
    d = tmp_path_factory.mktemp("parts")
    bounds = np.linspace(0, len(sim_flows), 6).astype(int)
    for i in range(5):
        chunk = sim_flows.iloc[bounds[i] : bounds[i + 1]]
        chunk.sample(frac=1.0, random_state=i).to_parquet(d / f"p{i}.parquet", index=False)
    return d


def test_halo_gives_every_flow_its_whole_window(
    parts_dir: Path, sim_flows: pd.DataFrame, detector: Detector
) -> None:
    block = 4 * detector.window_seconds
    plans = plan_partitions(partition_files(parts_dir), block)
    assert any(p.halo for p in plans)  # boundaries do cut windows
    whole = detector.features_.transform(sim_flows)
    key = sim_flows[["timestamp", "source_ip", "source_port", "destination_ip"]].astype(str)
    index = pd.Series(np.arange(len(sim_flows)), index=pd.MultiIndex.from_frame(key))
    assert index.index.is_unique
    for plan in plans:
        flows, n = with_halo(plan, block)
        feats = detector.features_.transform(flows).iloc[:n]
        k = flows.iloc[:n][["timestamp", "source_ip", "source_port", "destination_ip"]]
        rows = index.loc[pd.MultiIndex.from_frame(k.astype(str))].to_numpy()
        np.testing.assert_array_equal(feats[WINDOWED].to_numpy(), whole[WINDOWED].to_numpy()[rows])
        # without the halo, windows cut at the boundary would count fewer flows
        alone = detector.features_.transform(flows.iloc[:n])
        if plan.halo:
            assert (alone["src_win_flows"] < feats["src_win_flows"]).any()


def test_dask_local_cluster_equals_local_engine(
    parts_dir: Path, tmp_path: Path, detector: Detector
) -> None:
    pytest.importorskip("distributed")
    local = detect_partitioned(parts_dir, detector, tmp_path / "local", engine="local")
    # a real distributed.LocalCluster with 2 workers (threads, so the test starts fast;
    # the benchmark uses worker processes)
    dask = detect_partitioned(
        parts_dir, detector, tmp_path / "dask", engine="dask", workers=2, processes=False
    )
    assert dask["partitions"] == local["partitions"] == 5
    assert dask["rows"] == local["rows"]
    for f in sorted((tmp_path / "local" / "predictions").glob("*.parquet")):
        a = pd.read_parquet(f)
        b = pd.read_parquet(tmp_path / "dask" / "predictions" / f.name)
        pd.testing.assert_frame_equal(a, b)
    ids = pd.concat(
        pd.read_parquet(f, columns=["flow_id"])
        for f in sorted((tmp_path / "dask" / "predictions").glob("*.parquet"))
    )["flow_id"]
    assert ids.tolist() == list(range(local["rows"]))


def test_one_partition_equals_in_memory_scoring(
    tmp_path: Path, sim_flows: pd.DataFrame, detector: Detector
) -> None:
    sim_flows.to_parquet(tmp_path / "all.parquet", index=False)
    detect_partitioned(tmp_path / "all.parquet", detector, tmp_path / "out", engine="local")
    got = pd.read_parquet(tmp_path / "out" / "predictions" / "part-00000.parquet")
    expected = detector.score(sim_flows)
    np.testing.assert_array_equal(got["anomaly_score"], np.round(expected.score, 6))
    assert got["reasons"].tolist() == expected.reasons


def test_split_keeps_original_line_numbers(tmp_path: Path, sim_csv: Path) -> None:
    lines = sim_csv.read_text().splitlines(keepends=True)
    lines.insert(3000, "not,a,valid,row\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    info = split_input(bad, tmp_path / "parts", partition_flows=1000)
    assert info["partitions"] == _parts(len(lines), 1000) == 6  # 25-line tail joined
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert rejects["line"].tolist() == [3001]


def test_bad_engine(tmp_path: Path, detector: Detector) -> None:
    with pytest.raises(ConfigError, match="engine"):
        detect_partitioned(tmp_path, detector, tmp_path / "o", engine="spark")


def test_split_log_scored_in_one_partition_equals_in_memory(
    tmp_path: Path, sim_csv: Path, detector: Detector
) -> None:
    from netrca.io import read_flows

    detect_partitioned(sim_csv, detector, tmp_path / "out", partition_flows=10**6)
    got = pd.read_parquet(tmp_path / "out" / "predictions" / "part-00000.parquet")
    flows = read_flows(sim_csv).flows
    expected = detector.score(flows)
    pd.testing.assert_frame_equal(got[list(flows.columns)], flows)
    np.testing.assert_array_equal(got["anomaly_score"], np.round(expected.score, 6))
    assert got["reasons"].tolist() == expected.reasons


def test_dask_worker_processes_use_netrca_malloc_settings(
    parts_dir: Path, tmp_path: Path, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dask's nanny would start workers with MALLOC_TRIM_THRESHOLD_=65536 (pinning glibc's
    mmap threshold at 128 KiB); a LocalCluster netrca starts leaves malloc to netrca."""
    import sys

    pytest.importorskip("distributed")
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc malloc only")
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    summary = detect_partitioned(
        parts_dir, detector, tmp_path / "procs", engine="dask", workers=1, processes=True
    )
    per = summary["per_partition"]
    assert {p["pid"] for p in per} != {os.getpid()}  # ran in a worker process
    assert all(p["malloc_tuned"] is True for p in per), per
    assert all(p["process_max_rss_mib"] > 0 for p in per)
    assert set(summary["seconds"]) == {"split", "plan", "run", "total"}


def _worker_state() -> dict[str, bool]:
    import sys

    from netrca.detect import _kernel, _native

    return {
        "pipeline": "netrca.pipeline" in sys.modules,
        # numba's kernel is loaded exactly where scoring will use it (no extension)
        "kernel": ("top" in _kernel._COMPILED) != _native.top_available(),
    }


def test_local_cluster_workers_load_the_scoring_code_while_they_start() -> None:
    """The workers netrca starts import the scoring path, and numba's compiler target where
    the numba kernels will run, in Dask's preload, before any task (and while the client
    plans the partitions)."""
    pytest.importorskip("distributed")
    from netrca.dask_cluster import local_cluster

    with local_cluster(1) as started:
        states = started.result()[1].run(_worker_state)
    assert len(states) == 1
    assert all(s == {"pipeline": True, "kernel": True} for s in states.values()), states


def _numba_loaded() -> bool:
    import sys

    return "numba" in sys.modules


def test_dask_workers_score_on_one_thread_without_loading_numba_where_simd_runs(
    tmp_path: Path, parts_dir: Path, detector: Detector
) -> None:
    """A worker owns one core: the kernel scores on one thread in its tasks, and where the
    SIMD kernel runs, numba (only its fallback) is never imported in the worker."""
    pytest.importorskip("distributed")
    from netrca.dask_cluster import local_cluster
    from netrca.detect import _native

    with local_cluster(1) as started:
        out = detect_partitioned(
            parts_dir, detector, tmp_path / "out", engine="dask", cluster=started
        )
        (loaded,) = started.result()[1].run(_numba_loaded).values()
    assert [p["kernel_threads"] for p in out["per_partition"]] == [1] * out["partitions"]
    assert loaded == (not _native.available())


def test_workers_in_this_process_leave_its_scoring_threads_as_they_were(
    tmp_path: Path, parts_dir: Path, detector: Detector
) -> None:
    """Workers that are threads of this process limit the kernel in their own threads only."""
    pytest.importorskip("distributed")
    from netrca.detect import _native

    before, env = _native.threads(), os.environ.get("NUMBA_NUM_THREADS")
    out = detect_partitioned(
        parts_dir, detector, tmp_path / "out", engine="dask", workers=2, processes=False
    )
    assert {p["kernel_threads"] for p in out["per_partition"]} == {1}
    assert _native.threads() == before
    assert os.environ.get("NUMBA_NUM_THREADS") == env


def _parent_maps() -> str:
    return Path(f"/proc/{os.getppid()}/maps").read_text()


def test_workers_are_forked_with_the_scoring_code_already_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """netrca starts the fork server itself, with the scoring code in its preload, so the
    server imports it while the client imports Dask and every worker is forked with it
    loaded: the worker's parent process (the server) has the compiled scorer mapped."""
    import multiprocessing
    import sys

    pytest.importorskip("distributed")
    from netrca.dask_cluster import local_cluster
    from netrca.detect import _native

    if not sys.platform.startswith("linux") or not _native.top_available():
        pytest.skip("needs /proc and the compiled scorer")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    monkeypatch.delenv("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD", raising=False)
    with local_cluster(1) as started:
        maps = started.result()[1].run(_parent_maps)
    (parent,) = maps.values()
    assert "netrca/detect/_simd" in parent


def _profiling() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


@pytest.mark.parametrize("user", [None, "True"])
def test_workers_run_without_dasks_profiler_unless_the_user_set_it(
    monkeypatch: pytest.MonkeyPatch, user: str | None
) -> None:
    """The workers' statistical profiler feeds a dashboard this cluster does not serve;
    netrca turns it off in the workers it starts, unless the user's environment sets it."""
    pytest.importorskip("distributed")
    from netrca.dask_cluster import PROFILE_ENV, local_cluster

    if user is None:
        monkeypatch.delenv(PROFILE_ENV, raising=False)
    else:
        monkeypatch.setenv(PROFILE_ENV, user)
    with local_cluster(1) as started:
        states = started.result()[1].run(_profiling)
    assert list(states.values()) == [user is not None]


def test_a_cluster_started_by_the_caller_is_used_and_left_to_it(
    parts_dir: Path, tmp_path: Path, detector: Detector
) -> None:
    """The CLI starts the LocalCluster before it loads the model and hands it over;
    detect_partitioned scores on it and leaves closing it to the caller."""
    pytest.importorskip("distributed")
    from netrca.dask_cluster import local_cluster

    with local_cluster(2, processes=False) as started:
        summary = detect_partitioned(
            parts_dir, detector, tmp_path / "given", engine="dask", cluster=started
        )
        client = started.result()[1]
        assert client.status == "running"  # still open: its starter closes it
        n_workers = len(client.scheduler_info()["workers"])
    assert client.status == "closed"
    assert n_workers == 2
    assert summary["rows"] == sum(len(pd.read_parquet(f)) for f in partition_files(parts_dir))


def test_local_cluster_rejects_zero_workers() -> None:
    from netrca.dask_cluster import local_cluster

    with pytest.raises(ConfigError, match="at least 1"), local_cluster(0):
        pass


def _parts(n_lines: int, per: int) -> int:
    """Partitions of a log of ``n_lines`` lines of about equal length: chunks of ``per``
    lines, a last one under TAIL_SHARE of that joining the one before."""
    from netrca.partitioned import TAIL_SHARE

    full, tail = divmod(n_lines, per)
    return full + (tail > 0) - (full > 0 and 0 < tail < TAIL_SHARE * per)


def test_a_short_tail_joins_the_chunk_before_it(tmp_path: Path) -> None:
    from netrca.partitioned import _chunk_bounds

    path = tmp_path / "log.txt"
    path.write_text("".join(f"line {i:04d}\n" for i in range(1005)))
    chunks = _chunk_bounds(path, 100)
    assert len(chunks) == 10  # not 11: the 5-line tail is part of the last chunk
    assert chunks[-1] == (900 * 10, 1005 * 10, 901)
    path.write_text("".join(f"line {i:04d}\n" for i in range(1020)))
    assert len(_chunk_bounds(path, 100)) == 11  # a 20-line tail stays a chunk


@pytest.mark.parametrize(("lines", "one"), [(100, True), (105, True), (120, False), (999, False)])
def test_a_log_is_one_chunk_exactly_when_the_split_makes_one(
    tmp_path: Path, lines: int, one: bool
) -> None:
    from netrca.partitioned import _chunk_bounds, _one_chunk

    path = tmp_path / "log.txt"
    path.write_text("".join(f"line {i:04d}\n" for i in range(lines)))
    assert _one_chunk(path, 100) is one
    full = _chunk_bounds(path, 100)
    assert (len(full) == 1) is one
    if lines >= 200:  # stopped at the second chunk end: the first two chunks, as in full
        assert _chunk_bounds(path, 100, stop_at=2) == full[:2]


def test_a_short_tail_of_a_gzip_log_joins_the_piece_before_it(tmp_path: Path) -> None:
    import gzip

    from netrca.partitioned import _gzip_pieces

    lines = [f"line {i:04d}\n" for i in range(1005)]
    path = tmp_path / "log.gz"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    pieces = _gzip_pieces(path, 100, tmp_path, "log", block_bytes=64)
    assert [first for _, _, _, first in pieces] == list(range(1, 902, 100))
    last, start, size, _ = pieces[-1]
    assert start == 0 and size == Path(last).stat().st_size
    assert Path(last).read_text() == "".join(lines[900:])
    assert len(list(tmp_path.glob(".log-*"))) == 10  # the tail's own file is gone


def test_a_log_of_one_partition_is_scored_as_read_like_a_split_one(
    tmp_path: Path, sim_csv: Path, detector: Detector
) -> None:
    """The local engine scores a log that fits one partition without the Parquet round
    trip; the Dask engine splits it: the same predictions, rejects and summary."""
    pytest.importorskip("distributed")
    lines = sim_csv.read_text().splitlines(keepends=True)
    lines.insert(3000, "not,a,valid,row\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    local = detect_partitioned(bad, detector, tmp_path / "local")
    dask = detect_partitioned(
        bad, detector, tmp_path / "dask", engine="dask", workers=1, processes=False
    )
    assert local["partitions"] == dask["partitions"] == 1
    assert local["split"] == dask["split"] == {
        "format": "csv", "partitions": 1, "rows": len(lines) - 2, "rejected": 1
    }  # fmt: skip
    assert not (tmp_path / "local" / ".partitions").exists()
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "local" / "rejects.csv"),
        pd.read_csv(tmp_path / "dask" / "rejects.csv"),
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "local" / "predictions" / "part-00000.parquet"),
        pd.read_parquet(tmp_path / "dask" / "predictions" / "part-00000.parquet"),
    )


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("per_chunk", [1, 3, 4, 5, 100])
def test_chunk_bounds_cut_whole_lines(
    tmp_path: Path, per_chunk: int, trailing_newline: bool
) -> None:
    from netrca.partitioned import _chunk_bounds

    lines = [f"line {i} " + "x" * (i % 7) + "\n" for i in range(12)]
    text = "".join(lines)
    if not trailing_newline:
        text = text[:-1]
    path = tmp_path / "log.txt"
    path.write_text(text)
    data = path.read_bytes()
    # tiny blocks: chunk ends fall in every position of a block, and across blocks
    chunks = _chunk_bounds(path, per_chunk, block_bytes=5)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    for start, end, first in chunks:
        got = data[start:end].decode().splitlines()
        want = [line.rstrip("\n") for line in lines[first - 1 : first - 1 + per_chunk]]
        assert got == want


def test_dask_splits_a_log_on_its_workers_like_the_local_engine(
    tmp_path: Path, sim_csv: Path, detector: Detector
) -> None:
    """A log given to the Dask engine is cut by its workers: the same partitions,
    predictions, rejects and original line numbers as the local engine's split."""
    pytest.importorskip("distributed")
    lines = sim_csv.read_text().splitlines(keepends=True)
    assert len(lines) > 5000
    lines.insert(3000, "not,a,valid,row\n")
    lines.insert(5000, "10.0.0.1,also,bad\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    local = detect_partitioned(bad, detector, tmp_path / "local", partition_flows=2000)
    dask = detect_partitioned(
        bad,
        detector,
        tmp_path / "dask",
        engine="dask",
        workers=2,
        processes=False,
        partition_flows=2000,
    )
    assert dask["split"] == local["split"]
    assert local["split"]["partitions"] == _parts(len(lines), 2000) == 3  # 27-line tail joined
    assert local["split"]["rejected"] == 2
    assert dask["rows"] == local["rows"] == len(lines) - 3
    a = pd.read_csv(tmp_path / "local" / "rejects.csv")
    b = pd.read_csv(tmp_path / "dask" / "rejects.csv")
    pd.testing.assert_frame_equal(a, b)
    assert a["line"].tolist() == [3001, 5001]
    names = sorted(f.name for f in (tmp_path / "local" / "predictions").glob("*.parquet"))
    assert names == sorted(f.name for f in (tmp_path / "dask" / "predictions").glob("*.parquet"))
    for name in names:
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "local" / "predictions" / name),
            pd.read_parquet(tmp_path / "dask" / "predictions" / name),
        )


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_bad_log_fails_with_its_own_name_and_leaves_no_results(
    tmp_path: Path, sim_csv: Path, detector: Detector, engine: str
) -> None:
    """A log the reader refuses fails with one error naming the user's file (not the
    chunk's temporary copy), and the output folder keeps no predictions, summary or
    rejects: neither half-written ones nor an earlier run's."""
    from netrca.errors import MissingColumnsError

    if engine == "dask":
        pytest.importorskip("distributed")
    out = tmp_path / "out"
    detect_partitioned(sim_csv, detector, out, partition_flows=2000)  # an earlier run
    assert (out / "partitions.json").exists() and any((out / "predictions").iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(MissingColumnsError) as err:
        detect_partitioned(
            bad, detector, out, engine=engine, workers=1, processes=False, partition_flows=1000
        )
    assert str(err.value).startswith(f"{bad}: missing required column(s)")
    assert ".chunk" not in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == []


def test_a_folder_of_logs_gzip_included_is_split_log_by_log(
    tmp_path: Path, sim_csv: Path, detector: Detector
) -> None:
    """A folder of logs (rotated, some gzip-compressed) instead of Parquet partitions:
    each log is cut on its own, in name order; a gzip log gives the partitions its plain
    text gives; rejects name their log and line; Dask and the local engine agree."""
    import gzip

    header, *rows = sim_csv.read_text().splitlines(keepends=True)
    first, second = [header, *rows[:3000]], [header, *rows[3000:]]
    first.insert(1200, "bad,row\n")  # line 1201 of a.csv
    second.insert(2500, "also,bad,row\n")  # line 2501 of b.csv(.gz)
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    for folder in (plain, packed):
        folder.mkdir()
        (folder / "a.csv").write_text("".join(first))
        (folder / ".hidden.csv").write_text("not,a,log\n")  # hidden files are skipped
    (plain / "b.csv").write_text("".join(second))
    (packed / "b.csv.gz").write_bytes(gzip.compress("".join(second).encode()))

    got = {}
    for name, folder, engine in (
        ("plain", plain, "local"),
        ("packed", packed, "local"),
        ("packed-dask", packed, "dask"),
    ):
        if engine == "dask":
            pytest.importorskip("distributed")
        out = tmp_path / f"out-{name}"
        summary = detect_partitioned(
            folder,
            detector,
            out,
            engine=engine,
            workers=2,
            processes=False,
            partition_flows=2000,
        )
        assert summary["split"]["logs"] == 2
        assert summary["split"]["partitions"] == 2 + -(-len(second) // 2000)
        assert summary["rows"] == len(rows)
        rejects = pd.read_csv(out / "rejects.csv")
        suffix = ".gz" if folder == packed else ""
        assert [
            (Path(f).name, n) for f, n in zip(rejects["file"], rejects["line"], strict=True)
        ] == [
            ("a.csv", 1201),
            (f"b.csv{suffix}", 2501),
        ]
        got[name] = pd.concat(
            pd.read_parquet(f) for f in sorted((out / "predictions").glob("*.parquet"))
        ).reset_index(drop=True)
        assert not list(out.glob(".*"))  # the split's pieces are gone
    pd.testing.assert_frame_equal(got["plain"], got["packed"])
    pd.testing.assert_frame_equal(got["packed"], got["packed-dask"])
    assert got["plain"]["flow_id"].tolist() == list(range(len(rows)))


def test_workers_are_forked_from_a_fork_server_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing

    dask = pytest.importorskip("dask")
    from netrca.dask_cluster import _forkserver_is_better

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    monkeypatch.delenv("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD", raising=False)
    assert _forkserver_is_better()
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD", "spawn")
    assert not _forkserver_is_better()  # the user's explicit choice, even of the default
    monkeypatch.delenv("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD")
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        assert not _forkserver_is_better()


def test_a_zeek_folder_keeps_its_conn_logs_and_skips_the_others(
    tmp_path: Path, sim_frame: pd.DataFrame, detector: Detector
) -> None:
    """Zeek writes dns.log, http.log... beside conn.log in the same folder: a folder given
    to the partitioned engines keeps the conn logs and lists the others as skipped."""
    from netrca.simulate import write_flows

    day = tmp_path / "2026-11-26"
    day.mkdir()
    write_flows(sim_frame.iloc[:3000], day / "conn.00:00:00-01:00:00.log", "zeek")
    write_flows(sim_frame.iloc[3000:], day / "conn.01:00:00-02:00:00.log", "zeek")
    (day / "dns.00:00:00-01:00:00.log").write_text(
        "#separator \\x09\n#path\tdns\n#fields\tts\tquery\n#types\ttime\tstring\n"
        "1700000000.0\texample.org\n"
    )
    summary = detect_partitioned(day, detector, tmp_path / "out", partition_flows=2000)
    assert summary["split"]["logs"] == 2
    assert [Path(f).name for f in summary["split"]["skipped_logs"]] == ["dns.00:00:00-01:00:00.log"]
    assert summary["rows"] == len(sim_frame)
    only_dns = tmp_path / "dns"
    only_dns.mkdir()
    (only_dns / "dns.log").write_text((day / "dns.00:00:00-01:00:00.log").read_text())
    with pytest.raises(InputError, match=r"no data rows \(1 Zeek logs other than conn skipped\)"):
        detect_partitioned(only_dns, detector, tmp_path / "out2", partition_flows=2000)


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_gzip_log_is_a_clear_error(
    tmp_path: Path, sim_csv: Path, detector: Detector, damage: str
) -> None:
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    packed = bytearray(gzip.compress(sim_csv.read_bytes()))
    half = len(packed) // 2
    if damage == "truncated":  # the stream ends early (EOFError)
        packed = packed[:half]
    else:  # the deflate stream garbled from its first block on (zlib.error)
        packed[10:74] = bytes(range(255, 191, -1))
    (logs / "a.csv.gz").write_bytes(bytes(packed))
    with pytest.raises(InputError, match=r"a\.csv\.gz: corrupt gzip data"):
        detect_partitioned(logs, detector, tmp_path / "out", partition_flows=1000)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
