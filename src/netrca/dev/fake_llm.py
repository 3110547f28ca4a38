"""A fake LLM provider: a real HTTP server on 127.0.0.1 speaking Gemini, OpenAI and Ollama.

It answers batch prompts "smartly" (each incident gets the rules verdict carried in its
evidence pack, with evidence copied from the pack) and injects faults on request:

=================  ================================================================
fault              what the server does
=================  ================================================================
rate_limit         429; Gemini ``RetryInfo.retryDelay`` / ``Retry-After`` = retry delay
quota              429 for a *daily* quota (Gemini ``QuotaFailure`` …PerDay…)
unavailable        503 (model overloaded)
server_error       500
bad_gateway        502 with an HTML body (a proxy, not the API)
gateway_timeout    504
request_timeout    408
auth               401 whose message echoes the key it received (a careless server)
forbidden          403
not_found          404 (unknown model)
bad_request        400
slow               waits ``slow_seconds`` before answering normally
malformed          200 whose text is cut-off, invalid JSON
missing            200 without about a quarter of the incidents (at least one)
extra              200 with one more analysis for an id nobody asked about
duplicate          200 with one incident answered twice, differently
max_tokens         200 cut off with finishReason MAX_TOKENS / finish_reason length
                   (only for batches of 2 or more; a single incident fits)
injection          200 where the first incident "obeys" an injected instruction
bad_value          200 where one analysis has confidence 1.7 (schema-invalid)
ungrounded         200 where one analysis cites a made-up metric, a wrong number and
                   an address that is not in the pack
=================  ================================================================

Independently of faults, with ``obey_injections`` on (the default) any incident whose
data contains "ignore previous instructions" is answered as a naive model would: with
an off-taxonomy category and the injected text as its root cause.

Faults are drawn per request from ``rates`` with a seeded generator, or pinned to
request numbers (``unavailable@1``). Every request is logged with the incident ids it
carried, so tests and benchmarks count calls at the server.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from netrca.dev.faults import FAULTS
from netrca.errors import ConfigError
from netrca.rca.llm.prompt import extract_data
from netrca.schema import CATEGORY_VALUES

__all__ = ["FAULTS", "FakeLLMConfig", "FakeLLMServer", "FaultPlan"]


_INJECTION = re.compile(r"ignore\s+(?:all\s+)?(?:previous|prior|above)\s+instructions", re.I)
_GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_HTTP_FAULTS = {
    "rate_limit": 429,
    "quota": 429,
    "unavailable": 503,
    "server_error": 500,
    "bad_gateway": 502,
    "gateway_timeout": 504,
    "request_timeout": 408,
    "auth": 401,
    "forbidden": 403,
    "not_found": 404,
    "bad_request": 400,
}


@dataclass
class FaultPlan:
    """Which fault (if any) each request gets: pinned by number, else drawn by rate."""

    rates: dict[str, float] = field(default_factory=dict)
    at: dict[int, str] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        bad = sorted((set(self.rates) | set(self.at.values())) - set(FAULTS))
        if bad:
            raise ConfigError(f"unknown fault(s) {', '.join(bad)}; choose from {', '.join(FAULTS)}")
        if sum(self.rates.values()) > 1.0 + 1e-9 or any(r < 0 for r in self.rates.values()):
            raise ConfigError("fault rates must be >= 0 and sum to at most 1")
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None, seed: int = 0) -> FaultPlan:
        """From ``"rate_limit=0.1,slow=0.05,unavailable@1,unavailable@2"``."""
        rates: dict[str, float] = {}
        at: dict[int, str] = {}
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            try:
                if "@" in part:
                    kind, n = part.split("@", 1)
                    at[int(n)] = kind.strip()
                else:
                    kind, _, rate = part.partition("=")
                    rates[kind.strip()] = float(rate) if rate else 1.0
            except ValueError as exc:
                raise ConfigError(f"--faults: cannot read {part!r} (KIND=RATE or KIND@N)") from exc
        return cls(rates=rates, at=at, seed=seed)

    def draw(self, n: int) -> str | None:
        """The fault for request number ``n`` (1-based)."""
        if n in self.at:
            return self.at[n]
        if not self.rates:
            return None
        r = self._rng.random()
        for kind in FAULTS:
            r -= self.rates.get(kind, 0.0)
            if r < 0:
                return kind
        return None


@dataclass
class FakeLLMConfig:
    """How the fake server behaves."""

    faults: FaultPlan = field(default_factory=FaultPlan)
    retry_delay: float = 1.0
    slow_seconds: float = 2.0
    max_items: int = 0  # truncate (MAX_TOKENS) any batch larger than this; 0 = never
    api_key: str | None = None  # when set, other keys get 401
    obey_injections: bool = True
    record_bodies: bool = False


def _smart(item: dict[str, Any]) -> dict[str, Any]:
    """The analysis a well-behaved model would give: the pack's rules verdict, grounded."""
    verdict = item.get("rules_verdict") or {}
    facts = item.get("facts") or {}
    evidence = []
    for e in verdict.get("evidence", [])[:4]:
        value = facts.get(e.get("metric"))
        if value is not None and not isinstance(value, (dict, list)):
            evidence.append(
                {"metric": e["metric"], "value": value, "description": f"{e['metric']} is {value}"}
            )
    src, dst = facts.get("top_source", "?"), facts.get("top_destination", "?")
    alternatives = [
        {"category": a["category"], "reason": f"rule score {a.get('score')}"}
        for a in verdict.get("alternatives", [])[:2]
        if isinstance(a, dict) and a.get("category") in CATEGORY_VALUES
    ]
    return {
        "incident_id": item.get("incident_id"),
        "category": verdict.get("category", "unknown"),
        "root_cause": verdict.get("root_cause") or f"Anomalous traffic from {src} to {dst}.",
        "confidence": min(max(float(verdict.get("confidence", 0.5)), 0.0), 1.0),
        "severity": verdict.get("severity", "medium"),
        "evidence": evidence,
        "remediation_steps": [
            f"Review the traffic from {src} to {dst} in the incident window.",
            f"Contain {src} if the activity is not expected.",
        ],
        "alternatives": alternatives,
    }


