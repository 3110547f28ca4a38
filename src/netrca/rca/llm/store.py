"""The journal of finished LLM analyses: append-only JSON Lines, fsync'd, read back as a cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netrca.errors import ConfigError
from netrca.schema import Analysis

__all__ = ["JOURNAL_FILE", "AnalysisStore", "cache_key", "evidence_hash"]

log = logging.getLogger("netrca.llm")

#: File name of the journal inside the cache folder.
JOURNAL_FILE = "analyses.jsonl"


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def evidence_hash(pack: dict[str, Any], flow_ids: list[int]) -> str:
    """Digest of everything an analysis is made from: the pack data and its flow ids."""
    return _digest({"pack": pack, "flow_ids": flow_ids})


def cache_key(
    *,
    provider: str,
    model: str,
    prompt_version: str,
    schema: dict[str, Any],
    evidence: str,
    redacted: bool,
) -> str:
    """One incident's cache key: provider, model, prompt version, schema and evidence."""
    return _digest(
        {
            "provider": provider,
            "model": model,
            "prompt": prompt_version,
            "schema": _digest(schema),
            "evidence": evidence,
            "redacted": redacted,
        }
    )


class AnalysisStore:
    """Finished analyses by cache key, persisted as they arrive.

    Each :meth:`put` appends one JSON line and fsyncs it, so a run killed at any moment
    keeps every analysis it had finished; the next run reads them back and does not pay
    for them again. A line torn by a crash is skipped on reading (and a newline is added
    before the next append so the torn line cannot swallow it). ``path=None`` keeps
    everything in memory only.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._items: dict[str, Analysis] = {}
        self.skipped = 0
        if self.path is not None:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                return
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"LLM journal {self.path}: {exc}") from exc
        for n, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                self._items[str(rec["key"])] = Analysis.model_validate(rec["analysis"])
            except (ValueError, KeyError, TypeError, ValidationError):
                self.skipped += 1
                log.warning("%s line %d: unreadable journal entry skipped", self.path, n)
        if raw and not raw.endswith(b"\n"):
            with self.path.open("ab") as fh:
                fh.write(b"\n")

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> Analysis | None:
        """The analysis stored under ``key``, if any."""
        return self._items.get(key)

    def put(self, key: str, analysis: Analysis) -> None:
        """Store ``analysis`` and make it durable before returning."""
        self._items[key] = analysis
        if self.path is None:
            return
        line = json.dumps(
            {"key": key, "analysis": analysis.model_dump(mode="json")}, ensure_ascii=True
        )
        try:
            with self.path.open("ab") as fh:
                fh.write(line.encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise ConfigError(f"LLM journal {self.path}: {exc}") from exc
