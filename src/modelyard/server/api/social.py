"""Likes: POST/DELETE /api/{type}s/{repo}/like, GET .../likers, GET /api/users/{u}/likes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, UserNotFound
from modelyard.hub._time import iso
from modelyard.hub.likes import Likes
from modelyard.server.api._common import get_repo, json_response, next_link, principal, services
from modelyard.server.routing import REPO, TYPES, Router


def _likes(request: Request) -> Likes:
    return Likes(services(request).db)


def like(request: Request, type: str, ns: str, name: str) -> Response:
    repo = get_repo(request, type, ns, name)
    n = _likes(request).set(principal(request), repo, request.method == "POST")
    return json_response({"likes": n, "liked": request.method == "POST"})


def likers(request: Request, type: str, ns: str, name: str) -> Response:
    repo = get_repo(request, type, ns, name)
    try:
        offset = max(0, min(int(request.query_params.get("offset") or 0), 2**31))  # SQLite: < 2**63
        limit = max(1, min(int(request.query_params.get("limit") or 1000), 1000))
    except ValueError:
        raise BadRequest("limit and offset must be integers") from None
    svc = services(request)
    names, more = _likes(request).likers(repo, offset, limit)
    out = []
    for n in names:
        acc = svc.accounts.find(n)
        out.append({"user": n, "fullname": acc.fullname if acc else n, "avatarUrl": None, "type": "user"})
    return json_response(
        out, headers=next_link(request, offset=offset + limit, limit=limit) if more else None
    )


def user_likes(request: Request, user: str) -> Response:
    acc = services(request).accounts.find(user)
    if acc is None:
        raise UserNotFound(f"User {user} not found")
    items = _likes(request).by_user(acc.id, principal(request))
    return json_response(
        [
            {"createdAt": iso(x.created_at), "repo": {"name": x.repo.id_str, "type": x.repo.type.value}}
            for x in items
        ]
    )


def register(r: Router) -> None:
    r.add("POST,DELETE", rf"/api/{TYPES}/{REPO}/like", like)
    r.add("GET", rf"/api/{TYPES}/{REPO}/likers", likers)
    r.add("GET", r"/api/users/(?P<user>[^/]+)/likes", user_likes)
