"""The AVX-512 scorer gives the numba kernel's sums bit for bit and refuses bad arrays."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from netrca.detect import _kernel, _native
from netrca.detect.forest import FlatForest
from netrca.errors import ConfigError
from tests.unit.detect.test_forest import root_straddles


def _cpu_flags() -> set[str]:
    """Read from the OS, not from the extension, so a failed build cannot skip the tests."""
    info = Path("/proc/cpuinfo")
    if platform.machine() not in ("x86_64", "AMD64") or not info.exists():
        return set()
    for line in info.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


#: Kernel levels this CPU runs (2: AVX-512F with AVX2, 1: AVX2), by the OS's word.
LEVELS = [lv for lv, need in ((2, {"avx512f", "avx2"}), (1, {"avx2"})) if need <= _cpu_flags()]
needs_simd = pytest.mark.skipif(not LEVELS, reason="CPU with neither AVX-512F nor AVX2")
each_level = pytest.mark.parametrize(
    "kernel", LEVELS or [pytest.param(0, marks=pytest.mark.skip(reason="no SIMD CPU"))]
)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() != "x86_64",
    reason="the extension is built and checked on x86-64 Linux",
)
def test_the_extension_is_built_and_says_whether_the_cpu_runs_it() -> None:
    from netrca.detect import _simd

    assert _native.level() == _simd.level() == max(LEVELS, default=0)
    assert _native.available() == bool(LEVELS)


def _forest(n_rows: int = 3000, max_samples: int | str = "auto", seed: int = 3) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 9))
    X[::7, 2] = np.nan  # trained with missing values: nodes learn where NaN goes
    X[:, 4] = np.round(X[:, 4] * 2) / 2  # ties on thresholds
    forest = IsolationForest(n_estimators=40, max_samples=max_samples, random_state=2).fit(X)
    return forest, FlatForest.from_sklearn(forest), rng


def _edge_rows(flat: FlatForest, rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows with NaN in some blocks, values beyond float32, and values that straddle a
    root threshold only in float64 (float32 rounding decides their side)."""
    test = rng.normal(size=(n, 9)) * 2
    test[50:58, 0] = [3.4e38, -3.4e38, 1e30, 0.0, -0.0, 1e-45, -1e-45, 7.0]
    test[60:64, 0] = [np.inf, -np.inf, 1e300, -1e300]
    col, straddle = root_straddles(flat)
    rows = 200 + np.arange(flat.n_trees)
    test[rows, col] = straddle
    test[1000:1003, 2] = np.nan  # one block with NaN: those rows go to the numba kernel
    test[n - 100, 6] = np.nan
    return test


@each_level
def test_simd_equals_numba_and_sklearn_on_edge_values(kernel: int) -> None:
    forest, flat, rng = _forest()
    test = _edge_rows(flat, rng, 3001)  # not a multiple of the 128-row block
    assert flat.backend() == "simd"
    perfect = flat.perfect()
    assert perfect is not None
    got = _native.path_lengths(perfect, flat.compiled(), test, kernel=kernel)
    assert np.array_equal(got, _kernel.path_lengths(flat.compiled(), test))
    simd = flat.score_samples(test, backend="simd")
    assert np.array_equal(simd, flat.score_samples(test, backend="numba"))
    # scikit-learn refuses values beyond float32's range; NaN it takes
    clean = test[~(np.abs(np.nan_to_num(test)) > 3.4e38).any(axis=1)]
    assert len(clean) == len(test) - 4
    assert np.max(np.abs(flat.score_samples(clean, "simd") + forest.score_samples(clean))) <= 1e-9


@each_level
@pytest.mark.parametrize("layout", ["F", "C", "float32", "sliced"])
def test_simd_reads_any_layout_with_the_same_sums(layout: str, kernel: int) -> None:
    _, flat, rng = _forest()
    test = _edge_rows(flat, rng, 2000)
    with np.errstate(over="ignore"):  # 1e300 becomes inf in float32, as in the kernels
        as32 = test.astype(np.float32)
    given = {
        "F": np.asfortranarray(test),
        "C": np.ascontiguousarray(test),
        "float32": as32,
        "sliced": np.asfortranarray(test)[::3],  # contiguous neither way: copied
    }[layout]
    perfect = flat.perfect()
    assert perfect is not None
    got = _native.path_lengths(perfect, flat.compiled(), given, kernel=kernel)
    assert np.array_equal(got, _kernel.path_lengths(flat.compiled(), given))


