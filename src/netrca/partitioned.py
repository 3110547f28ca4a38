"""Partitioned scoring for data larger than memory: time blocks with halos, local or Dask.

A *partitioned dataset* is a folder of Parquet files of flows (or one large Zeek/CSV
log, which :func:`split_input` cuts into such a folder in bounded memory). Each
partition is scored on its own, so memory is bounded by the largest partition, and
partitions can run in parallel on a Dask cluster.

Windows that cross partition boundaries. Every windowed feature and behavioural
detector groups flows by tumbling windows aligned on the epoch: ``window_seconds``,
twice and four times that (brute force and congestion), all nested in *blocks* of
``4 * window_seconds``. A partition is scored together with its *halo*: the flows of
other partitions that fall in the blocks its own flows touch. So every windowed
aggregate of a flow sees exactly the flows of its window, whatever the partitioning
and the order of the rows: windowed features equal those of scoring everything at
once. Statistics over the whole capture (per-pair beacon regularity, slow scans,
persistent brute force, exfiltration totals, capture-wide outage rates, per-pair
inter-arrival features) are computed over the partition and its halo: with one
partition (an input smaller than ``partition_flows``) this is the in-memory result
exactly; with many, each partition is its own capture for those statistics.

The Dask engine broadcasts the fitted detector to the workers once, scores partitions
with the same code (and the same compiled forest kernel) as the local engine, and
every partition's predictions are written as one Parquet file of the output folder,
so both engines write identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from netrca import prefetch
from netrca.dask_cluster import dask_module, local_cluster
from netrca.detect import Detector, _native
from netrca.errors import ConfigError, InputError, NetrcaError
from netrca.io import ParquetReader, read_flows
from netrca.io._source import gzip_errors, is_gzip
from netrca.io._text import byte_count
from netrca.io.canonical import canonicalize, epoch_seconds
from netrca.io.writers import to_parquet, write_csv
from netrca.runtime import (
    configure_arrow_pool,
    configure_malloc,
    configure_numpy_pages,
    release_free_memory,
)

__all__ = [
    "ENGINES",
    "ROW_GROUP_ROWS",
    "Partition",
    "detect_partitioned",
    "input_logs",
    "partition_files",
    "plan_partitions",
    "score_partition",
    "split_input",
    "with_halo",
]

#: Engines of :func:`detect_partitioned`.
ENGINES = ("local", "dask")
#: Windows are nested in blocks of this many ``window_seconds`` (see the module doc).
BLOCK_WINDOWS = 4
PREDICTIONS_DIR = "predictions"
SUMMARY_FILE = "partitions.json"
REJECTS_FILE = "rejects.csv"
#: Where a log is split, inside the output folder (removed when the run ends).
SPLIT_DIR = ".partitions"
#: Rows per Parquet row group of the partitions :func:`split_input` writes. A halo read
#: (:func:`with_halo`) wants one time block of a neighbouring partition; row groups this
#: size let Parquet's statistics skip the rest of that file instead of decoding it all.
ROW_GROUP_ROWS = 65_536


@dataclass(frozen=True)
class Partition:
    """One partition: its file, its row count, and the partitions in its halo."""

    index: int
    path: str
    rows: int
    first_flow_id: int
    halo: tuple[str, ...]


def _block_seconds(detector: Detector) -> float:
    return BLOCK_WINDOWS * float(detector.features_.state_.window_seconds)


def _timestamps(path: str | Path) -> np.ndarray:
    """Epoch seconds of a partition (its timestamp column only)."""
    table = pq.read_table(path, columns=["timestamp"])
    return epoch_seconds(table.column("timestamp").to_pandas())


def _has_parquet(folder: Path) -> bool:
    return any(f.is_file() for f in folder.rglob("*.parquet"))


def partition_files(folder: str | Path) -> list[Path]:
    """The Parquet files of a partitioned dataset, in name order."""
    p = Path(folder)
    if not p.is_dir():
        raise InputError(f"{p}: not a folder of Parquet partitions")
    files = sorted(f for f in p.rglob("*.parquet") if f.is_file())
    if not files:
        raise InputError(f"{p}: no .parquet files")
    return files


def plan_partitions(files: list[Path], block_seconds: float) -> list[Partition]:
    """Rows, flow-id offsets and halos (partitions sharing a time block) per file."""
    blocks: list[np.ndarray] = []
    rows: list[int] = []
    for f in files:
        ts = _timestamps(f)
        rows.append(len(ts))
        blocks.append(np.unique(np.floor(ts[np.isfinite(ts)] / block_seconds)))
    owners: dict[float, list[int]] = {}
    for i, b in enumerate(blocks):
        for key in b.tolist():
            owners.setdefault(key, []).append(i)
    offsets = np.concatenate(([0], np.cumsum(rows)))
    plans = []
    for i, f in enumerate(files):
        halo = sorted({j for key in blocks[i].tolist() for j in owners[key] if j != i})
        plans.append(
            Partition(i, str(f), rows[i], int(offsets[i]), tuple(str(files[j]) for j in halo))
        )
    return plans


#: Parquet key-value metadata marking partitions written by :func:`split_input`: their
#: rows are already canonical (validated by the log's reader), so they are not re-checked.
_CANONICAL_KEY = b"netrca.canonical"


def _read(path: str, span: tuple[float, float] | None = None) -> pd.DataFrame | None:
    """Canonical flows of a partition (None when no row is left). With ``span`` (epoch
    seconds), Parquet skips the rows outside it if the timestamp column is a timestamp;
    otherwise every row is read (and the caller filters)."""
    filters = None
    if span is not None:
        lo, hi = (pd.Timestamp(v, unit="s", tz="UTC") for v in span)
        filters = [("timestamp", ">=", lo), ("timestamp", "<", hi)]
    try:
        table = pq.read_table(path, filters=filters)
    except (pa.ArrowException, TypeError, ValueError, OSError):
        if filters is None:
            return ParquetReader().read(path).flows  # its error names the file
        table = pq.read_table(path)
    if table.num_rows == 0:
        return None
    if (table.schema.metadata or {}).get(_CANONICAL_KEY) == b"1":
        return table.to_pandas()
    frame = table.to_pandas()
    lines = np.arange(1, len(frame) + 1, dtype=np.int64)
    result = canonicalize(frame, lines, lambda idx: [""] * len(idx), path, "parquet")
    return result.flows


def with_halo(part: Partition, block_seconds: float) -> tuple[pd.DataFrame, int]:
    """The flows of ``part`` (first), then those of its halo in the same time blocks."""
    core = _read(part.path)
    if core is None:  # pragma: no cover - only with span
        raise InputError(f"{part.path}: no data rows")
    own = np.unique(np.floor(epoch_seconds(core["timestamp"]) / block_seconds))
    frames = [core]
    span = (float(own.min()) * block_seconds, (float(own.max()) + 1) * block_seconds)
    for other in part.halo:
        flows = _read(other, span if len(own) else None)
        if flows is None:
            continue
        keep = np.isin(np.floor(epoch_seconds(flows["timestamp"]) / block_seconds), own)
        if keep.any():
            frames.append(flows.loc[keep])
    flows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else core
    return flows, len(core)


def score_partition(
    part: Partition, detector: Detector, flows: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Predictions for the flows of ``part``, scored together with its halo (``flows``:
    the partition's flows when the caller has them and it has no halo)."""
    from netrca.features import flow_context

    if flows is not None and not part.halo:
        n = len(flows)
    else:
        flows, n = with_halo(part, _block_seconds(detector))
    core = flows.iloc[:n]
    # the scores alone: what the in-memory pipeline's score_flows adds is for incident
    # analysis, which the partitioned engine does not run
    scores = detector.score(flows, flow_context(flows, detector.features_.state_.internal_networks))
    out = core.copy(deep=False)
    out["flow_id"] = np.arange(part.first_flow_id, part.first_flow_id + n, dtype=np.int64)
    out["anomaly_score"] = np.round(scores.score[:n], 6)
    out["is_anomaly"] = scores.score[:n] >= detector.threshold_
    out["reasons"] = pa.chunked_array([scores.reasons_text[:n]]).to_pandas().array  # "str"
    return out


