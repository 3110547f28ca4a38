"""Canonicalisation helpers equal the slower pandas/stdlib definitions they replace."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netrca.io.canonical import _valid_ips, canonicalize
from netrca.io.canonical import parse_numbers as _numbers

_TRICKY = ["-0", "-0.0", "0", "+1.5", "1e5", "1.0E+3", "inf", "-inf", "nan", "Infinity", "1e400"]
_BAD = ["1_000", "0x10", "1.5e", ".", "abc", ""]

_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(0, 1e12).map(lambda v: f"{v:.6f}"),
    st.sampled_from(_TRICKY + _BAD),
    st.none(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=30))
def test_numbers_equal_pandas_to_numeric_bit_for_bit(values: list[str | None]) -> None:
    text = pd.Series(values, dtype="string")
    expected = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
    got = _numbers(text)
    assert np.array_equal(got.view(np.int64), expected.view(np.int64)), (values, got, expected)


def test_negative_zero_follows_pandas_for_the_whole_column() -> None:
    # pandas reads "-0" as 0.0 in an all-integer column and as -0.0 next to decimals
    for values in (["-0", "7"], ["-0", "1.5"], ["-0.0", "3"]):
        text = pd.Series(values, dtype="string")
        expected = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
        assert np.array_equal(_numbers(text).view(np.int64), expected.view(np.int64)), values


def test_valid_ips_normalise_once_per_value_like_the_row_by_row_rule() -> None:
    values = ["10.0.0.1", None, "::FFFF:1.2.3.4", "bad", "2001:DB8::1", "10.0.0.1", "", "1.2.3"]
    text = pd.Series(values * 3, dtype="string", index=range(7, 7 + 3 * len(values)))

    def one(v: str | None) -> str | None:
        try:
            return None if v is None else str(ipaddress.ip_address(v))
        except ValueError:
            return None

    expected = pd.Series([one(v) for v in values * 3], dtype="string", index=text.index)
    got = _valid_ips(text)
    assert got.equals(expected)
    assert got.tolist()[:3] == ["10.0.0.1", pd.NA, "::ffff:102:304"]
    # a column already in normal form comes back as it is, equal to the rule's result
    normal = pd.Series(["10.0.0.1", None, "::ffff:102:304", "10.0.0.1"], dtype="string")
    pd.testing.assert_series_equal(_valid_ips(normal), normal.map(one).astype("string"))


def _octet_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 300).map(str),
        st.integers(0, 99).map(lambda v: f"0{v}"),  # a leading zero: not an address
        st.sampled_from(["", " 1", "1 ", "+1", "-1", "\u0661", "\uff11", "1e1", "0x1", "٣"]),
    )


_ADDRESS_TEXT = st.one_of(
    st.lists(_octet_text(), min_size=4, max_size=4).map(".".join),
    st.lists(_octet_text(), min_size=3, max_size=5).map(".".join),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    st.sampled_from(["::FFFF:1.2.3.4", "1.2.3.4/32", "1.2.3.4\n", "fe80::1%eth0"]),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ADDRESS_TEXT, min_size=1, max_size=25))
def test_valid_ips_equal_ipaddress_value_by_value(values: list[str | None]) -> None:
    """Dotted quads recognised by pattern and everything else by ipaddress: the same
    text as ipaddress gives for every value (its normal form, NA where invalid)."""

    def one(v: str | None) -> str | None:
        try:
            return None if v is None else str(ipaddress.ip_address(v))
        except ValueError:
            return None

    for dtype in ("string", object):
        text = pd.Series(values, dtype=dtype)
        expected = pd.Series([one(v) for v in values], dtype="string")
        assert _valid_ips(text).equals(expected), (values, dtype)


def test_valid_ips_read_objects_that_are_not_text_as_ipaddress_does() -> None:
    """An object column may hold numbers, bytes or address objects: each is given to
    ipaddress as it is (5 is 0.0.0.5; bytes of the wrong length are no address)."""
    values = [5, "1.2.3.4", b"1.2.3.4", ipaddress.ip_address("10.0.0.7"), None, 2**32 + 1]
    got = _valid_ips(pd.Series(values, dtype=object))
    assert got.tolist() == ["0.0.0.5", "1.2.3.4", pd.NA, "10.0.0.7", pd.NA, "::1:0:1"]


def test_text_columns_normalised_two_at_a_time_equal_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large frames normalise their text columns on two threads: the same columns."""
    import pyarrow as pa

    from netrca.io import canonical

    rng = np.random.default_rng(5)
    n = 60_000
    tokens = np.array(["-", " 7 ", "NaN", "", "abc", "10.0.0.1", "(empty)", "null"], dtype=object)
    frame = pd.DataFrame(
        {f"c{j}": pd.Series(rng.choice(tokens, n), dtype="string") for j in range(5)}
        | {"ints": pd.Series(rng.integers(0, 9, n))}
    )
    columns = list(frame.columns)
    monkeypatch.setattr(pa, "cpu_count", lambda: 2)
    threaded = canonical._texts(frame, columns)
    monkeypatch.setattr(pa, "cpu_count", lambda: 1)
    serial = canonical._texts(frame, columns)
    assert list(threaded) == list(serial) == columns
    for c in columns:
        pd.testing.assert_series_equal(threaded[c], serial[c])
    assert serial["c0"].isna().any() and serial["c0"].notna().any()


