"""Large upload bodies read straight from the client socket, not through the ASGI receive path.

uvicorn hands a request body to the app in messages of at most 64 KiB: for each, the event loop runs the parser
callback, appends to a buffer, wakes the app, copies the buffer out and resumes reading. For a multi-gigabyte
LFS ``PUT`` that bookkeeping costs the hub more CPU than hashing the bytes (py-spy, docs/benchmarks.md), on the
same two cores as the hashing. ``body_chunks`` instead pauses the protocol's reading and reads the rest of the
body in a reader thread, 8 MiB at a time with ``readv`` into one buffer, while the consumer (``pipe_to_writer``)
hashes and writes the previous batch in another thread: the event loop only hands batches over.

The fast path is taken only where it is exact: uvicorn's httptools protocol, plain TCP (never TLS: the socket
carries ciphertext), a ``Content-Length`` and no ``Transfer-Encoding``, more than ``MIN_FAST`` bytes still to
come, and a free reader thread; anything else gets Starlette's ``request.stream()``. Reading behind the parser's
back leaves it expecting body bytes, so the connection closes after the response (``Connection: close``): one TCP
handshake per large upload. At most the declared length is read, never a byte of a pipelined next request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Scope

#: Bytes per read batch (the consumer's batch size: ``storage.ingest.BATCH``).
BATCH = 8 * 1024 * 1024
#: Smaller bodies (or remainders) go through ASGI: the fast path's thread hand-off only pays off for big bodies.
MIN_FAST = 4 * 1024 * 1024
#: Reader threads; a body arriving while all are busy (many slow clients) takes the ASGI path.
MAX_READERS = 32
#: poll(2) wakes the reader thread once this many bytes are queued (SO_RCVLOWAT), or the batch's rest.
LOWAT = 1024 * 1024
#: A client that sends nothing for this long is dropped (the connection closes; the upload is discarded).
IDLE_TIMEOUT_S = 120.0

_READERS = ThreadPoolExecutor(max_workers=MAX_READERS, thread_name_prefix="modelyard-body")
_slots = threading.BoundedSemaphore(MAX_READERS)
#: Large bodies by how they were read, for /metrics: "socket" (the fast path) or "asgi" (no free reader thread).
counts = {"socket": 0, "asgi": 0}


def uvicorn_cycle(scope: Scope) -> Any | None:
    """uvicorn's request/response cycle behind this request (its raw ``send`` is a bound method of it, kept in
    the scope by ``HubStarlette``), or None on any other server. Downloads use it for sendfile(2)."""
    return getattr(scope.get("modelyard.send"), "__self__", None)


def _fast_source(request: Request) -> tuple[Any, int] | None:
    """(cycle, socket fd) when this request's body may be read from the socket directly, else None."""
    cycle: Any = uvicorn_cycle(request.scope)
    if type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl":
        return None
    transport = getattr(cycle, "transport", None)
    if transport is None or transport.is_closing() or transport.get_extra_info("sslcontext") is not None:
        return None
    if "transfer-encoding" in request.headers or not getattr(cycle, "more_body", False):
        return None
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) - len(cycle.body) < MIN_FAST:
        return None
    sock = transport.get_extra_info("socket")
    fd = sock.fileno() if sock is not None else -1
    return (cycle, fd) if fd >= 0 else None


def body_chunks(request: Request, batch: int = BATCH) -> AsyncIterator[bytes]:
    """The request body as an async iterator of chunks: batches of ``batch`` bytes read from the socket where
    possible (see the module doc), else ``request.stream()``. Raises ``ClientDisconnect`` if the client goes away.
    Memory per body: the batch being read and the one the consumer holds."""
    found = _fast_source(request)
    if found is None:
        return request.stream()
    cycle, fd = found
    return _socket_chunks(request, cycle, fd, int(request.headers["content-length"]), batch)


async def _socket_chunks(
    request: Request, cycle: Any, fd: int, length: int, batch_size: int
) -> AsyncIterator[bytes]:
    sock = cycle.transport.get_extra_info("socket")
    if not _slots.acquire(blocking=False):  # taken here, not before: a generator never started never releases
        counts["asgi"] += 1
        async for chunk in request.stream():
            yield chunk
        return
    counts["socket"] += 1
    try:
        cycle.flow.pause_reading()  # no more bytes for the parser: the rest of the body is ours
        cycle.keep_alive = False  # the parser is out of step from here: close after the response
        if cycle.waiting_for_100_continue:  # what uvicorn's first receive() would have sent
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        head = bytes(cycle.body)
        cycle.body = bytearray()
        remaining = length - len(head)
        if head:
            yield head
        loop = asyncio.get_running_loop()
        while remaining > 0:
            batch = await loop.run_in_executor(_READERS, _read, sock, fd, min(batch_size, remaining))
            remaining -= len(batch)
            yield batch  # type: ignore[misc]  # a bytearray: every consumer takes bytes-like data
    finally:
        _slots.release()
        # a later receive() (a response that listens for disconnects) gets the end of the body at once
        cycle.more_body = False
        cycle.message_event.set()


def _read(sock: Any, fd: int, n: int) -> bytearray:
    """Exactly ``n`` bytes from the non-blocking socket ``fd``, waiting with poll(2); ClientDisconnect on EOF,
    reset or ``IDLE_TIMEOUT_S`` without data. ``SO_RCVLOWAT`` makes poll wait for ``LOWAT`` bytes (or the batch's
    rest), so each wake-up reads a large piece: a few hundred system calls and GIL hand-offs per GB, not ~16,000."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    lowat = 0
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    try:
        while got < n:
            want = min(LOWAT, n - got)
            if want != lowat:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
                lowat = want
            try:
                k = os.readv(fd, [view[got:]])
            except (BlockingIOError, InterruptedError):
                if not poller.poll(IDLE_TIMEOUT_S * 1000):
                    raise ClientDisconnect(f"no data for {IDLE_TIMEOUT_S:.0f} s") from None
                continue
            except OSError as e:  # reset, closed under us
                raise ClientDisconnect(str(e)) from None
            if k == 0:
                raise ClientDisconnect("the client closed the connection mid-body")
            got += k
    finally:
        view.release()
    return buf
