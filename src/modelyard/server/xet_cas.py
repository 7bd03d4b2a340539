"""The CAS HTTP API as a Starlette sub-app (mount it at ``/xet-cas``).

Endpoints (see docs/xet-protocol.md): reconstructions (v1 and v2), global dedupe, xorb uploads (direct, and
through upload grants), shard uploads (v1 JSON and v2 NDJSON progress stream), signed xorb byte ranges,
telemetry. ``hf_xet`` tries the v2 routes and grants first; they are served, so no transfer depends on a
fallback after a 404 (shapes: design/hub-protocol-2.md §9.1).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import BinaryIO, NoReturn

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from modelyard.errors import HubError
from modelyard.server.errors import EXCEPTION_HANDLERS
from modelyard.server.raw_body import body_chunks
from modelyard.storage.ingest import pipe_to_writer
from modelyard.xet.auth import Claims, Scope
from modelyard.xet.errors import XetFormatError, XetNotFound, XetRangeError, XetTokenError
from modelyard.xet.hashes import is_hex_hash
from modelyard.xet.service import XetService
from modelyard.xet.shard import MAX_SHARD_BYTES
from modelyard.xet.xorb import MAX_XORB_UPLOAD

Handler = Callable[[Request], Awaitable[Response]]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_STREAM_BLOCK = 64 * 1024  # one block per send: a stalled reader holds at most this
_HEARTBEAT_S = 15.0  # /v2/shards re-sends its last frame this often while verifying (hf_xet's read timeout)
_GRANT_BODY = 64 * 1024
#: A xorb upload in flight holds about two of these. XorbStream passes each batch on uncopied, and at >= the blob
#: writer's 4 MiB flush size the writer does not copy it into its buffer either: ~0.5 hub CPU s/GB less than 1 MiB
#: batches on this VM (fresh buffer memory is costly here), peak RSS unchanged (docs/benchmarks.md).
_XORB_BATCH = 4 * 1024 * 1024 + 256 * 1024
#: Xorb bodies received at once (each <= ~13 MB of buffers); more would not be faster on 2 cores.
_XORB_INGESTS = 4
log = logging.getLogger("modelyard.xet")


def _frame(event: dict[str, object]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


class CasError(HubError):
    """An error answered by a CAS handler itself (the app's exception handlers put it in the Hub's format)."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code or {403: "Forbidden", 404: "NotFound"}.get(status, "Error")


def _error(status: int, message: str, code: str = "") -> NoReturn:
    raise CasError(status, message, code)


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


