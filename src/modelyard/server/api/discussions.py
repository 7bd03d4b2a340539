"""Discussions and pull requests: list, details, create, comment, status, title, merge."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, NotFound, Unauthorized
from modelyard.hub._time import iso
from modelyard.hub.accounts import Principal
from modelyard.hub.discussions import Discussion, Event
from modelyard.hub.pulls import check_change, check_discuss, check_merge
from modelyard.hub.repos import Repo
from modelyard.server.api._common import get_repo, json_response, principal, services, sync_json_body
from modelyard.server.routing import REPO, TYPES, Router


def _event(e: Event) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "type": e.type,
        "createdAt": iso(e.created_at),
        "author": {"name": e.author, "type": "user"} if e.author else None,
        "data": e.data,
    }


def _summary(repo: Repo, d: Discussion) -> dict[str, Any]:
    return {
        "num": d.num,
        "title": d.title,
        "status": d.status,
        "isPullRequest": d.is_pr,
        "createdAt": iso(d.created_at),
        "author": {"name": d.author, "type": "user"},
        "repo": {"name": repo.id_str, "type": repo.type.value},
        "pinned": False,
        "numComments": 0,
        "topReactions": [],
    }


def _details(repo: Repo, d: Discussion) -> dict[str, Any]:
    out = _summary(repo, d)
    out["events"] = [_event(e) for e in d.events]
    if d.is_pr:
        out["changes"] = {"base": f"refs/heads/{d.base_ref or 'main'}", "mergeCommitId": d.merge_commit}
        out["filesWithConflicts"] = []
        out["diff"] = ""
    return out


def _who(request: Request) -> Any:
    who = principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated")
    return who


def require_discuss(repo: Repo, who: Principal) -> None:
    """Opening, commenting (and, for their author, retitling or closing) needs a token that may discuss
    (the rule is hub/pulls.py `check_discuss`, shared with the web pages)."""
    check_discuss(repo, who)


def listing(request: Request, type: str, ns: str, name: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    qp = request.query_params
    items = svc.pulls.discussions(repo)
    kind = qp.get("type", "all")
    status = qp.get("status", "all")
    author = qp.get("author")
    if kind in {"discussion", "pull_request"}:
        items = [d for d in items if d.is_pr == (kind == "pull_request")]
    if status in {"open", "closed"}:
        items = [d for d in items if (d.status in {"open", "draft"}) == (status == "open")]
    if author:
        items = [d for d in items if d.author.lower() == author.lower()]
    try:
        page = int(qp.get("p") or 0)
    except ValueError:
        raise BadRequest("Invalid page 'p': a non-negative integer") from None
    if page < 0:
        raise BadRequest("Invalid page 'p': a non-negative integer")
    per = 50
    return json_response(
        {
            "discussions": [_summary(repo, d) for d in items[page * per : (page + 1) * per]],
            "count": len(items),
            "start": page * per,
            "numClosedDiscussions": 0,
        }
    )


def create(request: Request, type: str, ns: str, name: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    who = _who(request)
    require_discuss(repo, who)
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    d = svc.pulls.open_discussion(
        who,
        repo,
        str(body.get("title") or ""),
        str(body.get("description") or ""),
        bool(body.get("pullRequest")),
    )
    return json_response({"num": d.num, "pullRequest": d.is_pr})


def _num(num: str) -> int:
    if len(num) > 9:  # beyond any discussion number (and SQLite's integers)
        raise NotFound(f"Discussion {num[:20]} not found")
    return int(num)


def details(request: Request, type: str, ns: str, name: str, num: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    return json_response(_details(repo, svc.pulls.discussion(repo, _num(num))))


def action(request: Request, type: str, ns: str, name: str, num: str, action: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    who = _who(request)
    body = sync_json_body(request)
    body = body if isinstance(body, dict) else {}
    d = svc.pulls.discussion(repo, _num(num))
    if action == "comment":
        require_discuss(repo, who)
        ev = svc.pulls.discussion_comment(who, repo, d.num, str(body.get("comment") or ""))
        return json_response({"newMessage": _event(ev)})
    check_change(repo, who, d)  # the author or a maintainer (hub/pulls.py)
    if action == "title":
        ev = svc.pulls.discussion_title(who, repo, d.num, str(body.get("title") or ""))
        return json_response({"newTitle": _event(ev)})
    if action == "status":
        status = body.get("status")
        if status not in {"open", "closed"}:
            raise BadRequest("status must be 'open' or 'closed'")
        ev = svc.pulls.discussion_status(who, repo, d.num, status, body.get("comment"))
        return json_response({"newStatus": _event(ev)})
    check_merge(repo, who)
    svc.pulls.merge_pr(who, repo, d.num, body.get("comment"))
    return json_response({})


def register(r: Router) -> None:
    r.add("GET", rf"/api/{TYPES}/{REPO}/discussions", listing)
    r.add("POST", rf"/api/{TYPES}/{REPO}/discussions", create)
    r.add("GET", rf"/api/{TYPES}/{REPO}/discussions/(?P<num>\d+)", details)
    r.add(
        "POST",
        rf"/api/{TYPES}/{REPO}/discussions/(?P<num>\d+)/(?P<action>comment|title|status|merge)",
        action,
    )
