"""Encoders: exact round trips, never-negative decoding, bounded vocabularies, clear errors."""

from __future__ import annotations

import ipaddress
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netrca.errors import ConfigError, InputError, ModelError
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


def test_exact_values_beyond_the_most_frequent_are_kept_only_where_they_spike() -> None:
    # packet counts 1..40, each as frequent as its neighbours, and three sizes that stand
    # out from the integers around them (each on 1.5% of rows, rarer than every dense value)
    dense = np.repeat(np.arange(1, 41), 60)
    spikes = np.repeat([537, 1074, 3068], 40)
    x = pd.Series(pd.array(np.r_[dense, spikes, np.zeros(100, np.int64)], dtype="Int64"))
    many = NumericEncoder("bytes_sent", "count", max_specials=24).fit(x)
    few = NumericEncoder("bytes_sent", "count").fit(x)
    # zero plus the 7 most frequent values either way (ties by value: 1..7)
    assert set(few.specials) == {0.0, *map(float, range(1, 8))}
    # the room left goes to the spikes, not to more of the dense run
    assert set(many.specials) == set(few.specials) | {537.0, 1074.0, 3068.0}
    back = many.inverse(many.transform(x, None), RNG)
    assert (back.to_numpy() == x.to_numpy()).all()


def test_reals_round_trip_within_tolerance() -> None:
    x = pd.Series(np.round(np.exp(RNG.normal(-1, 2, 2000)), 6))
    x[:100] = 0.0
    enc = NumericEncoder("duration", "positive").fit(x)
    back = enc.inverse(enc.transform(x, None), RNG).to_numpy()
    np.testing.assert_allclose(back, x.to_numpy(), rtol=1e-9, atol=1e-12)


def _bytes_and_packets(n: int = 3000) -> tuple[pd.Series, np.ndarray]:
    packets = np.where(RNG.random(n) < 0.1, 0, RNG.geometric(0.05, n)).astype(np.float64)
    size = np.where(RNG.random(n) < 0.5, 40.0, RNG.uniform(40, 1500, n))
    values = np.rint(packets * size)
    values[:200] = 1460 * packets[:200]  # full-size segments: a per-packet mode
    values[200:260] = 31  # a frequent exact value
    packets[200:260] = np.maximum(packets[200:260], 1)
    return pd.Series(pd.array(values.astype(np.int64), dtype="Int64")), packets


def test_counts_per_packet_round_trip_exactly_and_keep_their_exact_values() -> None:
    x, packets = _bytes_and_packets()
    enc = NumericEncoder("bytes_sent", "count", per="packets_sent").fit(x, divisor=packets)
    assert 0.0 in enc.specials and 31.0 in enc.specials and enc.per_zero
    back = enc.inverse(enc.transform(x, None, packets), RNG, packets)
    assert (back.to_numpy(dtype=np.float64) == x.to_numpy(dtype=np.float64)).all()
    state = encoder_from_dict(enc.to_dict())
    assert isinstance(state, NumericEncoder) and state.per == "packets_sent"
    again = state.inverse(state.transform(x, None, packets), RNG, packets)
    assert again.equals(back)


