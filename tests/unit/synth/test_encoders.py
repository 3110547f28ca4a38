"""Encoders: exact round trips, never-negative decoding, bounded vocabularies, clear errors."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netrca.errors import InputError
from netrca.synth.encoders import (
    CategoricalEncoder,
    IPEncoder,
    NumericEncoder,
    PortEncoder,
    TimeEncoder,
    encoder_from_dict,
)

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_rng() -> None:
    """Each test starts from the same generator state, whatever ran before it (xdist)."""
    RNG.bit_generator.state = np.random.default_rng(0).bit_generator.state


def _counts(n: int = 3000) -> pd.Series:
    zeros = RNG.random(n) < 0.3
    values = np.where(zeros, 0, np.exp(RNG.normal(6, 2, n)).astype(np.int64))
    values[:50] = 31  # a frequent exact value
    out = pd.Series(pd.array(values, dtype="Int64"))
    out[RNG.random(n) < 0.02] = pd.NA
    return out


def test_counts_round_trip_exactly_with_nulls_and_zero_inflation() -> None:
    x = _counts()
    enc = NumericEncoder("bytes_received", "count").fit(x)
    assert 0.0 in enc.specials and 31.0 in enc.specials
    back = enc.inverse(enc.transform(x, None), RNG)
    assert back.isna().equals(x.isna())
    assert (back.dropna().to_numpy() == x.dropna().to_numpy()).all()


def test_reals_round_trip_within_tolerance() -> None:
    x = pd.Series(np.round(np.exp(RNG.normal(-1, 2, 2000)), 6))
    x[:100] = 0.0
    enc = NumericEncoder("duration", "positive").fit(x)
    back = enc.inverse(enc.transform(x, None), RNG).to_numpy()
    np.testing.assert_allclose(back, x.to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def fitted() -> tuple[NumericEncoder, NumericEncoder]:
    counts = NumericEncoder("bytes_sent", "count").fit(_counts())
    reals = NumericEncoder("duration", "positive").fit(pd.Series(RNG.exponential(3, 500)))
    return counts, reals


@settings(max_examples=60, deadline=None)
@given(
    alpha=st.lists(st.floats(-50, 50), min_size=1, max_size=40),
    mode=st.integers(0, 100),
)
def test_counts_and_reals_never_decode_negative(
    fitted: tuple[NumericEncoder, NumericEncoder], alpha: list[float], mode: int
) -> None:
    for enc in fitted:
        codes = np.full(len(alpha), mode % enc.n_tokens)
        out = enc.decode(codes, np.asarray(alpha))
        assert (out[~np.isnan(out)] >= 0).all()


def test_negative_count_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"'bytes_sent': negative value -5"):
        NumericEncoder("bytes_sent", "count").fit(pd.Series([1, 2, -5, 7]))


def test_categories_round_trip_exactly_and_unseen_one_is_named() -> None:
    x = pd.Series(["TCP", "UDP", "HTTPS", None, "TCP", "DNS"] * 50, dtype="string")
    enc = CategoricalEncoder("protocol").fit(x)
    back = enc.inverse(enc.transform(x, None), RNG)
    assert back.fillna("<NA>").tolist() == x.fillna("<NA>").tolist()
    with pytest.raises(InputError, match=r"'protocol': category 'QUIC' was not seen"):
        enc.transform(pd.Series(["QUIC"]), None)


def test_integer_categories_stay_integers() -> None:
    x = pd.Series([0, 1, 1, 0, 1], dtype="int64")
    enc = CategoricalEncoder("label").fit(x)
    back = enc.inverse(enc.transform(x, None), RNG)
    assert str(back.dtype) == "Int64" and back.tolist() == x.tolist()


def test_ports_round_trip_exactly_and_stay_in_range() -> None:
    top = RNG.choice([80, 443, 53], 3000)
    eph = RNG.integers(32768, 61000, 3000)
    x = pd.Series(pd.array(np.where(RNG.random(3000) < 0.5, top, eph), dtype="Int64"))
    x[:10] = pd.NA
    enc = PortEncoder("destination_port").fit(x)
    assert {80, 443, 53} <= set(enc.top) and len(enc.top) <= 32
    back = enc.inverse(enc.transform(x, None), RNG)
    assert back.isna().equals(x.isna())
    assert (back.dropna().to_numpy() == x.dropna().to_numpy()).all()
    codes = RNG.integers(0, len(enc.tokens), 5000)
    wild = enc.decode(codes, RNG.uniform(-1, 1, 5000))
    assert np.nanmin(wild) >= 0 and np.nanmax(wild) <= 65535


def test_addresses_exact_in_vocabulary_same_prefix_otherwise() -> None:
    frequent = [f"10.0.1.{i}" for i in range(1, 6)]
    rare = [f"93.184.{i % 7}.{i}" for i in range(1, 200)]  # each seen once
    x = pd.Series(frequent * 100 + rare + ["2001:db8::1"] * 3, dtype="string")
    enc = IPEncoder("destination_ip", max_addresses=10).fit(x)
    assert len(enc.tokens) <= 10 + 5  # bounded whatever the number of addresses
    back = enc.inverse(enc.transform(x, None), RNG)
    same = back.to_numpy() == x.to_numpy()
    assert same[: len(frequent) * 100].all()
    tail = slice(len(frequent) * 100, len(frequent) * 100 + len(rare))
    assert [a.rsplit(".", 1)[0] for a in back[tail]] == [a.rsplit(".", 1)[0] for a in rare]
    flags = dict(zip(enc.tokens, enc.internal_tokens(), strict=True))
    assert flags["10.0.1.1"] and not flags["other_external4"]
    assert all(ipaddress.ip_address(a) for a in back)


def test_generated_other_addresses_respect_their_internal_flag() -> None:
    x = pd.Series([f"10.2.{i % 50}.{i % 200 + 1}" for i in range(400)] + ["8.8.8.8"] * 3)
    enc = IPEncoder("source_ip", max_addresses=4).fit(x)
    code = enc.tokens.index("other_internal4")
    rng = np.random.default_rng(7)  # own generator: the result must not depend on test order
    bits = (rng.random((3000, enc.prefix_bits)) < 0.5).astype(np.float32)  # random prefixes
    out, repaired = enc.decode([np.full(3000, code), bits], rng)
    assert repaired.any()
    # "internal" means the encoder's networks (which include 100.64.0.0/10, CGNAT, which
    # Python's is_private does not), so check against exactly those.
    nets = [ipaddress.ip_network(n) for n in enc.internal_networks]
    assert "100.64.0.0/10" in enc.internal_networks
    assert all(any(ipaddress.ip_address(a) in n for n in nets) for a in out)
    assert not any(ipaddress.ip_address(a).is_loopback for a in out)


def test_timestamps_round_trip_to_the_microsecond() -> None:
    t0 = pd.Timestamp("2024-03-04T22:00:00Z").value
    ns = t0 + np.sort(RNG.integers(0, 30 * 3600 * 10**6, 2000)) * 1000
    x = pd.Series(pd.to_datetime(ns, utc=True))
    enc = TimeEncoder().fit(x)
    assert len(enc.days) == 3
    back = enc.inverse(enc.transform(x, None), RNG)
    assert (back.astype("int64").to_numpy() == x.astype("int64").to_numpy()).all()


def test_missing_timestamp_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="missing or invalid timestamp at row 1"):
        TimeEncoder().fit(pd.Series(["2024-01-01T00:00:00Z", None]))


def test_encoders_survive_their_json_state() -> None:
    x = _counts()
    for enc in (
        NumericEncoder("bytes_sent", "count").fit(x),
        PortEncoder("source_port").fit(x.clip(upper=65535)),
        CategoricalEncoder("status").fit(pd.Series(["SUCCESS", "FAILED"] * 5)),
    ):
        again = encoder_from_dict(enc.to_dict())
        parts = enc.transform(
            x.clip(upper=65535)
            if enc.kind == "port"
            else (x if enc.kind == "numeric" else pd.Series(["FAILED"])),
            None,
        )
        assert again.inverse(parts, RNG).equals(enc.inverse(parts, RNG))
