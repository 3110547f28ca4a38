"""Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio): ``/v1/chat/completions``."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from netrca.rca.llm.base import ErrorInfo, HttpRequest, ProviderBase, ProviderReply, json_body

__all__ = ["DEFAULT_BASE_URL", "OpenAICompatProvider"]

DEFAULT_BASE_URL = "http://localhost:8000"


class OpenAICompatProvider(ProviderBase):
    """Chat completions with ``response_format`` = ``json_schema`` (strict)."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | None = None,
    ) -> None:
        super().__init__(model=model, base_url=base_url, api_key=api_key)

    def request(
        self, system: str, user: str, schema: dict[str, Any], max_tokens: int
    ) -> HttpRequest:
        """A chat completion asking for JSON that follows ``schema``."""
        url = self.base_url
        url += "/chat/completions" if url.endswith("/v1") else "/v1/chat/completions"
        headers = {}
        if self._key is not None:
            headers["authorization"] = f"Bearer {self._key.get_secret_value()}"
        return HttpRequest(
            url=url,
            headers=headers,
            body={
                "model": self.model,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "incident_analyses", "schema": schema, "strict": True},
                },
                "max_tokens": max_tokens,
                "temperature": 0,
            },
        )

    def parse(self, body: Any) -> ProviderReply:
        """``choices[0].message.content`` and ``finish_reason`` ("length" = truncated)."""
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise ValueError("reply has no choices")
        if not body["choices"] or not isinstance(body["choices"][0], dict):
            raise ValueError("reply has no choices")
        choice = body["choices"][0]
        msg = choice.get("message") or {}
        reason = str(choice.get("finish_reason") or "stop")
        refusal = msg.get("refusal") if isinstance(msg, dict) else None
        text = msg.get("content") if isinstance(msg, dict) else None
        return ProviderReply(
            text=str(text or ""),
            finish_reason=reason,
            truncated=reason == "length",
            blocked=bool(refusal) or reason == "content_filter",
        )

    def error(self, response: httpx.Response) -> ErrorInfo:
        """Generic handling; ``insufficient_quota`` (billing) is not worth retrying."""
        info = super().error(response)
        body = json_body(response)
        err = body.get("error") if isinstance(body, dict) else None
        code = err.get("code") if isinstance(err, dict) else None
        if info.status == 429 and code == "insufficient_quota":
            return ErrorInfo(
                status=429,
                message="quota exhausted (insufficient_quota) — " + info.message,
                retryable=False,
                reason="quota_exhausted",
            )
        return info
