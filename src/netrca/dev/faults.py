"""The fault kinds of the fake LLM server (a light module: the CLI lists them in its help)."""

from __future__ import annotations

__all__ = ["FAULTS"]

#: Every fault the server can inject, in the order rates are drawn.
FAULTS: tuple[str, ...] = (
    "rate_limit",
    "quota",
    "unavailable",
    "server_error",
    "bad_gateway",
    "gateway_timeout",
    "request_timeout",
    "auth",
    "forbidden",
    "not_found",
    "bad_request",
    "slow",
    "malformed",
    "missing",
    "extra",
    "duplicate",
    "max_tokens",
    "injection",
    "bad_value",
    "ungrounded",
)
