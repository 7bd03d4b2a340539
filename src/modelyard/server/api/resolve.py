"""File downloads: /[type/]ns/name/resolve/rev/path (HEAD + GET, Range -> 206), streamed in large chunks."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from modelyard.errors import EntryNotFound, RangeNotSatisfiable
from modelyard.hub.revisions import FileEntry
from modelyard.server.api._common import base_url, download_principal, get_repo, services
from modelyard.server.routing import REV, Router
from modelyard.server.xet_routes import xet_refresh_route, xet_resolve_headers
from modelyard.types import RepoType

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
COUNTED = {"config.json", "README.md", "model_index.json"}


class BlobResponse(Response):
    """Streams [start, end) of a local file with pread, in chunks the transport's flow control paces."""

    def __init__(
        self, path: str, start: int, end: int, status: int, headers: dict[str, str], chunk: int
    ) -> None:
        super().__init__(status_code=status, headers=headers)
        self.path, self.start, self.end, self.chunk = path, start, end, chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD" or self.end <= self.start:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if await _zero_copy(scope, fd, self.start, self.end - self.start):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            pos = self.start
            while pos < self.end:
                n = min(self.chunk, self.end - pos)
                data = os.pread(fd, n, pos)
                if not data:
                    break
                pos += len(data)
                await send({"type": "http.response.body", "body": data, "more_body": pos < self.end})
        finally:
            os.close(fd)


async def _zero_copy(scope: Scope, fd: int, offset: int, count: int) -> bool:
    """sendfile(2) straight to the client socket when the server exposes its transport (uvicorn + asyncio loop).

    The raw ASGI `send` of uvicorn is a bound method of its request cycle, which holds the transport and the
    Content-Length bookkeeping; HubStarlette stores it in the scope. Anything else falls back to pread + send.
    """
    cycle = getattr(scope.get("modelyard.send"), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not isinstance(getattr(cycle, "expected_content_length", None), int):
        return False
    if getattr(cycle, "chunked_encoding", True) or transport.get_extra_info("sslcontext") is not None:
        return False
    loop = asyncio.get_running_loop()
    with os.fdopen(os.dup(fd), "rb") as f:
        try:
            sent = await loop.sendfile(transport, f, offset, count, fallback=False)
        except (asyncio.SendfileNotAvailableError, NotImplementedError, TypeError):
            return False
    if sent != count:
        raise ConnectionError(f"sendfile sent {sent} of {count} bytes")
    cycle.expected_content_length -= count  # type: ignore[union-attr]
    return True


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end_exclusive) for a single 'bytes=' range, None for no/ignored range; 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    a, b = m.group(1), m.group(2)
    if not a:
        n = int(b)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"Range {header} not satisfiable for size {size}")
        return max(0, size - n), size
    start = int(a)
    end = min(int(b) + 1, size) if b else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"Range {header} not satisfiable for size {size}")
    return start, end


def file_headers(sha: str, e: FileEntry) -> dict[str, str]:
    etag = e.sha256 if e.lfs else e.oid
    h = {
        "X-Repo-Commit": sha,
        "ETag": f'"{etag}"',
        "Accept-Ranges": "bytes",
        "Content-Type": mimetypes.guess_type(e.path)[0] or "application/octet-stream",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(e.path.rsplit('/', 1)[-1])}",
        "Cache-Control": "private, max-age=0, must-revalidate" if len(sha) == 40 else "no-cache",
    }
    if e.lfs:
        h["X-Linked-Etag"] = f'"{e.sha256}"'
        h["X-Linked-Size"] = str(e.size)
    return h


def _lookup(
    request: Request, rtype: RepoType, ns: str, name: str, rev: str, path: str
) -> tuple[Any, str, FileEntry]:
    svc = services(request)
    repo = svc.repos.get(rtype, ns, name, download_principal(request))
    sha = svc.files.resolve_rev(repo, rev)
    try:
        entry = svc.files.file(repo, sha, path)
    except EntryNotFound:
        raise EntryNotFound(
            f"Entry not found: {path} does not exist at revision {rev}", repo_commit=sha
        ) from None
    return repo, sha, entry


async def resolve(
    request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    svc = services(request)
    rtype = {None: RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}[prefix]
    repo, sha, entry = await run_in_threadpool(_lookup, request, rtype, ns, name, rev, path)
    headers = file_headers(sha, entry)
    blob_path = svc.store.local_path(entry.sha256)
    xet_hash = await run_in_threadpool(svc.xet.lookup_by_sha256, entry.sha256) if entry.lfs else None
    if xet_hash is not None:
        refresh = xet_refresh_route(base_url(request), rtype.value, repo.id_str, quote(sha, safe=""))
        headers.update(xet_resolve_headers(xet_hash, refresh))
    if blob_path is None and xet_hash is None:
        from modelyard.errors import BlobNotFound

        raise BlobNotFound(f"Content of {path} is missing from storage")
    rng = parse_range(request.headers.get("range"), entry.size)
    if request.method == "GET" and path in COUNTED and rng is None:
        await run_in_threadpool(svc.repos.add_download, repo.id)
    start, end = rng if rng is not None else (0, entry.size)
    status = 200 if rng is None else 206
    headers["Content-Length"] = str(end - start)
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    if blob_path is not None:
        return BlobResponse(blob_path, start, end, status, headers, svc.settings.download_chunk_size)
    assert xet_hash is not None
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    xfile = await run_in_threadpool(svc.xet.open_file, xet_hash)
    return StreamingResponse(xfile.iter_bytes(start, end), status_code=status, headers=headers)


async def lfs_object(request: Request, rtype: str, ns: str, name: str, oid: str) -> Response:
    svc = services(request)
    repo = await run_in_threadpool(get_repo, request, RepoType.parse(rtype).plural, ns, name)
    size = await run_in_threadpool(svc.files.lfs_known, repo, oid)
    path = svc.store.local_path(oid) if size is not None else None
    if path is None or size is None:
        raise EntryNotFound(f"LFS object {oid} not found")
    return BlobResponse(path, 0, size, 200, {"Content-Length": str(size)}, svc.settings.download_chunk_size)


def register(r: Router) -> None:
    r.add(
        "GET",
        rf"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/{REV}/(?P<path>.+)",
        resolve,
    )
    r.add(
        "GET",
        r"/lfs-objects/(?P<rtype>model|dataset|space)/(?P<ns>[^/]+)/(?P<name>[^/]+)/(?P<oid>[0-9a-f]{64})",
        lfs_object,
    )
