"""Reports: run folders with JSON, CSV and Parquet outputs, and the run summary."""

from __future__ import annotations

from netrca.report.outputs import MANIFEST, RunWriter, predictions_frame, read_manifest
from netrca.report.summary import build_summary

__all__ = ["MANIFEST", "RunWriter", "build_summary", "predictions_frame", "read_manifest"]
