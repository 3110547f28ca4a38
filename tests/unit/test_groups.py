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
