"""The LLM analyzer: evidence packs in batches, replies matched by id, rules as the safety net."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError

from netrca.errors import AnalyzerError, ProviderError, ProviderRejectedError
from netrca.rca.evidence import EvidencePack
from netrca.rca.llm.grounding import ground
from netrca.rca.llm.prompt import PromptKit, load_prompts, prepare
from netrca.rca.llm.redact import IpRedactor
from netrca.rca.llm.reply import ReplyItem, read_reply
from netrca.rca.llm.store import AnalysisStore, cache_key, evidence_hash
from netrca.rca.llm.transport import Transport, TransportStats
from netrca.rca.rules import RuleAnalyzer, verdict_of
from netrca.schema import CATEGORY_VALUES, Analysis

__all__ = ["LLMAnalyzer"]

log = logging.getLogger("netrca.llm")


class LLMAnalyzer:
    """Analyse incidents with an LLM provider, in batches, losing none under faults.

    For every pack the rules analyzer runs first; its verdict is added to the pack the
    model sees, and it is the fallback. Packs whose analysis is in the journal (same
    provider, model, prompt version, schema and evidence) are served from it. The rest
    go out ``batch_size`` at a time; each reply is matched by incident id, never by
    position. Ids that are missing, duplicated or invalid are asked again once (those
    only), then analysed by the rules analyzer with ``fallback_reason`` set. A reply cut
    off by the token limit splits its batch in two. A daily quota or a 400/401/403/404
    stops calls for the rest of the run (rules for the remainder); ``max_failed_batches``
    batches in a row that fail after all retries do the same. Every analysis from the
    model is checked against its pack (see :func:`~netrca.rca.llm.grounding.ground`) and
    journaled the moment it arrives.

    Parameters
    ----------
    transport : Transport
        The provider and how to reach it (retries, rate limit, timeouts).
    rules : RuleAnalyzer, optional
        Baseline verdicts, knowledge-base texts and the fallback.
    batch_size : int
        Incidents per request.
    store : AnalysisStore, optional
        Journal/cache of finished analyses (memory only when None).
    redactor : IpRedactor, optional
        Pseudonymise addresses in everything sent; mapped back in the analyses.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        rules: RuleAnalyzer | None = None,
        batch_size: int = 20,
        store: AnalysisStore | None = None,
        redactor: IpRedactor | None = None,
        prompts: PromptKit | None = None,
        max_tokens: int = 32768,
        max_failed_batches: int = 3,
    ) -> None:
        if batch_size < 1:
            raise AnalyzerError(f"batch size must be at least 1, got {batch_size}")
        self.transport = transport
        self.provider = transport.provider
        self.rules = rules or RuleAnalyzer()
        self.batch_size = batch_size
        self.store = store if store is not None else AnalysisStore(None)
        self.redactor = redactor
        self.prompts = prompts or load_prompts()
        self.max_tokens = max_tokens
        self.max_failed_batches = max_failed_batches
        self.name = f"{self.provider.name}:{self.provider.model}"
        self.taxonomy = {
            c: self.rules.kb.categories[c].description
            for c in CATEGORY_VALUES
            if c in self.rules.kb.categories
        }
        self.stats_: dict[str, Any] = {}
        self._reset()

    def _reset(self) -> None:
        self._results: dict[str, Analysis] = {}
        self._base: dict[str, Analysis] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}
        self._stopped: str | None = None
        self._stop_message: str | None = None
        self._failed = 0
        self._count: Counter[str] = Counter()
        self._fallbacks: Counter[str] = Counter()

    # --- the run -------------------------------------------------------------------
    def analyze(self, packs: list[EvidencePack]) -> list[Analysis]:
        """One analysis per pack, in the same order; never raises for provider faults."""
        self._reset()
        ids = [p.incident_id for p in packs]
        if len(set(ids)) != len(ids):
            raise AnalyzerError("incident ids are not unique; cannot match replies by id")
        before = TransportStats(**asdict(self.transport.stats))
        todo = self._prepare(packs)
        for i in range(0, len(todo), self.batch_size):
            self._count["batches"] += 1
            self._ask(todo[i : i + self.batch_size], reask=True)
        out = [self._results[i] for i in ids]
        self._summarise(len(packs), before)
        return out

    def _prepare(self, packs: list[EvidencePack]) -> list[EvidencePack]:
        """Attach rules verdicts, serve cached analyses; the packs still to ask about."""
        todo = []
        for pack, base in zip(packs, self.rules.analyze(packs), strict=True):
            pack.rules_verdict = verdict_of(base)
            iid = pack.incident_id
            self._base[iid] = base
            data = pack.to_dict()
            self._keys[iid] = cache_key(
                provider=self.provider.name,
                model=self.provider.model,
                prompt_version=self.prompts.version,
                schema=self.prompts.schema,
                evidence=evidence_hash(data, pack.flow_ids),
                redacted=self.redactor is not None,
            )
            hit = self.store.get(self._keys[iid])
            if hit is not None:
                self._results[iid] = hit
                self._count["from_cache"] += 1
                continue
            view = prepare(data)
            self._views[iid] = self.redactor.redact(view) if self.redactor else view
            todo.append(pack)
        return todo

    def _ask(self, batch: list[EvidencePack], *, reask: bool) -> None:
        ids = [p.incident_id for p in batch]
        if self._stopped:
            self._fallback(ids, self._stopped)
            return
        user = self.prompts.render([self._views[i] for i in ids], self.taxonomy)
        schema = self.prompts.reply_schema(ids, list(self.taxonomy))
        try:
            reply = self.transport.call(self.prompts.system, user, schema, self.max_tokens)
        except ProviderRejectedError as exc:
            self._stop(exc.reason, str(exc))
            self._fallback(ids, exc.reason)
            return
        except ProviderError as exc:
            self._failed += 1
            self._fallback(ids, exc.reason)
            if self._failed >= self.max_failed_batches:
                self._stop("circuit_open", f"{exc} ({self._failed} batches in a row failed)")
            return
        self._failed = 0
        if reply.truncated and len(batch) > 1:
            self._count["splits"] += 1
            self._count["split_requests"] += 2
            half = len(batch) // 2
            self._ask(batch[:half], reask=reask)
            self._ask(batch[half:], reask=reask)
            return
        if reply.truncated:
            self._fallback(ids, "truncated")
            return
        check = read_reply(reply.text, ids)
        if reply.blocked:
            check.items, check.problems = {}, dict.fromkeys(ids, "blocked")
        self._count["unknown_ids_ignored"] += len(check.unknown)
        for iid, item in check.items.items():
            self._accept(iid, item)
        again = [p for p in batch if p.incident_id in check.problems]
        if not again:
            return
        if reask:
            self._count["reasks"] += 1
            self._ask(again, reask=False)
        else:
            for p in again:
                self._fallback([p.incident_id], check.problems[p.incident_id])

    def _accept(self, iid: str, item: ReplyItem) -> None:
        base = self._base[iid]
        g = ground(item, self._views[iid], self.rules)
        try:
            a = Analysis(
                incident_id=iid,
                category=item.category,
                root_cause=g.root_cause,
                confidence=round(item.confidence, 3),
                severity=item.severity,
                evidence=g.evidence,
                remediation_steps=g.remediation,
                entities=base.entities,
                time_window=base.time_window,
                flow_count=base.flow_count,
                flow_ids=base.flow_ids,
                analyzer=self.name,
                alternatives=[
                    {"category": alt.category.value, "reason": alt.reason}
                    for alt in item.alternatives
                ],
                grounding_notes=g.notes,
            )
            if self.redactor is not None:
                a = Analysis.model_validate(self.redactor.unredact(a.model_dump(mode="json")))
        except ValidationError:
            self._fallback([iid], "invalid_reply")
            return
        self._results[iid] = a
        self.store.put(self._keys[iid], a)
        self._count["analysed_by_llm"] += 1
        if g.notes:
            self._count["grounding_repairs"] += 1

    def _fallback(self, ids: list[str], reason: str) -> None:
        for iid in ids:
            self._results[iid] = self._base[iid].model_copy(update={"fallback_reason": reason})
            self._fallbacks[reason] += 1

    def _stop(self, reason: str, message: str) -> None:
        if self._stopped:
            return
        self._stopped = reason
        self._stop_message = message
        log.warning(
            "%s — no more calls to %s in this run; the remaining incidents are analysed "
            "by the rules analyzer (fallback_reason=%s)",
            message,
            self.provider.name,
            reason,
        )

    def _summarise(self, n: int, before: TransportStats) -> None:
        now = self.transport.stats
        self.stats_ = {
            "analyzer": self.name,
            "prompt_version": self.prompts.version,
            "batch_size": self.batch_size,
            "incidents": n,
            "from_cache": self._count["from_cache"],
            "analysed_by_llm": self._count["analysed_by_llm"],
            "fallbacks": dict(self._fallbacks),
            "grounding_repairs": self._count["grounding_repairs"],
            "batches": self._count["batches"],
            "requests": now.requests - before.requests,
            "http_retries": now.retries - before.retries,
            "reasks": self._count["reasks"],
            "splits": self._count["splits"],
            "split_requests": self._count["split_requests"],
            "unknown_ids_ignored": self._count["unknown_ids_ignored"],
            "retry_wait_seconds": round(now.sleep_seconds - before.sleep_seconds, 3),
            "rate_limit_wait_seconds": round(now.rate_limit_seconds - before.rate_limit_seconds, 3),
            "stopped": self._stop_message,
            "journal": str(self.store.path) if self.store.path else None,
        }
        if self._fallbacks:
            log.warning(
                "%s: %d of %d incident(s) analysed by the rules analyzer instead (%s)",
                self.name,
                sum(self._fallbacks.values()),
                n,
                ", ".join(f"{k}: {v}" for k, v in sorted(self._fallbacks.items())),
            )
