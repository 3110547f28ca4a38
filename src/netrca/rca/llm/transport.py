"""Send a provider request over httpx with timeouts, retries, server hints and an RPM limit."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from netrca.errors import ProviderError, ProviderRejectedError
from netrca.rca.llm.base import ErrorInfo, Provider, ProviderReply, json_body, scrub
from netrca.rca.llm.retry import RateLimiter, RetryPolicy, Sleep

__all__ = ["Transport", "TransportStats"]

log = logging.getLogger("netrca.llm")


@dataclass
class TransportStats:
    """Counters for one analyzer run (requests counts every try)."""

    requests: int = 0
    retries: int = 0
    sleep_seconds: float = 0.0
    rate_limit_seconds: float = 0.0


class Transport:
    """Calls a :class:`Provider`, retrying what is worth retrying.

    Retries 408/429/5xx and transport errors (timeouts, refused connections) with
    :class:`RetryPolicy`; honours ``Retry-After`` and provider hints; raises
    :class:`ProviderRejectedError` at once for a daily quota, 400/401/403/404 (and for a
    requested wait above the policy's ``max_wait``), :class:`ProviderError` when tries
    run out. Every message is scrubbed of the provider's secrets.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        timeout: float = 120.0,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Sleep = time.sleep,
        client: httpx.Client | None = None,
    ) -> None:
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self.limiter = limiter or RateLimiter(0)
        self.sleep = sleep
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))
        self.stats = TransportStats()

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def _scrub(self, text: str) -> str:
        return scrub(text, self.provider.secrets())

    def _try(self, req_url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """One try: the parsed reply, or an :class:`ErrorInfo` describing the failure."""
        self.stats.rate_limit_seconds += self.limiter.acquire()
        self.stats.requests += 1
        try:
            resp = self.client.post(req_url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            return ErrorInfo(0, f"timed out ({type(exc).__name__})", True, reason="timeout")
        except httpx.TransportError as exc:
            msg = self._scrub(f"{type(exc).__name__}: {exc}")[:300]
            return ErrorInfo(0, msg, True, reason="transport_error")
        if resp.status_code == 200:
            payload = json_body(resp)
            try:
                return self.provider.parse(payload)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                msg = self._scrub(f"unreadable 200 reply: {exc}")[:300]
                return ErrorInfo(200, msg, True, reason="bad_envelope")
        return self.provider.error(resp)

    def call(
        self, system: str, user: str, schema: dict[str, Any], max_tokens: int
    ) -> ProviderReply:
        """Ask once (with retries); the provider's reply or an exception."""
        req = self.provider.request(system, user, schema, max_tokens)
        name = self.provider.name
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            out = self._try(req.url, req.body, req.headers)
            if isinstance(out, ProviderReply):
                return out
            info: ErrorInfo = out
            message = self._scrub(f"{name}: {info.message}")
            if not info.retryable:
                raise ProviderRejectedError(message, reason=info.reason, status=info.status)
            if info.retry_after is not None and info.retry_after > self.policy.max_wait:
                raise ProviderRejectedError(
                    f"{message} (asked to wait {info.retry_after:.0f} s, more than "
                    f"{self.policy.max_wait:.0f} s: treating the quota as exhausted)",
                    reason="quota_exhausted",
                    status=info.status,
                )
            if attempt == attempts:
                raise ProviderError(
                    f"{message} (gave up after {attempts} tries)",
                    reason=info.reason,
                    status=info.status,
                )
            delay = self.policy.delay(attempt, info.retry_after)
            log.info("%s; retry %d/%d in %.2f s", message, attempt, attempts - 1, delay)
            self.stats.retries += 1
            self.stats.sleep_seconds += delay
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
