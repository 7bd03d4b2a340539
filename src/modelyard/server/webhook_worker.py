"""The webhook delivery worker: a task in the server's lifespan that sends queued deliveries (hub/webhooks.py).

Each poll claims due deliveries for the free slots (leased, so a crash sends them again later rather than never),
POSTs them concurrently and reports each outcome back; the hub decides retries (exponential back-off) and the log.
Deliveries of one webhook may arrive out of order: receivers should not rely on arrival order. A
request carries the JSON payload and, when the webhook has one, its secret in ``X-Webhook-Secret`` (compared
verbatim by receivers, as on the Hub). Redirects are not followed (the secret stays with the URL its owner gave),
and the answer's body is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool

from modelyard import __version__
from modelyard.hub.webhooks import DeliveryJob, Webhooks, public_address

log = logging.getLogger("modelyard.webhooks")

BATCH = 16  # deliveries in flight at once


class WebhookWorker:
    def __init__(self, webhooks: Webhooks, timeout: float, poll_interval: float) -> None:
        self.webhooks = webhooks
        self.timeout = max(0.1, timeout)
        self.poll = max(0.01, poll_interval)
        self.lease_ms = int((self.timeout + 30) * 1000)
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)
        self._task = asyncio.create_task(self._run(), name="webhook-deliveries")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        """Keep up to BATCH deliveries in flight: a slow receiver holds one slot, not the queue."""
        inflight: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    free = BATCH - len(inflight)
                    jobs = (
                        await run_in_threadpool(self.webhooks.claim_due, free, self.lease_ms) if free else []
                    )
                    for job in jobs:
                        task = asyncio.create_task(self._send(job))
                        inflight.add(task)
                        task.add_done_callback(lambda t: _settled(inflight, t))
                except Exception:  # the database may be briefly unavailable: keep the worker alive
                    log.exception("webhooks: could not claim deliveries")
                await asyncio.sleep(self.poll)
        finally:  # shutdown: what is cut short stays leased and goes out again after a restart
            for task in inflight:
                task.cancel()

    async def _send(self, job: DeliveryJob) -> None:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"ModelYard-Webhooks/{__version__}",
        }
        if job.secret:
            headers["X-Webhook-Secret"] = job.secret
        start = time.monotonic()
        status: int | None = None
        error = None if self.webhooks.allow_private else await _non_public(job.url)
        if error is not None:
            await run_in_threadpool(self.webhooks.finish, job.id, None, error, 0)
            return
        try:
            async with self._client.stream("POST", job.url, content=job.payload, headers=headers) as r:
                status = r.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Exception as e:  # any failure to send is an attempt that failed, logged for the owner
            error = f"{type(e).__name__}: {e}"[:500]
        ms = int((time.monotonic() - start) * 1000)
        await run_in_threadpool(self.webhooks.finish, job.id, status, error, ms)


def _settled(inflight: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
    inflight.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("webhooks: could not record a delivery: %r", task.exception())


async def _non_public(url: str) -> str | None:
    """Why `url` may not be sent to when private targets are off (its host resolves to a non-public address), or
    None. The check runs before each attempt; a DNS answer that changes between it and the connection
    (rebinding) is not caught."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError:
        return None  # unresolvable: the attempt itself fails and is logged
    if any(not public_address(str(info[4][0])) for info in infos):
        return f"not sent: {host} resolves to a non-public address (webhook_allow_private is off)"
    return None
