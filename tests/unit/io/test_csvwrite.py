"""The Arrow CSV writer writes the same text as pandas' to_csv for netrca's dtypes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from netrca.io.csvwrite import write_csv_fast


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "s": pd.Series(rng.choice(["a", "b,c", 'd"e', "f\ng", "", "x y", "ü", "\r"], n)),
            "o": pd.Series(rng.choice(["a", "b,c", None], n), dtype=object),
            "mixed": pd.Series(rng.choice([1, "two", 3.5, None], n), dtype=object),
            "f": rng.normal(size=n) * 10.0 ** rng.integers(-8, 20, n),
            "f2": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.normal(size=n), 3)),
            "i": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 70000, n)), "Int64"),
            "i2": rng.integers(-5, 5, n),
            "b": rng.random(n) < 0.5,
            "nb": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), "boolean"),
            "sn": pd.Series(
                np.where(rng.random(n) < 0.1, None, rng.choice(["NONE", "X"], n))
            ).astype("string"),
            "a,b": rng.integers(0, 2, n),
        }
    )
    if n > 5:
        frame.loc[3, "f"] = np.inf
        frame.loc[4, "f"] = -0.0
        frame.loc[5, "f"] = 3.0
    return frame


@pytest.mark.parametrize(("n", "chunk"), [(5000, 700), (0, 10), (3, 10)])
def test_same_text_as_pandas(n: int, chunk: int) -> None:
    frame = _frame(n, seed=n)
    buf = io.BytesIO()
    write_csv_fast(frame, buf, chunk_rows=chunk)
    assert buf.getvalue().decode("utf-8") == frame.to_csv(index=False)


def test_predictions_written_by_the_pipeline_equal_pandas(tmp_path, sim_flows) -> None:
    from netrca.report.outputs import iso_utc

    ts = sim_flows["timestamp"]
    assert iso_utc(ts).tolist() == ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").tolist()
    frame = sim_flows.assign(timestamp=iso_utc(ts))
    buf = io.BytesIO()
    write_csv_fast(frame, buf)
    assert buf.getvalue().decode("utf-8") == frame.to_csv(index=False)


@pytest.mark.parametrize(
    "first",
    [["s", "f", "b"], ["s", "o", "mixed"], ["s"]],  # the last two: prefixes, text reused
)
def test_views_share_rendering_and_match_pandas(first: list[str]) -> None:
    from netrca.io.csvwrite import write_csv_views

    frame = _frame(2000, seed=7)
    a, b, c = io.BytesIO(), io.BytesIO(), io.BytesIO()
    views = [(b, list(frame.columns)), (a, first), (c, [*first, "i"])]
    write_csv_views(frame, views, chunk_rows=300)
    assert a.getvalue().decode() == frame[first].to_csv(index=False)
    assert b.getvalue().decode() == frame.to_csv(index=False)
    assert c.getvalue().decode() == frame[[*first, "i"]].to_csv(index=False)


def test_quoting_looks_only_at_the_slice_it_writes() -> None:
    import pyarrow as pa

    from netrca.io.csvwrite import _quote

    arr = pa.array(["a,b", "plain", "x", 'q"y'], type=pa.string())
    middle = arr.slice(1, 2)  # the buffer still holds "a,b" and 'q"y' around it
    assert _quote(middle).to_pylist() == ["plain", "x"]
    assert _quote(arr).to_pylist() == ['"a,b"', "plain", "x", '"q""y"']
    assert _quote(arr.slice(3, 1)).to_pylist() == ['"q""y"']
