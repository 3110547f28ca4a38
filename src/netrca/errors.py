"""The netrca exception hierarchy: every user-facing failure is one of these.

::

    NetrcaError                 base; carries one human-readable line
     ├── InputError             a file cannot be read or holds no usable row
     │    └── SchemaError       a header that does not fit the canonical schema
     │         └── MissingColumnsError   required columns absent
     ├── ModelError             a model file is missing, tampered, or incompatible
     ├── ConfigError            an option or setting has an invalid value
     └── AnalyzerError          a root-cause analyzer failed (LLM transport, reply)

The CLI prints ``str(error)`` on one line to stderr and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "AnalyzerError",
    "ConfigError",
    "InputError",
    "MissingColumnsError",
    "ModelError",
    "NetrcaError",
    "SchemaError",
]


class NetrcaError(Exception):
    """Base class: an expected failure with a one-line explanation."""


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
