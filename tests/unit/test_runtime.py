"""The CLI's allocator choices: jemalloc for Arrow, heap reuse for malloc, unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pyarrow as pa
import pytest

from netrca.runtime import configure_arrow_pool, configure_malloc


@pytest.fixture
def restore_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc")
def test_jemalloc_becomes_the_default_pool(
    restore_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    assert configure_arrow_pool() == "jemalloc"
    assert pa.default_memory_pool().backend_name == "jemalloc"
    assert pa.array(["a", "b"]).to_pylist() == ["a", "b"]  # allocations go through it


def test_a_pool_chosen_by_the_user_is_kept(
    restore_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    pa.set_memory_pool(pa.system_memory_pool())
    assert configure_arrow_pool() == "system"
    assert pa.default_memory_pool().backend_name == "system"


def _reuse_probe() -> str:
    """A child process: configure malloc, then report whether a 64 MiB block freed and
    allocated again keeps its pages (heap reuse) instead of coming back zero-filled."""
    return """
import ctypes, sys
from netrca.runtime import configure_malloc
print(configure_malloc())
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
n = 64 << 20
a = libc.malloc(n)
ctypes.memset(a, 0x5A, n)
libc.free(a)
b = libc.malloc(n)
# an mmap'd block is unmapped on free and comes back from the kernel as zeros; a heap
# block is handed out again with the bytes it had
print(b == a and ctypes.string_at(b + (n // 2), 1) == b"\\x5a")
"""


def _run_probe(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh Python without any malloc settings in its environment."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc malloc only")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_malloc_reuses_large_blocks_once_configured() -> None:
    out = _run_probe(_reuse_probe())
    assert out.returncode == 0, out.stderr
    configured, reused = out.stdout.split()
    if configured == "False":
        pytest.skip("not glibc (or mallopt refused the threshold)")
    assert reused == "True"
    # without configure_malloc the same block is unmapped on free
    plain = _reuse_probe().replace("print(configure_malloc())", "print(True)")
    out = _run_probe(plain)
    assert out.stdout.split() == ["True", "False"]


def test_malloc_settings_from_the_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    assert configure_malloc() is False


_RELEASE_PROBE = """
import ctypes
from netrca.runtime import configure_malloc, release_free_memory

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

print(configure_malloc())
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(48 << 20) for _ in range(4)]
for b in blocks:
    ctypes.memset(b, 1, 48 << 20)
guard = libc.malloc(1024)  # keeps the freed blocks off the top of the heap
for b in blocks:
    libc.free(b)
before = rss_mib()
release_free_memory()
print(round(before - rss_mib()))
"""


def test_release_free_memory_returns_freed_heap_blocks() -> None:
    out = _run_probe(_RELEASE_PROBE)
    assert out.returncode == 0, out.stderr
    configured, released = out.stdout.split()
    if configured == "False":
        pytest.skip("not glibc (or mallopt refused the threshold)")
    assert int(released) > 150  # of the 192 MiB freed in the middle of the heap


_NUMPY_PAGES_PROBE = """
from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage
from netrca.runtime import configure_numpy_pages
_set_madvise_hugepage(True)  # as numpy starts on Linux; the user's "1" asks the same
print(configure_numpy_pages(), _get_madvise_hugepage())
"""


@pytest.mark.parametrize("user", [None, "1"])
def test_numpy_stops_asking_for_huge_pages_unless_the_user_chose(user: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if user is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = user
    out = subprocess.run(
        [sys.executable, "-c", _NUMPY_PAGES_PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    changed, after = out.stdout.split()
    # configured: numpy's advice is off afterwards; the user's choice: left on
    assert (changed, after) == (("True", "False") if user is None else ("False", "True"))


_WIRING_PROBE = """
from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage
import {module}
_set_madvise_hugepage(True)
{call}
print(_get_madvise_hugepage())
"""


@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("netrca.cli", "try:\n    netrca.cli.main(['--help'])\nexcept SystemExit:\n    pass"),
        ("netrca.partitioned", "netrca.partitioned._worker_setup(1)"),
    ],
    ids=["cli", "dask-worker"],
)
def test_the_cli_and_dask_workers_turn_numpys_huge_page_advice_off(module: str, call: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run(
        [sys.executable, "-c", _WIRING_PROBE.format(module=module, call=call)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"
