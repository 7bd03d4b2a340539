"""File downloads: /[type/]ns/name/resolve/rev/path (HEAD + GET, Range -> 206), streamed in large chunks."""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from modelyard.errors import EntryNotFound, RangeNotSatisfiable, RepoNotFound
from modelyard.hub.revisions import FileEntry
from modelyard.server.api._common import base_url, download_principal, get_repo, principal, services
from modelyard.server.raw_body import uvicorn_cycle
from modelyard.server.routing import REV, Router, try_cached
from modelyard.server.user_content import content_enabled, content_headers, signed_url, verify
from modelyard.server.xet_routes import xet_refresh_route, xet_resolve_headers
from modelyard.storage.hashing import lfs_pointer
from modelyard.types import RepoType

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
COUNTED = {"config.json", "README.md", "model_index.json"}


class BlobResponse(Response):
    """Streams [start, end) of a local file: sendfile(2) where the server allows it, else pread in small chunks.

    Memory per download stays bounded whatever the client's pace: sendfile copies in the kernel; the pread
    fallback holds one chunk (``download_chunk_size``, 64 KiB) while uvicorn's flow control waits for the socket
    to drain below its high-water mark (64 KiB) before the next write.
    """

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
            if self.end - self.start <= self.chunk:  # a small file (config.json): one read, one write
                data = os.pread(fd, self.end - self.start, self.start)
                await send({"type": "http.response.body", "body": data, "more_body": False})
                return
            if await _zero_copy(scope, fd, self.start, self.end - self.start):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            pos, chunk = self.start, max(4096, self.chunk)
            while pos < self.end:
                n = min(chunk, self.end - pos)
                data = os.pread(fd, n, pos)
                if not data:
                    break
                pos += len(data)
                await send({"type": "http.response.body", "body": data, "more_body": pos < self.end})
        finally:
            os.close(fd)


async def _count_download(svc: Any, repo_id: int) -> None:
    """Bump a repo's download counter: in memory, written in batches off the request path (Repos.flush_downloads,
    from the lifespan), so a full disk (507 on writes) never fails a read."""
    svc.repos.add_download(repo_id)


async def _zero_copy(scope: Scope, fd: int, offset: int, count: int) -> bool:
    """sendfile(2) straight to the client socket when the server exposes its transport (uvicorn + asyncio loop).

    The raw ASGI `send` of uvicorn is a bound method of its request cycle, which holds the transport and the
    Content-Length bookkeeping. Anything else falls back to pread + send.
    """
    cycle = uvicorn_cycle(scope)
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
        except RuntimeError:  # "Transport is closing": the client hung up before the first byte
            if not transport.is_closing():
                raise
            return True
        except (ConnectionError, TimeoutError):  # the client went away mid-file: drop the connection quietly
            transport.abort()
            await asyncio.sleep(0)  # let the protocol see connection_lost: later sends are then ignored
            return True
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
    """Metadata headers of a file download plus the user-content policy (server/user_content.py): nosniff, a
    sandboxing CSP, and active types (HTML, SVG, JS, ...) as an inert attachment."""
    etag = e.sha256 if e.lfs else e.oid
    h = {
        "X-Repo-Commit": sha,
        "ETag": f'"{etag}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=0, must-revalidate" if len(sha) == 40 else "no-cache",
        **content_headers(e.path),
    }
    if e.lfs:
        h["X-Linked-Etag"] = f'"{e.sha256}"'
        h["X-Linked-Size"] = str(e.size)
    return h


_RTYPES = {None: RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}


def _lookup(
    request: Request, rtype: RepoType, ns: str, name: str, rev: str, path: str, signed: bool = False
) -> tuple[Any, str, FileEntry]:
    """The repo, commit and entry; `signed`: the content origin's signature already authorised this file."""
    svc = services(request)
    if signed:
        with svc.db.read() as conn:
            found = svc.repos.find(conn, rtype, ns, name)
        if found is None:
            raise RepoNotFound(f"Repository Not Found for {rtype.plural} {ns}/{name}")
        repo = found
    else:
        # file bytes: the gate of a gated repo too (its README.md stays open)
        repo = svc.repos.get_for_download(rtype, ns, name, download_principal(request), path)
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
    """A file's bytes (LFS and Xet files too)."""
    return await _serve(request, "resolve", ns, name, rev, path, prefix)