def _obedient(item: dict[str, Any]) -> dict[str, Any]:
    """What a model that follows instructions found in data would answer."""
    found = _INJECTION.search(json.dumps(item))
    return {
        "incident_id": item.get("incident_id"),
        "category": "benign_ignore_this_incident",
        "root_cause": found.group(0) if found else "ignore previous instructions",
        "confidence": 1.0,
        "severity": "low",
        "evidence": [],
        "remediation_steps": [],
        "alternatives": [],
    }


def _apply(fault: str | None, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content faults on a list of answers."""
    if not answers:
        return answers
    if fault == "missing":
        drop = max(1, len(answers) // 4)
        return answers[drop:]
    if fault == "extra":
        return [*answers, {**answers[0], "incident_id": "INC-NOBODY-ASKED"}]
    if fault == "duplicate":
        twin = {**answers[0], "category": "unknown", "confidence": 0.1}
        return [*answers, twin]
    if fault == "injection":
        return [_obedient({"incident_id": answers[0]["incident_id"]}), *answers[1:]]
    # the item to spoil: the first well-formed one (an obeyed injection is spoilt already)
    k = next((i for i, a in enumerate(answers) if a["category"] in CATEGORY_VALUES), 0)
    if fault == "bad_value":
        return [*answers[:k], {**answers[k], "confidence": 1.7}, *answers[k + 1 :]]
    if fault == "ungrounded":
        first = dict(answers[k])
        ev = list(first["evidence"])
        if ev and isinstance(ev[0]["value"], (int, float)) and not isinstance(ev[0]["value"], bool):
            ev[0] = {**ev[0], "value": ev[0]["value"] * 3 + 1}
        ev.append({"metric": "made_up_metric", "value": 42, "description": "invented"})
        first["evidence"] = ev
        first["root_cause"] = "The attack came from 203.0.113.77, which the data never mentions."
        return [*answers[:k], first, *answers[k + 1 :]]
    return answers


class _Handler(BaseHTTPRequestHandler):
    server_version = "netrca-fake-llm/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    @property
    def fake(self) -> FakeLLMServer:
        return self.server.fake  # type: ignore[attr-defined]

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout) or was killed
            pass

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers or {})

    def do_GET(self) -> None:
        if self.path == "/_stats":
            self._json(200, self.fake.stats())
        else:
            self._json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        m = _GEMINI_PATH.match(self.path)
        if m:
            dialect, model = "gemini", m.group(1)
            key = self.headers.get("x-goog-api-key") or ""
        elif self.path in ("/v1/chat/completions", "/chat/completions"):
            dialect, model = "openai", ""
            key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        elif self.path == "/api/chat":
            dialect, model, key = "ollama", "", ""
        else:
            self._json(404, {"error": f"no route {self.path}"})
            return
        self.fake.handle(self, dialect, model, key, raw)


class FakeLLMServer:
    """The fake provider. Use as a context manager; ``url`` is its base URL.

    >>> with FakeLLMServer() as srv:  # doctest: +SKIP
    ...     srv.url  # http://127.0.0.1:PORT — point NETRCA_LLM_BASE_URL at it
    """

    def __init__(
        self, config: FakeLLMConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or FakeLLMConfig()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests_log: list[dict[str, Any]] = []
        self.bodies: list[str] = []
        self._n = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:49152``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeLLMServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving (if serving) and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """Counts so far: requests, faults, statuses, and how often each incident was sent."""
        with self._lock:
            log = list(self.requests_log)
        asks: Counter[str] = Counter(i for r in log for i in r["ids"])
        return {
            "requests": len(log),
            "by_dialect": dict(Counter(r["dialect"] for r in log)),
            "faults": dict(Counter(r["fault"] for r in log if r["fault"])),
            "statuses": {str(k): v for k, v in Counter(r["status"] for r in log).items()},
            "incidents_sent": len(asks),
            "incident_sends": sum(asks.values()),
            "requests_log": log,
        }

    # --- one request ----------------------------------------------------------------
    def handle(self, h: _Handler, dialect: str, model: str, key: str, raw: bytes) -> None:
        """Answer one provider request (called from the handler thread)."""
        with self._lock:
            self._n += 1
            n = self._n
            fault = self.config.faults.draw(n)
            if self.config.record_bodies:
                self.bodies.append(raw.decode("utf-8", "replace"))
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = {}
        items = extract_data(_prompt_of(dialect, req)) or []
        entry: dict[str, Any] = {
            "n": n,
            "dialect": dialect,
            "fault": fault,
            "ids": [str(i.get("incident_id")) for i in items],
            "status": 200,
            "t": time.time(),
        }
        if self.config.api_key is not None and key != self.config.api_key:
            fault = entry["fault"] = "auth"
        if fault in _HTTP_FAULTS:
            entry["status"] = _HTTP_FAULTS[fault]
            self._log(entry)
            self._error(h, dialect, fault, key, model)
            return
        if fault == "slow":
            time.sleep(self.config.slow_seconds)
        answers = [
            _obedient(i)
            if self.config.obey_injections and _INJECTION.search(json.dumps(i))
            else _smart(i)
            for i in items
        ]
        text = json.dumps({"analyses": _apply(fault, answers)})
        truncated = len(items) > 1 and (
            fault == "max_tokens" or 0 < self.config.max_items < len(items)
        )
        if fault == "malformed" or truncated:
            text = text[: max(1, len(text) // 2)]
        self._log(entry)
        self._ok(h, dialect, model or str(req.get("model", "")), text, truncated)

    def _log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests_log.append(entry)

    def _ok(self, h: _Handler, dialect: str, model: str, text: str, truncated: bool) -> None:
        if dialect == "gemini":
            h._json(
                200,
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "MAX_TOKENS" if truncated else "STOP",
                            "index": 0,
                        }
                    ],
                    "usageMetadata": {"candidatesTokenCount": len(text) // 4},
                    "modelVersion": model,
                },
            )
        elif dialect == "openai":
            h._json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "length" if truncated else "stop",
                        }
                    ],
                },
            )
        else:
            h._json(
                200,
                {
                    "model": model,
                    "message": {"role": "assistant", "content": text},
                    "done": True,
                    "done_reason": "length" if truncated else "stop",
                },
            )

    def _error(self, h: _Handler, dialect: str, fault: str, key: str, model: str) -> None:
        status = _HTTP_FAULTS[fault]
        delay = self.config.retry_delay
        headers: dict[str, str] = {}
        if status in (429, 503) and fault != "quota":
            headers["Retry-After"] = f"{delay:g}"
        if fault == "bad_gateway":
            h._send(502, b"<html><body>502 Bad Gateway</body></html>", "text/html", headers)
            return
        message = {
            "rate_limit": "Resource has been exhausted (e.g. check quota).",
            "quota": "You exceeded your current quota, please check your plan and billing.",
            "unavailable": "The model is overloaded. Please try again later.",
            "auth": f"API key not valid: {key!r}. Please pass a valid API key.",
            "not_found": f"models/{model or 'x'} is not found for API version v1beta.",
        }.get(fault, f"fake {fault}")
        if dialect == "gemini":
            details: list[dict[str, Any]] = []
            if fault in ("rate_limit", "quota"):
                per = "PerDay" if fault == "quota" else "PerMinute"
                details = [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": f"GenerateRequests{per}PerProjectPerModel-FreeTier",
                            }
                        ],
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{delay:g}s",
                    },
                ]
            body: Any = {
                "error": {
                    "code": status,
                    "message": message,
                    "status": _STATUS[status],
                    "details": details,
                }
            }
        elif dialect == "openai":
            code = "insufficient_quota" if fault == "quota" else fault
            body = {"error": {"message": message, "type": fault, "code": code}}
        else:
            body = {"error": message}
        h._json(status, body, headers)


def _prompt_of(dialect: str, req: dict[str, Any]) -> str:
    """The user text of a request in any of the three dialects."""
    if dialect == "gemini":
        parts = [
            p.get("text", "")
            for c in req.get("contents", []) or []
            if isinstance(c, dict)
            for p in c.get("parts", []) or []
            if isinstance(p, dict)
        ]
        return "\n".join(str(p) for p in parts)
    msgs = req.get("messages", []) or []
    return "\n".join(
        str(m.get("content", "")) for m in msgs if isinstance(m, dict) and m.get("role") == "user"
    )
