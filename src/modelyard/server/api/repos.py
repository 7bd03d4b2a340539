"""Identity, repo CRUD, settings, move, info and listing."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, RepoExists, Unauthorized
from modelyard.hub._time import iso
from modelyard.hub.accounts import INVALID_CREDENTIALS, Principal
from modelyard.hub.repos import Repo
from modelyard.hub.revisions import FileEntry
from modelyard.hub.search import Query
from modelyard.server.api import spaces as spaces_api
from modelyard.server.api._common import (
    TYPE_FROM_PLURAL,
    get_repo,
    json_response,
    next_link,
    parse_repo_type,
    principal,
    qbool,
    repo_type,
    repo_url,
    services,
    sync_json_body,
)
from modelyard.server.api.serialize import repo_info
from modelyard.server.routing import REPO, REV, TYPES, Router, inline_when_cached
from modelyard.server.services import Services
from modelyard.types import RepoType


def whoami(request: Request) -> Response:
    who = principal(request)
    if who is None:
        raise Unauthorized(
            INVALID_CREDENTIALS
            if request.headers.get("authorization")
            else "Authorization header is required"
        )
    return json_response(
        {
            "type": "user",
            "id": str(who.account.id),
            "name": who.account.name,
            "fullname": who.account.fullname,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "orgs": [
                {
                    "type": "org",
                    "name": o.name,
                    "fullname": o.fullname,
                    "id": str(o.id),
                    "roleInOrg": who.role_in(o.name),
                }
                for o in who.orgs
            ],
            "auth": _auth(who),
        }
    )


def _auth(who: Principal) -> dict[str, object]:
    """The Hub's `auth` object: the token's name and role, its fine-grained permissions, its expiry."""
    token: dict[str, object] = {"displayName": who.token_name, "role": who.role}
    if who.role == "fineGrained":
        token["fineGrained"] = who.grants.to_json()
    auth: dict[str, object] = {"type": "access_token", "accessToken": token}
    if who.expires_at is not None:
        auth["expiresAt"] = iso(who.expires_at)
    return auth


def _visibility(body: dict[str, object]) -> bool | None:
    vis = body.get("visibility")
    if vis is not None:
        if not isinstance(vis, str) or vis not in {"public", "private", "protected"}:
            raise BadRequest(f"Invalid visibility {vis!r}: 'public', 'private' or 'protected'")
        return vis == "private"
    priv = body.get("private")
    if priv is not None and not isinstance(priv, bool):
        raise BadRequest(f"Invalid 'private' value {priv!r}: true or false")
    return priv


def create_repo(request: Request) -> Response:
    body = sync_json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise BadRequest("Body must be JSON with a 'name'")
    rtype = parse_repo_type(body.get("type"))
    name = body["name"]
    ns = body.get("organization")
    if ns is not None and not isinstance(ns, str):
        raise BadRequest(f"Invalid 'organization' {ns!r}: a namespace name or null")
    if body.get("sdk") is not None and not isinstance(body.get("sdk"), str):
        raise BadRequest("Invalid 'sdk': a string")
    if "/" in name and not ns:
        ns, name = name.split("/", 1)
    svc = services(request)
    try:
        repo = svc.repos.create(principal(request), rtype, name, ns, _visibility(body), body.get("sdk"))
    except RepoExists as e:
        existing = e.extra.get("repo")
        if existing is not None:
            e.extra["url"] = repo_url(request, existing)
        raise
    return json_response({"url": repo_url(request, repo), "name": repo.id_str, "id": str(repo.id)})


def delete_repo(request: Request) -> Response:
    body = sync_json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise BadRequest("Body must be JSON with a 'name'")
    who = principal(request)
    name = body["name"]
    if body.get("organization") is not None and not isinstance(body.get("organization"), str):
        raise BadRequest("Invalid 'organization': a namespace name or null")
    ns = body.get("organization") or (who.account.name if who else None)
    if "/" in name:
        ns, name = name.split("/", 1)
    if ns is None:
        raise Unauthorized("You must be authenticated to delete a repository")
    services(request).repos.delete(who, parse_repo_type(body.get("type")), ns, name)
    return json_response({})


def update_settings(request: Request, type: str, ns: str, name: str) -> Response:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    gated = body.get("gated")
    if gated is not None and not isinstance(gated, str | bool):
        raise BadRequest(f"Invalid gated value {gated!r}: 'auto', 'manual' or false")
    svc = services(request)
    repo = svc.repos.get_for_write(repo_type(type), ns, name, principal(request))
    repo = svc.repos.update_settings(principal(request), repo, _visibility(body), body.get("gated"))
    return json_response({"private": repo.private, "gated": repo.gated or False})


def move_repo(request: Request) -> Response:
    body = sync_json_body(request)
    if not isinstance(body, dict) or "fromRepo" not in body or "toRepo" not in body:
        raise BadRequest("Body needs 'fromRepo' and 'toRepo'")
    if body.get("type") == "bucket":  # HfApi.move_bucket uses this route too
        from modelyard.server.api import buckets as buckets_api

        return buckets_api.move(request, body)
    rtype = parse_repo_type(body.get("type"))
    repo = services(request).repos.move(principal(request), rtype, str(body["fromRepo"]), str(body["toRepo"]))
    return json_response({"url": repo_url(request, repo)})


def info(request: Request, type: str, ns: str, name: str, rev: str | None = None) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    sha = svc.files.resolve_rev(repo, rev or "main")
    files = svc.files.manifest(repo, sha)
    expand = request.query_params.getlist("expand") or None
    blobs = qbool(request.query_params.get("blobs"))
    st = safetensors_info(svc, repo, files) if not expand or "safetensors" in expand else None
    extra = None
    if qbool(request.query_params.get("securityStatus")):  # pickle scans of this revision (hub/pickles.py)
        extra = {"securityRepoStatus": svc.pickles.repo_status({p: e.sha256 for p, e in files.items()})}
    space = spaces_api.space_fields(request, repo) if repo.type is RepoType.SPACE else None
    return json_response(
        repo_info(repo, sha, files, blobs=blobs, expand=expand, extra=extra, safetensors=st, space=space)
    )


def safetensors_info(svc: Services, repo: Repo, files: dict[str, FileEntry]) -> dict[str, Any] | None:
    if repo.type is not RepoType.MODEL:
        return None
    from modelyard.hub.safetensors import repo_parameters

    return repo_parameters(svc.content, files)


def auth_check(request: Request, type: str, ns: str, name: str, write: str | None = None) -> Response:
    svc = services(request)
    if write:
        svc.repos.get_for_write(repo_type(type), ns, name, principal(request))
    else:  # as on the Hub: a gated repo without access answers GatedRepo (401/403)
        svc.repos.get_for_download(repo_type(type), ns, name, principal(request))
    return json_response({"accessRequest": None})


def list_repos(request: Request, type: str) -> Response:
    svc = services(request)
    qp = request.query_params
    rtype = TYPE_FROM_PLURAL[type]
    try:
        limit = int(qp.get("limit") or 1000)
        offset = int(qp.get("offset") or qp.get("p") or 0)
    except ValueError:
        raise BadRequest("limit and offset must be integers") from None
    limit = max(1, min(limit, 1000))
    offset = max(0, min(offset, 2**31))  # SQLite integers overflow past 2**63
    q = Query(
        repo_type=rtype,
        search=qp.getlist("search"),
        author=qp.get("author"),
        filters=qp.getlist("filter") + qp.getlist("tags"),
        pipeline_tag=qp.get("pipeline_tag"),
        library=qp.get("library") or qp.get("library_name"),
        language=qp.get("language"),
        license=qp.get("license"),
        sort=qp.get("sort"),
        ascending=qp.get("direction") == "1",
        limit=limit,
        offset=offset,
    )
    repos, more = svc.search.list(q, principal(request))
    full = qbool(qp.get("full"))
    card = qbool(qp.get("cardData")) or full
    expand = qp.getlist("expand") or None
    want_files = full or bool(expand and ("siblings" in expand or "safetensors" in expand))
    items = []
    for r in repos:
        files = (
            svc.files.manifest(r, r.head_sha) if want_files and r.head_sha else ({} if want_files else None)
        )
        st = safetensors_info(svc, r, files) if files and expand and "safetensors" in expand else None
        d = repo_info(
            r,
            r.head_sha,
            files if (full or (expand and "siblings" in expand)) else None,
            expand=expand,
            safetensors=st,
            space=spaces_api.space_fields(request, r) if r.type is RepoType.SPACE else None,
        )
        if not card and not expand:
            d.pop("cardData", None)
        items.append(d)
    return json_response(items, headers=next_link(request, offset=offset + limit) if more else None)


def validate_yaml(request: Request) -> Response:
    from modelyard.errors import InvalidYaml
    from modelyard.hub.cards import parse_card, validate

    body = sync_json_body(request)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return json_response({"errors": [{"message": "Body needs 'content' (the README text)"}]}, status=400)
    try:
        card = parse_card(content)
    except InvalidYaml as e:
        return json_response({"errors": [{"message": e.message}]}, status=400)
    if not card:
        return json_response(
            {
                "errors": [],
                "warnings": [{"message": "empty metadata: the YAML front matter is empty or missing"}],
            }
        )
    errors = validate(card)
    if errors:
        return json_response({"errors": [{"message": m} for m in errors]}, status=400)
    return json_response({"errors": [], "warnings": []})


def register(r: Router) -> None:
    r.add("GET", r"/api/whoami-v2", whoami)
    r.add("POST", r"/api/repos/create", create_repo)
    r.add("DELETE", r"/api/repos/delete", delete_repo)
    r.add("POST", r"/api/repos/move", move_repo)
    r.add("POST", r"/api/validate-yaml", validate_yaml)
    r.add("GET", rf"/api/{TYPES}", list_repos)
    r.add("PUT", rf"/api/{TYPES}/{REPO}/settings", update_settings)
    r.add("GET", rf"/api/{TYPES}/{REPO}/auth-check(?P<write>/write)?", auth_check)
    r.add("GET", rf"/api/{TYPES}/{REPO}", inline_when_cached(info))
    r.add("GET", rf"/api/{TYPES}/{REPO}/revision/{REV}", inline_when_cached(info))
