"""Retry timing for provider calls: exponential backoff with jitter, server hints, RPM limit."""

from __future__ import annotations

import email.utils
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "RETRYABLE_STATUS",
    "Clock",
    "RateLimiter",
    "RetryPolicy",
    "Sleep",
    "parse_duration",
    "parse_retry_after",
]

#: Statuses worth retrying: timeouts, rate limits and transient server errors.
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})

#: Waits are injected so tests never really sleep; these are the real ones.
Sleep = Callable[[float], None]
Clock = Callable[[], float]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$")


def parse_duration(text: object) -> float | None:
    """A protobuf JSON duration ("38s", "1.5s", "0.250s") in seconds, else None."""
    if not isinstance(text, str):
        return None
    m = _DURATION.match(text)
    return float(m.group(1)) if m else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """An HTTP ``Retry-After`` value (seconds or an HTTP date) in seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class RetryPolicy:
    """How many tries a request gets and how long to wait between them.

    Without a server hint the n-th wait is ``min(cap, base * 2**(n-1))`` scaled by a
    random factor in [0.5, 1) ("equal jitter"), so clients that failed together do not
    retry together. A hint (``Retry-After``, Gemini ``RetryInfo.retryDelay``) is used as
    given; a hint above ``max_wait`` means the quota will not come back soon, and the
    caller fails fast instead of waiting.
    """

    max_attempts: int = 5
    base: float = 1.0
    cap: float = 60.0
    max_wait: float = 300.0
    seed: int | None = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if hint is not None:
            return max(0.0, hint)
        exp = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return exp * (0.5 + 0.5 * self._rng.random())


class RateLimiter:
    """At most ``rpm`` request starts per minute, evenly spaced (``rpm <= 0``: no limit)."""

    def __init__(self, rpm: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until a request may start; returns the seconds waited."""
        if self.interval <= 0:
            return 0.0
        now = self.clock()
        wait = 0.0 if self._next is None else max(0.0, self._next - now)
        if wait > 0:
            self.sleep(wait)
            self.waited += wait
        self._next = max(now + wait, self._next or now) + self.interval
        return wait
