"""Google Gemini over REST: ``models/{model}:generateContent`` with a response JSON schema."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from netrca.rca.llm.base import ErrorInfo, HttpRequest, ProviderBase, ProviderReply, json_body
from netrca.rca.llm.base import scrub as _scrub
from netrca.rca.llm.retry import parse_duration

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "GeminiProvider"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
#: A current stable Flash model (Gemini API model list, checked 2026-11).
DEFAULT_MODEL = "gemini-3.8-flash"

_DETAIL = "type.googleapis.com/google.rpc."
#: finishReason values that mean the model stopped without a usable answer.
_BLOCKED = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "LANGUAGE",
    "IMAGE_SAFETY",
}


class GeminiProvider(ProviderBase):
    """Gemini API (``x-goog-api-key`` header, ``systemInstruction``, JSON mode + schema)."""

    name = "gemini"

    def __init__(
        self,
        api_key: SecretStr,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        super().__init__(model=model.removeprefix("models/"), base_url=base_url, api_key=api_key)

    def request(
        self, system: str, user: str, schema: dict[str, Any], max_tokens: int
    ) -> HttpRequest:
        """A ``generateContent`` request whose reply must be JSON following ``schema``."""
        key = self._key.get_secret_value() if self._key else ""
        return HttpRequest(
            url=f"{self.base_url}/v1beta/models/{self.model}:generateContent",
            headers={"x-goog-api-key": key},
            body={
                "systemInstruction": {"parts": [{"text": system}]},
                "contents": [{"role": "user", "parts": [{"text": user}]}],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseJsonSchema": schema,
                    "maxOutputTokens": max_tokens,
                    "candidateCount": 1,
                },
            },
        )

    def parse(self, body: Any) -> ProviderReply:
        """Text of the first candidate (thought parts skipped) and its ``finishReason``."""
        if not isinstance(body, dict):
            raise ValueError("reply is not a JSON object")
        candidates = body.get("candidates") or []
        if not candidates:
            block = (body.get("promptFeedback") or {}).get("blockReason")
            if block:
                return ProviderReply(text="", finish_reason=str(block), blocked=True)
            raise ValueError("reply has no candidates")
        cand = candidates[0]
        if not isinstance(cand, dict):
            raise ValueError("candidate is not an object")
        parts = (cand.get("content") or {}).get("parts") or []
        text = "".join(
            str(p.get("text", "")) for p in parts if isinstance(p, dict) and not p.get("thought")
        )
        reason = str(cand.get("finishReason") or "STOP")
        return ProviderReply(
            text=text,
            finish_reason=reason,
            truncated=reason == "MAX_TOKENS",
            blocked=reason in _BLOCKED,
        )

    def error(self, response: httpx.Response) -> ErrorInfo:
        """Generic handling plus ``RetryInfo.retryDelay`` and daily-quota detection."""
        info = super().error(response)
        body = json_body(response)
        err = body.get("error") if isinstance(body, dict) else None
        details = err.get("details") if isinstance(err, dict) else None
        if not isinstance(details, list):
            return info
        retry_after = info.retry_after
        daily = []
        for d in details:
            if not isinstance(d, dict):
                continue
            kind = str(d.get("@type", ""))
            if kind == _DETAIL + "RetryInfo":
                delay = parse_duration(d.get("retryDelay"))
                retry_after = delay if delay is not None else retry_after
            elif kind == _DETAIL + "QuotaFailure":
                for v in d.get("violations") or []:
                    quota = str((v or {}).get("quotaId", "")) if isinstance(v, dict) else ""
                    if "PerDay" in quota:
                        daily.append(quota)
        if info.status == 429 and daily:
            msg = _scrub(
                f"daily quota exhausted ({', '.join(sorted(set(daily)))}); "
                "it resets at midnight Pacific time — " + info.message,
                self.secrets(),
            )
            return ErrorInfo(
                status=429, message=msg[:500], retryable=False, reason="quota_exhausted"
            )
        return ErrorInfo(
            status=info.status,
            message=info.message,
            retryable=info.retryable,
            retry_after=retry_after,
            reason=info.reason,
        )
