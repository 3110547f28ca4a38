"""Pseudonymise IP addresses before a prompt leaves the machine, and map them back after."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from netrca.config import DEFAULT_INTERNAL_NETWORKS

__all__ = ["PSEUDONYM", "IpRedactor", "entity_tokens", "find_ips"]

_IPV4 = r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"
_IPV6 = (
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![\w:]|\.\d)"
)
_CANDIDATE = re.compile(f"{_IPV4}|{_IPV6}")
#: What a pseudonym looks like: internal or external host and a number.
PSEUDONYM = re.compile(r"\b(?:int|ext)-host-\d+\b")


def find_ips(text: str) -> list[str]:
    """Every valid IPv4/IPv6 address written in ``text``, in order."""
    out = []
    for m in _CANDIDATE.finditer(text):
        try:
            ipaddress.ip_address(m.group(0))
        except ValueError:
            continue
        out.append(m.group(0))
    return out


def entity_tokens(text: str) -> set[str]:
    """The addresses and pseudonyms named in ``text``."""
    return set(find_ips(text)) | set(PSEUDONYM.findall(text))


class IpRedactor:
    """Replace each address with a stable pseudonym (``int-host-3``, ``ext-host-12``).

    Internal/external is kept (from ``internal_networks``), because it matters to the
    analysis; nothing else about the address is. The mapping lives only in memory and is
    applied in reverse to the model's reply.
    """

    def __init__(self, internal_networks: Sequence[str] = DEFAULT_INTERNAL_NETWORKS) -> None:
        self._nets = [ipaddress.ip_network(n, strict=False) for n in internal_networks]
        self.forward: dict[str, str] = {}
        self.backward: dict[str, str] = {}
        self._count = {"int": 0, "ext": 0}

    def _pseudonym(self, ip: str) -> str:
        if ip not in self.forward:
            addr = ipaddress.ip_address(ip)
            kind = "int" if any(addr in n for n in self._nets) else "ext"
            self._count[kind] += 1
            name = f"{kind}-host-{self._count[kind]}"
            self.forward[ip] = name
            self.backward[name] = ip
        return self.forward[ip]

    def redact_text(self, text: str) -> str:
        """``text`` with every address replaced by its pseudonym."""

        def swap(m: re.Match[str]) -> str:
            try:
                ipaddress.ip_address(m.group(0))
            except ValueError:
                return m.group(0)
            return self._pseudonym(m.group(0))

        return _CANDIDATE.sub(swap, text)

    def unredact_text(self, text: str) -> str:
        """``text`` with every known pseudonym replaced by its address."""
        return PSEUDONYM.sub(lambda m: self.backward.get(m.group(0), m.group(0)), text)

    def redact(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with addresses replaced in every string."""
        return _walk(value, self.redact_text)

    def unredact(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with pseudonyms mapped back."""
        return _walk(value, self.unredact_text)


def _walk(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _walk(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    return value