def _claims(svc: XetService, request: Request, need: Scope) -> Claims:
    """The verified token of a request: handlers use it to bind reads and uploads to the token's repo."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise XetTokenError("missing Bearer token")
    return svc.verify_token(token.strip(), need)


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


def _xorb_body(request: Request) -> AsyncIterator[bytes]:
    """The body of a xorb upload, as it arrives: in ``_XORB_BATCH`` pieces straight from the socket where the
    server allows it (server/raw_body.py), else through ASGI. The one place the xorb routes read it."""
    return body_chunks(request, _XORB_BATCH)


async def _ingest_xorb(
    svc: XetService,
    slots: asyncio.Semaphore,
    request: Request,
    xorb_hex: str,
    limit: int,
    exact: bool = False,
) -> bool:
    """Stream a xorb body into the store, parsed and verified chunk by chunk as it arrives (memory: about two
    batches, not the body); ``was_inserted``. With ``exact``, the body must be exactly ``limit`` bytes.
    At most ``_XORB_INGESTS`` at once (``slots``): the others wait with their bytes in the kernel's socket
    buffers, so the memory of uploads does not grow with the client's concurrency."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise XetFormatError(f"body of {declared} bytes exceeds the limit of {limit}")
    async with slots:
        ingest = await run_in_threadpool(svc.xorb_ingest, xorb_hex, limit)
        try:
            await pipe_to_writer(_xorb_body(request), ingest, _XORB_BATCH)
            if exact and ingest.received != limit:
                raise XetFormatError(f"the grant is for {limit} bytes, {ingest.received} arrived")
            return await run_in_threadpool(ingest.commit)
        except BaseException:
            ingest.abort()
            raise


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
    ingest_slots = asyncio.Semaphore(_XORB_INGESTS)

    def authed(need: Scope, fn: Handler) -> Handler:
        """Only with a valid CAS token of scope `need`: 401 otherwise, so that hf_xet refreshes its token."""

        async def handler(request: Request) -> Response:
            _claims(svc, request, need)
            return await fn(request)

        return handler

    async def reconstruction(request: Request) -> Response:
        file_hex = _hex_param(request, "file_id")
        rec = await run_in_threadpool(svc.readable_file, _claims(svc, request, "read"), file_hex)
        rng = _parse_range(request.headers.get("range"), rec.size) if rec.size else None
        start, end = rng if rng else (0, rec.size)
        body = await run_in_threadpool(svc.reconstruction, file_hex, _cas_base(request), start, end)
        return JSONResponse(body)

    async def batch_reconstruction(request: Request) -> Response:
        ids = [v.lower() for v in request.query_params.getlist("file_id")]
        if not all(is_hex_hash(i) for i in ids):
            raise XetFormatError("malformed file_id")
        claims = _claims(svc, request, "read")
        files: dict[str, object] = {}
        fetch: dict[str, object] = {}
        for i in ids:
            try:
                # a file the token's repo does not hold is left out, like an unknown one
                await run_in_threadpool(svc.readable_file, claims, i)
                one = await run_in_threadpool(svc.reconstruction, i, _cas_base(request))
            except XetNotFound:
                continue
            files[i] = one["terms"]
            fetch.update(one["fetch_info"])  # type: ignore[call-overload]
        return JSONResponse({"files": files, "fetch_info": fetch})

    async def reconstruction_v2(request: Request) -> Response:
        file_hex = _hex_param(request, "file_id")
        rec = await run_in_threadpool(svc.readable_file, _claims(svc, request, "read"), file_hex)
        try:
            rng = _parse_range(request.headers.get("range"), rec.size) if rec.size else None
        except XetRangeError:  # hf_xet reads 416 as "no data in that range"
            return Response(status_code=416, headers={"content-range": f"bytes */{rec.size}"})
        start, end = rng if rng else (0, rec.size)
        body = await run_in_threadpool(svc.reconstruction_v2, file_hex, _cas_base(request), start, end)
        return JSONResponse(body)

    async def post_shard_v2(request: Request) -> Response:
        """200 and an NDJSON progress stream; the outcome is the last frame (``result`` or ``error``)."""
        claims = _claims(svc, request, "write")
        data = await _read_body(request, MAX_SHARD_BYTES)

        async def frames() -> AsyncIterator[bytes]:
            last = _frame({"type": "validating", "verified": 0, "total": 1})
            yield last
            task = asyncio.ensure_future(run_in_threadpool(svc.put_shard, data, claims))
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=_HEARTBEAT_S)
                if not done:
                    yield last  # heartbeat: verifying a large file's sha256 takes a while
            try:
                new = task.result()
            except HubError as e:
                yield _frame({"type": "error", "message": e.message, "retryable": e.status >= 500})
                return
            except Exception:
                log.exception("shard registration failed")
                yield _frame({"type": "error", "message": "internal error", "retryable": True})
                return
            yield _frame({"type": "validating", "verified": 1, "total": 1})
            yield _frame({"type": "committing", "stage": "syncing"})
            yield _frame({"type": "result", "result": 1 if new else 0})

        return StreamingResponse(frames(), media_type="application/x-ndjson")

    async def xorb_grant(request: Request) -> Response:
        """201 and a grant to upload a new xorb; 200 when it is already stored."""
        xorb_hex = _hex_param(request, "hash")
        raw = await _read_body(request, _GRANT_BODY)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise XetFormatError("grant request body must be JSON") from None
        length = body.get("length") if isinstance(body, dict) else None
        if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= MAX_XORB_UPLOAD:
            raise XetFormatError(f"'length' must be an integer between 1 and {MAX_XORB_UPLOAD}")
        stored = await run_in_threadpool(svc.has_xorb, xorb_hex)
        svc.announce_xorb(_claims(svc, request, "write"), xorb_hex, stored)
        if stored:
            return JSONResponse({"was_inserted": False})
        grant = svc.grant_xorb_upload(_cas_base(request), xorb_hex, length)
        return JSONResponse(grant, status_code=201)

    async def xorb_upload(request: Request) -> Response:
        """The grant's upload URL: the signed grant id is the only credential; the bytes must hash to the xorb."""
        xorb_hex = _hex_param(request, "hash")
        length = svc.check_grant(xorb_hex, request.query_params.get("grant", ""))
        if length is None:
            return _error(403, "invalid or expired upload grant")
        if await run_in_threadpool(svc.has_xorb, xorb_hex):
            return Response(status_code=412)  # already uploaded: hf_xet goes on to the commit
        await _ingest_xorb(svc, ingest_slots, request, xorb_hex, length, exact=True)
        return Response(status_code=200)

    async def xorb_commit(request: Request) -> Response:
        xorb_hex = _hex_param(request, "hash")
        if svc.check_grant(xorb_hex, str(request.path_params["grant"])) is None:
            return _error(403, "invalid or expired upload grant")
        if not await run_in_threadpool(svc.has_xorb, xorb_hex):
            return _error(404, "no uploaded data for this grant")
        return JSONResponse({"was_inserted": True})

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
        svc.announce_xorb(_claims(svc, request, "write"), xorb_hex)
        inserted = await _ingest_xorb(svc, ingest_slots, request, xorb_hex, MAX_XORB_UPLOAD)
        return JSONResponse({"was_inserted": inserted})

    async def post_shard(request: Request) -> Response:
        data = await _read_body(request, MAX_SHARD_BYTES)
        new = await run_in_threadpool(svc.put_shard, data, _claims(svc, request, "write"))
        return JSONResponse({"result": 1 if new else 0})

    async def xorb_data(request: Request) -> Response:
        xorb_hex = _hex_param(request, "hash")
        q = request.query_params
        window = svc.check_xorb_url(xorb_hex, q.get("r", ""), q.get("exp", ""), q.get("sig", ""))
        if window is None:
            return _error(403, "invalid or expired signature")
        f, size = await run_in_threadpool(svc.open_xorb_bytes, xorb_hex)
        lo, hi = window[0], min(window[1] + 1, size)  # the signed bytes, [lo, hi)
        try:
            rng = _parse_range(request.headers.get("range"), size)
        except XetRangeError:
            f.close()
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        start, end = rng if rng else (lo, hi)
        if start < lo or end > hi:
            f.close()
            return _error(403, "the requested range is outside the range this URL was signed for")
        headers = {"content-length": str(end - start), "accept-ranges": "bytes"}
        status = 200
        if rng or (start, end) != (0, size):
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
        file_hex = _hex_param(request, "file_id")
        try:
            rec = await run_in_threadpool(svc.readable_file, _claims(svc, request, "read"), file_hex)
        except XetNotFound:
            return Response(status_code=404)
        return Response(status_code=200, headers={"content-length": "0", "x-xet-file-size": str(rec.size)})

    read: Scope = "read"
    write: Scope = "write"
    routes = [
        Route("/v1/reconstructions/{file_id}", authed(read, reconstruction), methods=["GET"]),
        Route("/v1/reconstructions", authed(read, batch_reconstruction), methods=["GET"]),
        Route("/v2/reconstructions/{file_id}", authed(read, reconstruction_v2), methods=["GET"]),
        Route("/v1/chunks/{prefix}/{hash}", authed(read, chunk_dedup), methods=["GET"]),
        Route("/v1/xorbs/{prefix}/{hash}", authed(read, head_xorb), methods=["HEAD"]),
        Route("/v1/xorbs/{prefix}/{hash}", authed(write, post_xorb), methods=["POST"]),
        Route("/v1/xorb-grants/{prefix}/{hash}", authed(write, xorb_grant), methods=["POST"]),
        Route("/v1/xorb-uploads/{prefix}/{hash}", xorb_upload, methods=["PUT"]),
        Route("/v1/xorb-commits/{prefix}/{hash}/grant/{grant}", authed(write, xorb_commit), methods=["POST"]),
        Route("/v1/shards", authed(write, post_shard), methods=["POST"]),
        Route("/v2/shards", authed(write, post_shard_v2), methods=["POST"]),
        Route("/v1/files/{file_id}", authed(read, head_file), methods=["HEAD"]),
        Route("/v1/xorb-data/{prefix}/{hash}", xorb_data, methods=["GET"]),
        Route("/v1/telemetry", telemetry, methods=["POST"]),
    ]
    # HubErrors (and anything unexpected) become the Hub's error format (server/errors.py)
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
