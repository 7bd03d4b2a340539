"""gzip for the web UI's HTML pages only. Wraps each web page route (server/web/__init__.py), so file downloads
(/resolve, the API, LFS and Xet transfers, static files) never pass through it; and even here only responses
with a `text/html` content type and no Content-Encoding of their own are compressed.

Pages of logged-in browsers (with the session cookie) are sent uncompressed: they hold the session's CSRF token
next to text the request chose (a search query), and compressing both together would let a network observer
guess the token from response sizes (BREACH). Anonymous pages carry no such secret."""

from __future__ import annotations

import gzip
import zlib

from anyio import to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.server.context import LOGIN_COOKIE

MIN_SIZE = 1024  # smaller pages are sent as they are
THREAD_OVER = 256 * 1024  # compress bigger bodies off the event loop


def _has_session(headers: Headers) -> bool:
    return any(c.strip().startswith(LOGIN_COOKIE + "=") for c in headers.get("cookie", "").split(";"))


class HtmlGZip:
    def __init__(self, app: ASGIApp, level: int = 6) -> None:
        self.app = app
        self.level = level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "HEAD":
            await self.app(scope, receive, send)
            return
        req = Headers(scope=scope)
        accepts = "gzip" in req.get("accept-encoding", "").lower() and not _has_session(req)
        start: Message | None = None
        stream: zlib._Compress | None = None
        passthrough = False

        async def wrapped(message: Message) -> None:
            nonlocal start, stream, passthrough
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                html = headers.get("content-type", "").startswith("text/html")
                passthrough = not (html and accepts) or "content-encoding" in headers
                if html and not passthrough:
                    start = message  # held until the first body part says whether more follow
                else:
                    if html:
                        MutableHeaders(raw=message["headers"]).add_vary_header("Accept-Encoding")
                    await send(message)
                return
            if message["type"] != "http.response.body" or passthrough:
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            if start is not None:  # the first body part
                head, start = start, None
                headers = MutableHeaders(raw=head["headers"])
                headers.add_vary_header("Accept-Encoding")
                if not more and len(body) < MIN_SIZE:
                    await send(head)
                    await send(message)
                    passthrough = True
                    return
                headers["Content-Encoding"] = "gzip"
                if not more:  # the whole page at once (every HTMLResponse)
                    if len(body) > THREAD_OVER:
                        data = await to_thread.run_sync(gzip.compress, body, self.level)
                    else:
                        data = gzip.compress(body, self.level)
                    headers["Content-Length"] = str(len(data))
                    await send(head)
                    await send({"type": "http.response.body", "body": data})
                    return
                del headers["Content-Length"]
                stream = zlib.compressobj(self.level, zlib.DEFLATED, 31)  # 31: gzip wrapper
                await send(head)
            assert stream is not None
            data = stream.compress(body) + (stream.flush(zlib.Z_SYNC_FLUSH) if more else stream.flush())
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await self.app(scope, receive, wrapped)