def test_standardised_numbers_round_trip_exactly_and_keep_their_state() -> None:
    x, packets = _bytes_and_packets()
    shift = RNG.normal(0.0, 2.0, len(x))
    spread = RNG.uniform(0.2, 3.0, len(x))
    enc = NumericEncoder("bytes_sent", "count", per="packets_sent")
    enc.fit(x, divisor=packets, shift=shift, spread=spread)
    assert enc.standardised and enc.special_centres is not None
    parts = enc.transform(x, None, packets, shift, spread)
    back = enc.inverse(parts, RNG, packets, shift, spread)
    assert (back.to_numpy(dtype=np.float64) == x.to_numpy(dtype=np.float64)).all()
    # the modes describe the standardised values: decoding with another centre moves them
    # (up to the largest size per packet of the training flows, where decoding stops)
    moved = enc.inverse(parts, RNG, packets, shift + 1.0, spread).to_numpy(dtype=np.float64)
    cont = parts[0] >= len(enc.specials) + int(enc.has_null)
    was = back.to_numpy(dtype=np.float64)
    assert enc.bounds is not None
    cap = enc._backward(np.full(len(x), enc.bounds[1]), enc._safe(np.asarray(packets, float)))
    capped = moved == cap  # the rows whose moved value reached the training maximum
    assert ((moved[cont] > was[cont]) | (capped[cont] & (moved[cont] >= was[cont]))).all()
    assert (moved[cont] > was[cont]).mean() > 0.9
    state = encoder_from_dict(enc.to_dict())
    assert isinstance(state, NumericEncoder) and state.standardised
    np.testing.assert_array_equal(state.special_centres, enc.special_centres)
    again = state.inverse(
        state.transform(x, None, packets, shift, spread), RNG, packets, shift, spread
    )
    assert again.equals(back)
    reals = pd.Series(np.round(np.exp(RNG.normal(-1, 2, 2000)), 6))
    reals[:100] = 0.0
    dur = NumericEncoder("duration", "positive").fit(
        reals, shift=shift[:2000], spread=spread[:2000]
    )
    out = dur.inverse(
        dur.transform(reals, None, None, shift[:2000], spread[:2000]),
        RNG,
        None,
        shift[:2000],
        spread[:2000],
    )
    np.testing.assert_allclose(out.to_numpy(), reals.to_numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ConfigError, match="shift has 3 values for 2000 rows"):
        dur.transform(reals, None, None, shift[:3])


def test_counts_per_packet_scale_with_the_packets_and_need_them() -> None:
    x, packets = _bytes_and_packets()
    enc = NumericEncoder("bytes_sent", "count", per="packets_sent").fit(x, divisor=packets)
    assert enc.modes is not None
    # one value on the modelled scale decodes to bytes proportional to the packets given
    codes = np.full(4, int(enc.has_null) + len(enc.specials))
    out = enc.decode(codes, np.zeros(4), np.array([0.0, 1.0, 10.0, 100.0]))
    assert out[0] == 0.0  # no bytes without packets: the training flows never had any
    assert out[2] == pytest.approx(10 * out[1], rel=0.01)
    assert out[3] == pytest.approx(100 * out[1], rel=0.01)
    with pytest.raises(ConfigError, match="modelled per 'packets_sent'"):
        enc.decode(codes, np.zeros(4))
    with pytest.raises(ConfigError, match="only counts"):
        NumericEncoder("duration", "positive", per="packets_sent")


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


def test_decoding_stays_inside_the_training_range() -> None:
    # durations from microseconds to hours: a mixture whose outer modes reach far beyond
    values = np.concatenate([RNG.lognormal(-11, 1, 200), RNG.lognormal(0, 2, 600)])
    x = pd.Series(np.minimum(values, 20_000.0))
    enc = NumericEncoder("duration", "positive").fit(x)
    assert enc.modes is not None and enc.bounds is not None
    base = int(enc.has_null) + len(enc.specials)
    codes = np.repeat(np.arange(base, enc.n_tokens), 2)
    alpha = np.tile([-1.0, 1.0], enc.n_tokens - base)
    out = enc.decode(codes, alpha)
    assert out.min() >= x.min() * (1 - 1e-9) and out.max() <= x.max() * (1 + 1e-9)
    assert out.max() == pytest.approx(x.max()) and out.min() == pytest.approx(x.min())
    # per packet: bytes never exceed the largest size per packet the training flows had
    b, packets = _bytes_and_packets()
    per = NumericEncoder("bytes_sent", "count", per="packets_sent").fit(b, divisor=packets)
    top = int(per.has_null) + len(per.specials) + per.modes.n_modes - 1
    big = per.decode(np.array([top]), np.array([1.0]), np.array([10.0]))[0]
    ratio = (b.to_numpy(dtype=float) - 1) / np.maximum(packets, 1)
    assert big <= 10 * np.nanmax(ratio) + 1