def _worker_setup(kernel_threads: int | None) -> bool | None:
    """In a Dask worker (``kernel_threads`` given): keep the scoring kernels' and Arrow's
    threads to the worker's share of cores and use the allocators the CLI process uses
    (netrca.runtime). Returns whether netrca's malloc settings are in force (None
    locally, where the CLI made that choice).

    numba is not imported for this: where the SIMD kernel scores, a worker never needs
    it (its import cost each worker's first task 0.1-0.3 s). The SIMD kernel's limit
    (``_native.limit_threads``) and numba's, where numba is loaded (Dask's preload loads
    it where its kernels will score), hold for the task's thread only."""
    if kernel_threads is None:
        return None
    threads = max(1, kernel_threads)
    _native.limit_threads(threads)
    numba = sys.modules.get("numba")
    if numba is not None:
        limit = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
        numba.set_num_threads(max(1, min(threads, limit)))
    pa.set_cpu_count(threads)  # Arrow's compute/parse thread pool
    configure_arrow_pool()
    configure_numpy_pages()
    return configure_malloc()


def _score_and_write(
    part: Partition,
    detector: Detector,
    out_dir: str,
    kernel_threads: int | None = None,
    flows: pd.DataFrame | None = None,
    trim: bool = True,
) -> dict[str, Any]:
    t0, c0, started = time.perf_counter(), time.process_time(), time.time()
    tuned = _worker_setup(kernel_threads)
    preds = score_partition(part, detector, flows)
    target = Path(out_dir) / f"part-{part.index:05d}.parquet"
    tmp = target.with_suffix(".parquet.tmp")
    to_parquet(preds, tmp)
    tmp.replace(target)
    rows, anomalies = len(preds), int(preds["is_anomaly"].sum())
    del preds
    if trim:  # the next partition starts from a trimmed heap (none follows a lone one)
        release_free_memory()
    return {
        "partition": part.index,
        "file": target.name,
        "rows": rows,
        "halo_partitions": len(part.halo),
        "anomalies": anomalies,
        "seconds": round(time.perf_counter() - t0, 3),
        "cpu_seconds": round(time.process_time() - c0, 3),  # of the whole worker process
        "started_at": started,  # wall clock, to see which partitions overlapped
        "ended_at": time.time(),
        "pid": os.getpid(),
        "process_max_rss_mib": _max_rss_mib(),  # the process's peak so far
        # Dask workers: whether netrca's malloc settings are in force (False on a cluster
        # whose workers carry their own MALLOC_* settings, e.g. Dask's defaults)
        "malloc_tuned": tuned,
        "kernel_threads": _native.threads(),  # what the SIMD kernel scored on here
    }