@each_level
@pytest.mark.parametrize("max_samples", [2, 6, 3000])
def test_simd_pads_shallow_and_walks_deep_trees(max_samples: int, kernel: int) -> None:
    # depth 1 (padded up to the kernel's minimum), 3, and 12 (past the permuted levels)
    forest, flat, rng = _forest(max_samples=max_samples)
    c = flat.compiled()
    assert int(c.depth.max()) == int(np.ceil(np.log2(max_samples)))
    test = rng.normal(size=(1500, 9)) * 2
    perfect = flat.perfect()
    assert perfect is not None
    got = _native.path_lengths(perfect, c, test, kernel=kernel)
    assert np.array_equal(got, _kernel.path_lengths(c, test))
    assert np.max(np.abs(flat.score_samples(test, "simd") + forest.score_samples(test))) <= 1e-9


@each_level
def test_leaf_tables_give_the_gathered_leaves_sums_bit_for_bit(kernel: int) -> None:
    # trees of 256 leaves: most have at most 32 distinct path lengths (read from tables by
    # the AVX-512F kernel); ten get 256 distinct ones, too many, and are gathered
    _, flat, rng = _forest(max_samples=256)
    p = flat.perfect()
    assert p is not None and set(p.depth.tolist()) == {8}
    leaf = p.leaf.copy()
    for t in range(10):
        leaf[p.leaf_off[t] : p.leaf_off[t] + 256] += np.arange(256) * 2.0**-20
    mixed = dataclasses.replace(p, leaf=leaf, **_native.leaf_tables(leaf, p.leaf_off, p.depth))
    assert mixed.coded[:10].sum() == 0 and mixed.coded[10:].all()
    gathered = dataclasses.replace(mixed, coded=np.zeros_like(mixed.coded))
    test = rng.normal(size=(1000, 9)) * 2
    for X in (test, np.asfortranarray(test)):
        got = _native.path_lengths(mixed, flat.compiled(), X, kernel=kernel)
        assert np.array_equal(
            got, _native.path_lengths(gathered, flat.compiled(), X, kernel=kernel)
        )
        assert not np.array_equal(got, _native.path_lengths(p, flat.compiled(), X, kernel=kernel))


@needs_simd
def test_simd_splits_rows_over_threads_with_the_same_sums() -> None:
    _, flat, rng = _forest()
    test = rng.normal(size=(2 * _native.CHUNK + 777, 9))
    test[::1000, 3] = np.nan
    perfect = flat.perfect()
    assert perfect is not None
    one = _native.path_lengths(perfect, flat.compiled(), test, n_threads=1)
    two = _native.path_lengths(perfect, flat.compiled(), test, n_threads=2)
    assert np.array_equal(one, two)
    assert np.array_equal(one, _kernel.path_lengths(flat.compiled(), test))
    assert _native.path_lengths(perfect, flat.compiled(), test[:0]).shape == (0,)


