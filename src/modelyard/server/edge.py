"""Request-edge checks before any route runs: control characters in the path (400) and oversized request heads (431).

``EdgeGuard`` is the outermost app middleware, before any routing (a Starlette ``Mount`` does not even match a
path holding a newline); it answers in the Hub's error format (``error_response``, with an ``X-Request-Id``) for
every front: API, downloads, web pages, the Xet CAS, inference endpoints.
``limited_httptools_protocol`` is the uvicorn protocol ``modelyard serve`` runs: it stops buffering a request head
past the limit (httptools itself has none) and answers 431 itself, so a client cannot make the server hold
megabytes of headers.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.errors import BadRequest, HeadersTooLarge, TooLarge
from modelyard.server.errors import error_response

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def path_error(scope: Scope) -> BadRequest | None:
    """A control character or NUL in the decoded path (or the raw one) is refused: such bytes would end up in
    file lookups, logs and the X-Error-Message header (which the server cannot send, so it dropped the connection)."""
    raw = scope.get("raw_path") or b""
    if _CONTROL.search(scope.get("path", "")) or _CONTROL.search(raw.decode("latin-1")):
        return BadRequest("Invalid request path: control characters are not allowed")
    return None


def head_size(scope: Scope) -> int:
    """Bytes of the request line and headers, as sent (approximately: separators counted once each)."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 16
    return size + sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or [])


class EdgeGuard:
    def __init__(self, app: ASGIApp, max_header_size: int) -> None:
        self.app = app
        self.max_header_size = max_header_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            exc: BadRequest | HeadersTooLarge | None = None
            if head_size(scope) > self.max_header_size:
                exc = HeadersTooLarge(f"Request headers are larger than {self.max_header_size} bytes")
            else:
                exc = path_error(scope)
            if exc is not None:
                await error_response(Request(scope), exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _431(limit: int) -> bytes:
    message = f"Request headers are larger than {limit} bytes"
    body = json.dumps({"error": message}).encode()
    head = [
        b"HTTP/1.1 431 Request Header Fields Too Large",
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"x-error-code: " + HeadersTooLarge.code.encode(),
        b"x-error-message: " + message.encode(),
        b"x-request-id: " + uuid.uuid4().hex.encode(),
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def limited_httptools_protocol(max_header_size: int) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing with a 431 once a request head passes `max_header_size` bytes."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class LimitedHttpToolsProtocol(HttpToolsProtocol):
        _in_head = True
        _head_bytes = 0

        def on_message_begin(self) -> None:
            self._in_head, self._head_bytes = True, 0
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._in_head or self.transport.is_closing():
                return
            self._head_bytes += len(data)
            if self._head_bytes > max_header_size:
                self.transport.write(_431(max_header_size))
                self.transport.close()

    return LimitedHttpToolsProtocol


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refused with a 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"Request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"Request body is larger than {limit} bytes")
    return bytes(body)
