"""What the HTML report shows, as plain JSON-able data (aggregates and samples only).

:func:`build_view` turns a run (predictions, analyses, summary, evaluation, GAN
fidelity) into bounded aggregates: a binned score timeline, a score histogram, the
breakdowns of the summary, and the incidents sorted by severity, each with a small
sample of its flows. Its size does not grow with the number of flows, only (up to a
cap) with the number of incidents. It is also written as ``report.json``, the
report's machine-readable twin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from netrca.schema import CANONICAL_COLUMNS, GROUND_TRUTH_COLUMNS, Analysis

__all__ = [
    "FIDELITY_FILE",
    "SEVERITY_ORDER",
    "Fidelity",
    "build_view",
    "load_fidelity",
    "sorted_by_severity",
]

#: The GAN's fidelity report inside a run folder (optional).
FIDELITY_FILE = "fidelity.json"

#: Most urgent first.
SEVERITY_ORDER: tuple[str, ...] = ("critical", "high", "medium", "low")

_NICE_SECONDS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)
_SAMPLE_COLUMNS = (
    "flow_id",
    "timestamp",
    "source_ip",
    "source_port",
    "destination_ip",
    "destination_port",
    "protocol",
    "bytes_sent",
    "bytes_received",
    "duration",
    "status",
    "error_code",
    "latency",
    "anomaly_score",
    "reasons",
)
_OUTPUT = {"flow_id", "anomaly_score", "is_anomaly", "incident_id", "predicted_category", "reasons"}
_MAX_EXTRA_COLUMNS = 6
_MAX_CELL = 200


class _Continuous(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: Literal["continuous"]
    bin_edges: list[float]
    real: list[Annotated[float, Field(ge=0)]]
    synthetic: list[Annotated[float, Field(ge=0)]]

    @model_validator(mode="after")
    def _lengths(self) -> _Continuous:
        n = len(self.real)
        if n == 0 or len(self.synthetic) != n or len(self.bin_edges) != n + 1:
            raise ValueError(
                f"needs len(bin_edges) == len(real) + 1 == len(synthetic) + 1, got "
                f"{len(self.bin_edges)}, {len(self.real)}, {len(self.synthetic)}"
            )
        if any(not math.isfinite(v) for v in self.bin_edges) or any(
            b < a for a, b in zip(self.bin_edges, self.bin_edges[1:], strict=False)
        ):
            raise ValueError("bin_edges must be finite and increasing")
        return self


class _Categorical(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: Literal["categorical"]
    categories: list[str]
    real: list[Annotated[float, Field(ge=0)]]
    synthetic: list[Annotated[float, Field(ge=0)]]

    @model_validator(mode="after")
    def _lengths(self) -> _Categorical:
        n = len(self.categories)
        if n == 0 or len(self.real) != n or len(self.synthetic) != n:
            raise ValueError(
                f"needs len(categories) == len(real) == len(synthetic), got "
                f"{n}, {len(self.real)}, {len(self.synthetic)}"
            )
        return self


class Fidelity(BaseModel):
    """``fidelity.json`` written by the GAN: summary metrics and per-column distributions."""

    model_config = ConfigDict(extra="allow")

    metrics: dict[str, Any] = Field(default_factory=dict)
    columns: dict[str, Annotated[_Continuous | _Categorical, Field(discriminator="kind")]] = Field(
        default_factory=dict
    )


def load_fidelity(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(fidelity, None)`` when ``path`` holds a valid fidelity file, ``(None, reason)``
    when it is present but unusable, ``(None, None)`` when absent."""
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text("utf-8"))
        return Fidelity.model_validate(data).model_dump(mode="json"), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name}: cannot be read ({exc})"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"{path.name}: invalid at {where}: {first['msg']}"


def sorted_by_severity(analyses: Sequence[Analysis]) -> list[Analysis]:
    """Most severe first; then most confident, then largest, then by id."""
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return sorted(
        analyses,
        key=lambda a: (rank.get(a.severity.value, 9), -a.confidence, -a.flow_count, a.incident_id),
    )


def _epochs(ts: pd.Series) -> np.ndarray:
    if not pd.api.types.is_datetime64_any_dtype(ts):
        ts = pd.to_datetime(ts, format="ISO8601", utc=True, errors="coerce")
    elif ts.dt.tz is None:
        ts = ts.dt.tz_localize("UTC")
    ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    out = ns.astype(np.float64) / 1e9
    out[ts.isna().to_numpy()] = np.nan
    return out


def _nice_bin(span: float, bins: int) -> float:
    raw = max(span / max(bins, 1), 1e-9)
    for s in _NICE_SECONDS:
        if s >= raw:
            return float(s)
    return float(math.ceil(raw / 86400) * 86400)