@needs_simd
def test_the_kernel_refuses_arrays_out_of_bounds() -> None:
    from netrca.detect import _simd

    _, flat, rng = _forest()
    p = flat.perfect()
    assert p is not None
    X = np.asfortranarray(rng.normal(size=(300, 9)))
    flat_x = X.ravel(order="F")
    out = np.zeros(300)

    def call(**change: object) -> int:
        q = dataclasses.replace(p, **change)  # type: ignore[arg-type]
        args = (q.column, q.threshold, q.leaf, q.node_off, q.leaf_off, q.depth)
        tables = (q.leaf_code, q.leaf_table, q.coded)
        return int(_simd.score(flat_x, 300, 9, 1, 300, *args, *tables, out, 0, 300))

    assert call() == 0
    tables = (p.leaf_code, p.leaf_table, p.coded)
    bad_column = p.column.copy()
    bad_column[0] = 9 * int(_simd.BLOCK)  # column 9 of 9
    bad_node = p.node_off.copy()
    bad_node[-1] = len(p.column)  # past the end
    bad_leaf = p.leaf_off.copy()
    bad_leaf[0] = -1
    bad_depth = p.depth.copy()
    bad_depth[0] = 31
    not_a_flag = p.coded.copy()
    not_a_flag[0] = 2
    deep, deep_coded = p.depth.copy(), np.ones_like(p.coded)
    deep[0] = 9  # 512 leaves: more than a tree's codes hold (its slots are in bounds)
    for change, message in [
        ({"column": bad_column}, "column"),
        ({"node_off": bad_node}, "nodes out of bounds"),
        ({"leaf_off": bad_leaf}, "leaves out of bounds"),
        ({"depth": bad_depth}, "depth"),
        ({"threshold": p.threshold[:-1]}, "threshold"),
        ({"coded": not_a_flag}, "leaf codes"),
        ({"depth": deep, "coded": deep_coded, "leaf_off": p.leaf_off * 0}, "leaf codes"),
        ({"leaf_code": p.leaf_code[:-1]}, "leaf_code"),
        ({"leaf_table": p.leaf_table[:-1]}, "leaf_table"),
        ({"coded": p.coded[:-1]}, "coded"),
    ]:
        with pytest.raises(ValueError, match=message):
            call(**change)
    with pytest.raises(ValueError, match="row range"):
        _simd.score(flat_x, 300, 9, 1, 300, p.column, p.threshold, p.leaf, p.node_off,
                    p.leaf_off, p.depth, *tables, out, 0, 301)  # fmt: skip
    with pytest.raises(ValueError, match="X"):
        _simd.score(flat_x[:-1], 300, 9, 1, 300, p.column, p.threshold, p.leaf, p.node_off,
                    p.leaf_off, p.depth, *tables, out, 0, 300)  # fmt: skip
    empty = np.zeros(0)
    with pytest.raises(ValueError, match="X: sizes out of range"):  # n * 8 * 8 overflows
        _simd.score(empty, 2**61, 8, 1, 2**61, p.column, p.threshold, p.leaf, p.node_off,
                    p.leaf_off, p.depth, *tables, empty, 0, 200)  # fmt: skip
    with pytest.raises(ValueError, match="bad sizes"):
        _simd.score(flat_x, -1, 9, 9, 1, p.column, p.threshold, p.leaf, p.node_off,
                    p.leaf_off, p.depth, *tables, out, 0, 0)  # fmt: skip
    with pytest.raises(ValueError, match="X: sizes out of range"):
        _simd.top_deviation(empty, 2**61, 8, 8, 1, np.zeros(8), np.ones(8), empty)
    with pytest.raises(RuntimeError, match="cannot run kernel level 3"):
        _simd.score(flat_x, 300, 9, 1, 300, p.column, p.threshold, p.leaf, p.node_off,
                    p.leaf_off, p.depth, *tables, out, 0, 300, 3)  # fmt: skip
    with pytest.raises(ValueError, match="column-major or row-major"):
        _simd.score(flat_x, 300, 9, 9, 300, p.column, p.threshold, p.leaf, p.node_off,
                    p.leaf_off, p.depth, *tables, out, 0, 300)  # fmt: skip


def test_too_deep_forests_are_left_to_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    _, flat, rng = _forest()
    deep = dataclasses.replace(flat.compiled(), depth=flat.compiled().depth + 40)
    assert _native.perfect_layout(deep) is None
    flat._perfect, flat._perfect_built = None, True  # as if laid out and found too deep
    assert flat.backend() in ("numba", "numpy")
    with pytest.raises(ConfigError, match="simd"):
        flat.score_samples(rng.normal(size=(10, 9)), backend="simd")
    monkeypatch.setattr(_native, "available", lambda: False)
    fresh = FlatForest.from_arrays(flat.to_arrays())
    assert fresh.backend() == "numba"
    with pytest.raises(ConfigError, match="AVX-512F or AVX2"):
        fresh.backend("simd")


@needs_simd
def test_nan_rows_go_to_the_numpy_reference_where_numba_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forest, flat, rng = _forest()
    test = _edge_rows(flat, rng, 2000)
    clean = test[~(np.abs(np.nan_to_num(test)) > 3.4e38).any(axis=1)]
    expected = flat.score_samples(clean, "numpy")

    def no_numba(*args: object) -> np.ndarray:
        raise AssertionError("numba is not installed here")

    monkeypatch.setattr(_kernel, "kernel_available", lambda: False)
    monkeypatch.setattr(_kernel, "path_lengths", no_numba)
    assert np.isnan(clean).any()
    assert np.array_equal(flat.score_samples(clean, "simd"), expected)
    assert np.max(np.abs(expected + forest.score_samples(clean))) <= 1e-9
