"""A finished run folder, read back for viewing, exporting and re-rendering the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from netrca.errors import InputError
from netrca.report.outputs import read_manifest
from netrca.report.view import FIDELITY_FILE, load_fidelity
from netrca.schema import Analysis

__all__ = ["PREDICTIONS", "RunFolder", "find_runs"]

#: Stem of the predictions files (``.parquet`` preferred, ``.csv`` fallback).
PREDICTIONS = "network_logs_with_predictions"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read JSON ({exc})") from exc


@dataclass
class RunFolder:
    """Lazy, read-only access to the files of one complete run folder.

    Raises :class:`~netrca.errors.InputError` when the folder is missing or incomplete
    (no ``manifest.json`` with ``"status": "complete"``).
    """

    path: Path
    manifest: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: no such run folder")
        manifest = read_manifest(self.path)
        if manifest is None:
            raise InputError(
                f"{self.path}: run folder is incomplete (no complete manifest.json); rerun it"
            )
        self.manifest = manifest

    @property
    def name(self) -> str:
        """The folder's name (the run's id in the dashboard)."""
        return self.path.resolve().name

    @cached_property
    def summary(self) -> dict[str, Any]:
        """``analysis_summary.json`` (empty when absent)."""
        p = self.path / "analysis_summary.json"
        data = _read_json(p) if p.exists() else {}
        return data if isinstance(data, dict) else {}

    @cached_property
    def analyses(self) -> list[Analysis]:
        """``root_cause_analyses.json``, validated."""
        p = self.path / "root_cause_analyses.json"
        if not p.exists():
            raise InputError(f"{self.path}: no root_cause_analyses.json")
        data = _read_json(p)
        if not isinstance(data, list):
            raise InputError(f"{p}: expected a JSON list of analyses")
        out: list[Analysis] = []
        for i, item in enumerate(data):
            try:
                out.append(Analysis.model_validate(item))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                raise InputError(f"{p}: analysis #{i}: {where}: {first['msg']}") from exc
        return out

    @cached_property
    def evaluation(self) -> dict[str, Any] | None:
        """``evaluation.json`` when the run had ground truth."""
        p = self.path / "evaluation.json"
        data = _read_json(p) if p.exists() else None
        return data if isinstance(data, dict) else None

    @cached_property
    def fidelity(self) -> tuple[dict[str, Any] | None, str | None]:
        """``(fidelity, error)`` from ``fidelity.json`` (see :func:`load_fidelity`)."""
        return load_fidelity(self.path / FIDELITY_FILE)

    def predictions_path(self) -> Path:
        """The predictions file (Parquet preferred)."""
        for ext in (".parquet", ".csv"):
            p = self.path / f"{PREDICTIONS}{ext}"
            if p.exists():
                return p
        raise InputError(f"{self.path}: no {PREDICTIONS}.parquet or .csv")

    def predictions(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The predictions table as written (timestamps as ISO text)."""
        p = self.predictions_path()
        try:
            if p.suffix == ".parquet":
                if columns is not None:
                    import pyarrow.parquet as pq

                    have = set(pq.read_schema(p).names)
                    columns = [c for c in columns if c in have]
                return pd.read_parquet(p, columns=columns)
            return pd.read_csv(p, usecols=columns, low_memory=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{p}: cannot read predictions ({exc})") from exc


def find_runs(root: str | Path) -> dict[str, Path]:
    """Complete run folders at ``root``: ``root`` itself if it is one, else its children.

    Returns ``{run_id: path}`` with the folder name as id, sorted by name.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{base}: no such folder")
    if read_manifest(base) is not None:
        return {base.resolve().name: base}
    return {
        p.name: p
        for p in sorted(base.iterdir())
        if p.is_dir() and not p.name.startswith(".") and read_manifest(p) is not None
    }
