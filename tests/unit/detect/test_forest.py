"""The flattened forest scores exactly like scikit-learn and refuses malformed arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from netrca.detect.forest import FlatForest
from netrca.errors import ModelError


@pytest.mark.parametrize("max_features", [1.0, 0.6])
def test_scores_equal_sklearn(max_features: float) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 12))
    X[:, 2] = np.round(X[:, 2])  # ties on thresholds
    X[:10] *= 8  # outliers
    forest = IsolationForest(n_estimators=60, max_features=max_features, random_state=1).fit(X)
    flat = FlatForest.from_sklearn(forest)
    test = np.vstack([X, rng.normal(size=(500, 12)) * 3])
    assert np.max(np.abs(flat.score_samples(test) + forest.score_samples(test))) <= 1e-9


def test_round_trip_arrays() -> None:
    X = np.random.default_rng(1).normal(size=(500, 4))
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=10, random_state=0).fit(X))
    again = FlatForest.from_arrays(flat.to_arrays())
    assert np.array_equal(again.score_samples(X), flat.score_samples(X))


@pytest.mark.parametrize(
    ("field", "value"),
    [("left", 10**6), ("right", -5), ("tree_features", 99), ("leaf_value", np.inf)],
)
def test_validate_rejects_out_of_bounds(field: str, value: float) -> None:
    X = np.random.default_rng(1).normal(size=(300, 4))
    arrays = FlatForest.from_sklearn(
        IsolationForest(n_estimators=5, random_state=0).fit(X)
    ).to_arrays()
    arr = arrays[field].copy()
    if field == "leaf_value":
        arr = arr.astype(float)
        arr[np.argmax(arr != 0)] = value
    else:
        inner = np.flatnonzero(arrays["feature"] >= 0)
        arr.flat[inner[0] if field != "tree_features" else 0] = value
    arrays[field] = arr
    with pytest.raises(ModelError):
        FlatForest.from_arrays(arrays)


def test_wrong_feature_count() -> None:
    X = np.random.default_rng(1).normal(size=(300, 4))
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=5, random_state=0).fit(X))
    with pytest.raises(ModelError, match="expected 4 features"):
        flat.score_samples(X[:, :3])


def _nan_case() -> tuple[IsolationForest, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 9))
    X[::7, 2] = np.nan  # trained with missing values: nodes learn where NaN goes
    X[:, 4] = np.round(X[:, 4] * 2) / 2  # ties on thresholds
    forest = IsolationForest(n_estimators=40, random_state=2).fit(X)
    test = rng.normal(size=(3001, 9)) * 2  # not a multiple of the kernel's block
    test[::5, 2] = np.nan
    test[::3, 6] = np.nan
    test[:50, 1] = np.float32(test[:50, 1]) + 1e-12  # float32 cast decides ties
    test[50:58, 0] = [3.4e38, -3.4e38, 1e30, 0.0, -0.0, 1e-45, -1e-45, 7.0]
    return forest, test


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_backends_equal_sklearn_with_nan_and_float32(backend: str) -> None:
    forest, test = _nan_case()
    flat = FlatForest.from_sklearn(forest)
    got = flat.score_samples(test, backend=backend)
    assert np.max(np.abs(got + forest.score_samples(test))) <= 1e-9


def root_straddles(flat: FlatForest) -> tuple[np.ndarray, np.ndarray]:
    """Per tree, its root's column and a value that straddles the root's threshold only
    in float64: rounded to float32 it falls on the other side (as scikit-learn's float32
    comparison decides)."""
    off = flat.offsets[:-1]
    col = flat.tree_features[np.arange(flat.n_trees), flat.feature[off]]
    thr = flat.threshold[off]
    f32 = thr.astype(np.float32)
    up = np.nextafter(f32, np.float32(np.inf)).astype(np.float64)
    down = np.nextafter(f32, np.float32(-np.inf)).astype(np.float64)
    f64 = f32.astype(np.float64)
    straddle = np.where(f64 <= thr, (thr + (f64 + up) / 2) / 2, (thr + (f64 + down) / 2) / 2)
    assert (straddle.astype(np.float32) == f32).all() and (straddle != f64).all()
    return col, straddle


def test_compiled_equals_reference_bit_for_bit() -> None:
    forest, test = _nan_case()
    flat = FlatForest.from_sklearn(forest)
    assert np.array_equal(flat.score_samples(test, "numba"), flat.score_samples(test, "numpy"))
    assert flat.score_samples(test[:0], "numba").shape == (0,)
    # outside float32's range (scikit-learn refuses these; both backends agree)
    test[60:64, 0] = [np.inf, -np.inf, 1e300, -1e300]
    assert np.array_equal(flat.score_samples(test, "numba"), flat.score_samples(test, "numpy"))


def test_column_major_float64_is_read_in_place_with_the_same_scores() -> None:
    from netrca.detect import _kernel

    forest, test = _nan_case()
    test[60:64, 0] = [np.inf, -np.inf, 1e300, -1e300]  # rounded to float32 in the kernel
    flat = FlatForest.from_sklearn(forest)
    fortran = np.asfortranarray(test)
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    in_place = _kernel.path_lengths(flat.compiled(), fortran)
    assert np.array_equal(in_place, _kernel.path_lengths(flat.compiled(), test))
    assert np.array_equal(in_place, flat.path_lengths(test))
    col, straddle = root_straddles(flat)
    edge = np.repeat(np.asfortranarray(test[:1]), flat.n_trees, axis=0)
    edge[np.arange(flat.n_trees), col] = straddle
    edge = np.asfortranarray(edge)
    assert np.array_equal(_kernel.path_lengths(flat.compiled(), edge), flat.path_lengths(edge))
    sliced = np.asfortranarray(test)[:1000]  # a row slice of a column-major matrix is not
    assert np.array_equal(  # contiguous either way: it goes through the float32 copy
        _kernel.path_lengths(flat.compiled(), sliced), flat.path_lengths(test[:1000])
    )


def test_compiled_layout_is_bounds_checked() -> None:
    from netrca.detect._kernel import compile_forest

    X = np.random.default_rng(1).normal(size=(300, 4))
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=5, random_state=0).fit(X))
    inner = np.flatnonzero(flat.feature >= 0)
    flat.right = flat.right.copy()
    flat.right[inner[0]] = 10**6  # tampered after loading: compiling re-validates
    with pytest.raises(ModelError):
        compile_forest(flat)


def test_unknown_backend() -> None:
    from netrca.errors import ConfigError

    X = np.random.default_rng(1).normal(size=(100, 3))
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=3, random_state=0).fit(X))
    with pytest.raises(ConfigError, match="backend"):
        flat.score_samples(X, backend="gpu")


@pytest.mark.parametrize("kernel", ["numba", "native"])
def test_top_deviation_equals_numpy_argmax_with_ties_nan_and_zero_scales(kernel: str) -> None:
    from netrca.detect import _kernel, _native

    if kernel == "native" and not _native.top_available():
        pytest.skip("the extension is not built (checked in test_native on x86-64 Linux)")
    top_deviation = _kernel.top_deviation if kernel == "numba" else _native.top_deviation
    rng = np.random.default_rng(7)
    for trial in range(20):
        n, m = int(rng.integers(1, 9000)), int(rng.integers(1, 50))
        X = rng.integers(-3, 4, (n, m)).astype(float)  # small integers: many exact ties
        X[rng.random((n, m)) < 0.02] = np.nan
        center = rng.integers(-1, 2, m).astype(float)
        scale = rng.choice([1.0, 2.0, 0.0, 1e-3], m)  # 0: inf and 0/0 = NaN deviations
        if trial % 2:
            X = np.asfortranarray(X)  # the feature frame's layout
        elif trial % 4 == 2:
            X = X[:, ::-1]  # contiguous neither way (copied)
        with np.errstate(all="ignore"):
            expected = np.argmax(np.abs(X - center) / scale, axis=1)
        assert np.array_equal(top_deviation(X, center, scale), expected), trial
    with pytest.raises(ModelError, match="expected 3 features"):
        top_deviation(np.zeros((2, 4)), np.zeros(3), np.ones(3))


def test_one_sample_a_tree_scores_as_sklearn() -> None:
    """With max_samples=1 the average path length is 0; scikit-learn then takes depths /
    denominator as 1, so every score is 0.5 (a fit on a single row comes to this)."""
    X = np.random.default_rng(0).normal(size=(50, 3))
    forest = IsolationForest(n_estimators=5, max_samples=1, random_state=0).fit(X)
    flat = FlatForest.from_sklearn(forest)
    for backend in ("numpy", "numba", "auto"):
        assert np.array_equal(flat.score_samples(X, backend), -forest.score_samples(X))
