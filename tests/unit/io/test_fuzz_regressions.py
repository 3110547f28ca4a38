"""Inputs the fuzzers of `make stress` found to crash a reader: each now reads exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netrca.errors import InputError
from netrca.io import read_flows

HEADER = "timestamp,source_ip,destination_ip,bytes_sent"


def test_integers_above_2_to_53_stay_exact_and_out_of_range_ones_are_rejected(
    tmp_path: Path,
) -> None:
    """atheris (Zeek JSON): 3622222222222222277 made Arrow's int→float cast raise."""
    big, too_big = 3622222222222222277, 2**62 + 1
    path = tmp_path / "flows.csv"
    rows = [
        f"2024-03-04T00:00:0{i}Z,10.0.0.1,10.0.0.2,{v}" for i, v in enumerate([big, too_big, 7])
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    r = read_flows(path, "csv")
    assert r.flows["bytes_sent"].tolist() == [big, 7]  # exact, not rounded through float64
    assert r.rejects["line"].tolist() == [3] and "outside" in r.rejects["reason"].iloc[0]
    zeek = tmp_path / "conn.json"
    zeek.write_text(
        json.dumps(
            {
                "ts": 1709510400.0,
                "id.orig_h": "10.0.0.1",
                "id.orig_p": 5,
                "id.resp_h": "10.0.0.2",
                "id.resp_p": 80,
                "proto": "tcp",
                "orig_bytes": big,
            }
        )
        + "\n"
    )
    assert read_flows(zeek, "zeek").flows["bytes_sent"].tolist() == [big]


def test_parquet_with_damaged_pandas_metadata_reads_its_columns(tmp_path: Path) -> None:
    """atheris (Parquet): undecodable pandas metadata made `to_pandas` raise."""
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-03-04T00:00:00Z", "2024-03-04T00:00:01Z"]),
            "source_ip": ["10.0.0.1", "10.0.0.3"],
            "destination_ip": ["10.0.0.2", "10.0.0.2"],
            "bytes_sent": [10, 20],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = tmp_path / "flows.parquet"
    pq.write_table(table.replace_schema_metadata({b"pandas": b"{\xbb\xff"}), path)
    r = read_flows(path, "parquet")
    assert r.flows["source_ip"].tolist() == ["10.0.0.1", "10.0.0.3"]
    assert r.flows["bytes_sent"].tolist() == [10, 20] and len(r.rejects) == 0


def test_parquet_string_column_with_invalid_utf8_rejects_only_those_rows(tmp_path: Path) -> None:
    """atheris (Parquet): a damaged page left invalid UTF-8 in a string column, and
    converting it raised inside pyarrow; now those rows are rejected with a reason."""
    raw = pa.array(
        [b"2024-03-04T00:00:00Z", b"2024-03-04T00:00:\xff1Z", b"2024-03-04T00:00:02Z"],
        type=pa.binary(),
    )
    bad_text = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())
    table = pa.table(
        {
            "timestamp": bad_text,
            "source_ip": ["10.0.0.1", "10.0.0.3", "10.0.0.4"],
            "destination_ip": ["10.0.0.2"] * 3,
        }
    )
    path = tmp_path / "flows.parquet"
    pq.write_table(table, path)
    r = read_flows(path, "parquet")
    assert r.flows["source_ip"].tolist() == ["10.0.0.1", "10.0.0.4"]
    assert r.rejects["line"].tolist() == [2] and "timestamp" in r.rejects["reason"].iloc[0]


def test_zeek_empty_separator_is_a_clean_error(tmp_path: Path) -> None:
    """atheris (Zeek TSV): `#separator \\x` (no hex digits) gave an empty separator and a
    ValueError from str.split."""
    for token in ("\\x", ""):
        path = tmp_path / "conn.log"
        path.write_text(f"#separator {token}\n#fields\tts\tid.orig_h\n1.0\t10.0.0.1\n")
        with pytest.raises(InputError, match="empty #separator"):
            read_flows(path, "zeek")
