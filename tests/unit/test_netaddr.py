"""Tests for the address helpers: the vectorised IPv4 path agrees with :mod:`ipaddress`."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from netrca.netaddr import (
    infrastructure_of_unique,
    internal_mask,
    parse_networks,
    subnet_of_unique,
)

NETS = parse_networks(["10.0.0.0/8", "192.168.1.0/24", "172.16.0.0/12", "fd00::/8"])

TRICKY = [
    "10.1.2.3",
    "10.255.255.255",
    "11.0.0.1",
    "192.168.1.7",
    "192.168.2.7",
    "172.31.0.1",
    "172.32.0.1",
    "010.1.2.3",  # leading zero: ipaddress refuses it
    "10.1.2.256",
    "10.1.2",
    "10.1.2.3.4",
    " 10.1.2.3",
    "10.1.2.3 ",
    "10.1.2.\u0663",  # an Arabic-Indic digit: not ASCII
    "+10.1.2.3",
    "",
    "fd00::1",
    "fe80::1",
    "::ffff:10.1.2.3",
    "not-an-address",
    "0.0.0.0",
    "255.255.255.255",
]


def _reference(values: list[str]) -> np.ndarray:
    out = []
    for v in values:
        try:
            addr = ipaddress.ip_address(v)
        except ValueError:
            out.append(False)
            continue
        out.append(any(addr.version == n.version and addr in n for n in NETS))
    return np.asarray(out)


def test_internal_mask_matches_ipaddress_on_tricky_text() -> None:
    got = internal_mask(pd.Series(TRICKY), NETS)
    assert got.tolist() == _reference(TRICKY).tolist()
    assert got[:7].tolist() == [True, True, False, True, False, True, False]


def test_internal_mask_matches_ipaddress_on_random_addresses() -> None:
    rng = np.random.default_rng(0)
    octets = rng.choice([0, 1, 10, 16, 31, 32, 168, 172, 192, 255], size=(3000, 4))
    values = [".".join(str(o) for o in row) for row in octets] + [None, "10.0.0.1"]
    got = internal_mask(pd.Series(values, dtype="string"), NETS)
    ref = _reference(["" if v is None else v for v in values])
    assert got.tolist() == ref.tolist()
    assert 0 < got.sum() < len(values)


def test_internal_mask_prefers_zeek_flags() -> None:
    ips = pd.Series(["10.0.0.1", "8.8.8.8", "8.8.4.4"])
    flags = pd.Series(["F", "T", None])
    assert internal_mask(ips, NETS, flags).tolist() == [False, True, False]


def _subnet_reference(value: object) -> object:
    try:
        addr = ipaddress.ip_address(value)  # type: ignore[arg-type]
    except ValueError:
        return value
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def test_subnet_of_unique_matches_ipaddress() -> None:
    """Dotted quads by one Arrow pass, the rest address by address: ipaddress's text."""
    rng = np.random.default_rng(1)
    octets = rng.integers(0, 256, size=(500, 4))
    values = TRICKY + [".".join(str(o) for o in row) for row in octets] + ["2001:db8::7"]
    uniq = np.asarray([*values, None], dtype=object)
    got = subnet_of_unique(uniq)
    assert got.tolist() == [_subnet_reference(v) for v in uniq.tolist()]
    assert got[0] == "10.1.2.0/24" and got[7] == "010.1.2.3"  # a leading zero: kept as text
    assert subnet_of_unique(np.asarray([], dtype=object)).tolist() == []


def _infrastructure_reference(value: object) -> bool:
    try:
        ip = ipaddress.ip_address(str(value))
    except ValueError:
        return False
    if ip.is_multicast or ip.is_link_local or ip.is_unspecified:
        return True
    return ip.version == 4 and str(ip).endswith(".255")


def test_infrastructure_of_unique_matches_ipaddress() -> None:
    """Multicast, link-local, unspecified and .255 addresses: dotted quads by integer
    tests, the rest by ipaddress, as ipaddress classifies each."""
    rng = np.random.default_rng(2)
    first = rng.choice([0, 10, 169, 192, 223, 224, 239, 240, 255], size=400)
    rest = rng.choice([0, 1, 254, 255], size=(400, 3))
    values = [f"{a}.{b}.{c}.{d}" for a, (b, c, d) in zip(first, rest, strict=True)]
    values += [*TRICKY, "ff02::1", "fe80::1", "::", "2001:db8::ff", "169.254.1.1", None]
    got = infrastructure_of_unique(np.asarray(values, dtype=object))
    assert got.tolist() == [_infrastructure_reference(v) for v in values]
    assert 0 < got.sum() < len(values)
