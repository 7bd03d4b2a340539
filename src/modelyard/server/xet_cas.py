"""The CAS HTTP API as a Starlette sub-app (mount it at ``/xet-cas``).

Endpoints (see docs/xet-protocol.md): reconstructions (v1), global dedupe, xorb and shard uploads, signed
xorb byte ranges, telemetry. The v2 variants and xorb upload grants answer 404 so that ``hf_xet`` falls
back to the v1 calls.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import BinaryIO

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from modelyard.errors import HubError
from modelyard.xet.auth import Scope
from modelyard.xet.errors import XetFormatError, XetNotFound, XetRangeError
from modelyard.xet.hashes import is_hex_hash
from modelyard.xet.service import XetService
from modelyard.xet.shard import MAX_SHARD_BYTES
from modelyard.xet.xorb import MAX_XORB_UPLOAD

Handler = Callable[[Request], Awaitable[Response]]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_STREAM_BLOCK = 1024 * 1024


def _error(status: int, message: str, code: str = "") -> JSONResponse:
    headers = {"X-Error-Message": message[:500]}
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _cas_base(request: Request) -> str:
    """Absolute URL of this CAS app (``root_path`` includes the mount prefix)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


def _hex_param(request: Request, name: str) -> str:
    value = str(request.path_params[name]).lower()
    if not is_hex_hash(value):
        raise XetFormatError(f"malformed hash {value!r}")
    return value


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` from a single ``bytes=`` range, None when absent. Raises XetRangeError when unusable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise XetRangeError(f"unsupported Range header {header!r}")
    if not m.group(1):
        n = int(m.group(2))
        return max(0, size - n), size
    start = int(m.group(1))
    end = int(m.group(2)) + 1 if m.group(2) else size
    if start >= size or end <= start:
        raise XetRangeError(f"range {header!r} not satisfiable for size {size}")
    return start, min(end, size)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise XetFormatError(f"body of {declared} bytes exceeds the limit of {limit}")
    buf = bytearray()
    async for part in request.stream():
        buf += part
        if len(buf) > limit:
            raise XetFormatError(f"body exceeds the limit of {limit} bytes")
    return bytes(buf)


def _iter_file_range(f: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    try:
        f.seek(start)
        left = end - start
        while left > 0:
            data = f.read(min(_STREAM_BLOCK, left))
            if not data:
                raise OSError("stored xorb is truncated")
            left -= len(data)
            yield data
    finally:
        f.close()


def create_cas_app(svc: XetService) -> Starlette:
    def authed(need: Scope, fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token:
                    return _error(401, "missing Bearer token", "XetTokenInvalid")
                svc.verify_token(token.strip(), need)
                return await fn(request)
            except HubError as e:
                return _error(e.status, e.message, e.code)

        return handler

    async def reconstruction(request: Request) -> Response:
        file_hex = _hex_param(request, "file_id")
        rec = await run_in_threadpool(svc.index.get_file, file_hex)
        if rec is None:
            raise XetNotFound(f"file {file_hex} not found")
        rng = _parse_range(request.headers.get("range"), rec.size) if rec.size else None
        start, end = rng if rng else (0, rec.size)
        body = await run_in_threadpool(svc.reconstruction, file_hex, _cas_base(request), start, end)
        return JSONResponse(body)

    async def batch_reconstruction(request: Request) -> Response:
        ids = [v.lower() for v in request.query_params.getlist("file_id")]
        if not all(is_hex_hash(i) for i in ids):
            raise XetFormatError("malformed file_id")
        files: dict[str, object] = {}
        fetch: dict[str, object] = {}
        for i in ids:
            try:
                one = await run_in_threadpool(svc.reconstruction, i, _cas_base(request))
            except XetNotFound:
                continue
            files[i] = one["terms"]
            fetch.update(one["fetch_info"])  # type: ignore[call-overload]
        return JSONResponse({"files": files, "fetch_info": fetch})

    async def not_available(_request: Request) -> Response:
        return _error(404, "not implemented by this CAS; use the v1 API")

    async def chunk_dedup(request: Request) -> Response:
        chunk_hex = _hex_param(request, "hash")
        shard = await run_in_threadpool(svc.dedup_shard, chunk_hex)
        if shard is None:
            return _error(404, "chunk not tracked by global dedupe")
        return Response(shard, media_type="application/octet-stream")

    async def head_xorb(request: Request) -> Response:
        found = await run_in_threadpool(svc.has_xorb, _hex_param(request, "hash"))
        return Response(status_code=200 if found else 404, headers={"content-length": "0"})

    async def post_xorb(request: Request) -> Response:
        xorb_hex = _hex_param(request, "hash")
        data = await _read_body(request, MAX_XORB_UPLOAD)
        inserted = await run_in_threadpool(svc.put_xorb, xorb_hex, data)
        return JSONResponse({"was_inserted": inserted})

    async def post_shard(request: Request) -> Response:
        data = await _read_body(request, MAX_SHARD_BYTES)
        new = await run_in_threadpool(svc.put_shard, data)
        return JSONResponse({"result": 1 if new else 0})

    async def xorb_data(request: Request) -> Response:
        xorb_hex = _hex_param(request, "hash")
        q = request.query_params
        if not svc.check_xorb_url(xorb_hex, q.get("exp", ""), q.get("sig", "")):
            return _error(403, "invalid or expired signature")
        f, size = await run_in_threadpool(svc.open_xorb_bytes, xorb_hex)
        try:
            rng = _parse_range(request.headers.get("range"), size)
        except XetRangeError:
            f.close()
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        start, end = rng if rng else (0, size)
        headers = {"content-length": str(end - start), "accept-ranges": "bytes"}
        status = 200
        if rng:
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        return StreamingResponse(
            _iter_file_range(f, start, end),
            status_code=status,
            headers=headers,
            media_type="application/octet-stream",
        )

    async def telemetry(request: Request) -> Response:
        await _read_body(request, 1024 * 1024)
        return JSONResponse({})

    async def head_file(request: Request) -> Response:
        rec = await run_in_threadpool(svc.index.get_file, _hex_param(request, "file_id"))
        if rec is None:
            return Response(status_code=404)
        return Response(status_code=200, headers={"content-length": "0", "x-xet-file-size": str(rec.size)})

    def guarded(fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                return await fn(request)
            except HubError as e:
                return _error(e.status, e.message, e.code)

        return handler

    read: Scope = "read"
    write: Scope = "write"
    routes = [
        Route("/v1/reconstructions/{file_id}", authed(read, reconstruction), methods=["GET"]),
        Route("/v1/reconstructions", authed(read, batch_reconstruction), methods=["GET"]),
        Route("/v2/reconstructions/{file_id}", authed(read, not_available), methods=["GET"]),
        Route("/v1/chunks/{prefix}/{hash}", authed(read, chunk_dedup), methods=["GET"]),
        Route("/v1/xorbs/{prefix}/{hash}", authed(read, head_xorb), methods=["HEAD"]),
        Route("/v1/xorbs/{prefix}/{hash}", authed(write, post_xorb), methods=["POST"]),
        Route("/v1/xorb-grants/{prefix}/{hash}", authed(write, not_available), methods=["POST"]),
        Route("/v1/shards", authed(write, post_shard), methods=["POST"]),
        Route("/v2/shards", authed(write, not_available), methods=["POST"]),
        Route("/v1/files/{file_id}", authed(read, head_file), methods=["HEAD"]),
        Route("/v1/xorb-data/{prefix}/{hash}", guarded(xorb_data), methods=["GET"]),
        Route("/v1/telemetry", guarded(telemetry), methods=["POST"]),
    ]
    return Starlette(routes=routes)
