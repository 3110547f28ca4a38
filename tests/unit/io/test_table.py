"""Feature tables: header-less NSL-KDD/KDD'99 profiles, headed tables, fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrca.errors import InputError, MissingColumnsError
from netrca.io import FeatureTableReader, read_flows, sniff_format

NSL_ROW = "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"
NSL_OK = "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01,normal,21"


def test_nsl_kdd_without_header(tmp_path: Path) -> None:
    p = tmp_path / "KDDTest.txt"
    p.write_text(NSL_ROW + "\n" + NSL_OK + "\n" + "0,tcp,http\n")
    assert sniff_format(p) == "table"
    r = read_flows(p)
    f = r.flows
    assert r.fmt == "table" and r.label_column == "attack" and r.excluded == ("difficulty",)
    assert f["attack"].tolist() == ["neptune", "normal"]
    assert f["status"].tolist() == ["FAILED", "SUCCESS"]  # flag S0 → FAILED
    assert f["error_code"].tolist() == ["TIMEOUT", "NONE"]
    assert f["bytes_received"].tolist() == [0, 8153]
    assert f["protocol"].tolist() == ["PRIVATE", "HTTP"]
    assert f["source_ip"].isna().all() and f["timestamp"].isna().all()
    assert r.rejects["line"].tolist() == [3]


def test_kdd99_label_dot_is_stripped(tmp_path: Path) -> None:
    row = NSL_OK.rsplit(",", 2)[0] + ",normal."
    p = tmp_path / "kdd.txt"
    p.write_text(row + "\n")
    r = read_flows(p)
    assert r.flows["attack"].tolist() == ["normal"]


def test_headed_table_falls_back_from_csv_with_a_note(tmp_path: Path) -> None:
    p = tmp_path / "unsw.csv"
    p.write_text(
        "id,dur,proto,state,sbytes,dbytes,sttl,attack_cat,label\n"
        "1,0.1,tcp,FIN,100,2000,31,Normal,0\n2,0.0,udp,INT,500,0,254,Exploits,1\n"
    )
    r = read_flows(p)
    assert r.fmt == "table" and r.notes and "feature table" in r.notes[0]
    assert r.flows["bytes_sent"].tolist() == [100, 500]
    assert r.flows["duration"].tolist() == [0.1, 0.0]


def test_unrecognisable_csv_still_fails(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(MissingColumnsError):
        read_flows(p)


def test_headerless_unknown_layout(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(InputError, match="no header row"):
        FeatureTableReader().read(p)