async def raw(
    request: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None
) -> Response:
    """A file's git blob, as on the Hub: the bytes of a regular file, the pointer text of an LFS (or Xet) file."""
    return await _serve(request, "raw", ns, name, rev, path, prefix)


async def _serve(
    request: Request, kind: str, ns: str, name: str, rev: str, path: str, prefix: str | None
) -> Response:
    svc = services(request)
    rtype = _RTYPES[prefix]
    signed = bool(request.scope.get("modelyard.content_origin"))
    if signed:  # the content origin: a signed URL is the only credential, and the only thing served there
        verify(request, kind, prefix or "", ns, name, rev, path)
    # rows found in the caches: no thread hop; else the same lookup in a thread
    done, found = try_cached(_lookup, request, rtype, ns, name, rev, path, signed)
    if not done:
        found = await run_in_threadpool(_lookup, request, rtype, ns, name, rev, path, signed)
    repo, sha, entry = found
    pointer = kind == "raw" and entry.lfs
    if not signed and content_enabled(svc.settings):
        return await _to_content_origin(request, kind, repo, rtype, sha, entry, pointer, prefix)
    if pointer:
        return _pointer_response(request, sha, entry)
    headers = file_headers(sha, entry)
    blob_path = svc.content.local_path(entry.sha256)
    xet_hash = await run_in_threadpool(svc.content.xet_hash, entry.sha256) if entry.lfs else None
    if xet_hash is not None:
        refresh = xet_refresh_route(base_url(request), rtype.value, repo.id_str, quote(sha, safe=""))
        headers.update(xet_resolve_headers(xet_hash, refresh))
    # issue 17: a store without local files (S3) may hold the whole blob: ask it (one HEAD of the object) only when
    # it decides something, i.e. between the blob and a Xet hash, or for a presigned redirect. Content with neither
    # is the blob the commit names (blobs are stored before the commit): a HEAD answers without a store round trip,
    # and a GET of a missing one fails in `iter_range` before any header
    redirectable = kind == "resolve" and entry.lfs and svc.settings.blob_redirect
    if blob_path is not None or (xet_hash is None and not redirectable and not svc.content.local_files):
        whole = True
    else:
        whole = (xet_hash is None or redirectable) and await run_in_threadpool(
            svc.content.has_blob, entry.sha256
        )
    if not whole and xet_hash is None:
        from modelyard.errors import BlobNotFound

        raise BlobNotFound(f"Content of {path} is missing from storage")
    if whole and blob_path is None and redirectable:
        # issue 17: 302 to the object store, after every permission and gating check (in `_lookup`)
        redirect = await _presigned_redirect(request, repo, path, entry, headers)
        if redirect is not None:
            return redirect
    rng = parse_range(request.headers.get("range"), entry.size)
    if request.method == "GET" and path in COUNTED and rng is None and kind == "resolve" and not signed:
        await _count_download(svc, repo.id)
    start, end = rng if rng is not None else (0, entry.size)
    status = 200 if rng is None else 206
    headers["Content-Length"] = str(end - start)
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    if blob_path is not None:
        return BlobResponse(blob_path, start, end, status, headers, svc.settings.download_chunk_size)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    body = await run_in_threadpool(
        svc.content.iter_range, entry.sha256, start, end
    )  # BlobNotFound before headers
    return StreamingResponse(body, status_code=status, headers=headers)


async def _presigned_redirect(
    request: Request, repo: Any, path: str, entry: FileEntry, headers: dict[str, str]
) -> Response | None:
    """Issue 17, ``blob_redirect``: 302 to a presigned GET URL of the object store for an LFS file stored as a
    whole blob, with the metadata huggingface_hub reads from the redirect itself (X-Repo-Commit, X-Linked-Etag,
    X-Linked-Size, ETag, Xet headers): its HEAD stops at a redirect to another origin, its GET follows it without
    the Authorization header. None when the store cannot presign (the hub streams the bytes)."""
    svc = services(request)
    url = svc.content.presigned_url(
        entry.sha256, svc.settings.blob_redirect_ttl, entry.path, headers.get("Content-Type")
    )
    if url is None:
        return None
    if request.method == "GET" and path in COUNTED and not request.headers.get("range"):
        await _count_download(svc, repo.id)
    out = {k: v for k, v in headers.items() if k not in ("Content-Length", "Content-Range", "Accept-Ranges")}
    out.update({"Location": url, "Cache-Control": "private, no-store"})
    return Response(status_code=302, headers=out)


