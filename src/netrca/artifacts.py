"""Integrity and compatibility checks shared by every saved model format (detector, GAN)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netrca import __version__
from netrca.errors import ModelError
from netrca.schema import SCHEMA_VERSION

__all__ = ["array_digest", "check_meta", "compatible"]


def array_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``arrays`` (in name order)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def compatible(version: str) -> bool:
    """Same major.minor as this netrca."""
    return version.split(".")[:2] == __version__.split(".")[:2]


def check_meta(
    meta: Mapping[str, Any], path: Path, fmt: str, fmt_version: int, digest: str
) -> None:
    """Raise :class:`ModelError` unless ``meta`` is ``fmt`` v``fmt_version``, matches
    ``digest`` (content unchanged) and was written for this schema and netrca version."""
    if meta.get("format") != fmt or meta.get("format_version") != fmt_version:
        raise ModelError(f"{path}: not a {fmt} v{fmt_version} file")
    if meta.get("digest") != digest:
        raise ModelError(f"{path}: model content does not match its digest (tampered or damaged)")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ModelError(
            f"{path}: trained with schema {meta.get('schema_version')}, this netrca uses "
            f"{SCHEMA_VERSION}; refit the model"
        )
    if not compatible(str(meta.get("netrca_version", ""))):
        raise ModelError(
            f"{path}: written by netrca {meta.get('netrca_version')}, incompatible with "
            f"{__version__}; refit the model"
        )