def test_typed_numbers_canonicalise_as_their_text_does() -> None:
    """int64/float64 columns (Zeek's numeric fields, Parquet) are checked as numbers: the
    same flows and the same rejected rows as the same values given as text."""
    n = 400
    rng = np.random.default_rng(9)
    ts = 1.7e9 + np.sort(rng.random(n)) * 1e4
    ts[[3, 7]] = [np.nan, 1e30]  # missing, out of range
    sent = pd.array(rng.integers(0, 10**6, n), dtype="Int64")
    sent[[5, 9]] = [pd.NA, -4]  # missing, negative
    port = pd.array(rng.integers(0, 70_000, n), dtype="Int64")  # some beyond 65535
    dur = rng.random(n) * 10
    dur[[11, 12, 13]] = [np.nan, np.inf, -1.0]
    typed = pd.DataFrame(
        {
            "timestamp": ts,
            "source_ip": "10.0.0.1",
            "destination_ip": "10.0.0.2",
            "destination_port": port,
            "bytes_sent": sent,
            "duration": dur,
        }
    )
    text = typed.astype("string")
    assert text["timestamp"].isna().sum() == 1  # NaN is missing text, as it is a number
    lines = np.arange(2, n + 2)
    got = canonicalize(typed, lines, lambda idx: [""] * len(idx), "t", "t")
    want = canonicalize(text, lines, lambda idx: [""] * len(idx), "t", "t")
    pd.testing.assert_frame_equal(got.flows, want.flows, check_exact=True)
    assert got.rejects["line"].tolist() == want.rejects["line"].tolist()
    assert len(got.rejects) > 20  # ports past 65535, the negative count, timestamps, ...


@pytest.mark.parametrize("normal", [True, False])
def test_status_normalised_once_per_pair_like_row_by_row(normal: bool) -> None:
    """Per distinct (status, error) pair, then spread, equals the rule row by row; columns
    already normal (Zeek's mapped states) come back as they are, with the same values."""
    from netrca.io.canonical import _normalise_pairs, _normalise_status

    rng = np.random.default_rng(2)
    if normal:
        status_tokens = ["SUCCESS", "FAILED"]
        error_tokens = ["NONE", "TIMEOUT", "CONNECTION_REFUSED"]
    else:
        status_tokens = ["ok", "FAILED", " denied ", None, "weird"]
        error_tokens = ["none", "TIMEOUT", None, "0", "auth_failed"]
    status = pd.Series(rng.choice(np.array(status_tokens, dtype=object), 500), dtype="string")
    error = pd.Series(rng.choice(np.array(error_tokens, dtype=object), 500), dtype="string")
    got_status, got_error = _normalise_status(status, error)
    want_status, want_error = _normalise_pairs(status, error)
    assert got_status.tolist() == want_status.tolist()
    assert got_error.tolist() == want_error.tolist()
    assert got_status.dtype == got_error.dtype == "string"
