"""Buckets (non-versioned storage, hub/buckets.py): /api/buckets/… and /buckets/{ns}/{name}/resolve/{path}.

Wire shapes as huggingface_hub 2.4 (`HfApi.*bucket*`, `hf buckets`, `hf cp`) reads them (hub-protocol-2.md §1).
Route parameters are ``bns``/``bname`` (not ``ns``/``name``) so that a missing bucket is never taken for a
renamed repo by the dispatcher's repo redirects.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from modelyard import jsonlimits
from modelyard.errors import BadRequest, RepoExists
from modelyard.hub._time import iso
from modelyard.hub.buckets import MAX_OPS, Bucket, BucketEntry, parse_op
from modelyard.server.api._common import (
    base_url,
    download_principal,
    json_response,
    next_link,
    principal,
    qbool,
    services,
    sync_json_body,
)
from modelyard.server.api.resolve import parse_range
from modelyard.server.api.xet import cas_url
from modelyard.server.routing import Router
from modelyard.server.user_content import content_headers
from modelyard.server.xet_routes import xet_resolve_headers, xet_token_response
from modelyard.xet.auth import Scope

BUCKET = r"/api/buckets/(?P<bns>[^/]+)/(?P<bname>[^/]+)"


def bucket_url(request: Request, b: Bucket) -> str:
    return f"{base_url(request)}/buckets/{b.id_str}"


def bucket_json(request: Request, b: Bucket) -> dict[str, Any]:
    size, total = services(request).buckets.stats(b.id)
    return {
        "id": b.id_str,
        "name": b.name,
        "author": b.namespace,
        "private": b.private,
        "createdAt": iso(b.created_at),
        "updatedAt": iso(b.last_modified),
        "size": size,
        "totalFiles": total,
        "region": b.region or "us",
    }


def entry_json(e: BucketEntry) -> dict[str, Any]:
    if e.type == "directory":
        return {"type": "directory", "path": e.path, "uploadedAt": iso(e.uploaded_at)}
    return {
        "type": "file",
        "path": e.path,
        "size": e.size,
        "xetHash": e.xet_hash,
        "mtime": iso(e.mtime),
        "uploadedAt": iso(e.uploaded_at),
    }


def _page(request: Request, items: list[Any]) -> Response:
    """One page of a listing; `Link: rel="next"` (with ``cursor``) while more remain (the client follows it)."""
    try:
        cursor = int(request.query_params.get("cursor") or 0)
    except ValueError:
        raise BadRequest("Invalid cursor") from None
    if cursor < 0:
        raise BadRequest("Invalid cursor: must be >= 0")
    size = services(request).settings.tree_page_size
    headers = next_link(request, cursor=cursor + size) if cursor + size < len(items) else None
    return json_response(items[cursor : cursor + size], headers=headers)


def _visibility(body: dict[str, Any]) -> bool | None:
    vis = body.get("visibility")
    if vis is not None:
        if vis not in ("public", "private"):
            raise BadRequest(f"Invalid visibility {vis!r}: 'public' or 'private'")
        return bool(vis == "private")
    priv = body.get("private")
    if priv is not None and not isinstance(priv, bool):
        raise BadRequest(f"Invalid 'private' value {priv!r}: true or false")
    return priv


def _body(request: Request) -> dict[str, Any]:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


# --- bucket CRUD -------------------------------------------------------------------------------------------
def create(request: Request, bns: str, bname: str) -> Response:
    body = _body(request)
    region = body.get("region")
    if region is not None and not isinstance(region, str):
        raise BadRequest("Invalid 'region': 'us' or 'eu'")
    try:
        b = services(request).buckets.create(principal(request), bns, bname, _visibility(body), region)
    except RepoExists as e:  # the client's exist_ok reads the url of a 409
        e.extra["url"] = f"{base_url(request)}/buckets/{e.extra.get('bucket')}"
        raise
    return json_response({"url": bucket_url(request, b), "name": b.id_str, "id": b.id_str})


def info(request: Request, bns: str, bname: str) -> Response:
    return json_response(bucket_json(request, services(request).buckets.get(principal(request), bns, bname)))


def delete(request: Request, bns: str, bname: str) -> Response:
    services(request).buckets.delete(principal(request), bns, bname)
    return json_response({})


def listing(request: Request, bns: str) -> Response:
    search = request.query_params.get("search")
    found = services(request).buckets.in_namespace(principal(request), bns, search)
    return _page(request, [bucket_json(request, b) for b in found])


def settings(request: Request, bns: str, bname: str) -> Response:
    b = services(request).buckets.update_settings(principal(request), bns, bname, _visibility(_body(request)))
    return json_response({"private": b.private})


def move(request: Request, body: dict[str, Any]) -> Response:
    """``POST /api/repos/move`` with ``"type": "bucket"`` (the repos route hands it over)."""
    src, dst = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(src, str) or not isinstance(dst, str):
        raise BadRequest("Body needs 'fromRepo' and 'toRepo' strings")
    b = services(request).buckets.move(principal(request), src, dst)
    return json_response({"url": bucket_url(request, b)})


# --- files -------------------------------------------------------------------------------------------------
def tree(request: Request, bns: str, bname: str, prefix: str | None = None) -> Response:
    """A page of the listing; ``cursor`` is the resume key the previous page's ``Link: rel="next"`` carries."""
    svc = services(request)
    b = svc.buckets.get(principal(request), bns, bname)
    qp = request.query_params
    start = qp.get("cursor") or ""
    if "\x00" in start:
        raise BadRequest("Invalid cursor")
    limit = svc.settings.tree_page_size
    entries, resume = svc.buckets.tree(b, prefix or "", qbool(qp.get("recursive")), start, limit)
    headers = None
    if resume is not None:
        params = [(k, v) for k, v in qp.multi_items() if k != "cursor"] + [("cursor", resume)]
        raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or request.url.path
        headers = {"Link": f'<{base_url(request)}{raw}?{urlencode(params)}>; rel="next"'}
    return json_response([entry_json(e) for e in entries], headers=headers)


