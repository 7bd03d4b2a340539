"""Git LFS batch API, the locking API git-lfs calls on push, and the signed upload/verify endpoints.

The routes under ``{repo}.git/info/lfs`` are the ones the git-lfs CLI finds from a git remote. Their errors keep
the Hub's format (``X-Error-Code``, JSON ``error``) and add ``message`` (what git-lfs prints); a caller without
valid credentials that is refused (a private repo, an upload, a bad token) gets ``401`` with
``LFS-Authenticate``/``WWW-Authenticate: Basic``, so git-lfs asks git's credential helpers and retries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadPayload, BadRequest, HubError, RepoNotFound
from modelyard.hub.lfs import upload_ref
from modelyard.hub.repos import Repo
from modelyard.server.api._common import (
    base_url,
    get_repo,
    json_response,
    moved_to,
    needs_credentials,
    principal,
    services,
    sync_json_body,
)
from modelyard.server.api.xet import cas_url
from modelyard.server.errors import ask_credentials, error_response
from modelyard.server.raw_body import body_chunks
from modelyard.server.routing import Router
from modelyard.server.xet_routes import xet_token_payload
from modelyard.types import RepoType, is_sha256

LFS_JSON = "application/vnd.git-lfs+json"


_PREFIX_TYPES = {None: RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}


class LockingNotSupported(HubError):
    """git-lfs's file locking (``git lfs lock``): 501, which git-lfs reports as "Not Implemented"."""

    code = "NotImplemented"
    status = 501


def lfs_error(request: Request, exc: HubError, rtype: RepoType, ns: str, name: str) -> Response:
    """The Hub's error answer for a git-lfs route, with ``message`` in the body (git-lfs prints it).

    A caller without credentials refused for a repo it may not see, or for an action that needs an account
    (RepoNotFound, Unauthorized, an anonymous GatedRepo), and a caller whose token is unknown or expired: 401 with
    ``LFS-Authenticate`` and ``WWW-Authenticate`` (git-lfs then asks git's credential helpers and retries); the
    error code stays (``RepoNotFound`` makes huggingface_hub raise RepositoryNotFoundError, as on the Hub)."""
    try:
        who = principal(request)
    except HubError:
        who = None  # an unknown, revoked or expired token: ask again
    if isinstance(exc, RepoNotFound) and moved_to(request, rtype, ns, name, who) is not None:
        raise exc  # a renamed repo: the dispatcher's redirect (307)
    if needs_credentials(exc, who):
        return ask_credentials(error_response(request, exc, status=401, lfs=True))
    return error_response(request, exc, lfs=True)


def batch(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    rtype = _PREFIX_TYPES[prefix]
    try:
        return _batch(request, rtype, ns, name)
    except HubError as e:
        return lfs_error(request, e, rtype, ns, name)


def _batch(request: Request, rtype: RepoType, ns: str, name: str) -> Response:
    svc = services(request)
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
        await svc.lfs.receive(ticket, body_chunks(request))
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
    etag = await svc.lfs.receive_part(ticket, int(part), body_chunks(request))
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


# --- locking API (https://github.com/git-lfs/git-lfs/blob/main/docs/api/locking.md) -------------------------
# ModelYard, like the Hub, keeps no locks: listing and push verification answer "none", creating one is refused.
def _lock_ref(body: Any) -> str | None:
    ref = body.get("ref") if isinstance(body, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    return name if isinstance(name, str) and name else None


def _locks(request: Request, rtype: RepoType, ns: str, name: str, action: str) -> Response:
    repo = get_repo(request, rtype.plural, ns, name)
    if action == "list":  # readers (git lfs locks)
        return Response(json.dumps({"locks": []}), media_type=LFS_JSON)
    svc = services(request)
    body = sync_json_body(request)
    svc.repos.check_push(principal(request), repo, _lock_ref(body), create_pr=False)
    if action == "verify":  # git push: none of ours, none of theirs
        return Response(json.dumps({"ours": [], "theirs": []}), media_type=LFS_JSON)
    raise LockingNotSupported("ModelYard does not support LFS file locking")


def _locks_answer(request: Request, ns: str, name: str, prefix: str | None, action: str) -> Response:
    rtype = _PREFIX_TYPES[prefix]
    try:
        return _locks(request, rtype, ns, name, action)
    except HubError as e:
        return lfs_error(request, e, rtype, ns, name)


def locks_list(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """``GET {repo}.git/info/lfs/locks`` (``git lfs locks``): ``{"locks": []}`` to readers."""
    return _locks_answer(request, ns, name, prefix, "list")


def locks_verify(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """``POST {repo}.git/info/lfs/locks/verify`` (``git lfs push``): ``{"ours": [], "theirs": []}`` to pushers."""
    return _locks_answer(request, ns, name, prefix, "verify")


def locks_create(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """``POST {repo}.git/info/lfs/locks`` (``git lfs lock``): 501 to pushers."""
    return _locks_answer(request, ns, name, prefix, "create")


def locks_unlock(request: Request, ns: str, name: str, lock_id: str, prefix: str | None = None) -> Response:
    """``POST {repo}.git/info/lfs/locks/{id}/unlock`` (``git lfs unlock``): 501 to pushers."""
    return _locks_answer(request, ns, name, prefix, "unlock")


_LFS_REPO = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs"


def register(r: Router) -> None:
    r.add("POST", _LFS_REPO + "/objects/batch", batch)
    r.add("GET", _LFS_REPO + "/locks", locks_list)
    r.add("POST", _LFS_REPO + "/locks", locks_create)
    r.add("POST", _LFS_REPO + "/locks/verify", locks_verify)
    r.add("POST", _LFS_REPO + r"/locks/(?P<lock_id>[^/]+)/unlock", locks_unlock)
    r.add("PUT,POST", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", upload)
    r.add("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})/part/(?P<part>\d+)", upload_part)
    r.add("POST", r"/lfs-verify/(?P<rtype>model|dataset|space)/(?P<ns>[^/]+)/(?P<name>[^/]+)", verify)
