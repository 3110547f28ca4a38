"""A local Ollama server: ``/api/chat`` with ``format`` set to the reply JSON schema."""

from __future__ import annotations

from typing import Any

from netrca.rca.llm.base import HttpRequest, ProviderBase, ProviderReply

__all__ = ["DEFAULT_BASE_URL", "OllamaProvider"]

DEFAULT_BASE_URL = "http://localhost:11434"


class OllamaProvider(ProviderBase):
    """Ollama chat API, non-streaming, structured output via ``format``."""

    name = "ollama"

    def __init__(self, *, model: str, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(model=model, base_url=base_url)

    def request(
        self, system: str, user: str, schema: dict[str, Any], max_tokens: int
    ) -> HttpRequest:
        """A non-streaming chat request whose reply must follow ``schema``."""
        return HttpRequest(
            url=f"{self.base_url}/api/chat",
            body={
                "model": self.model,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "stream": False,
                "format": schema,
                "options": {"temperature": 0, "num_predict": max_tokens},
            },
        )

    def parse(self, body: Any) -> ProviderReply:
        """``message.content`` and ``done_reason`` ("length" = truncated)."""
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            raise ValueError("reply has no message")
        reason = str(body.get("done_reason") or "stop")
        return ProviderReply(
            text=str(body["message"].get("content") or ""),
            finish_reason=reason,
            truncated=reason == "length",
        )
