"""The real client against the fake server: each fault, and all of them across 500 incidents."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from netrca.dev import FakeLLMServer
from netrca.rca import EvidencePack
from netrca.schema import CATEGORY_VALUES, Analysis
from tests.unit.rca.llm.conftest import FakeTime, clone_packs, llm


def check_complete(packs: list[EvidencePack], out: list[Analysis]) -> None:
    """One schema-valid analysis per pack, in order, none lost or duplicated."""
    assert [a.incident_id for a in out] == [p.incident_id for p in packs]
    for a in out:
        Analysis.model_validate(a.model_dump(mode="json"))
        assert a.category.value in CATEGORY_VALUES
        assert 0.0 <= a.confidence <= 1.0


def asked(srv: FakeLLMServer) -> list[list[str]]:
    return [r["ids"] for r in srv.stats()["requests_log"]]


def test_happy_path_one_request_per_batch(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve()
    out = llm("gemini", srv, tmp_path, fake_time, batch_size=4).analyze(packs)
    check_complete(packs, out)
    assert [len(ids) for ids in asked(srv)] == [4, 4, 2]
    assert all(a.analyzer == "gemini:fake-model" and a.fallback_reason is None for a in out)
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "fault", ["unavailable", "server_error", "bad_gateway", "gateway_timeout", "request_timeout"]
)
def test_transient_errors_are_retried_with_backoff(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime, fault: str
) -> None:
    srv = serve(faults=f"{fault}@1,{fault}@2", retry_delay=0)
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=10, settings={"llm_backoff_seconds": 1})
    a.transport.policy.cap = 60
    out = a.analyze(packs)
    check_complete(packs, out)
    assert all(x.fallback_reason is None for x in out)
    assert srv.stats()["requests"] == 3 and a.stats_["http_retries"] == 2
    if fault in ("unavailable",):  # 503 carries Retry-After: 0 → honoured
        assert fake_time.sleeps == [0.0, 0.0]
    else:  # exponential with jitter: 1st in [0.5, 1), 2nd in [1, 2)
        assert 0.5 <= fake_time.sleeps[0] < 1.0 <= fake_time.sleeps[1] < 2.0


def test_429_honours_gemini_retry_info(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="rate_limit@1", retry_delay=7.5)
    out = llm("gemini", srv, tmp_path, fake_time, batch_size=10).analyze(packs)
    check_complete(packs, out)
    assert fake_time.sleeps == [7.5]
    assert srv.stats()["requests"] == 2


def test_429_honours_retry_after_on_openai_compatible(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="rate_limit@1", retry_delay=3)
    out = llm("openai", srv, tmp_path, fake_time, batch_size=10).analyze(packs)
    check_complete(packs, out)
    assert fake_time.sleeps == [3.0] and all(a.analyzer == "openai:fake-model" for a in out)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("quota", "quota_exhausted"),
        ("auth", "http_401"),
        ("forbidden", "http_403"),
        ("not_found", "http_404"),
        ("bad_request", "http_400"),
    ],
)
def test_fatal_errors_fail_fast_to_rules(
    serve,
    packs: list[EvidencePack],
    tmp_path: Path,
    fake_time: FakeTime,
    fault: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv = serve(faults=f"{fault}@2", retry_delay=30)
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=3)
    out = a.analyze(packs)
    check_complete(packs, out)
    # the first batch went through; the second failed once; nothing else was sent
    assert srv.stats()["requests"] == 2 and fake_time.sleeps == []
    assert [x.fallback_reason for x in out[:3]] == [None] * 3
    assert {x.fallback_reason for x in out[3:]} == {reason}
    assert {x.analyzer for x in out[3:]} == {"rules"}
    assert a.stats_["stopped"] and "rules analyzer" in caplog.text


def test_a_long_advised_wait_counts_as_quota_exhausted(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="rate_limit@1", retry_delay=3600)
    out = llm("gemini", srv, tmp_path, fake_time, batch_size=10).analyze(packs)
    assert {a.fallback_reason for a in out} == {"quota_exhausted"} and fake_time.sleeps == []


def test_slow_replies_time_out_and_are_retried(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="slow@1", slow_seconds=1.0)
    a = llm(
        "gemini", srv, tmp_path, fake_time, batch_size=10, settings={"llm_timeout_seconds": 0.2}
    )
    out = a.analyze(packs)
    check_complete(packs, out)
    assert all(x.fallback_reason is None for x in out) and a.stats_["http_retries"] == 1


def test_unreachable_server_opens_the_circuit(
    packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = FakeLLMServer()
    url = srv.url
    srv.stop()  # nothing listens there now
    settings = {"llm_max_attempts": 2}
    a = llm("gemini", _Dead(url), tmp_path, fake_time, batch_size=2, settings=settings)
    out = a.analyze(packs)
    check_complete(packs, out)
    reasons = Counter(x.fallback_reason for x in out)
    assert reasons == {"transport_error": 6, "circuit_open": 4}
    assert a.stats_["requests"] == 6  # 3 batches x 2 tries, then no more calls


class _Dead:
    def __init__(self, url: str) -> None:
        self.url = url


def test_missing_ids_are_reasked_alone(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="missing@1")
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=8)
    out = a.analyze(packs)
    check_complete(packs, out)
    calls = asked(srv)
    assert calls[0] == [p.incident_id for p in packs[:8]]
    assert calls[1] == ["INC-0001", "INC-0002"]  # the dropped quarter, and only it
    assert all(x.fallback_reason is None for x in out) and a.stats_["reasks"] == 1


def test_ids_missing_twice_fall_back_to_rules(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="missing=1.0")
    out = llm("gemini", srv, tmp_path, fake_time, batch_size=8).analyze(packs)
    check_complete(packs, out)
    # a quarter (at least one) of every request is dropped: INC-0001 of the first batch
    # and INC-0009 of the second went missing twice; the others came back on the re-ask
    fell = {x.incident_id: x.fallback_reason for x in out if x.fallback_reason}
    assert fell == {"INC-0001": "missing_from_reply", "INC-0009": "missing_from_reply"}
    assert all(x.analyzer == "rules" for x in out if x.incident_id in fell)


def test_unknown_ids_are_ignored(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="extra@1")
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=10)
    out = a.analyze(packs)
    check_complete(packs, out)
    assert srv.stats()["requests"] == 1 and a.stats_["unknown_ids_ignored"] == 1


@pytest.mark.parametrize(
    ("fault", "again"), [("duplicate", 1), ("bad_value", 1), ("malformed", 10)]
)
def test_invalid_or_ambiguous_items_are_reasked(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime, fault: str, again: int
) -> None:
    srv = serve(faults=f"{fault}@1")
    out = llm("gemini", srv, tmp_path, fake_time, batch_size=10).analyze(packs)
    check_complete(packs, out)
    calls = asked(srv)
    assert len(calls) == 2 and len(calls[1]) == again
    assert all(x.fallback_reason is None for x in out)


def test_truncated_reply_splits_the_batch(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(max_items=3)  # anything above 3 incidents is cut off (MAX_TOKENS)
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=10)
    out = a.analyze(packs)
    check_complete(packs, out)
    assert [len(c) for c in asked(srv)] == [10, 5, 2, 3, 5, 2, 3]
    assert all(x.fallback_reason is None for x in out) and a.stats_["splits"] == 3


def test_ollama_dialect(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="max_tokens@1")
    out = llm("ollama", srv, tmp_path, fake_time, batch_size=10).analyze(packs)
    check_complete(packs, out)
    assert srv.stats()["by_dialect"] == {"ollama": 3}
    assert all(a.analyzer == "ollama:fake-model" for a in out)


def test_every_fault_across_500_incidents(
    serve, sim_packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    """The issue's acceptance run, with waits faked (benchmarks/agent.py runs it for real)."""
    kinds = [
        "rate_limit", "unavailable", "server_error", "bad_gateway", "gateway_timeout",
        "request_timeout", "malformed", "missing", "extra", "duplicate", "max_tokens",
        "injection", "bad_value", "ungrounded", "slow",
    ]  # fmt: skip
    # pinned so every kind fires at least once, plus random faults on a third of requests
    pinned = ",".join(f"{k}@{2 * i + 2}" for i, k in enumerate(kinds))
    rates = ",".join(f"{k}=0.024" for k in kinds)
    srv = serve(faults=f"{pinned},{rates}", seed=5, retry_delay=1.5, slow_seconds=0.2)
    packs = clone_packs(sim_packs, 500)
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=20)
    out = a.analyze(packs)
    check_complete(packs, out)
    stats = srv.stats()
    assert set(stats["faults"]) == set(kinds)
    s = a.stats_
    assert stats["requests"] == s["requests"]
    # every request is a batch's first try, an HTTP retry, a re-ask or half of a split
    retries = s["http_retries"] + s["reasks"] + s["split_requests"]
    assert s["batches"] == math.ceil(500 / 20)
    assert stats["requests"] == math.ceil(500 / 20) + retries
    assert s["analysed_by_llm"] + sum(s["fallbacks"].values()) == 500
    assert s["analysed_by_llm"] >= 450  # faults cost a few incidents, never the run
    assert len({x.incident_id for x in out}) == 500


def test_ungrounded_evidence_is_repaired_and_marked(
    serve, packs: list[EvidencePack], tmp_path: Path, fake_time: FakeTime
) -> None:
    srv = serve(faults="ungrounded@1")
    a = llm("gemini", srv, tmp_path, fake_time, batch_size=10)
    out = a.analyze(packs)
    check_complete(packs, out)
    bad, rest = out[0], out[1:]
    notes = " ".join(bad.grounding_notes)
    assert "made_up_metric" in notes and "does not match the pack" in notes
    assert "203.0.113.77" in notes and "203.0.113.77" not in bad.root_cause
    assert packs[0].facts["top_source"] in bad.root_cause  # the knowledge base's sentence
    facts = packs[0].to_dict()["facts"]
    assert bad.evidence and all(e.metric in facts for e in bad.evidence)
    for e in bad.evidence:  # every number is the pack's (rounded to 4 places at most)
        assert e.value == facts[e.metric] or abs(float(e.value) - facts[e.metric]) < 1e-4
    assert not any(x.grounding_notes for x in rest) and a.stats_["grounding_repairs"] == 1
