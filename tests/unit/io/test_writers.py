"""netrca's Parquet encoding: the same frame read back, statistics where they prune."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from netrca.io.writers import to_parquet, write_parquet


def _frame(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(1.7e9 + np.arange(n), unit="s", utc=True),
            "source_ip": pd.array([f"10.0.0.{i % 7}" for i in range(n)], dtype="string"),
            "destination_port": pd.array(rng.integers(0, 4, n), dtype="Int64"),
            "uid": pd.array([f"C{i}" if i % 11 else None for i in range(n)], dtype="str"),
            "flow_id": np.arange(n, dtype=np.int64),
            "anomaly_score": rng.random(n),
            "is_anomaly": rng.random(n) > 0.9,
            "id.orig_h": pd.array(["a", "b"] * (n // 2), dtype="string"),  # a dotted name
        }
    )


def test_read_back_equals_pandas_own_parquet(tmp_path: Path) -> None:
    frame = _frame()
    to_parquet(frame, tmp_path / "ours.parquet")
    frame.to_parquet(tmp_path / "pandas.parquet", index=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "ours.parquet"), pd.read_parquet(tmp_path / "pandas.parquet")
    )
    write_parquet(tmp_path / "atomic.parquet", frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "atomic.parquet"), frame)


def test_dictionaries_for_text_and_small_integers_statistics_for_all_but_text(
    tmp_path: Path,
) -> None:
    to_parquet(_frame(), tmp_path / "p.parquet")
    group = pq.ParquetFile(tmp_path / "p.parquet").metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    dictionary = {
        name for name, c in columns.items() if any("DICTIONARY" in e for e in c.encodings)
    }
    assert dictionary == {"source_ip", "destination_port", "id.orig_h"}  # ids: plain pages
    with_stats = {name for name, c in columns.items() if c.is_stats_set}
    assert with_stats == {"timestamp", "destination_port", "flow_id", "anomaly_score", "is_anomaly"}
    assert columns["anomaly_score"].statistics.has_min_max
