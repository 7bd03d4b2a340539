"""Rate limits per token and per client IP: in-memory token buckets in front of every route.

* A request with credentials (``Authorization`` header) spends from the bucket of that credential, keyed by a
  hash of the header value (the limiter does not authenticate: it never touches the database).
  ``rate_limit_per_minute`` requests a minute, with a burst of as many.
* A request without credentials spends from the bucket of its client IP (the socket peer, as the ASGI server
  reports it): ``rate_limit_anonymous_per_minute``.
* Made-up tokens do not buy a fresh budget: every 401 answered to a request with credentials spends from a
  per-IP "failed authentication" bucket of the anonymous size; while it is empty, that IP's requests with
  credentials are refused too.
* Past the budget: 429 ``RateLimited`` in the Hub's error format, with ``Retry-After`` (seconds) and the IETF
  draft ``RateLimit``/``RateLimit-Policy`` headers that huggingface_hub reads. 0 turns a limit off.

Buckets live in one process's memory (no database write per request). With several replicas on one database
each enforces ``limit / live replicas`` (`TokenBuckets.set_share`, from the task worker's heartbeat:
hub/replicas.py): behind a balancer that spreads clients evenly the sum is the configured limit. A client pinned to
one replica (sticky sessions) gets its share only; a dead replica stops counting after the live window (30 s).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.errors import RateLimited
from modelyard.server.errors import error_response

MAX_KEYS = 100_000  # buckets kept before idle (full) ones are dropped


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Buckets of `per_minute` tokens refilled continuously; thread-safe, bounded in size."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.share = 1
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def set_share(self, replicas: int) -> None:
        """Enforce 1/`replicas` of the configured limit here (at least one request a minute): each of that many
        replicas keeps its own buckets. Buckets over the new capacity are trimmed on their next use."""
        n = max(1, int(replicas))
        with self._lock:
            self.share = n
            per_minute = max(1.0, self.per_minute / n)
            self.capacity = per_minute
            self.rate = per_minute / 60.0

    def _refilled(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now)
            b = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            b.tokens = min(self.capacity, b.tokens + (now - b.at) * self.rate)
            b.at = now
        return b

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate
        idle = [k for k, b in self._buckets.items() if now - b.at >= full_after]
        for k in idle:
            del self._buckets[k]
        if len(self._buckets) >= MAX_KEYS:  # still too many live keys: forget them all (fail open)
            self._buckets.clear()

    def take(self, key: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            b = self._refilled(key, now)
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return 0.0
            return (1.0 - b.tokens) / self.rate

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token, without spending one (0.0: available now)."""
        now = time.monotonic()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                return 0.0
            tokens = min(self.capacity, b.tokens + (now - b.at) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def spend(self, key: str) -> None:
        """Spend one token even if none is left (the count goes negative, so the wait grows)."""
        now = time.monotonic()
        with self._lock:
            b = self._refilled(key, now)
            b.tokens = max(b.tokens - 1.0, -self.capacity)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, per_token: int, per_ip: int) -> None:
        self.app = app
        self.per_token, self.per_ip = per_token, per_ip
        self.tokens = TokenBuckets(per_token) if per_token > 0 else None
        self.ips = TokenBuckets(per_ip) if per_ip > 0 else None
        self.failures = TokenBuckets(per_ip) if per_ip > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credential = _credential(scope)
        ip = str((scope.get("client") or ("unknown", 0))[0])
        wait, limit = 0.0, 0
        if credential is not None:
            if self.failures is not None:
                wait, limit = self.failures.wait("ip:" + ip), self.per_ip
            if not wait and self.tokens is not None:
                key = hashlib.sha256(credential).hexdigest()
                wait, limit = self.tokens.take(key), self.per_token
        elif self.ips is not None:
            wait, limit = self.ips.take("ip:" + ip), self.per_ip
        if wait:
            await _too_many(scope, receive, send, wait, limit)
            return
        if credential is None or self.failures is None:
            await self.app(scope, receive, send)
            return
        failures = self.failures

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                failures.spend("ip:" + ip)
            await send(message)

        await self.app(scope, receive, watch)


def _credential(scope: Scope) -> bytes | None:
    for key, value in scope.get("headers") or []:
        if key == b"authorization" and value.strip():
            return bytes(value.strip())
    return None


async def _too_many(scope: Scope, receive: Receive, send: Send, wait: float, limit: int) -> None:
    seconds = max(1, math.ceil(wait))
    exc = RateLimited(
        f"Rate limit of {limit} requests per minute reached; retry in {seconds} s", retry_after=seconds
    )
    response = error_response(Request(scope), exc)
    response.headers["RateLimit"] = f'"api";r=0;t={seconds}'
    response.headers["RateLimit-Policy"] = f'"token bucket";"api";q={limit};w=60'
    await response(scope, receive, send)


__all__ = ["RateLimitMiddleware", "TokenBuckets"]