def test_model_state_without_bounds_decodes_unbounded_and_bad_bounds_are_refused() -> None:
    x = pd.Series(RNG.lognormal(0, 2, 500))
    enc = NumericEncoder("duration", "positive").fit(x)
    state = enc.to_dict()
    assert state["bounds"] == [float(np.log(x.min())), float(np.log(x.max()))]
    old = encoder_from_dict({k: v for k, v in state.items() if k != "bounds"})
    assert isinstance(old, NumericEncoder) and old.bounds is None
    codes = np.array([int(enc.has_null) + len(enc.specials) + enc.modes.n_modes - 1])
    assert old.decode(codes, np.array([1.0]))[0] > enc.decode(codes, np.array([1.0]))[0]
    with pytest.raises(ModelError, match="malformed value bounds"):
        encoder_from_dict({**state, "bounds": [3.0, 1.0]})


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


def test_a_scans_few_ports_decode_only_to_ports_it_probed() -> None:
    # a scan: 32 frequent ports (the top-K) and 68 rarer ones, some in each IANA class
    frequent = np.arange(1, 33) * 7
    probed = np.concatenate(
        [np.arange(300, 330), np.arange(2000, 2030), [50000 + 11 * i for i in range(8)]]
    )
    x = pd.Series(
        pd.array(np.concatenate([np.repeat(frequent, 20), np.repeat(probed, 3)]), dtype="Int64")
    )
    enc = PortEncoder("destination_port").fit(x)
    assert len(enc.top) == 32 and sorted(enc.support) == [0, 1, 2]
    back = enc.inverse(enc.transform(x, None), RNG)  # still exact
    assert (back.to_numpy() == x.to_numpy()).all()
    codes = RNG.integers(0, len(enc.tokens), 20000)
    wild = enc.decode(codes, RNG.uniform(-1, 1, 20000))
    assert set(np.unique(wild).astype(int)) <= set(enc.top) | set(probed.tolist())
    # every probed port can come out (positions near it snap to it)
    tail = enc.transform(x, RNG)
    again = enc.decode(tail[0], tail[1])
    assert set(np.unique(again[x.to_numpy() >= 300]).astype(int)) == set(probed.tolist())
    # ephemeral client ports, thousands of them: any port of the range
    many = pd.Series(pd.array(RNG.integers(32768, 61000, 5000), dtype="Int64"))
    eph = PortEncoder("source_port", max_top=0).fit(many)
    assert not eph.support
    # the state round-trips; older states without supports load; bad ones are refused
    d = enc.to_dict()
    back_enc = PortEncoder.from_dict(json.loads(json.dumps(d)))
    assert np.array_equal(
        back_enc.decode(codes, np.linspace(-1, 1, 20000)),
        enc.decode(codes, np.linspace(-1, 1, 20000)),
        equal_nan=True,
    )
    assert not PortEncoder.from_dict({k: v for k, v in d.items() if k != "support"}).support
    for bad in ({"0": [5000]}, {"1": [2001, 2000]}, {"7": [1]}, {"1": []}):
        with pytest.raises(ModelError, match="malformed port"):
            PortEncoder.from_dict({**d, "support": bad})


def test_addresses_exact_in_vocabulary_same_prefix_otherwise() -> None:
    frequent = [f"10.0.1.{i}" for i in range(1, 6)]
    rare = [f"93.184.{i % 7}.{i}" for i in range(1, 200)]  # each seen once
    rare6 = [f"2001:db8:0:{i:x}::1" for i in range(1, 30)]
    x = pd.Series(frequent * 100 + rare + ["2001:db8::1"] * 3 + rare6 + [None] * 4, dtype="string")
    enc = IPEncoder("destination_ip", max_addresses=10).fit(x)
    assert len(enc.tokens) <= 10 + 5  # bounded whatever the number of addresses
    back = enc.inverse(enc.transform(x, None), RNG)
    assert back.dtype == "string" and len(back) == len(x)
    assert back[-4:].isna().all() and back[:-4].notna().all()
    same = back.to_numpy()[:-4] == x.to_numpy()[:-4]
    assert same[: len(frequent) * 100].all()
    tail = slice(len(frequent) * 100, len(frequent) * 100 + len(rare))
    assert [a.rsplit(".", 1)[0] for a in back[tail]] == [a.rsplit(".", 1)[0] for a in rare]
    six = back[-4 - len(rare6) : -4]  # new addresses in a prefix seen in training
    assert all(ipaddress.ip_address(a).version == 6 for a in six)
    seen = {ipaddress.ip_network(f"{a}/64", strict=False) for a in rare6}
    assert all(ipaddress.ip_network(f"{a}/64", strict=False) in seen for a in six)
    flags = dict(zip(enc.tokens, enc.internal_tokens(), strict=True))
    assert flags["10.0.1.1"] and not flags["other_external4"]
    assert all(ipaddress.ip_address(a) for a in back[:-4])


