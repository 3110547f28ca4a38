"""Check that a run folder is complete and consistent (or say exactly why it is not)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from netrca.report.outputs import MANIFEST

__all__ = ["RunCheck", "verify_run"]

_PREDICTIONS = "network_logs_with_predictions.parquet"
_ANALYSES = "root_cause_analyses.json"


@dataclass
class RunCheck:
    """The verdict on one run folder."""

    path: Path
    complete: bool
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Complete and consistent."""
        return self.complete and not self.problems

    def summary(self) -> str:
        """One line for people."""
        if self.ok:
            return f"{self.path}: complete and consistent ({self.facts.get('rows', '?')} rows)"
        if not self.complete:
            return f"{self.path}: incomplete: {'; '.join(self.problems)}"
        return f"{self.path}: inconsistent: {'; '.join(self.problems)}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_run(run_dir: str | Path) -> RunCheck:
    """Is ``run_dir`` a whole run? Checks, in order:

    - ``manifest.json`` exists and says ``complete`` (otherwise: incomplete);
    - every file it lists exists with the recorded size and SHA-256;
    - the predictions hold ``rows`` rows with ``flow_id`` 0..rows-1 in order;
    - every flagged flow has an incident id, and every incident id has exactly one
      analysis whose flow ids are exactly that incident's flows.
    """
    d = Path(run_dir)
    check = RunCheck(path=d, complete=False)
    manifest_path = d / MANIFEST
    if not d.is_dir():
        check.problems.append("no such folder")
        return check
    if not manifest_path.exists():
        check.problems.append("no manifest.json (the run did not finish)")
        return check
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        check.problems.append(f"manifest.json unreadable ({exc})")
        return check
    if manifest.get("status") != "complete":
        check.problems.append(f"manifest status is {manifest.get('status')!r}")
        return check
    check.complete = True
    for name, meta in (manifest.get("files") or {}).items():
        p = d / name
        if not p.exists():
            check.problems.append(f"{name} listed in the manifest is missing")
        elif p.stat().st_size != meta.get("bytes") or _sha256(p) != meta.get("sha256"):
            check.problems.append(f"{name} differs from the manifest (size or SHA-256)")
    if check.problems:
        return check
    _check_contents(d, manifest, check)
    return check


def _check_contents(d: Path, manifest: dict[str, Any], check: RunCheck) -> None:
    preds_path, analyses_path = d / _PREDICTIONS, d / _ANALYSES
    if not preds_path.exists() or not analyses_path.exists():
        return  # a folder written by a step that does not produce them (e.g. evaluate only)
    cols = ["flow_id", "is_anomaly", "incident_id"]
    table = pq.read_table(preds_path, columns=cols).to_pandas()
    rows = manifest.get("rows")
    check.facts["rows"] = len(table)
    if rows is not None and rows != len(table):
        check.problems.append(f"predictions hold {len(table)} rows, manifest says {rows}")
    if table["flow_id"].tolist() != list(range(len(table))):
        check.problems.append("flow_id is not 0..n-1 in input order")
    flagged = table[table["is_anomaly"].astype(bool)]
    inc = flagged["incident_id"].fillna("").astype(str)
    if (inc == "").any():
        check.problems.append(f"{int((inc == '').sum())} flagged flows have no incident")
    analyses = json.loads(analyses_path.read_text("utf-8"))
    by_id: dict[str, set[int]] = {}
    for a in analyses:
        if a["incident_id"] in by_id:
            check.problems.append(f"incident {a['incident_id']} has two analyses")
        by_id[a["incident_id"]] = set(a["flow_ids"])
    members = flagged.groupby(inc)["flow_id"].apply(lambda s: set(s.tolist())).to_dict()
    missing = sorted(set(members) - set(by_id) - {""})
    if missing:
        check.problems.append(f"{len(missing)} incident(s) without an analysis, e.g. {missing[0]}")
    extra = sorted(set(by_id) - set(members))
    if extra:
        check.problems.append(f"{len(extra)} analysis(es) for unknown incidents, e.g. {extra[0]}")
    wrong = [i for i in set(members) & set(by_id) if members[i] != by_id[i]]
    if wrong:
        check.problems.append(f"{len(wrong)} analysis(es) list other flows than their incident")
    check.facts.update(incidents=len(by_id), flagged=len(flagged))
