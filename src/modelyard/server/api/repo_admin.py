"""Repo administration routes: duplicate a repo, server-side copy of LFS/Xet objects (/lfs-files/duplicate), the
LFS object listing (/lfs-files), a namespace's repos with storage (/api/settings/repositories), and editing or hiding
discussion comments. The rules live in hub/repo_admin.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, InvalidRepoName, RepoExists
from modelyard.hub._time import iso
from modelyard.hub.repo_admin import RepoAdmin
from modelyard.server.api import spaces as spaces_api
from modelyard.server.api._common import (
    get_repo,
    json_response,
    parse_repo_type,
    principal,
    repo_type,
    repo_url,
    services,
    sync_json_body,
)
from modelyard.server.api.discussions import _event, _num
from modelyard.server.routing import REPO, TYPES, Router
from modelyard.types import RepoType


def admin(request: Request) -> RepoAdmin:
    svc = services(request)
    return RepoAdmin(svc.db, svc.repos, svc.files, svc.content, svc.search)


def _body(request: Request) -> dict[str, Any]:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


def _private(body: dict[str, Any]) -> bool | None:
    vis = body.get("visibility")
    if vis is None:
        priv = body.get("private")
        if priv is not None and not isinstance(priv, bool):
            raise BadRequest("Invalid 'private': true or false")
        return bool(priv) if priv is not None else None
    if vis not in ("public", "private", "protected"):
        raise BadRequest("Invalid 'visibility': 'public', 'private' or 'protected'")
    return bool(vis == "private")


def duplicate(request: Request, type: str, ns: str, name: str) -> Response:
    body = _body(request)
    target = body.get("repository")
    if not isinstance(target, str) or target.count("/") != 1:
        raise InvalidRepoName("Body needs 'repository': 'namespace/name'")
    # a copy of the files: the gate of a gated source applies
    src = services(request).repos.get_for_download(repo_type(type), ns, name, principal(request))
    dst_ns, dst_name = target.split("/")
    # a Space's hardware, sleep time, secrets and variables: checked before anything is created
    setup = spaces_api.duplicate_setup(body) if src.type is RepoType.SPACE else None
    try:
        repo = admin(request).duplicate(principal(request), src, dst_ns, dst_name, _private(body))
    except RepoExists as e:  # exist_ok: huggingface_hub reads the url from the 409 body
        if e.extra.get("repo") is not None:
            e.extra["url"] = repo_url(request, e.extra["repo"])
        raise
    if setup is not None:  # variables (not secrets), then the given settings; then the new Space builds
        spaces_api.apply_duplicate_setup(request, src, repo, setup)
    return json_response({"url": repo_url(request, repo), "filesCopyPending": False})


def duplicate_lfs(request: Request, type: str, ns: str, name: str) -> Response:
    body = _body(request)
    target, files = body.get("target"), body.get("files")
    if not isinstance(target, dict) or not isinstance(files, list):
        raise BadRequest("Body needs 'target': {'type', 'name'} and 'files': [{'sha256', 'xetHash'}]")
    dst_id = target.get("name")
    if not isinstance(dst_id, str) or dst_id.count("/") != 1:
        raise InvalidRepoName("'target.name' must be 'namespace/name'")
    svc = services(request)
    who = principal(request)
    src = svc.repos.get_for_download(repo_type(type), ns, name, who)  # copying bytes out: the gate applies
    d_ns, d_name = dst_id.split("/")
    dst = svc.repos.get(parse_repo_type(target.get("type")), d_ns, d_name, who)
    return json_response({"failed": admin(request).duplicate_objects(who, src, dst, files)})


def lfs_files(request: Request, type: str, ns: str, name: str) -> Response:
    """The repo's LFS objects, for its maintainers (uploads that were never committed are listed too)."""
    repo = services(request).repos.get_for_write(repo_type(type), ns, name, principal(request))
    return json_response(
        [
            {"fileOid": sha, "oid": sha, "size": size, "pushedAt": iso(at), "filename": path, "ref": None}
            for sha, size, at, path in admin(request).lfs_files(repo)
        ]
    )


def _storage(request: Request, namespace: str) -> Response:
    """Every repo and bucket of a namespace the caller belongs to, with storage (`list_user_repos`, `hf repos ls`)."""
    svc = services(request)
    who = principal(request)
    rows: list[tuple[str, str, Any, bool, int]] = [
        (r.id_str, r.type.value, r.last_modified, r.private, r.used_storage)
        for r in admin(request).namespace_repos(who, namespace)  # checks membership first
    ]
    for b in svc.buckets.in_namespace(who, namespace):
        rows.append((b.id_str, "bucket", b.last_modified, b.private, svc.buckets.stats(b.id)[0]))
    total = sum(r[4] for r in rows) or 1
    return json_response(
        [
            {
                "id": rid,
                "type": kind,
                "updatedAt": iso(updated),
                "visibility": "private" if private else "public",
                "storage": size,
                "storagePercent": round(100 * size / total, 2),
            }
            for rid, kind, updated, private, size in rows
        ]
    )


def my_repositories(request: Request) -> Response:
    who = principal(request)
    return _storage(request, who.account.name if who else "")


def org_repositories(request: Request, org: str) -> Response:
    return _storage(request, org)


def comment_change(
    request: Request, type: str, ns: str, name: str, num: str, comment: str, action: str
) -> Response:
    repo = get_repo(request, type, ns, name)
    who = principal(request)
    if action == "edit":
        content = _body(request).get("content")
        if not isinstance(content, str):
            raise BadRequest("Body needs 'content': the new text")
        ev = admin(request).edit_comment(who, repo, _num(num), comment, content)
    else:
        ev = admin(request).hide_comment(who, repo, _num(num), comment)
    return json_response({"updatedComment": _event(ev)})


def register(r: Router) -> None:
    r.add("GET", r"/api/settings/repositories", my_repositories)
    r.add("GET", r"/api/organizations/(?P<org>[^/]+)/settings/repositories", org_repositories)
    r.add("POST", rf"/api/{TYPES}/{REPO}/duplicate", duplicate)
    r.add("GET", rf"/api/{TYPES}/{REPO}/lfs-files", lfs_files)
    r.add("POST", rf"/api/{TYPES}/{REPO}/lfs-files/duplicate", duplicate_lfs)
    r.add(
        "POST",
        rf"/api/{TYPES}/{REPO}/discussions/(?P<num>\d+)/comment/(?P<comment>[^/]+)/(?P<action>edit|hide)",
        comment_change,
    )