def test_generated_other_addresses_respect_their_internal_flag() -> None:
    x = pd.Series([f"10.2.{i % 50}.{i % 200 + 1}" for i in range(400)] + ["8.8.8.8"] * 3)
    x = pd.concat([x, pd.Series([f"93.{i}.7.1" for i in range(1, 100)])], ignore_index=True)
    enc = IPEncoder("source_ip", max_addresses=4).fit(x)
    rng = np.random.default_rng(7)  # own generator: the result must not depend on test order
    bits = (rng.random((3000, enc.prefix_bits)) < 0.5).astype(np.float32)  # random prefixes
    # "internal" means the encoder's networks (which include 100.64.0.0/10, CGNAT, which
    # Python's is_private does not), so check against exactly those.
    nets = [ipaddress.ip_network(n) for n in enc.internal_networks]
    assert "100.64.0.0/10" in enc.internal_networks
    for cname, inside in (("other_internal4", True), ("other_external4", False)):
        code = enc.tokens.index(cname)
        out, repaired = enc.decode([np.full(3000, code), bits], rng)
        assert not repaired.any()  # the class is in the coding: nothing to repair
        addrs = [ipaddress.ip_address(a) for a in out]
        assert all(any(a in n for n in nets) == inside for a in addrs), cname
        assert not any(a.is_loopback or a.is_multicast or a.is_unspecified for a in addrs)
        assert not any(int(a) >> 24 in (0, 127) or int(a) >> 24 >= 224 for a in addrs)
        assert len({int(a) >> 8 for a in addrs}) > 1000  # spread over many prefixes
    # a model saved with plain prefix bits still decodes, repairing what lands outside
    old = encoder_from_dict({**enc.to_dict(), "coding": "raw"})
    assert isinstance(old, IPEncoder)
    out, repaired = old.decode([np.full(3000, enc.tokens.index("other_internal4")), bits], rng)
    assert repaired.any()
    assert all(any(ipaddress.ip_address(a) in n for n in nets) for a in out)


def test_internal_networks_smaller_than_a_prefix_fall_back_to_plain_bits() -> None:
    x = pd.Series([f"192.0.2.{i % 14 + 1}" for i in range(300)] + ["8.8.8.8"] * 3)
    enc = IPEncoder("source_ip", max_addresses=1, internal_networks=["192.0.2.0/28"]).fit(x)
    assert "other_internal4" in enc.classes and enc.coding == "raw"
    back = enc.inverse(enc.transform(x, None), RNG)
    assert [a.rsplit(".", 1)[0] for a in back] == [a.rsplit(".", 1)[0] for a in x]


def test_prefix_space_codes_every_prefix_of_its_class_exactly() -> None:
    from netrca.config import DEFAULT_INTERNAL_NETWORKS
    from netrca.synth.encoders import PrefixSpace

    for internal in (True, False):
        space = PrefixSpace(list(DEFAULT_INTERNAL_NETWORKS), 24, internal)
        prefixes = np.concatenate(
            [np.arange(a, b) for a, b in zip(space.starts, space.ends, strict=True)]
        )
        assert len(prefixes) == space.n
        assert (space.prefix(space.code(prefixes)) == prefixes).all()
        codes = space.code(prefixes)
        assert (np.diff(codes) > 0).all() and codes.min() >= 0 and codes.max() < 1 << 24
        anywhere = space.prefix(np.arange(0, 1 << 24, 101))
        assert np.isin(anywhere, prefixes).all()
    assert (
        PrefixSpace(list(DEFAULT_INTERNAL_NETWORKS), 24, True).n == 65536 + 16384 + 256 + 4096 + 256
    )


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
