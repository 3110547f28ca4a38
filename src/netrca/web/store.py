"""The dashboard's data: run folders under a root, cached, with incident filters."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import InputError
from netrca.report.runfolder import RunFolder, find_runs
from netrca.report.view import build_view, sorted_by_severity
from netrca.schema import Analysis

__all__ = ["IncidentFilter", "RunStore", "UnknownItemError", "filter_incidents", "parse_time"]


class UnknownItemError(LookupError):
    """A run or incident id that does not exist."""


@dataclass(frozen=True)
class IncidentFilter:
    """Incident filters: exact category/severity, entity substring, overlapping time."""

    category: str | None = None
    severity: str | None = None
    entity: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (naive = UTC), or None for an empty value."""
    if value is None or not value.strip():
        return None
    try:
        ts = pd.Timestamp(value.strip())
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name}: not an ISO 8601 time: {value!r}") from exc
    if ts is pd.NaT:
        raise InputError(f"{name}: not an ISO 8601 time: {value!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    out: datetime = ts.to_pydatetime()
    return out


def _ts(value: str) -> datetime:
    out: datetime = pd.Timestamp(value).tz_convert("UTC").to_pydatetime()
    return out


def filter_incidents(analyses: list[Analysis], f: IncidentFilter) -> list[Analysis]:
    """Analyses matching every given filter, most severe first."""
    needle = (f.entity or "").strip().lower()
    out = []
    for a in sorted_by_severity(analyses):
        if f.category and a.category.value != f.category:
            continue
        if f.severity and a.severity.value != f.severity:
            continue
        if needle:
            hay = [
                a.incident_id,
                *a.entities.sources,
                *a.entities.destinations,
                *map(str, a.entities.ports),
            ]
            if not any(needle in h.lower() for h in hay):
                continue
        if f.start and _ts(a.time_window.end) < f.start:
            continue
        if f.end and _ts(a.time_window.start) > f.end:
            continue
        out.append(a)
    return out


class RunStore:
    """Run folders under ``root`` (the root itself or its children), read on demand.

    Run folders are re-discovered on every listing; a run's files are cached until its
    manifest changes. Predictions tables (the largest files) are kept for at most
    ``max_loaded`` runs at a time.
    """

    def __init__(self, root: str | Path, *, max_loaded: int = 2) -> None:
        self.root = Path(root)
        find_runs(self.root)  # fail early on a missing folder
        self.max_loaded = max_loaded
        self._runs: dict[str, tuple[float, RunFolder]] = {}
        self._preds: OrderedDict[str, tuple[float, pd.DataFrame]] = OrderedDict()
        self._views: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.RLock()

    def run_ids(self) -> dict[str, Path]:
        """``{run_id: folder}`` of the complete runs now present."""
        return find_runs(self.root)

    def run(self, run_id: str) -> RunFolder:
        """The run folder ``run_id`` (raises :class:`UnknownItemError`)."""
        paths = self.run_ids()
        if run_id not in paths:
            raise UnknownItemError(f"no run {run_id!r}")
        stamp = (paths[run_id] / "manifest.json").stat().st_mtime
        with self._lock:
            cached = self._runs.get(run_id)
            if cached is None or cached[0] != stamp:
                cached = (stamp, RunFolder(paths[run_id]))
                self._runs[run_id] = cached
                self._views.pop(run_id, None)
                self._preds.pop(run_id, None)
            return cached[1]

    def _stamp(self, run_id: str) -> float:
        return self._runs[run_id][0]

    def predictions(self, run_id: str) -> pd.DataFrame:
        """The run's predictions table (cached)."""
        run = self.run(run_id)
        with self._lock:
            hit = self._preds.get(run_id)
            if hit is not None and hit[0] == self._stamp(run_id):
                self._preds.move_to_end(run_id)
                return hit[1]
            frame = run.predictions()
            self._preds[run_id] = (self._stamp(run_id), frame)
            while len(self._preds) > self.max_loaded:
                self._preds.popitem(last=False)
            return frame

    def view(self, run_id: str) -> dict[str, Any]:
        """The report view of a run (timeline, breakdowns…), cached."""
        run = self.run(run_id)
        with self._lock:
            hit = self._views.get(run_id)
            if hit is not None and hit[0] == self._stamp(run_id):
                return hit[1]
            fid, err = run.fidelity
            view = build_view(
                self.predictions(run_id),
                run.analyses,
                run.summary,
                run.evaluation,
                fid,
                err,
                sample_budget=0,
                max_sample=0,
            )
            self._views[run_id] = (self._stamp(run_id), view)
            return view

    def incident(self, run_id: str, incident_id: str) -> Analysis:
        """One analysis (raises :class:`UnknownItemError`)."""
        for a in self.run(run_id).analyses:
            if a.incident_id == incident_id:
                return a
        raise UnknownItemError(f"no incident {incident_id!r} in run {run_id!r}")

    def incident_flows(
        self, run_id: str, incident_id: str, *, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[str], list[dict[str, Any]]]:
        """``(total, columns, rows)`` of an incident's flows, in flow order."""
        self.incident(run_id, incident_id)
        preds = self.predictions(run_id)
        mask = preds["incident_id"].fillna("").astype(str).to_numpy() == incident_id
        idx = np.flatnonzero(mask)
        page = preds.iloc[idx[offset : offset + limit]]
        obj = page.astype(object)
        obj = obj.where(page.notna(), None)
        rows = [{str(k): _plain(v) for k, v in r.items()} for r in obj.to_dict("records")]
        return len(idx), [str(c) for c in preds.columns], rows


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
