"""The CLI's Arrow allocator choice: jemalloc unless the user picked a pool."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from netrca.runtime import configure_arrow_pool


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
