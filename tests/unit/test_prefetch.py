"""Reading an input log ahead on a thread: handed over once, only for the same file."""

from __future__ import annotations

import gzip
import os
import sys
import threading
from pathlib import Path

import pytest

from netrca import prefetch
from netrca.errors import InputError
from netrca.io._source import read_source


def _wait() -> None:
    for t in threading.enumerate():
        if t.name == "netrca-prefetch":
            t.join()


def _read_bytes() -> int:
    """Bytes this process has read through read() calls (Linux /proc)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


@pytest.fixture(autouse=True)
def _clean() -> None:
    yield
    _wait()
    prefetch._pending.clear()


def test_bytes_are_handed_over_once(tmp_path: Path) -> None:
    log = tmp_path / "conn.log"
    log.write_bytes(b"#fields\tts\n1.0\n" * 1000)
    assert prefetch.start(log)
    assert prefetch.take(log) == log.read_bytes()
    assert prefetch.take(log) is None  # once


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/io")
def test_the_reader_takes_them_instead_of_reading_the_file(tmp_path: Path) -> None:
    log = tmp_path / "conn.log"
    data = os.urandom(3_000_000).hex().encode()  # text, 6 MB
    log.write_bytes(data)
    assert prefetch.start(log)
    _wait()
    before = _read_bytes()
    assert read_source(log, max_bytes=1 << 30) == data
    assert _read_bytes() - before < 100_000  # not read again
    before = _read_bytes()
    assert read_source(log, max_bytes=1 << 30) == data  # a second read: from the file
    assert _read_bytes() - before >= len(data)


def test_a_changed_or_removed_file_is_read_again(tmp_path: Path) -> None:
    log = tmp_path / "conn.log"
    log.write_bytes(b"a,b\n1,2\n")
    assert prefetch.start(log)
    _wait()
    with log.open("ab") as fh:
        fh.write(b"3,4\n")
    assert read_source(log, max_bytes=1000) == b"a,b\n1,2\n3,4\n"
    assert prefetch.start(log)
    _wait()
    log.unlink()
    with pytest.raises(InputError, match="no such file"):
        read_source(log, max_bytes=1000)


def test_the_input_limit_still_applies_and_drops_the_bytes(tmp_path: Path) -> None:
    log = tmp_path / "conn.log"
    log.write_bytes(b"x" * 5000)
    assert prefetch.start(log)
    with pytest.raises(InputError, match="exceeds the input limit"):
        read_source(log, max_bytes=1000)
    assert prefetch._pending == {}


def test_a_same_size_rewrite_that_keeps_the_mtime_is_read_again(tmp_path: Path) -> None:
    """rsync --inplace -t, touch -r, tar: same size, same modification time, new bytes;
    the change time still moves."""
    log = tmp_path / "conn.log"
    log.write_bytes(b"AAAA\n" * 100)
    assert prefetch.start(log)
    _wait()
    st = log.stat()
    with log.open("r+b") as fh:
        fh.write(b"BBBB\n" * 100)
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert log.stat().st_mtime_ns == st.st_mtime_ns and log.stat().st_size == st.st_size
    assert read_source(log, max_bytes=1000)[:5] == b"BBBB\n"


def test_an_interrupt_while_waiting_for_the_bytes_propagates(tmp_path: Path) -> None:
    """take() falls back to a plain read when the read ahead failed, but an interrupt
    (Ctrl-C while it waits) is the user's and is not swallowed."""
    from concurrent.futures import Future

    log = tmp_path / "conn.log"
    log.write_bytes(b"a\n" * 10)
    ident = prefetch._identity(log)
    assert ident is not None
    interrupted: Future[bytes] = Future()
    interrupted.set_exception(KeyboardInterrupt())
    prefetch._pending[ident[0]] = (ident[1], interrupted)
    with pytest.raises(KeyboardInterrupt):
        prefetch.take(log)
    failed: Future[bytes] = Future()
    failed.set_exception(OSError("disk gone"))
    prefetch._pending[ident[0]] = (ident[1], failed)
    assert prefetch.take(log) is None  # a failed read: the reader reads the file itself


