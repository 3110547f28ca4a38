"""The Zeek conn.log reader (TSV and JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from netrca.errors import InputError
from netrca.io import ZeekConnReader, read_flows, sniff_format

FIELDS = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "orig_pkts",
    "resp_pkts",
    "label",
]
HEAD = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\t" + "\t".join(FIELDS) + "\n#types\t" + "\t".join(["string"] * len(FIELDS)) + "\n"
)
ROWS = [
    "1655071198.444458\tC1\t10.0.0.5\t62771\t40.74.108.123\t443\ttcp\tssl\t1.13\t1596\t4039\tSF\t14\t16\tBenign",
    "1655071231.749548\tC2\t193.201.9.232\t46563\t10.0.0.5\t3933\ttcp\t-\t0.00001\t0\t0\tS0\t2\t0\tMalicious",
    "1655071240.0\tC3\t10.0.0.5\t5353\t224.0.0.251\t5353\tudp\tdns\t-\t-\t-\tS0\t1\t0\t(empty)",
    "1655071250.0\tC4\t10.0.0.6\t40000\t10.0.0.7\t22\ttcp\tssh\t0.5\t10\t20\tREJ\t1\t1\tBenign",
]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "conn.log"
    p.write_text(text, encoding="utf-8")
    return p


def test_tsv_fields_map_to_canonical(tmp_path: Path) -> None:
    p = write(tmp_path, HEAD + "\n".join(ROWS) + "\n#close\t2022-06-13\n")
    assert sniff_format(p) == "zeek"
    r = read_flows(p)
    f = r.flows
    assert len(f) == 4 and len(r.rejects) == 0
    assert f["protocol"].tolist() == ["HTTPS", "TCP", "DNS", "SSH"]
    assert f["status"].tolist() == ["SUCCESS", "FAILED", "FAILED", "FAILED"]
    assert f["error_code"].tolist() == ["NONE", "TIMEOUT", "TIMEOUT", "CONNECTION_REFUSED"]
    assert f["conn_state"].tolist() == ["SF", "S0", "S0", "REJ"]  # raw state kept
    assert f["bytes_sent"].isna().tolist() == [False, False, True, False]  # '-' is null
    assert f["latency"].isna().all()  # conn.log has no latency
    assert f["uid"].tolist() == ["C1", "C2", "C3", "C4"]
    assert f["label"].tolist() == ["Benign", "Malicious", "", "Benign"]  # (empty) → ""


def test_truncated_file_rejects_only_the_cut_line(tmp_path: Path) -> None:
    text = HEAD + "\n".join(ROWS) + "\n" + ROWS[0][:30]
    r = read_flows(write(tmp_path, text))
    assert len(r.flows) == 4
    assert r.rejects["line"].tolist() == [12]
    assert "expected 15 fields" in r.rejects["reason"].iloc[0]


def test_bad_values_go_to_rejects(tmp_path: Path) -> None:
    bad = ROWS[0].replace("1596", "-3").replace("C1", "C9")
    r = read_flows(write(tmp_path, HEAD + ROWS[1] + "\n" + bad + "\n"))
    assert len(r.flows) == 1
    assert r.rejects["line"].tolist() == [9]


def test_missing_fields_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="#fields"):
        ZeekConnReader().read(write(tmp_path, "#separator \\x09\n" + ROWS[0] + "\n"))


def test_conflicting_headers(tmp_path: Path) -> None:
    other = HEAD.replace("\tlabel\n", "\tlabel2\n")
    with pytest.raises(InputError, match="second #fields"):
        read_flows(write(tmp_path, HEAD + ROWS[0] + "\n" + other + ROWS[0] + "\n"))


def test_json_form(tmp_path: Path) -> None:
    recs = [
        {
            "ts": 1664462456.75,
            "uid": "C1",
            "id.orig_h": "172.16.1.11",
            "id.orig_p": 40042,
            "id.resp_h": "8.8.8.8",
            "id.resp_p": 53,
            "proto": "udp",
            "service": "dns",
            "orig_bytes": 40,
            "resp_bytes": 111,
            "conn_state": "SF",
            "local_orig": True,
        },
        {
            "ts": 1664462457.0,
            "uid": "C2",
            "id.orig_h": "172.16.1.11",
            "id.orig_p": 1,
            "id.resp_h": "172.16.1.30",
            "id.resp_p": 3,
            "proto": "icmp",
            "conn_state": "OTH",
        },
    ]
    text = "\n".join(json.dumps(r) for r in recs) + "\n{not json\n"
    p = write(tmp_path, text)
    assert sniff_format(p) == "zeek"
    r = read_flows(p)
    assert r.flows["protocol"].tolist() == ["DNS", "ICMP"]
    assert r.flows["bytes_sent"].isna().tolist() == [False, True]
    assert r.rejects["line"].tolist() == [3]
    assert "invalid JSON" in r.rejects["reason"].iloc[0]


@pytest.mark.parametrize(("unset", "empty"), [("-", "(empty)"), ("NA", "NA"), ("-", "")])
def test_unset_and_empty_tokens_match_whole_fields_only(
    tmp_path: Path, unset: str, empty: str
) -> None:
    """The parser nulls exactly the unset token and blanks exactly the empty one, as the
    per-column masks it replaced did (where one string is both, the empty value wins)."""
    head = HEAD.replace("#empty_field\t(empty)", f"#empty_field\t{empty}").replace(
        "#unset_field\t-", f"#unset_field\t{unset}"
    )
    rows = [
        ROWS[0].replace("Benign", f"x{empty}"),
        ROWS[1].replace("Malicious", unset).replace("\t0.00001\t", f"\t{unset}\t"),
        ROWS[2].replace("(empty)", empty),
    ]
    f = read_flows(write(tmp_path, head + "\n".join(rows) + "\n")).flows
    blank = "" if unset == empty else None
    assert f["label"].tolist()[0] == f"x{empty}"
    assert f["label"].tolist()[2] == ""
    if blank is None:
        assert f["label"].isna().tolist() == [False, True, False]
        assert f["duration"].isna().tolist() == [False, True, True]
    else:
        assert f["label"].tolist()[1] == ""


@pytest.mark.parametrize(
    ("bad", "as_text"),
    [
        (None, False),
        (("orig_bytes", "abc"), True),
        (("duration", "nan"), True),
        (("duration", "-0"), True),
        (("orig_bytes", " 5"), False),  # Arrow trims, as the canonical checks strip
        (("duration", "-5"), True),  # refused: read again so the reason quotes '-5'
    ],
)
def test_numeric_fields_parsed_as_numbers_read_as_their_text(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bad: tuple[str, str] | None,
    as_text: bool,
) -> None:
    """Zeek's numeric fields are parsed as numbers where every value is a plain one, and
    as text (for the canonical checks) otherwise: the same flows and rejects either way."""
    from netrca.io import _text, zeek

    rows = [r.split("\t") for r in ROWS * 3]
    if bad is not None:
        rows[4][FIELDS.index(bad[0])] = bad[1]
    p = write(tmp_path, HEAD + "\n".join("\t".join(r) for r in rows) + "\n")
    parsed: list[int] = []
    csv_table = _text._csv_table

    def spy(*args: object) -> object:
        parsed.append(len(args[-1]))  # type: ignore[arg-type]
        return csv_table(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_text, "_csv_table", spy)
    got = read_flows(p)
    assert parsed == ([8, 0] if as_text else [8])
    monkeypatch.setattr(zeek, "_NUMBER_TYPES", {})
    want = read_flows(p)
    pd.testing.assert_frame_equal(got.flows, want.flows, check_exact=True)
    pd.testing.assert_frame_equal(got.rejects, want.rejects)
    assert len(got.flows) == 12 - (bad is not None and bad[1] in ("abc", "-5"))
    if bad == ("duration", "-5"):
        assert got.rejects["reason"].tolist() == ["duration: negative: '-5'"]


def test_a_repeated_numeric_field_is_a_schema_error(tmp_path: Path) -> None:
    """A #fields line naming a numeric field twice is refused with a clear error, as
    before numbers were parsed by Arrow (which names the repeat ambiguous)."""
    from netrca.errors import SchemaError

    head = HEAD.replace("\tlabel\n#types", "\tts\n#types")
    rows = [r.rsplit("\t", 1)[0] + "\t1655071198.5" for r in ROWS]
    with pytest.raises(SchemaError, match="duplicate column"):
        read_flows(write(tmp_path, head + "\n".join(rows) + "\n"))
