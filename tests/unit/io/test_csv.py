"""The canonical CSV reader: types, rejects with line numbers, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netrca.errors import InputError, SchemaError
from netrca.io import CsvReader, read_flows

HEADER = "timestamp,source_ip,destination_ip,destination_port,protocol,bytes_sent,bytes_received,status,latency,error_code\n"
GOOD = "2024-01-01T00:00:00Z,10.0.0.1,8.8.8.8,53,DNS,60,120,SUCCESS,12.5,NONE\n"


def write(tmp_path: Path, text: str | bytes, name: str = "f.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, str):
        p.write_text(text, encoding="utf-8")
    else:
        p.write_bytes(text)
    return p


def test_reads_canonical_types(tmp_path: Path) -> None:
    r = read_flows(write(tmp_path, HEADER + GOOD + GOOD.replace("10.0.0.1", "2001:db8::1")))
    f = r.flows
    assert len(f) == 2 and len(r.rejects) == 0
    assert str(f["timestamp"].dtype).startswith("datetime64")
    assert f["bytes_sent"].tolist() == [60, 60]
    assert f["source_ip"].tolist() == ["10.0.0.1", "2001:db8::1"]
    assert f["latency"].tolist() == [12.5, 12.5]
    assert f["status"].tolist() == ["SUCCESS", "SUCCESS"]


def test_bad_rows_are_rejected_with_line_reason_and_raw(tmp_path: Path) -> None:
    rows = [
        GOOD,
        GOOD.replace(",60,", ",-5,"),  # negative bytes, line 3
        GOOD.replace(",60,", ",abc,"),  # non-numeric, line 4
        GOOD.replace("10.0.0.1", "10.0.0.999"),  # bad IP, line 5
        "2024-01-01T00:00:00Z,10.0.0.1,8.8.8.8\n",  # wrong field count, line 6
        GOOD.replace("2024-01-01T00:00:00Z", "yesterday"),  # bad timestamp, line 7
        GOOD.replace(",53,", ",70000,"),  # port out of range, line 8
        GOOD.replace("12.5", "nan"),  # latency NaN is null, kept
        GOOD,
    ]
    r = read_flows(write(tmp_path, HEADER + "".join(rows)))
    assert len(r.flows) == 3
    rej = r.rejects.set_index("line")
    assert sorted(rej.index) == [3, 4, 5, 6, 7, 8]
    assert "bytes_sent" in rej.loc[3, "reason"] and "outside" in rej.loc[3, "reason"]
    assert "not a number" in rej.loc[4, "reason"]
    assert "not an IP address" in rej.loc[5, "reason"]
    assert "expected 10 fields, found 3" in rej.loc[6, "reason"]
    assert "timestamp" in rej.loc[7, "reason"]
    assert "destination_port" in rej.loc[8, "reason"]
    assert rej.loc[4, "raw"] == rows[2].strip()
    assert set(r.rejects["file"]) == {str(tmp_path / "f.csv")}


def test_semicolon_delimiter_is_sniffed(tmp_path: Path) -> None:
    text = (HEADER + GOOD).replace(",", ";")
    assert len(read_flows(write(tmp_path, text)).flows) == 1


def test_aliases_and_mapping(tmp_path: Path) -> None:
    text = "time,src_ip,dst_ip,sbytes\n1700000000,10.0.0.1,10.0.0.2,5\n"
    r = CsvReader(mapping={"bytes_sent": "sbytes"}).read(write(tmp_path, text))
    assert r.flows.loc[0, "bytes_sent"] == 5
    assert r.flows.loc[0, "timestamp"] == pd.Timestamp("2023-11-14T22:13:20Z")


def test_quoted_fields(tmp_path: Path) -> None:
    text = HEADER.strip() + ",note\n" + GOOD.strip() + ',"a, b"\n'
    r = read_flows(write(tmp_path, text))
    assert r.flows.loc[0, "note"] == "a, b"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        (HEADER, "no data rows"),
        (b"\x00\x01\x02\x03\xff" * 500, "binary"),
        ("a,b,c\n1,2,3\n", "missing required column"),
        ("timestamp;source_ip|destination_ip\n1;2|3\n", "missing required column"),
        (HEADER + GOOD.replace(",60,", ",-1,"), "no usable row"),
    ],
)
def test_unusable_files_raise_one_clear_error(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        read_flows(write(tmp_path, content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_flows(tmp_path / "nope.csv")


def test_duplicate_canonical_column_is_a_schema_error(tmp_path: Path) -> None:
    text = "timestamp,source_ip,destination_ip,src_ip\n1,10.0.0.1,10.0.0.2,10.0.0.3\n"
    # src_ip is an alias of source_ip but source_ip exists: src_ip stays an extra column
    assert "src_ip" in read_flows(write(tmp_path, text)).flows.columns
    text = "timestamp,source_ip,destination_ip,source_ip\n1,10.0.0.1,10.0.0.2,10.0.0.3\n"
    with pytest.raises(SchemaError, match="duplicate"):
        read_flows(write(tmp_path, text))


def test_gzip_input_and_bomb_limit(tmp_path: Path) -> None:
    import gzip

    p = tmp_path / "f.csv.gz"
    p.write_bytes(gzip.compress((HEADER + GOOD * 10).encode()))
    assert len(read_flows(p).flows) == 10
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(HEADER.encode() + b"0" * 5_000_000))
    with pytest.raises(InputError, match="decompresses to more than"):
        CsvReader(max_bytes=1_000_000).read(bomb)


def test_sniffing_a_gzip_log_decompresses_only_its_head(tmp_path: Path) -> None:
    """The format is guessed from the first 64 KiB: a gzip log whose stream breaks far
    past them still sniffs as CSV (nothing more was decompressed), and reading it still
    fails with the one-line gzip error."""
    import gzip
    import random

    from netrca.io import sniff_format

    rng = random.Random(0)
    rows = "".join(
        GOOD.replace("60,120", f"{rng.randrange(10**9)},{rng.randrange(10**9)}")
        for _ in range(40_000)
    )
    packed = gzip.compress((HEADER + rows).encode())
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(packed[: len(packed) * 3 // 4])  # truncated: the end of the stream is lost
    assert sniff_format(p) == "csv"
    with pytest.raises(InputError, match="gzip data"):
        read_flows(p)