def _timeline(ts: np.ndarray, score: np.ndarray, flag: np.ndarray, bins: int) -> dict[str, Any]:
    ok = np.isfinite(ts)
    ts, score, flag = ts[ok], score[ok], flag[ok]
    if len(ts) == 0:
        return {"bin_seconds": 0.0, "start": [], "flows": [], "anomalies": [], "max_score": []}
    t_min, t_max = float(ts.min()), float(ts.max())
    width = _nice_bin(t_max - t_min, bins)
    t0 = math.floor(t_min / width) * width
    idx = ((ts - t0) // width).astype(np.int64)
    n = int(idx.max()) + 1
    flows = np.bincount(idx, minlength=n)
    anomalies = np.bincount(idx, weights=flag.astype(np.float64), minlength=n).astype(np.int64)
    peak = np.zeros(n, dtype=np.float64)
    np.maximum.at(peak, idx, np.nan_to_num(score, nan=0.0))
    return {
        "bin_seconds": width,
        "start": [t0 + i * width for i in range(n)],
        "flows": flows.tolist(),
        "anomalies": anomalies.tolist(),
        "max_score": np.round(peak, 4).tolist(),
    }


def _jsonable(frame: pd.DataFrame) -> list[list[Any]]:
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.round(6)
        elif s.dtype == object or pd.api.types.is_string_dtype(s):
            out[col] = s.astype("string").str.slice(0, _MAX_CELL)
    obj = out.astype(object)
    rows: list[list[Any]] = obj.where(obj.notna(), None).to_numpy().tolist()
    return rows


def _sample_columns(predictions: pd.DataFrame) -> list[str]:
    cols = [c for c in _SAMPLE_COLUMNS if c in predictions.columns]
    cols += [c for c in GROUND_TRUTH_COLUMNS if c in predictions.columns]
    known = set(CANONICAL_COLUMNS) | set(GROUND_TRUTH_COLUMNS) | _OUTPUT
    extras = [c for c in predictions.columns if c not in known]
    return cols + extras[:_MAX_EXTRA_COLUMNS]


def _incidents(
    predictions: pd.DataFrame,
    ordered: list[Analysis],
    sample_budget: int,
    max_sample: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    cols = _sample_columns(predictions)
    per = max(3, min(max_sample, sample_budget // max(len(ordered), 1)))
    ids = predictions["flow_id"].to_numpy() if "flow_id" in predictions else None
    index = pd.Index(ids if ids is not None else np.arange(len(predictions)))
    wanted = [np.asarray(a.flow_ids[:per], dtype=np.int64) for a in ordered]
    pos = index.get_indexer(np.concatenate(wanted)) if wanted else np.array([], dtype=np.int64)
    rows = _jsonable(predictions.iloc[pos[pos >= 0]][cols]) if len(pos) else []
    out: list[dict[str, Any]] = []
    found = (pos >= 0).astype(np.int64)
    bounds = np.concatenate(([0], np.cumsum([len(w) for w in wanted]))).astype(np.int64)
    kept = np.concatenate(([0], np.cumsum(found))).astype(np.int64)
    for i, a in enumerate(ordered):
        lo, hi = int(kept[bounds[i]]), int(kept[bounds[i + 1]])
        record = a.model_dump(mode="json", exclude={"flow_ids"})
        record["flow_sample"] = rows[lo:hi]
        out.append(record)
    return out, cols


def build_view(
    predictions: pd.DataFrame,
    analyses: Sequence[Analysis],
    summary: dict[str, Any],
    evaluation: dict[str, Any] | None = None,
    fidelity: dict[str, Any] | None = None,
    fidelity_error: str | None = None,
    *,
    timeline_bins: int = 240,
    sample_budget: int = 3000,
    max_sample: int = 10,
    max_incidents: int = 1000,
) -> dict[str, Any]:
    """The report's content. Bounded: ``timeline_bins`` bins, at most ``max_incidents``
    incidents and ``sample_budget`` sample flows in total (3 to ``max_sample`` each)."""
    run = dict(summary.get("run") or {})
    threshold = float(run.get("threshold", 0.5) or 0.5)
    if "anomaly_score" in predictions:
        score_arr = pd.to_numeric(predictions["anomaly_score"], errors="coerce").to_numpy(
            dtype=np.float64
        )
    else:
        score_arr = np.zeros(len(predictions))
    flag_col = predictions.get("is_anomaly")
    if flag_col is None:
        flag = score_arr >= threshold
    elif flag_col.dtype == bool:
        flag = flag_col.to_numpy(dtype=bool)
    else:
        flag = flag_col.astype(str).str.lower().isin(["true", "1", "1.0"]).to_numpy()
    ts = (
        _epochs(predictions["timestamp"])
        if "timestamp" in predictions
        else np.full(len(predictions), np.nan)
    )
    counts, edges = np.histogram(np.nan_to_num(score_arr, nan=0.0), bins=50, range=(0.0, 1.0))
    ordered = sorted_by_severity(analyses)
    shown = ordered[:max_incidents]
    incidents, sample_cols = _incidents(predictions, shown, sample_budget, max_sample)
    return {
        "schema": "netrca.report/1",
        "run": run,
        "flows_analysed": int(summary.get("flows_analysed", len(predictions))),
        "anomalous_flows": int(summary.get("anomalous_flows", int(flag.sum()))),
        "incidents_total": len(ordered),
        "threshold": threshold,
        "timeline": _timeline(ts, score_arr, flag, timeline_bins),
        "score_histogram": {"edges": np.round(edges, 4).tolist(), "counts": counts.tolist()},
        "incidents_by_category": summary.get("incidents_by_category", {}),
        "anomalous_flows_by_category": summary.get("anomalous_flows_by_category", {}),
        "incidents_by_severity": summary.get("incidents_by_severity", {}),
        "incidents_by_analyzer": summary.get("incidents_by_analyzer", {}),
        "fallbacks_by_reason": summary.get("fallbacks_by_reason", {}),
        "top_sources": summary.get("top_sources", []),
        "top_destinations": summary.get("top_destinations", []),
        "top_destination_ports": summary.get("top_destination_ports", []),
        "sample_columns": sample_cols,
        "incidents": incidents,
        "incidents_omitted": len(ordered) - len(shown),
        "evaluation": evaluation,
        "fidelity": fidelity,
        "fidelity_error": fidelity_error,
    }
