"""Wire formats: what each provider sends, and how it reads replies and errors."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from netrca.rca.llm import GeminiProvider, OllamaProvider, OpenAICompatProvider

SCHEMA = {"type": "object"}


def test_gemini_request_shape() -> None:
    p = GeminiProvider(SecretStr("k-123"), model="models/gemini-x", base_url="https://h/")
    req = p.request("SYS", "USER", SCHEMA, 999)
    assert req.url == "https://h/v1beta/models/gemini-x:generateContent"
    assert req.headers == {"x-goog-api-key": "k-123"}
    assert req.body["systemInstruction"] == {"parts": [{"text": "SYS"}]}
    assert req.body["contents"] == [{"role": "user", "parts": [{"text": "USER"}]}]
    gc = req.body["generationConfig"]
    assert gc["responseMimeType"] == "application/json" and gc["responseJsonSchema"] == SCHEMA
    assert gc["maxOutputTokens"] == 999
    assert "k-123" not in repr(p) and "k-123" not in repr(req) and "k-123" not in str(req.body)


def test_gemini_reply_reading() -> None:
    p = GeminiProvider(SecretStr("k"))
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "thinking…", "thought": True},
                        {"text": '{"a"'},
                        {"text": ": 1}"},
                    ]
                },
                "finishReason": "MAX_TOKENS",
            }
        ]
    }
    r = p.parse(body)
    assert r.text == '{"a": 1}' and r.truncated and not r.blocked
    assert p.parse({"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]}).blocked
    assert p.parse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}).blocked
    with pytest.raises(ValueError, match="candidates"):
        p.parse({})


def _resp(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def test_gemini_error_classification() -> None:
    p = GeminiProvider(SecretStr("k-123"))
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
    minute = {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
    }
    day = {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
    }
    e = p.error(
        _resp(429, {"error": {"code": 429, "message": "slow down", "details": [minute, retry]}})
    )
    assert e.retryable and e.retry_after == 38.0 and e.reason == "http_429"
    e = p.error(_resp(429, {"error": {"code": 429, "message": "no", "details": [day, retry]}}))
    assert not e.retryable and e.reason == "quota_exhausted" and "PerDay" in e.message
    e = p.error(_resp(400, {"error": {"code": 400, "message": "API key k-123 not valid"}}))
    assert not e.retryable and e.reason == "http_400" and "k-123" not in e.message
    e = p.error(httpx.Response(502, text="<html>bad gateway</html>"))
    assert e.retryable and e.reason == "http_502"
    e = p.error(_resp(503, {"error": {"message": "overloaded"}}, {"Retry-After": "4"}))
    assert e.retryable and e.retry_after == 4.0


def test_openai_compatible_shape_and_reading() -> None:
    p = OpenAICompatProvider(model="m", base_url="http://h/v1", api_key=SecretStr("sk"))
    req = p.request("S", "U", SCHEMA, 50)
    assert req.url == "http://h/v1/chat/completions" and req.headers == {
        "authorization": "Bearer sk"
    }
    rf = req.body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == SCHEMA
    assert [m["role"] for m in req.body["messages"]] == ["system", "user"]
    assert OpenAICompatProvider(model="m", base_url="http://h").request("", "", {}, 1).url == (
        "http://h/v1/chat/completions"
    )
    r = p.parse({"choices": [{"message": {"content": "{}"}, "finish_reason": "length"}]})
    assert r.truncated and r.text == "{}"
    assert p.parse({"choices": [{"message": {"refusal": "no"}, "finish_reason": "stop"}]}).blocked
    e = p.error(_resp(429, {"error": {"message": "pay", "code": "insufficient_quota"}}))
    assert not e.retryable and e.reason == "quota_exhausted"


def test_ollama_shape_and_reading() -> None:
    p = OllamaProvider(model="llama", base_url="http://h:11434")
    req = p.request("S", "U", SCHEMA, 50)
    assert req.url == "http://h:11434/api/chat" and req.body["format"] == SCHEMA
    assert req.body["stream"] is False and req.headers == {}
    r = p.parse({"message": {"content": "{}"}, "done": True, "done_reason": "length"})
    assert r.truncated
    with pytest.raises(ValueError, match="message"):
        p.parse({"error": "x"})
