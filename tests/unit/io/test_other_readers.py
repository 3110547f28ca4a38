"""JSON Lines and Parquet readers, format sniffing and atomic writers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from netrca.errors import InputError
from netrca.io import read_flows, sniff_format, write_csv
from netrca.io.writers import atomic_path

REC = {
    "timestamp": "2024-01-01T00:00:00Z",
    "source_ip": "10.0.0.1",
    "destination_ip": "1.1.1.1",
    "bytes_sent": 10,
    "bytes_received": 20,
    "protocol": "https",
}


def test_jsonl_reader_keeps_good_lines(tmp_path: Path) -> None:
    p = tmp_path / "f.jsonl"
    lines = [json.dumps(REC), "[1, 2]", json.dumps({**REC, "bytes_sent": -1}), json.dumps(REC)]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert sniff_format(p) == "jsonl"
    r = read_flows(p)
    assert len(r.flows) == 2
    assert r.flows["protocol"].tolist() == ["HTTPS", "HTTPS"]
    assert r.rejects["line"].tolist() == [2, 3]


def test_parquet_reader_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame([REC, {**REC, "source_ip": "bad"}])
    p = tmp_path / "f.parquet"
    frame.to_parquet(p)
    assert sniff_format(p) == "parquet"
    r = read_flows(p)
    assert len(r.flows) == 1
    assert r.rejects["line"].tolist() == [2]
    assert "bad" in r.rejects["raw"].iloc[0]


def test_corrupt_parquet_is_an_input_error(tmp_path: Path) -> None:
    p = tmp_path / "f.parquet"
    p.write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(InputError, match="Parquet"):
        read_flows(p)


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown format"):
        read_flows(tmp_path / "x", "xml")


def test_atomic_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    write_csv(target, pd.DataFrame({"a": [1]}))
    before = target.read_bytes()

    def crash() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
