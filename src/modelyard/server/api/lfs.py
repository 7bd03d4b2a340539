"""Git LFS batch API and the signed upload/verify endpoints."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadPayload, BadRequest
from modelyard.hub.lfs import upload_ref
from modelyard.hub.repos import Repo
from modelyard.server.api._common import (
    base_url,
    get_repo,
    json_response,
    principal,
    services,
    sync_json_body,
)
from modelyard.server.api.xet import cas_url
from modelyard.server.routing import Router
from modelyard.server.xet_routes import xet_token_payload
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
    if body.get("operation") == "download":  # download actions hand out file bytes: the gate of a gated repo
        svc.repos.check_download(repo, who)
    result = svc.lfs.batch(who, repo, body, base_url(request), request.headers.get("authorization"))
    transfers = body.get("transfers")
    if body.get("operation") == "upload" and isinstance(transfers, list) and "xet" in transfers:
        result = _xet_transfer(request, repo, body, result)
    return Response(json.dumps(result), media_type=LFS_JSON)


def _xet_transfer(
    request: Request, repo: Repo, body: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any]:
    """Answer ``"transfer": "xet"`` to a client that offers it (@huggingface/hub; huggingface_hub 0.x/1.x).

    Each object still to upload gets, as on the Hub, ``actions.upload.href`` = the Xet write-token route (the
    client's token refresher) and ``header`` = a CAS write token bound to this repo (``X-Xet-*``); the push right
    was checked by the batch. The client then uploads xorbs and a shard whose files carry their sha256, and
    commits ``lfsFile`` lines as usual."""
    svc = services(request)
    rev, create_pr = upload_ref(body)
    route = quote("None" if create_pr or rev is None else rev, safe="/")
    href = f"{base_url(request)}/api/{repo.type.plural}/{repo.id_str}/xet-write-token/{route}"
    href += "?create_pr=1" if create_pr else ""
    session = uuid.uuid4().hex
    headers: dict[str, str] | None = None
    for obj in result["objects"]:
        actions = obj.get("actions")
        if not actions or "upload" not in actions:
            continue
        if headers is None:
            who = principal(request)
            token, exp = svc.xet.issue_token(repo.key, "write", repo.id, who.account.id if who else None)
            _, headers = xet_token_payload(cas_url(request), token, exp)
            headers["X-Xet-Session-Id"] = session
        obj["actions"] = {"upload": {"href": href, "header": dict(headers)}}
    return {**result, "transfer": "xet"}


async def upload(request: Request, oid: str) -> Response:
    svc = services(request)
    if not is_sha256(oid):
        raise BadRequest("Invalid oid")
    ticket = svc.lfs.check_ticket(oid, dict(request.query_params))
    if request.method == "PUT":
        await svc.lfs.receive(ticket, request.stream())
        return Response(status_code=200)
    from modelyard.server.api._common import parse_json  # the one limited JSON decoder
    from modelyard.server.edge import read_body

    st = svc.settings  # multipart completion: {"oid", "parts": [...]}
    data = parse_json(await read_body(request, st.max_json_body), st.max_json_body, st.max_json_depth)
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
    svc.repos.check_push(principal(request), repo, None, create_pr=True)  # same right as the upload
    body = sync_json_body(request)
    oid = str(body.get("oid", "")) if isinstance(body, dict) else ""
    size = body.get("size") if isinstance(body, dict) else None
    known = svc.files.lfs_known(repo, oid) if is_sha256(oid) else None
    if known is None or (size is not None and known != size) or not svc.files.content_available(oid):
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