def test_the_cli_reads_ahead_within_the_input_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netrca.cli import _read_ahead

    log = tmp_path / "conn.log"
    log.write_bytes(b"a\n" * 1000)
    monkeypatch.setenv("NETRCA_MAX_INPUT_BYTES", "1000")
    _read_ahead(log)
    assert prefetch._pending == {}  # 2,000 bytes over the user's limit: not read ahead
    monkeypatch.setenv("NETRCA_MAX_INPUT_BYTES", "5000")
    _read_ahead(log)
    assert prefetch.take(log) == log.read_bytes()
    gz = tmp_path / "conn.log.gz"
    gz.write_bytes(gzip.compress(b"a\n" * 1000))
    _read_ahead(gz, gzip=False)  # detect --engine local splits every gzip log
    assert prefetch._pending == {}
    _read_ahead(gz)
    assert prefetch.take(gz) == gz.read_bytes()


def test_gzip_is_read_ahead_and_gunzipped_as_without(tmp_path: Path) -> None:
    log = tmp_path / "conn.log.gz"
    text = b"".join(b"%d,%d\n" % (i, i * i) for i in range(20000))
    log.write_bytes(gzip.compress(text))
    assert prefetch.start(log)
    assert bytes(read_source(log, max_bytes=1 << 30)) == text
    assert prefetch.start(log)
    with pytest.raises(InputError, match="decompresses to more"):
        read_source(log, max_bytes=len(text) - 1)


def test_binary_files_directories_and_missing_files_are_not_read_ahead(tmp_path: Path) -> None:
    parquet = tmp_path / "flows.parquet"
    parquet.write_bytes(b"PAR1\x00\x01\x02" + b"\x00" * 100)
    assert not prefetch.start(parquet)
    assert not prefetch.start(tmp_path)
    assert not prefetch.start(tmp_path / "missing.log")
    log = tmp_path / "conn.log"
    log.write_bytes(b"a\n" * 100)
    assert not prefetch.start(log, max_bytes=199)  # over the caller's bound
    assert prefetch._pending == {}


def test_discard_drops_what_was_read(tmp_path: Path) -> None:
    log = tmp_path / "conn.log"
    log.write_bytes(b"a\n" * 100)
    assert prefetch.start(log)
    prefetch.discard(log)
    assert prefetch._pending == {} and prefetch.take(log) is None


def test_a_split_log_drops_its_read_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The partitioned engine reads a log larger than one partition a chunk at a time:
    the bytes read ahead for it are dropped, not held through the run; a log over
    ``--partition-flows`` x PREFETCH_LINE_BYTES is not read ahead at all."""
    from netrca.cli import PREFETCH_LINE_BYTES
    from netrca.simulate import Scenario, simulate, write_flows
    from tests.conftest import cli

    started: list[bool] = []
    real_start = prefetch.start

    def spy(path: str | Path, max_bytes: int = prefetch.MAX_BYTES, gzip: bool = True) -> bool:
        started.append(real_start(path, max_bytes, gzip))
        return started[-1]

    log = tmp_path / "conn.log"
    write_flows(simulate(Scenario(n_flows=3000), seed=2), log, fmt="zeek")
    model = tmp_path / "model.npz"
    assert cli("fit", "-i", str(log), "-o", str(model), "--quiet") == 0
    _wait()
    prefetch._pending.clear()
    monkeypatch.setattr(prefetch, "start", spy)
    out = tmp_path / "out"
    args = ["detect", "-i", str(log), "-m", str(model), "-o", str(out), "--quiet"]
    lines = log.read_bytes().count(b"\n")
    fits = log.stat().st_size // PREFETCH_LINE_BYTES + 1  # partitions this large: read ahead
    assert fits < lines // 2
    assert cli(*args, "--engine", "local", "--partition-flows", str(fits)) == 0
    assert started == [True] and prefetch._pending == {}
    assert len(list((out / "predictions").glob("*.parquet"))) >= 2
    assert cli(*args, "--engine", "local", "--partition-flows", "1000") == 0
    assert started == [True, False] and prefetch._pending == {}
    assert len(list((out / "predictions").glob("*.parquet"))) >= 3
    # a log of one partition is read ahead and taken by its reader
    assert cli(*args, "--engine", "local") == 0
    assert started == [True, False, True] and prefetch._pending == {}
    assert len(list((out / "predictions").glob("*.parquet"))) == 1
