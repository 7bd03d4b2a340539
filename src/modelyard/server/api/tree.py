"""Tree listing, paths-info, refs, commit history, branches, tags, super-squash."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadPayload, BadRequest
from modelyard.hub.files import TreeEntry
from modelyard.hub.repos import Repo
from modelyard.server.api._common import (
    get_repo,
    json_response,
    next_link,
    principal,
    qbool,
    repo_type,
    services,
    sync_json_body,
)
from modelyard.server.api.serialize import commit_item, tree_entry
from modelyard.server.routing import REPO, REV, TYPES, Router


def _xet_hashes(request: Request, entries: list[TreeEntry]) -> dict[str, str | None]:
    content = services(request).content
    return {e.sha256: content.xet_hash(e.sha256) for e in entries if e.lfs}


def _security(request: Request, entries: list[TreeEntry], expand: bool) -> dict[str, dict[str, Any]] | None:
    """With expand, each file's ``securityFileStatus`` (pickle scans, hub/pickles.py)."""
    if not expand:
        return None
    return services(request).pickles.file_statuses({e.path: e.sha256 for e in entries if e.type == "file"})


def tree(request: Request, type: str, ns: str, name: str, rev: str, path: str = "") -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    sha = svc.files.resolve_rev(repo, rev)
    qp = request.query_params
    recursive = qbool(qp.get("recursive"))
    expand = qbool(qp.get("expand"))
    entries = svc.files.tree(repo, sha, path, recursive)
    page_size = 50 if expand else svc.settings.tree_page_size
    try:
        page_size = min(page_size, int(qp.get("limit") or page_size))
        cursor = int(qp.get("cursor") or 0)
    except ValueError:
        raise BadRequest("Invalid cursor or limit") from None
    if page_size < 1 or cursor < 0:
        raise BadRequest("Invalid cursor or limit: limit must be >= 1 and cursor >= 0")
    page = entries[cursor : cursor + page_size]
    commits = (
        svc.files.commits(repo, {e.last_commit_sha for e in page if e.last_commit_sha}) if expand else None
    )
    headers = {"X-Repo-Commit": sha}
    if cursor + page_size < len(entries):
        headers.update(next_link(request, cursor=cursor + page_size))
    xets = _xet_hashes(request, page)
    security = _security(request, page, expand)
    return json_response([tree_entry(e, commits, xets, security) for e in page], headers=headers)


def paths_info(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    sha = svc.files.resolve_rev(repo, rev)
    raw = request.scope.get("modelyard.body", b"")
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        body = sync_json_body(request)
        if not isinstance(body, dict):
            raise BadRequest("paths-info body must be a JSON object with 'paths'")
        paths = body.get("paths") or []
        expand = bool(body.get("expand"))
    else:
        try:
            form = parse_qs(raw.decode("utf-8", errors="strict"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise BadPayload("paths-info form body is not valid UTF-8") from None
        paths = form.get("paths", [])
        expand = qbool((form.get("expand") or ["false"])[0])
    if not isinstance(paths, list) or len(paths) > 1000 or not all(isinstance(p, str) for p in paths):
        raise BadRequest("'paths' must be a list of at most 1000 paths")
    entries = svc.files.paths_info(repo, sha, [str(p) for p in paths])
    commits = (
        svc.files.commits(repo, {e.last_commit_sha for e in entries if e.last_commit_sha}) if expand else None
    )
    xets = _xet_hashes(request, entries)
    security = _security(request, entries, expand)
    return json_response(
        [tree_entry(e, commits, xets, security) for e in entries], headers={"X-Repo-Commit": sha}
    )


def refs(request: Request, type: str, ns: str, name: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    out: dict[str, list[dict[str, str]]] = {"branches": [], "converts": [], "tags": []}
    prs: list[dict[str, str]] = []
    for ref in svc.files.refs(repo):
        item = {
            "name": ref.name if ref.kind != "pr" else ref.full,
            "ref": ref.full,
            "targetCommit": ref.commit_sha,
        }
        {"branch": out["branches"], "tag": out["tags"], "pr": prs}[ref.kind].append(item)
    result: dict[str, list[dict[str, str]]] = dict(out)
    if qbool(request.query_params.get("include_prs")):
        result["pullRequests"] = prs
    return json_response(result)


def commits(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    qp = request.query_params
    try:
        limit = max(1, min(int(qp.get("limit") or 50), 1000))
        page = int(qp.get("p") or 0)
    except ValueError:
        raise BadRequest("Invalid page or limit") from None
    if page < 0:
        raise BadRequest("Invalid page: must be >= 0")
    formatted = "formatted" in qp.getlist("expand[]") + qp.getlist("expand")
    items, more, _ = svc.files.history(repo, rev, page * limit, limit)
    headers = next_link(request, p=page + 1) if more else None
    return json_response([commit_item(c, formatted) for c in items], headers=headers)


def _repo_for_write(request: Request, type: str, ns: str, name: str) -> Repo:
    return services(request).repos.get_for_write(repo_type(type), ns, name, principal(request))


def branch(request: Request, type: str, ns: str, name: str, branch: str) -> Response:
    svc = services(request)
    repo = _repo_for_write(request, type, ns, name)
    if request.method == "DELETE":
        svc.files.delete_branch(repo, branch)
    else:
        body = sync_json_body(request)
        start = body.get("startingPoint") if isinstance(body, dict) else None
        if start is not None and not isinstance(start, str):
            raise BadRequest("'startingPoint' must be a revision string")
        svc.files.create_branch(repo, branch, start)
    return json_response({})


def tag(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    repo = _repo_for_write(request, type, ns, name)
    if request.method == "DELETE":
        svc.files.delete_tag(repo, rev)
        return json_response({})
    body = sync_json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("tag"), str):
        raise BadRequest("Body needs a 'tag' name")
    if body.get("message") is not None and not isinstance(body.get("message"), str):
        raise BadRequest("Tag 'message' must be a string")
    svc.files.create_tag(repo, rev, body["tag"], body.get("message"))
    return json_response({})


def super_squash(request: Request, type: str, ns: str, name: str, rev: str) -> Response:
    svc = services(request)
    repo = _repo_for_write(request, type, ns, name)
    body = sync_json_body(request)
    msg = (body.get("message") if isinstance(body, dict) else None) or f"Super-squash branch '{rev}'"
    if not isinstance(msg, str):
        raise BadRequest("'message' must be a string")
    who = principal(request)
    assert who is not None
    c = svc.files.super_squash(who, repo, rev, msg)
    return json_response({"commitId": c.sha})


def register(r: Router) -> None:
    r.add("GET", rf"/api/{TYPES}/{REPO}/tree/{REV}(?:/(?P<path>.*))?", tree)
    r.add("POST", rf"/api/{TYPES}/{REPO}/paths-info/{REV}", paths_info)
    r.add("GET", rf"/api/{TYPES}/{REPO}/refs", refs)
    r.add("GET", rf"/api/{TYPES}/{REPO}/commits/{REV}", commits)
    r.add("POST,DELETE", rf"/api/{TYPES}/{REPO}/branch/(?P<branch>.+)", branch)
    r.add("POST,DELETE", rf"/api/{TYPES}/{REPO}/tag/{REV}", tag)
    r.add("POST", rf"/api/{TYPES}/{REPO}/super-squash/{REV}", super_squash)
