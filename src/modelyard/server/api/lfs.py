"""Git LFS batch API and the signed upload/verify endpoints."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadPayload, BadRequest, Unauthorized
from modelyard.hub.repos import can_write
from modelyard.server.api._common import (
    base_url,
    get_repo,
    json_response,
    principal,
    services,
    sync_json_body,
)
from modelyard.server.routing import Router
from modelyard.types import RepoType, is_sha256

LFS_JSON = "application/vnd.git-lfs+json"


def batch(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    svc = services(request)
    rtype = {None: RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}[prefix]
    repo = get_repo(request, rtype.plural, ns, name)
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadPayload("LFS batch body must be a JSON object")
    who = principal(request)
    if body.get("operation") == "upload":
        if who is None:
            raise Unauthorized("You must be authenticated to upload LFS objects")
        ref = body.get("ref")
        is_pr = "ref" not in body or (
            isinstance(ref, dict) and str(ref.get("name", "")).startswith("refs/pr/")
        )
        if not can_write(repo, who) and not is_pr:
            from modelyard.errors import Forbidden

            raise Forbidden(f"You don't have write access to {repo.type.value} {repo.id_str}")
    result = svc.lfs.batch(repo, body, base_url(request), request.headers.get("authorization"))
    return Response(json.dumps(result), media_type=LFS_JSON)


async def upload(request: Request, oid: str) -> Response:
    svc = services(request)
    if not is_sha256(oid):
        raise BadRequest("Invalid oid")
    ticket = svc.lfs.check_ticket(oid, dict(request.query_params))
    if request.method == "PUT":
        await svc.lfs.receive(ticket, request.stream())
        return Response(status_code=200)
    body = await request.body()  # multipart completion
    try:
        data = json.loads(body or b"{}")
    except json.JSONDecodeError:
        raise BadPayload("Multipart completion body must be JSON") from None
    await run_in_threadpool(svc.lfs.complete_multipart, ticket, data)
    return json_response({"oid": oid})


async def upload_part(request: Request, oid: str, part: str) -> Response:
    svc = services(request)
    ticket = svc.lfs.check_ticket(oid, dict(request.query_params))
    etag = await svc.lfs.receive_part(ticket, int(part), request.stream())
    return Response(status_code=200, headers={"ETag": etag})


def verify(request: Request, rtype: str, ns: str, name: str) -> Response:
    svc = services(request)
    repo = get_repo(request, RepoType.parse(rtype).plural, ns, name)
    body = sync_json_body(request)
    oid = str(body.get("oid", "")) if isinstance(body, dict) else ""
    size = body.get("size") if isinstance(body, dict) else None
    known = svc.files.lfs_known(repo, oid) if is_sha256(oid) else None
    if known is None or (size is not None and known != size) or not svc.store.exists(oid):
        from modelyard.errors import NotFound

        raise NotFound(f"LFS object {oid} of size {size} was not uploaded")
    return json_response({"oid": oid, "size": known})


def register(r: Router) -> None:
    r.add(
        "POST",
        r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs/objects/batch",
        batch,
    )
    r.add("PUT,POST", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", upload)
    r.add("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})/part/(?P<part>\d+)", upload_part)
    r.add("POST", r"/lfs-verify/(?P<rtype>model|dataset|space)/(?P<ns>[^/]+)/(?P<name>[^/]+)", verify)
