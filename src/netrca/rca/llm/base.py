"""The provider interface every LLM backend implements, and the values it exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from netrca.rca.llm.retry import RETRYABLE_STATUS, parse_retry_after

__all__ = [
    "ErrorInfo",
    "HttpRequest",
    "Provider",
    "ProviderBase",
    "ProviderReply",
    "json_body",
    "scrub",
]


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret (and its URL-encoded form) replaced by ``***``."""
    for s in secrets:
        if s:
            text = text.replace(s, "***").replace(quote(s, safe=""), "***")
    return text


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP call a provider wants made. ``headers`` may hold a key: never shown."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ProviderReply:
    """What came back: the model's text and whether it was cut off or blocked."""

    text: str
    finish_reason: str
    truncated: bool = False
    blocked: bool = False


@dataclass(frozen=True)
class ErrorInfo:
    """A failed call, classified: retry (maybe after ``retry_after`` s) or give up."""

    status: int
    message: str
    retryable: bool
    retry_after: float | None = None
    reason: str = ""  # short code: http_503, quota_exhausted, http_401…


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


class Provider(Protocol):
    """An LLM backend: builds its wire request and reads its wire reply."""

    name: str
    model: str

    def request(
        self, system: str, user: str, schema: dict[str, Any], max_tokens: int
    ) -> HttpRequest:
        """The HTTP request asking for a JSON reply that follows ``schema``."""
        ...

    def parse(self, body: Any) -> ProviderReply:
        """The model's reply from a 200 response body (``ValueError`` if malformed)."""
        ...

    def error(self, response: httpx.Response) -> ErrorInfo:
        """Classify a non-200 response."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in messages (the API key)."""
        ...


class ProviderBase:
    """Shared parts: the key (kept as a :class:`SecretStr`) and generic error handling."""

    name = "provider"

    def __init__(self, *, model: str, base_url: str, api_key: SecretStr | None = None) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._key = api_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def secrets(self) -> tuple[str, ...]:
        """The API key, if any, for scrubbing messages."""
        return (self._key.get_secret_value(),) if self._key else ()

    def _message(self, body: Any, response: httpx.Response) -> str:
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
            if isinstance(err, str):
                return err
        return response.reason_phrase or "error"

    def error(self, response: httpx.Response) -> ErrorInfo:
        """Generic: 408/429/5xx retry (honouring ``Retry-After``); other statuses give up."""
        body = json_body(response)
        status = response.status_code
        msg = f"HTTP {status}: {self._message(body, response)}"
        retryable = status in RETRYABLE_STATUS or status >= 500
        return ErrorInfo(
            status=status,
            message=scrub(msg[:500], self.secrets()),
            retryable=retryable,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            reason=f"http_{status}",
        )
