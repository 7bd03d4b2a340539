"""Server-Sent Events, one way for every stream of the hub: the API's log streams (Spaces, jobs), a job's
progress/status events, and the web pages' EventSource streams of the same.

Shapes (huggingface_hub reads only lines starting `data: {`; a browser EventSource reads named events too):
- a log line: `data: {"data": "<line>", "timestamp": "<ISO>"}`;
- a job's progress: `event: progress` + `data: {json}`; its stage: `event: status` + `data: {"stage", "message"}`;
- `: keep-alive` comments during silence; web streams (`page=True`) open with a `: stream` comment (the browser
  sees the response start at once) and end with `event: end` (so the page stops reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from modelyard.spaces.logs import LogBook

HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # streams of private logs: never cached
KEEP_ALIVE = b": keep-alive\n\n"
OPEN = b": stream\n\n"
END = b"event: end\ndata: {}\n\n"


def event(data: Any, name: str | None = None) -> bytes:
    """One event; `data` is JSON-encoded unless it is already a JSON text (bytes or str)."""
    payload = data if isinstance(data, str | bytes) else json.dumps(data, ensure_ascii=False)
    body = payload.encode() if isinstance(payload, str) else payload
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + body + b"\n\n"


async def keepalive(source: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """The source's chunks, with a keep-alive comment after each `seconds` of silence; closes the source."""
    it = source.__aiter__()
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=seconds)
            if not done:
                yield KEEP_ALIVE
                continue
            task, pending = pending, None
            try:
                chunk = task.result()
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(BaseException):
            await it.aclose()  # type: ignore[attr-defined]


def response(source: AsyncIterator[bytes], keepalive_seconds: float, head_only: bool = False) -> Response:
    """The `text/event-stream` response (a HEAD request gets the headers only)."""
    if head_only:
        return Response(media_type="text/event-stream", headers=HEADERS)
    return StreamingResponse(
        keepalive(source, keepalive_seconds), media_type="text/event-stream", headers=HEADERS
    )


async def log_lines(
    book: LogBook | None, tail: int | None = None, page: bool = False
) -> AsyncIterator[bytes]:
    """A log's lines kept so far (`tail`: only the last N), then new ones until the log closes."""
    if page:
        yield OPEN
    if book is not None:
        skip = max(0, len(book.snapshot()) - tail) if tail is not None else 0
        async for line in book.follow(follow=True):
            if skip:
                skip -= 1
                continue
            yield event({"data": line.data, "timestamp": line.timestamp})
    if page:
        yield END


async def job_events(
    stage_of: Callable[[], tuple[str, str | None]],
    first: tuple[str, str | None],
    book: LogBook | None,
    terminal: frozenset[str],
    poll: float = 1.0,
    page: bool = False,
) -> AsyncIterator[bytes]:
    """A job's progress events (each line of `book` is one JSON object; history first) and its stage changes
    (`first`, then each change seen by polling `stage_of` (sync) every `poll` seconds). Ends once the job ended
    and its progress is drained (a progress log never opened, or left open: after 3 polls)."""
    if page:
        yield OPEN
    last = first
    yield event({"stage": last[0], "message": last[1]}, "status")
    lines = book.follow(follow=True).__aiter__() if book is not None else None
    pending: asyncio.Task[Any] | None = None
    drained = lines is None
    ended = 0  # polls that found the job ended
    try:
        while True:
            if lines is not None and not drained and pending is None:
                pending = asyncio.ensure_future(lines.__anext__())
            if pending is not None:
                done, _ = await asyncio.wait({pending}, timeout=poll)
                if done:
                    task, pending = pending, None
                    try:
                        line = task.result()
                    except StopAsyncIteration:
                        drained = True
                    else:
                        data = str(line.data).strip()
                        with contextlib.suppress(ValueError):
                            if isinstance(json.loads(data), dict):
                                yield event(data, "progress")
                        continue
            else:
                await asyncio.sleep(poll)
            cur = await run_in_threadpool(stage_of)
            if cur != last:
                last = cur
                yield event({"stage": last[0], "message": last[1]}, "status")
            if last[0] in terminal:
                ended += 1
                if drained or (book is not None and book.closed) or ended > 2:
                    break
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        if lines is not None:
            with contextlib.suppress(BaseException):
                await lines.aclose()  # type: ignore[attr-defined]
    if page:
        yield END
