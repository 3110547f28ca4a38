"""Run folders written all-or-nothing: staged files, moved into place, manifest last."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from netrca import __version__
from netrca.io.writers import write_json

__all__ = ["MANIFEST", "RunWriter", "iso_utc", "predictions_frame", "read_manifest"]

#: Written last: its presence with ``"status": "complete"`` means the folder is whole.
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RunWriter:
    """Stage a run's outputs in a hidden folder and publish them together.

    Nothing in ``DIR`` changes before :meth:`commit`: a run that fails or is killed
    earlier (a missing input, a bad model, a full disk while staging) leaves the folder's
    previous run as it was, manifest included. :meth:`commit` removes the old manifest
    before it moves the first file in, so from then until it finishes
    ``DIR/manifest.json`` is absent and readers (and ``netrca evaluate``) can tell an
    interrupted run from a complete one.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob(".staging-*"):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        self.stage = self.dir / f".staging-{uuid.uuid4().hex[:12]}"
        self.stage.mkdir()
        self.files: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write output ``name`` now (inside the staging folder)."""
        if name not in self.files:
            self.files.append(name)
        return self.stage / name

    def commit(self, info: dict[str, Any]) -> Path:
        """Move staged files into the run folder, then write the manifest.

        The manifest lists every file in the folder (those of earlier steps too) with
        its size and SHA-256, so a later check can tell a whole folder from a damaged one.
        """
        (self.dir / MANIFEST).unlink(missing_ok=True)  # the folder is changing from here
        for name in self.files:
            src = self.stage / name
            if src.exists():
                os.replace(src, self.dir / name)
        shutil.rmtree(self.stage, ignore_errors=True)
        files = [
            p
            for p in sorted(self.dir.iterdir())
            if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
        ]
        # hashlib releases the GIL on large buffers: two files are hashed at a time
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="netrca-sha256") as pool:
            digests = list(pool.map(_sha256, files))
        entries = {
            p.name: {"bytes": p.stat().st_size, "sha256": digest}
            for p, digest in zip(files, digests, strict=True)
        }
        manifest = {
            "status": "complete",
            "netrca_version": __version__,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": entries,
            **info,
        }
        write_json(self.dir / MANIFEST, manifest)
        return self.dir / MANIFEST

    def abort(self) -> None:
        """Discard everything staged."""
        shutil.rmtree(self.stage, ignore_errors=True)


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run folder's manifest, or None when the run is incomplete."""
    p = Path(run_dir) / MANIFEST
    if not p.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(p.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("status") == "complete" else None


def iso_utc(ts: pd.Series) -> pd.Series:
    """Timestamps as ISO 8601 text in UTC with microseconds and 'Z' (missing stays NA).

    Same text as ``ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")``, rendered by Arrow.
    """
    utc = ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts
    ns = utc.to_numpy(dtype="datetime64[ns]").view(np.int64)
    nat = np.isnat(utc.to_numpy(dtype="datetime64[ns]"))
    us = (ns // 1000).astype("datetime64[us]")  # %f truncates to microseconds
    text = pc.cast(pa.array(us, type=pa.timestamp("us"), mask=nat), pa.string())
    text = pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), pa.scalar("Z"), "")
    return pd.Series(pd.arrays.ArrowStringArray(text), index=ts.index)


def predictions_frame(flows: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``flows`` with timestamps rendered as ISO 8601 (UTC, 'Z')."""
    out = flows.copy(deep=False)
    if "timestamp" in out and pd.api.types.is_datetime64_any_dtype(out["timestamp"]):
        out["timestamp"] = iso_utc(out["timestamp"])
    return out