def _pointer_response(request: Request, sha: str, entry: FileEntry) -> Response:
    body = lfs_pointer(entry.sha256, entry.size)
    headers = {
        "X-Repo-Commit": sha,
        "ETag": f'"{entry.oid}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=0, must-revalidate",
        **content_headers(entry.path),
        "Content-Type": "text/plain; charset=utf-8",
    }
    headers["Content-Disposition"] = headers["Content-Disposition"].replace("attachment", "inline", 1)
    rng = parse_range(request.headers.get("range"), len(body))
    start, end = rng if rng is not None else (0, len(body))
    headers["Content-Length"] = str(end - start)
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(body)}"
    content = b"" if request.method == "HEAD" else body[start:end]
    return Response(content, status_code=200 if rng is None else 206, headers=headers)


async def _to_content_origin(
    request: Request,
    kind: str,
    repo: Any,
    rtype: RepoType,
    sha: str,
    entry: FileEntry,
    pointer: bool,
    prefix: str | None,
) -> Response:
    """content_url mode: 302 to a short-lived signed URL on the content origin, with the file's metadata (what
    huggingface_hub reads from a redirect: X-Repo-Commit, X-Linked-Etag, X-Linked-Size, Xet headers)."""
    svc = services(request)
    etag = f'"{entry.oid}"' if pointer or not entry.lfs else f'"{entry.sha256}"'
    size = len(lfs_pointer(entry.sha256, entry.size)) if pointer else entry.size
    url = signed_url(svc.settings, kind, prefix or "", repo.namespace, repo.name, sha, entry.path)
    headers = {
        "Location": url,
        "X-Repo-Commit": sha,
        "ETag": etag,
        "X-Linked-Etag": etag,
        "X-Linked-Size": str(size),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if not pointer and entry.lfs:
        xet_hash = await run_in_threadpool(svc.content.xet_hash, entry.sha256)
        if xet_hash is not None:
            refresh = xet_refresh_route(base_url(request), rtype.value, repo.id_str, quote(sha, safe=""))
            headers.update(xet_resolve_headers(xet_hash, refresh))
    rng = request.headers.get("range")
    if request.method == "GET" and kind == "resolve" and entry.path in COUNTED and not rng:
        await _count_download(svc, repo.id)
    return Response(status_code=302, headers=headers)


async def lfs_object(request: Request, rtype: str, ns: str, name: str, oid: str) -> Response:
    svc = services(request)
    repo = await run_in_threadpool(get_repo, request, RepoType.parse(rtype).plural, ns, name)
    await run_in_threadpool(svc.repos.check_download, repo, principal(request))  # a gated repo's gate
    size = await run_in_threadpool(svc.files.lfs_known, repo, oid)
    if size is None or not await run_in_threadpool(svc.content.exists, oid):
        raise EntryNotFound(f"LFS object {oid} not found")
    headers = {"Content-Length": str(size)}
    path = svc.content.local_path(oid)
    if path is not None:
        return BlobResponse(path, 0, size, 200, headers, svc.settings.download_chunk_size)
    # an object uploaded through Xet, or a store without local files (S3, issue 17)
    body = await run_in_threadpool(svc.content.iter_range, oid, 0, size)
    return StreamingResponse(body, status_code=200, headers=headers)


def register(r: Router) -> None:
    r.add(
        "GET",
        rf"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/{REV}/(?P<path>.+)",
        resolve,
    )
    r.add(
        "GET",
        rf"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/raw/{REV}/(?P<path>.+)",
        raw,
    )
    r.add(
        "GET",
        r"/lfs-objects/(?P<rtype>model|dataset|space)/(?P<ns>[^/]+)/(?P<name>[^/]+)/(?P<oid>[0-9a-f]{64})",
        lfs_object,
    )