def dask_setup(worker: Any) -> None:
    """Dask's preload hook (``netrca.dask_cluster.WORKER_PRELOAD``), run while the worker
    starts, beside the client's own start-up, instead of in its first task: import the
    scoring modules, and numba's compiler target where the numba kernels will run (loading
    a cached kernel the first time imports most of numba: ~0.5 s)."""
    import netrca.pipeline  # noqa: F401
    from netrca.detect import _native
    from netrca.detect._kernel import kernel_available, top_deviation

    # the numba kernels are loaded only where scoring will use them
    if not _native.top_available() and kernel_available():  # the feature frame's layout
        top_deviation(np.zeros((2, 2), order="F"), np.zeros(2), np.ones(2))


def _max_rss_mib() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(kib / 1024, 1)


@dataclass(frozen=True)
class _Failed:
    """A task's expected failure (bad input), returned to the client instead of raised in
    the worker, which would log a traceback for what is a one-line error."""

    error: NetrcaError


def _guarded(item: Any, *, task: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return task(item, **kwargs)
    except NetrcaError as exc:
        return _Failed(exc)


class _Runner:
    """Maps a task over items: in this process (local engine) or on a Dask client."""

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def map(self, fn: Callable[..., Any], items: list[Any], **kwargs: Any) -> list[Any]:
        """``fn(item, kernel_threads=..., **kwargs)`` for every item, in order; on Dask,
        ``kernel_threads`` is 1 (a worker owns one core), locally None (all cores)."""
        if self.client is None:
            return [fn(item, kernel_threads=None, **kwargs) for item in items]
        futures = self.client.map(_guarded, items, task=fn, pure=False, kernel_threads=1, **kwargs)
        results = list(self.client.gather(futures))
        for r in results:
            if isinstance(r, _Failed):
                raise r.error
        return results

    def broadcast(self, value: Any) -> Any:
        """``value`` as tasks should receive it (on Dask: sent to every worker once)."""
        if self.client is None:
            return value
        return self.client.scatter(value, broadcast=True)


def _cluster_runner(started: Future[tuple[Any, Any]]) -> _Runner:
    """A runner on the LocalCluster ``started`` brings up (waiting for it)."""
    return _Runner(started.result()[1])


def _remove_results(out: Path) -> None:
    """A partitioned run's outputs in ``out``: predictions, summary, rejects, split."""
    for folder in (out / PREDICTIONS_DIR, out / SPLIT_DIR):
        shutil.rmtree(folder, ignore_errors=True)
    for name in (SUMMARY_FILE, REJECTS_FILE):
        (out / name).unlink(missing_ok=True)


def detect_partitioned(
    input_path: str | Path,
    detector: Detector,
    output: str | Path,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    partition_flows: int = 1_000_000,
    fmt: str = "auto",
    cluster: Future[tuple[Any, Any]] | None = None,
) -> dict[str, Any]:
    """Score a partitioned dataset (or a large file, split first) partition by partition.

    Writes ``OUTPUT/predictions/part-NNNNN.parquet`` (every input column, then
    ``flow_id``, ``anomaly_score``, ``is_anomaly``, ``reasons``) and
    ``OUTPUT/partitions.json`` (what ran where, with timings). Returns that summary.
    With a remote ``scheduler``, the input and output folders must be on storage that
    every worker can reach (the same path on each). ``cluster``: a LocalCluster the
    caller started with :func:`netrca.dask_cluster.local_cluster` (the CLI starts it
    before loading the model); otherwise the Dask engine starts one itself.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if partition_flows < 1000:
        raise ConfigError(f"partition_flows must be at least 1000, got {partition_flows}")
    t0 = time.perf_counter()
    out = Path(output)
    pred_dir = out / PREDICTIONS_DIR
    # an earlier run's results go first: a run that fails must leave neither them, looking
    # like its own, nor a mix of both
    _remove_results(out)
    pred_dir.mkdir(parents=True)
    src = Path(input_path)
    split_info: dict[str, Any] = {}
    one: pd.DataFrame | None = None  # the flows of a log scored as read (one partition)
    try:
        with ExitStack() as stack:
            get_runner: Callable[[], _Runner] = _Runner  # the local engine: this process
            if engine == "dask" and scheduler:
                client = dask_module().Client(scheduler)
                stack.callback(client.close)
                get_runner = partial(_Runner, client)
            elif engine == "dask":
                # a LocalCluster's workers start while the input is cut or planned; it is
                # waited for only when the first task is sent
                started = cluster or stack.enter_context(local_cluster(workers, processes))
                get_runner = partial(_cluster_runner, started)
            if src.is_dir() and _has_parquet(src):
                files = partition_files(src)
            elif src.is_dir():  # a folder of logs (Zeek rotates them hourly)
                split_dir = out / SPLIT_DIR
                split_info = split_input(
                    input_logs(src),
                    split_dir,
                    partition_flows=partition_flows,
                    fmt=fmt,
                    runner=get_runner,
                )
                files = partition_files(split_dir)
            elif src.suffix == ".parquet":
                files = [src]
            elif engine == "local" and _one_chunk(src, partition_flows):
                # a log that fits one partition: scored as read, without the Parquet
                # round trip (the same flows, rows and rejects as splitting it)
                split_info, one = _read_one_chunk(src, fmt, out)
            else:
                prefetch.discard(src)  # split a chunk at a time: never read whole
                split_dir = out / SPLIT_DIR
                split_info = split_input(
                    src, split_dir, partition_flows=partition_flows, fmt=fmt, runner=get_runner
                )
                files = partition_files(split_dir)
            t_split = time.perf_counter() - t0
            if one is not None:
                parts = [Partition(0, str(src), len(one), 0, ())]
                t_plan = 0.0
                results = [
                    _score_and_write(parts[0], detector, str(pred_dir), flows=one, trim=False)
                ]
                one = None
            else:
                parts = plan_partitions(files, _block_seconds(detector))
                t_plan = time.perf_counter() - t0 - t_split
                runner = get_runner()
                results = runner.map(
                    _score_and_write,
                    parts,
                    detector=runner.broadcast(detector),
                    out_dir=str(pred_dir),
                )
            results.sort(key=lambda r: r["partition"])
    except BaseException:
        _remove_results(out)  # no half-written predictions
        raise
    finally:
        shutil.rmtree(out / SPLIT_DIR, ignore_errors=True)
    t_run = time.perf_counter() - t0 - t_split - t_plan
    summary = {
        "input": str(src),
        "engine": engine,
        "scheduler": scheduler or ("LocalCluster" if engine == "dask" else None),
        "partitions": len(parts),
        "rows": int(sum(r["rows"] for r in results)),
        "anomalies": int(sum(r["anomalies"] for r in results)),
        "threshold": detector.threshold_,
        "split": split_info,
        "seconds": {
            "split": round(t_split, 3),  # on a LocalCluster, with waiting for it to start
            "plan": round(t_plan, 3),  # reading every partition's timestamps for halos
            "run": round(t_run, 3),  # the engine: cluster start and stop, every task
            "total": round(time.perf_counter() - t0, 3),
        },
        "per_partition": results,
    }
    tmp = out / f"{SUMMARY_FILE}.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(out / SUMMARY_FILE)
    return summary


# -- splitting logs into partitions, in bounded memory ------------------------------------
@dataclass(frozen=True)
class _Chunk:
    """Lines ``first_line`` .. of the log ``log`` (1-based): bytes ``start`` to ``end`` of
    ``path`` (the log itself, or for a gzip log a decompressed piece of it)."""

    index: int  # the partition it becomes: part-{index}.parquet
    path: str
    start: int
    end: int
    first_line: int
    log: str
    fmt: str
    head: bytes  # the log's header lines, put in front of every chunk
    head_lines: int


def _line_cuts(blocks: Iterator[bytes], lines_per_chunk: int) -> Iterator[tuple[memoryview, bool]]:
    """Views of the bytes of ``blocks``, cut after every ``lines_per_chunk``-th line end:
    (piece, whether a chunk ends after it). Line ends are counted a block at a time and
    found with numpy only in a block where a chunk ends."""
    lines_in_chunk = 0
    for data in blocks:
        block = memoryview(data)  # pieces are views: the scan copies nothing
        need = lines_per_chunk - lines_in_chunk
        counted = byte_count(data, 10)
        if counted < need:  # no chunk ends here: counted, no positions needed
            yield block, False
            lines_in_chunk += counted
            continue
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        # line ends that complete a chunk: the need-th, then every lines_per_chunk-th
        done = (ends[need - 1 :: lines_per_chunk] + 1).tolist()
        start = 0
        for cut in done:
            yield block[start:cut], True
            start = cut
        if start < len(block):
            yield block[start:], False
        lines_in_chunk = (lines_in_chunk + len(ends)) % lines_per_chunk


def _blocks(fh: Any, block_bytes: int) -> Iterator[bytes]:
    while block := fh.read(block_bytes):
        yield block


def _chunk_bounds(
    path: Path, lines_per_chunk: int, block_bytes: int = 1 << 24, stop_at: int | None = None
) -> list[tuple[int, int, int]]:
    """(start byte, end byte, first line) of each run of ``lines_per_chunk`` whole lines
    of a plain file (the last may be shorter, or longer by a short tail it took in: see
    :data:`TAIL_SHARE`); only the offsets are kept. ``stop_at``: stop reading at that
    many chunk ends (the chunks found so far are returned: enough to count past it)."""
    cuts = [0]
    offset = 0
    with path.open("rb") as fh:
        for piece, ends_chunk in _line_cuts(_blocks(fh, block_bytes), lines_per_chunk):
            offset += len(piece)
            if ends_chunk:
                cuts.append(offset)
                if stop_at is not None and len(cuts) > stop_at:  # no tail to join yet
                    return [(cuts[i], cuts[i + 1], 1 + i * lines_per_chunk) for i in range(stop_at)]
    if cuts[-1] < offset:  # the last lines, with or without a final newline
        cuts.append(offset)
    if len(cuts) > 2 and _is_tail(cuts[-1] - cuts[-2], cuts[-2] - cuts[-3]):
        del cuts[-2]  # a short tail joins the chunk before it
    return [(cuts[i], cuts[i + 1], 1 + i * lines_per_chunk) for i in range(len(cuts) - 1)]


#: A log's last chunk smaller than this share of the one before it (in bytes) joins that
#: chunk instead of becoming a partition of its own: a 1M-flow Zeek log (its header lines
#: counted) would otherwise end in a partition of a few hundred flows, whose capture-wide
#: statistics see only them. Memory stays bounded by 1.1 x ``partition_flows``.
TAIL_SHARE = 0.1


def _is_tail(last_bytes: int, previous_bytes: int) -> bool:
    return last_bytes < TAIL_SHARE * previous_bytes


def _one_chunk(path: Path, partition_flows: int) -> bool:
    """Whether ``path`` is a plain (not gzip) log that :func:`_chunk_bounds` leaves in one
    chunk (at most ``partition_flows`` lines, or a short tail more). A larger log is read
    here only as far as its second chunk end."""
    if not path.is_file() or is_gzip(path):
        return False
    return len(_chunk_bounds(path, partition_flows, stop_at=2)) == 1


def _log_format(path: Path, fmt: str) -> str:
    """The log's format: Zeek TSV or CSV, the two that split into partitions."""
    from netrca.io import sniff_format

    log_fmt = sniff_format(path) if fmt == "auto" else fmt
    if log_fmt not in ("zeek", "csv"):
        raise ConfigError(
            f"{path}: splitting into partitions supports Zeek TSV and CSV logs, not "
            f"{log_fmt!r}; convert it to Parquet partitions first"
        )
    return log_fmt


def _read_one_chunk(path: Path, fmt: str, out: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A log of one chunk read as :func:`split_input` would split it: (the split summary,
    the canonical flows as its one Parquet partition gives them back). Rejects go to
    ``out/rejects.csv`` with their line numbers, as the split writes them."""
    log_fmt = _log_format(path, fmt)
    read = read_flows(path, log_fmt)  # a log without a data row is refused here
    table = pa.Table.from_pandas(read.flows, preserve_index=False)
    if len(read.rejects):
        write_csv(out / REJECTS_FILE, read.rejects.assign(file=str(path)))
    info = {
        "format": log_fmt,
        "partitions": 1,
        "rows": table.num_rows,
        "rejected": len(read.rejects),
    }
    del read
    return info, table.to_pandas()


def _gzip_pieces(
    path: Path, lines_per_chunk: int, out: Path, stem: str, block_bytes: int = 1 << 24
) -> list[tuple[str, int, int, int]]:
    """A gzip log decompressed into plain files of ``lines_per_chunk`` lines each (the
    last may be shorter, or take in a short tail: :data:`TAIL_SHARE`), one block at a time
    (byte offsets cannot cut a compressed stream): (file, 0, size, first line) per piece."""
    import gzip

    pieces: list[tuple[str, int, int, int]] = []
    fh_out: Any = None
    try:
        with gzip_errors(path), gzip.open(path, "rb") as fh:
            for piece, ends_chunk in _line_cuts(_blocks(fh, block_bytes), lines_per_chunk):
                if fh_out is None:
                    name = out / f".{stem}-{len(pieces):05d}.txt"
                    fh_out = name.open("wb")
                    pieces.append((str(name), 0, 0, 1 + len(pieces) * lines_per_chunk))
                fh_out.write(piece)
                if ends_chunk:
                    fh_out.close()
                    fh_out = None
    finally:
        if fh_out is not None:
            fh_out.close()
    sizes = [Path(f).stat().st_size for f, _, _, _ in pieces]
    if len(pieces) > 1 and _is_tail(sizes[-1], sizes[-2]):  # as _chunk_bounds does
        tail = Path(pieces.pop()[0])
        with open(pieces[-1][0], "ab") as fh, tail.open("rb") as src:
            shutil.copyfileobj(src, fh)
        tail.unlink()
        tail_bytes = sizes.pop()
        sizes[-1] += tail_bytes
    return [(f, 0, size, first) for (f, _, _, first), size in zip(pieces, sizes, strict=True)]


def _split_chunk(
    chunk: _Chunk, *, out_dir: str, kernel_threads: int | None = None
) -> tuple[bool, int, pd.DataFrame | None]:
    """Read one chunk of a log with the format's reader (the log's header in front) and
    write its canonical flows as ``part-NNNNN.parquet``: (written, rows, rejects with
    their line numbers in the original log). A chunk with no data line writes nothing."""
    _worker_setup(kernel_threads)
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        text = fh.read(chunk.end - chunk.start)
    if chunk.path != chunk.log:  # a decompressed piece, read once
        Path(chunk.path).unlink()
    head = chunk.head
    body = text[len(head) :] if chunk.first_line == 1 else text
    if not body.strip():
        return False, 0, None
    out = Path(out_dir)
    tmp = out / f".chunk-{chunk.index:05d}.{'log' if chunk.fmt == 'zeek' else 'csv'}"
    with tmp.open("wb") as fh:
        fh.write(head)
        if head and not head.endswith(b"\n"):
            fh.write(b"\n")
        fh.write(body)
    del text, body
    try:
        read = read_flows(tmp, chunk.fmt)
    except InputError as exc:  # name the user's file, not the chunk's temporary copy
        where = "" if chunk.first_line == 1 else f" (in the chunk from line {chunk.first_line})"
        raise type(exc)(str(exc).replace(str(tmp), chunk.log) + where) from None
    finally:
        tmp.unlink()
    rejects = None
    if len(read.rejects):
        first = chunk.first_line if chunk.first_line > 1 else chunk.head_lines + 1
        shift = first - (chunk.head_lines + 1)
        rejects = read.rejects.assign(file=chunk.log, line=read.rejects["line"] + shift)
    table = pa.Table.from_pandas(read.flows, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _CANONICAL_KEY: b"1"})
    target = out / f"part-{chunk.index:05d}.parquet"
    to_parquet(table, target.with_suffix(".tmp"), row_group_size=ROW_GROUP_ROWS)
    target.with_suffix(".tmp").replace(target)
    rows = len(read.flows)
    del read, table
    release_free_memory()  # the next chunk starts from a trimmed heap
    return True, rows, rejects


def _header_lines(path: Path, fmt: str) -> list[bytes]:
    """Lines every chunk must start with: Zeek's ``#`` header block, or the CSV header."""
    import gzip

    head: list[bytes] = []
    opener: Any = gzip.open if is_gzip(path) else open
    with gzip_errors(path), opener(path, "rb") as fh:
        for line in fh:
            if fmt == "zeek":
                if not line.startswith(b"#"):
                    break
                head.append(line)
            else:
                head.append(line)
                break
    return head


def input_logs(folder: str | Path) -> list[Path]:
    """The log files of a folder given instead of Parquet partitions: every file below
    it, in name order, except hidden ones (names starting with a dot)."""
    p = Path(folder)
    files = sorted(
        f
        for f in p.rglob("*")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
    )
    if not files:
        raise InputError(f"{p}: no .parquet files and no logs")
    return files


def split_input(
    path: str | Path | list[Path],
    out_dir: str | Path,
    *,
    partition_flows: int,
    fmt: str = "auto",
    runner: Callable[[], _Runner] | None = None,
) -> dict[str, Any]:
    """Cut Zeek TSV or CSV logs (one, or a list) into Parquet partitions of canonical flows.

    Each log is cut into chunks of ``partition_flows`` lines (only their byte offsets are
    kept, so memory stays bounded; a gzip log is decompressed into plain pieces one
    block at a time); each chunk goes through the format's own reader with its log's
    header in front and becomes ``part-NNNNN.parquet``, numbered across the logs in
    order. ``runner`` (called once the chunks are known) reads them: in this process by
    default, on a Dask cluster's workers for the Dask engine, which then read them in
    parallel. Rejected rows are collected in ``out_dir/../rejects.csv`` with their log
    and their line numbers in it.
    """
    logs = [Path(x) for x in path] if isinstance(path, list) else [Path(path)]
    # what an error about all of them names: the folder they are in
    label = os.path.commonpath([str(x) for x in logs]) if len(logs) > 1 else str(logs[0])
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    chunks: list[_Chunk] = []
    formats: list[str] = []
    skipped: list[str] = []
    for k, p in enumerate(logs):
        if not p.exists():
            raise InputError(f"{p}: no such file")
        log_fmt = _log_format(p, fmt)
        head = _header_lines(p, log_fmt)
        if isinstance(path, list) and _zeek_path(head) not in (None, "conn"):
            skipped.append(str(p))  # a folder of Zeek logs holds dns.log, http.log...
            continue
        formats.append(log_fmt)
        bounds = (
            _gzip_pieces(p, partition_flows, out, f"log{k:05d}")
            if is_gzip(p)
            else [(str(p), *b) for b in _chunk_bounds(p, partition_flows)]
        )
        for file, start, end, first in bounds:
            chunks.append(
                _Chunk(
                    len(chunks), file, start, end, first, str(p), log_fmt, b"".join(head), len(head)
                )
            )
    done = (runner() if runner is not None else _Runner()).map(
        _split_chunk, chunks, out_dir=str(out)
    )
    n_rows = int(sum(rows for _, rows, _ in done))
    parts = int(sum(written for written, _, _ in done))
    rejects = [r for _, _, r in done if r is not None]
    if parts == 0:
        note = f" ({len(skipped)} Zeek logs other than conn skipped)" if skipped else ""
        raise InputError(f"{label}: no data rows{note}")
    n_rejects = int(sum(len(r) for r in rejects))
    if rejects:
        write_csv(out.parent / REJECTS_FILE, pd.concat(rejects, ignore_index=True))
    summary: dict[str, Any] = {
        "format": formats[0] if len(set(formats)) == 1 else "mixed",
        "partitions": parts,
        "rows": n_rows,
        "rejected": n_rejects,
    }
    if isinstance(path, list):
        summary["logs"] = len(logs) - len(skipped)
        summary["skipped_logs"] = skipped
    return summary


def _zeek_path(head: list[bytes]) -> str | None:
    """The ``#path`` of a Zeek header (``conn``, ``dns``...), or None without one."""
    for line in head:
        fields = line.split()
        if fields and fields[0] == b"#path" and len(fields) > 1:
            return fields[1].decode("utf-8", "replace")
    return None
