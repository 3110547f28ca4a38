"""Group-by primitives agree with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from netrca.groups import Groups


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 5)), min_size=1, max_size=60
    )
)
def test_groups_match_pandas(rows: list[tuple[int, int, int]]) -> None:
    a, b, v = (np.asarray(x) for x in zip(*rows, strict=True))
    df = pd.DataFrame({"a": a, "b": b, "v": v.astype(float)})
    g = Groups(a, b)
    gb = df.groupby(["a", "b"])["v"]
    assert np.allclose(g.count(), gb.transform("size"))
    assert np.allclose(g.sum(v.astype(float)), gb.transform("sum"))
    assert np.allclose(g.nunique(v), gb.transform("nunique"))
    assert np.allclose(g.max(v.astype(float)), gb.transform("max"))
    assert np.allclose(g.median(v.astype(float)), gb.transform("median"))
    assert np.allclose(g.std(v.astype(float)), gb.transform(lambda s: s.std(ddof=0)))


_KEY = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**62), 2**62),  # ranges too wide to combine directly: compacted first
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_KEY, st.booleans(), _KEY, st.integers(0, 4)), min_size=1, max_size=80))
def test_group_ids_are_first_appearance_order_whatever_the_key_ranges(
    rows: list[tuple[int, bool, int, int]],
) -> None:
    a, b, c, v = (np.asarray(x) for x in zip(*rows, strict=True))
    withnan = np.where(v == 0, np.nan, v.astype(float))  # a float key with missing values
    df = pd.DataFrame({"a": a, "b": b, "c": c, "n": withnan, "v": v})
    expected = df.groupby(["a", "b", "c", "n"], sort=False, dropna=False).ngroup().to_numpy()
    g = Groups(a, b, c, withnan)
    assert np.array_equal(g.ids, expected)
    assert g.n_groups == int(expected.max()) + 1
    by = df.groupby(["a", "b"], sort=False)["c"]
    assert np.array_equal(Groups(a, b).nunique(c), by.transform("nunique").to_numpy(float))
    assert np.array_equal(Groups(a, b).count(), by.transform("size").to_numpy(float))
