"""The analyzer's parts on their own: retry timing, rate limit, journal, prompts, replies."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from netrca.config import Settings
from netrca.errors import ConfigError
from netrca.rca import EvidencePack
from netrca.rca.llm import (
    AnalysisStore,
    IpRedactor,
    RateLimiter,
    RetryPolicy,
    cache_key,
    load_prompts,
    make_analyzer,
)
from netrca.rca.llm.grounding import lookup, same_value
from netrca.rca.llm.prompt import MAX_STRING, prepare
from netrca.rca.llm.reply import read_reply
from netrca.rca.llm.retry import parse_duration, parse_retry_after
from netrca.rca.rules import RuleAnalyzer
from tests.unit.rca.llm.conftest import FakeTime


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    p = RetryPolicy(base=1.0, cap=8.0, seed=3)
    d = [p.delay(n) for n in range(1, 7)]
    for n, x in enumerate(d, start=1):
        full = min(8.0, 2.0 ** (n - 1))
        assert 0.5 * full <= x < full
    assert RetryPolicy(seed=3).delay(1) == RetryPolicy(seed=3).delay(1)  # seeded
    assert p.delay(1, hint=12.5) == 12.5


def test_server_hints_are_parsed() -> None:
    assert parse_duration("38s") == 38.0 and parse_duration("0.250s") == 0.25
    assert parse_duration("soon") is None and parse_duration(None) is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None


def test_rate_limiter_spaces_requests() -> None:
    t = FakeTime()
    lim = RateLimiter(30, clock=t.clock, sleep=t.sleep)  # one request every 2 s
    for _ in range(4):
        lim.acquire()
    assert t.sleeps == [2.0, 2.0, 2.0]
    t.now += 10  # idle time is not banked into a burst beyond one request
    lim.acquire()
    lim.acquire()
    assert t.sleeps[-1] == 2.0 and len(t.sleeps) == 4
    assert RateLimiter(0, clock=t.clock, sleep=t.sleep).acquire() == 0.0


def test_journal_survives_a_torn_line(tmp_path: Path, sim_packs: list[EvidencePack]) -> None:
    a = RuleAnalyzer().analyze_one(sim_packs[0])
    path = tmp_path / "j.jsonl"
    store = AnalysisStore(path)
    store.put("k1", a)
    with path.open("ab") as fh:  # a crash in the middle of the next write
        fh.write(b'{"key": "k2", "analysis": {"incident_')
    again = AnalysisStore(path)
    assert again.get("k1") == a and again.get("k2") is None and again.skipped == 1
    again.put("k3", a)
    third = AnalysisStore(path)
    assert third.get("k3") == a and len(third) == 2


def test_cache_key_changes_with_each_input() -> None:
    base = {
        "provider": "gemini",
        "model": "m",
        "prompt_version": "p1",
        "schema": {"a": 1},
        "evidence": "e",
        "redacted": False,
    }
    keys = {cache_key(**base)}  # type: ignore[arg-type]
    for k, v in [("provider", "openai"), ("model", "m2"), ("prompt_version", "p2"),
                 ("schema", {"a": 2}), ("evidence", "e2"), ("redacted", True)]:  # fmt: skip
        keys.add(cache_key(**{**base, k: v}))  # type: ignore[arg-type]
    assert len(keys) == 7


def test_reply_schema_names_exactly_the_ids() -> None:
    kit = load_prompts()
    schema = kit.reply_schema(["INC-1", "INC-2"], ["port_scan", "unknown"])
    arr = schema["properties"]["analyses"]
    assert arr["minItems"] == arr["maxItems"] == 2
    assert arr["items"]["properties"]["incident_id"]["enum"] == ["INC-1", "INC-2"]
    assert arr["items"]["properties"]["category"]["enum"] == ["port_scan", "unknown"]
    assert kit.reply_schema(["X"], ["unknown"])["properties"]["analyses"]["maxItems"] == 1


def test_prompt_version_follows_the_files(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[4] / "src/netrca/rca/prompts"
    for f in src.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    assert load_prompts(tmp_path).version == load_prompts().version
    (tmp_path / "system.md").write_text("Be brief.")
    assert load_prompts(tmp_path).version != load_prompts().version
    (tmp_path / "batch.md").write_text("no placeholders")
    with pytest.raises(ConfigError, match="placeholder"):
        load_prompts(tmp_path)


def test_long_strings_are_cut_for_prompts() -> None:
    out = prepare({"a": ["x" * 5000], "b": 3})
    assert len(out["a"][0]) < MAX_STRING + 10 and out["b"] == 3


def test_replies_are_matched_by_id_not_position() -> None:
    good = {
        "category": "port_scan",
        "root_cause": "r",
        "confidence": 0.5,
        "severity": "low",
        "evidence": [],
        "remediation_steps": [],
        "alternatives": [],
    }
    text = json.dumps(
        {
            "analyses": [
                {**good, "incident_id": "B"},
                {**good, "incident_id": "Z"},
                {**good, "incident_id": "A", "category": "ddos"},
                {**good, "incident_id": "C"},
                {**good, "incident_id": "C"},
            ]
        }
    )
    check = read_reply(f"```json\n{text}\n```", ["A", "B", "C", "D"])
    assert set(check.items) == {"B"}
    assert check.problems == {
        "A": "invalid_reply",
        "C": "duplicate_id",
        "D": "missing_from_reply",
    }
    assert check.unknown == ["Z"]
    bad = read_reply("{not json", ["A"])
    assert bad.problems == {"A": "invalid_reply"} and "malformed" in bad.error
    assert set(read_reply(json.dumps([{**good, "incident_id": "A"}]), ["A"]).items) == {"A"}


def test_grounding_primitives() -> None:
    view = {"facts": {"n": 141, "r": 0.8511, "ip": "10.0.0.1"}, "h": {"s": [{"x": 5}]}}
    assert lookup(view, "n") == (True, 141)
    assert lookup(view, "h.s.0.x") == (True, 5)
    assert lookup(view, "h.s") == (False, [{"x": 5}])
    assert lookup(view, "nope")[0] is False
    assert same_value(141, 141) and not same_value(140, 141) and not same_value(141.5, 141)
    assert same_value(0.85, 0.8511) and not same_value(85, 0.8511)
    assert same_value("10.0.0.1", "10.0.0.1") and not same_value("10.0.0.2", "10.0.0.1")
    assert not same_value(1, None) and not same_value("nan", 0.5)


def test_redactor_round_trip_keeps_internal_external_apart() -> None:
    r = IpRedactor(["10.0.0.0/8"])
    data = {"a": "10.1.2.3 talked to 8.8.8.8:53 and 2001:db8::1", "b": ["10.1.2.3"], "n": 5}
    red = r.redact(data)
    assert red["a"] == "int-host-1 talked to ext-host-1:53 and ext-host-2"
    assert red["b"] == ["int-host-1"] and red["n"] == 5
    assert r.unredact(red) == data


def test_knowledge_file_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = Path(__file__).resolve().parents[4] / "src/netrca/rca/knowledge/taxonomy.toml"
    custom = tmp_path / "kb.toml"
    custom.write_text(src.read_text().replace("Reconnaissance:", "Recon (site-specific):"))
    monkeypatch.setenv("NETRCA_KNOWLEDGE_FILE", str(custom))
    rules = make_analyzer("rules", Settings(_env_file=None))
    assert isinstance(rules, RuleAnalyzer)
    assert rules.kb.categories["port_scan"].description.startswith("Recon (site-specific)")
    monkeypatch.setenv("NETRCA_KNOWLEDGE_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        make_analyzer("rules", Settings(_env_file=None))


def test_configuration_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "NETRCA_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None, llm_cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        make_analyzer("gemini", s)
    with pytest.raises(ConfigError, match="NETRCA_LLM_MODEL"):
        make_analyzer("ollama", s)
    with pytest.raises(ConfigError, match="unknown analyzer"):
        make_analyzer("gpt", s)
    bad = Settings(_env_file=None, gemini_api_key="abc\ndef", llm_cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="whitespace") as info:
        make_analyzer("gemini", bad)
    assert "abc" not in str(info.value)
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-wins")
    key = Settings(_env_file=None).gemini_api_key
    assert key is not None and key.get_secret_value() == "google-wins"
    assert os.environ["GEMINI_API_KEY"] == "from-env"


def test_keys_and_llm_settings_come_from_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "NETRCA_LLM_MODEL", "NETRCA_LLM_BATCH_SIZE"):
        monkeypatch.delenv(var, raising=False)
    env = tmp_path / ".env"
    env.write_text(
        "GEMINI_API_KEY=dotenv-key\nNETRCA_LLM_MODEL=gemini-x\nNETRCA_LLM_BATCH_SIZE=7\n"
    )
    s = Settings(_env_file=env)
    assert s.gemini_api_key is not None and s.gemini_api_key.get_secret_value() == "dotenv-key"
    assert "dotenv-key" not in repr(s) and "dotenv-key" not in str(s.model_dump())
    a = make_analyzer("gemini", s.model_copy(update={"llm_cache_dir": tmp_path}))
    assert a.name == "gemini:gemini-x" and a.batch_size == 7  # type: ignore[union-attr]
