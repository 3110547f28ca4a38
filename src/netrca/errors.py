"""The netrca exception hierarchy: every user-facing failure is one of these.

::

    NetrcaError                 base; carries one human-readable line
     ├── InputError             a file cannot be read or holds no usable row
     │    └── SchemaError       a header that does not fit the canonical schema
     │         └── MissingColumnsError   required columns absent
     ├── ModelError             a model file is missing, tampered, or incompatible
     ├── ConfigError            an option or setting has an invalid value
     └── AnalyzerError          a root-cause analyzer failed (LLM transport, reply)
          └── ProviderError     an LLM provider call failed (status, retry hint)
               └── ProviderRejectedError   not worth retrying: daily quota, 400/401/403/404

The CLI prints ``str(error)`` on one line to stderr and exits with code 2.
"""

from __future__ import annotations

import re

__all__ = [
    "AnalyzerError",
    "ConfigError",
    "InputError",
    "MissingColumnsError",
    "ModelError",
    "NetrcaError",
    "ProviderError",
    "ProviderRejectedError",
    "SchemaError",
]


class NetrcaError(Exception):
    """Base class: an expected failure with a one-line explanation.

    Text from third-party errors embedded in a message (pyarrow's, for one) may hold line
    breaks; they are folded into spaces here, so the message stays one line wherever it
    is shown.
    """

    def __str__(self) -> str:
        return re.sub(r"\s*[\r\n]+\s*", " ", super().__str__()).strip()


class InputError(NetrcaError):
    """A file is missing, unreadable, or contains no usable row."""


class SchemaError(InputError):
    """The input's columns do not satisfy the canonical schema."""


class MissingColumnsError(SchemaError):
    """Required canonical columns are absent from the input."""


class ModelError(NetrcaError):
    """A saved model cannot be loaded or does not fit the data."""


class ConfigError(NetrcaError):
    """An option or setting has an invalid value."""


class AnalyzerError(NetrcaError):
    """A root-cause analyzer could not produce an analysis."""


class ProviderError(AnalyzerError):
    """An LLM provider call failed; ``reason`` is a short code (e.g. ``http_503``).

    Messages never contain the API key: they are built from status codes and the
    provider's error text with every configured secret replaced by ``***``.
    """

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class ProviderRejectedError(ProviderError):
    """A provider refused in a way retrying cannot fix (daily quota, auth, bad request)."""