def paths_info(request: Request, bns: str, bname: str) -> Response:
    svc = services(request)
    b = svc.buckets.get(principal(request), bns, bname)
    paths = _body(request).get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise BadRequest("Body needs 'paths': a list of strings")
    return json_response([entry_json(e) for e in svc.buckets.paths_info(b, paths)])


def batch(request: Request, bns: str, bname: str) -> Response:
    svc = services(request)
    who = principal(request)
    b = svc.buckets.get_for_write(who, bns, bname)  # 401/403/404 before the body is looked at
    raw: bytes = request.scope.get("modelyard.body", b"")
    lines = [line for line in raw.split(b"\n") if line.strip()]
    if len(lines) > MAX_OPS:
        raise BadRequest(f"At most {MAX_OPS} operations per batch")
    st = svc.settings
    ops = [
        parse_op(jsonlimits.loads(line, max_bytes=st.max_json_body, max_depth=st.max_json_depth))
        for line in lines
    ]
    failed = svc.buckets.batch(who, b, ops)
    return json_response({"failed": failed}, status=422 if ops and len(failed) == len(ops) else 200)


def xet_token(request: Request, bns: str, bname: str, kind: str) -> Response:
    svc = services(request)
    who = principal(request)
    b = svc.buckets.get_for_write(who, bns, bname) if kind == "write" else svc.buckets.get(who, bns, bname)
    scope: Scope = "write" if kind == "write" else "read"
    return xet_token_response(svc.xet, b.scope_key, scope, cas_url(request), repo_id=b.id)


async def resolve(request: Request, bns: str, bname: str, path: str) -> Response:
    """A bucket file's bytes (streamed from the Xet CAS, ``Range`` honoured); HEAD gives what the client needs
    to download it through Xet itself (``X-Xet-Hash``, the read-token route, the size)."""
    svc = services(request)
    who = await run_in_threadpool(download_principal, request)
    b = await run_in_threadpool(svc.buckets.get, who, bns, bname)
    e = await run_in_threadpool(svc.buckets.file, b, path)
    refresh = f"{base_url(request)}/api/buckets/{b.id_str}/xet-read-token"
    headers = {
        "ETag": f'"{e.xet_hash}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=0, must-revalidate",
        "X-Linked-Size": str(e.size),
        **content_headers(e.path),
        **xet_resolve_headers(e.xet_hash, refresh),
    }
    rng = parse_range(request.headers.get("range"), e.size)
    start, end = rng if rng is not None else (0, e.size)
    headers["Content-Length"] = str(end - start)
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{e.size}"
    status = 200 if rng is None else 206
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    body = await run_in_threadpool(svc.content.iter_range, e.sha256, start, end)  # the one content service
    return StreamingResponse(body, status_code=status, headers=headers)


def register(r: Router) -> None:
    r.add("GET", r"/api/buckets/(?P<bns>[^/]+)", listing)
    r.add("GET", BUCKET, info)
    r.add("POST", BUCKET, create)
    r.add("DELETE", BUCKET, delete)
    r.add("PUT", BUCKET + r"/settings", settings)
    r.add("GET", BUCKET + r"/tree(?:/(?P<prefix>.+))?", tree)
    r.add("POST", BUCKET + r"/paths-info", paths_info)
    r.add("POST", BUCKET + r"/batch", batch)
    r.add("GET", BUCKET + r"/xet-(?P<kind>read|write)-token", xet_token)
    r.add("GET", r"/buckets/(?P<bns>[^/]+)/(?P<bname>[^/]+)/resolve/(?P<path>.+)", resolve)
