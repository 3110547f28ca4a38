"""Address helpers: internal/external classification and subnet keys, vectorised over uniques."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["internal_mask", "parse_networks", "subnet_key"]

_TRUE = {"T", "TRUE", "1", "YES", "Y"}
_FALSE = {"F", "FALSE", "0", "NO", "N"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> list[Network]:
    """Parse CIDR strings; raises ``ValueError`` naming the bad one."""
    out: list[Network] = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR form: {c!r}") from exc
    return out


def _flag(series: pd.Series) -> np.ndarray:
    """Zeek-style T/F flags as float (1, 0, or NaN when unset)."""
    up = series.astype("string").str.upper().str.strip()
    out = np.full(len(series), np.nan)
    out[up.isin(_TRUE).to_numpy(dtype=bool, na_value=False)] = 1.0
    out[up.isin(_FALSE).to_numpy(dtype=bool, na_value=False)] = 0.0
    return out


def internal_mask(
    ips: pd.Series, networks: Sequence[Network], flags: pd.Series | None = None
) -> np.ndarray:
    """True where an address is internal: Zeek's local flag when set, else CIDR membership."""

    def inside(addr: IPAddress) -> bool:
        return any(addr.version == n.version and addr in n for n in networks)

    text = _text(ips)
    lookup = _per_address(text, inside, False)
    by_cidr = text.map(lookup).to_numpy(dtype=bool)
    if flags is None:
        return by_cidr
    flag = _flag(flags)
    return np.where(np.isnan(flag), by_cidr, flag == 1.0)


def subnet_key(ips: pd.Series) -> pd.Series:
    """/24 for IPv4 and /64 for IPv6, as text (for grouping paths)."""

    def prefix(addr: IPAddress) -> str:
        bits = 24 if addr.version == 4 else 64
        return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))

    text = _text(ips)
    lookup = _per_address(text, prefix, None)
    return text.map({u: u if v is None else v for u, v in lookup.items()})


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _per_address(text: pd.Series, fn: Callable[[IPAddress], Any], invalid: Any) -> dict[str, Any]:
    """``fn`` of each distinct address in ``text`` (``invalid`` for non-addresses)."""
    out: dict[str, Any] = {}
    for u in pd.unique(text):
        try:
            out[u] = fn(ipaddress.ip_address(u))
        except ValueError:
            out[u] = invalid
    return out


def _text(values: pd.Series) -> pd.Series:
    """Addresses as plain Python strings, missing ones as ""."""
    return pd.Series(values.astype("string").fillna("").to_numpy(dtype=object), index=values.index)
