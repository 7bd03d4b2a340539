"""Organisations: the Hub's overview and member list, and ModelYard's own member and settings management.

- `GET /api/organizations/{org}/overview` (`HfApi.get_organization_overview`): public; repo counts are those the
  caller may see.
- `GET /api/organizations/{org}/members` (`HfApi.list_organization_members`): public, paginated (`?limit=`,
  `?cursor=`, `Link: rel="next"`), the username under `user`. Each member's `role` is shown only to members of the
  org (any role) and site admins whose token allows `org.read`.
- `POST /api/organizations/{org}/members` `{"user", "role"}`, `PUT …/members/{user}` `{"role"}`,
  `DELETE …/members/{user}`: no official client route exists; they need an org admin (or a site admin) with a
  token allowing `org.write` (`Accounts.require_org_admin`). The last admin can be neither removed nor demoted
  (409).
- `GET /api/organizations/{org}/settings` (members and site admins, token `org.read`) and `PUT` (admins, token
  `org.write`) `{"defaultRepoVisibility": "private" | "public"}`: new repos created without `private` follow it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from modelyard.hub.access import ORG_ROLES, Perm
from modelyard.hub.accounts import Account, Principal
from modelyard.hub.search import Query
from modelyard.server.api._common import json_response, next_link, principal, services, sync_json_body
from modelyard.server.routing import Router
from modelyard.types import RepoType

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
_ORG = r"/api/organizations/(?P<org>[^/]+)"


def _org(request: Request, org: str) -> Account:
    acc = services(request).accounts.find(org)
    if acc is None or acc.kind != "org":
        raise NotFound(f"Organization {org[:100]!r} not found")
    return acc


def _sees_private(who: Principal | None, org: Account) -> bool:
    """Members (any role) and site admins see roles and settings, with a token allowing `org.read`."""
    return (
        who is not None
        and (who.member_of(org.name) or who.is_admin)
        and who.allows(Perm.ORG_READ, "org", org.name)
    )


def _member_json(acc: Account, role: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "user": acc.name,
        "fullname": acc.fullname,
        "avatarUrl": "",
        "type": "user",
        "isPro": False,
    }
    if role is not None:
        out["role"] = role
    return out


def _count(request: Request, org: Account, rtype: RepoType, who: Principal | None) -> int:
    search, n, offset = services(request).search, 0, 0
    while True:
        page, more = search.list(Query(rtype, author=org.name, limit=1000, offset=offset), who)
        n += len(page)
        if not more:
            return n
        offset += 1000


def overview(request: Request, org: str) -> Response:
    o = _org(request, org)
    who = principal(request)
    members = services(request).accounts.members(o.name)
    return json_response(
        {
            "name": o.name,
            "fullname": o.fullname,
            "avatarUrl": "",
            "details": "",
            "isVerified": False,
            "isFollowing": False,
            "type": "org",
            "numUsers": len(members),
            "numModels": _count(request, o, RepoType.MODEL, who),
            "numDatasets": _count(request, o, RepoType.DATASET, who),
            "numSpaces": _count(request, o, RepoType.SPACE, who),
            "numFollowers": 0,
            "numPapers": 0,
        }
    )


def _int(request: Request, key: str, default: int, hi: int) -> int:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(f"Invalid {key!r}: a non-negative integer")
    return min(int(raw), hi)


def members(request: Request, org: str) -> Response:
    o = _org(request, org)
    limit = max(1, _int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT))
    offset = _int(request, "cursor", 0, 2**31)
    show_roles = _sees_private(principal(request), o)
    rows = services(request).accounts.members(o.name)
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return json_response(
        [_member_json(acc, role if show_roles else None) for acc, role in page],
        headers=next_link(request, cursor=offset + limit) if more else None,
    )


def _body(request: Request) -> dict[str, Any]:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


def _role(body: dict[str, Any]) -> str:
    role = body.get("role")
    if not isinstance(role, str) or role not in ORG_ROLES:
        raise BadRequest(f"Invalid role {str(role)[:40]!r}: one of {', '.join(ORG_ROLES)}")
    return role


def _role_of(request: Request, org: Account, user: str) -> str | None:
    return next(
        (r for a, r in services(request).accounts.members(org.name) if a.name.lower() == user.lower()), None
    )


def _member_response(request: Request, org: Account, user: str) -> Response:
    acc = services(request).accounts.get(user)
    return json_response(_member_json(acc, _role_of(request, org, acc.name)))


def add_member(request: Request, org: str) -> Response:
    who = principal(request)
    o = services(request).accounts.require_org_admin(who, org)
    body = _body(request)
    user = body.get("user")
    if not isinstance(user, str) or not user or len(user) > 100:
        raise BadRequest("Body needs 'user': the name of the user to add")
    role = _role(body)
    acc = services(request).accounts.get(user)  # UserNotFound 404
    if _role_of(request, o, acc.name) is not None:
        raise Conflict(f"{acc.name!r} is already a member of {o.name!r}: change the role with PUT")
    services(request).accounts.add_member(o.name, acc.name, role, actor=who)
    return _member_response(request, o, acc.name)


def set_role(request: Request, org: str, user: str) -> Response:
    who = principal(request)
    o = services(request).accounts.require_org_admin(who, org)
    role = _role(_body(request))
    if _role_of(request, o, user) is None:
        raise NotFound(f"{user[:100]!r} is not a member of {o.name!r}")
    services(request).accounts.add_member(o.name, user, role, actor=who)
    return _member_response(request, o, user)


def remove_member(request: Request, org: str, user: str) -> Response:
    who = principal(request)
    o = services(request).accounts.require_org_admin(who, org)
    services(request).accounts.remove_member(o.name, user, actor=who)  # NotFound / Conflict (last admin)
    return json_response({})


def get_settings(request: Request, org: str) -> Response:
    who = principal(request)
    o = _org(request, org)
    if who is None:
        raise Unauthorized("You must be authenticated to read an organization's settings")
    if not who.member_of(o.name) and not who.is_admin:
        raise Forbidden(f"Only members of {o.name!r} can read its settings")
    who.require(Perm.ORG_READ, "org", o.name)
    return json_response(services(request).accounts.org_settings(o.name))


def put_settings(request: Request, org: str) -> Response:
    who = principal(request)
    accounts = services(request).accounts
    o = accounts.require_org_admin(who, org)
    body = _body(request)
    vis = body.get("defaultRepoVisibility")
    if vis not in ("private", "public"):
        raise BadRequest("Body needs 'defaultRepoVisibility': 'private' or 'public'")
    accounts.set_org_settings(o.name, vis == "private", actor=who)
    return json_response(accounts.org_settings(o.name))


def register(r: Router) -> None:
    r.add("GET", _ORG + "/overview", overview)
    r.add("GET", _ORG + "/members", members)
    r.add("POST", _ORG + "/members", add_member)
    r.add("PUT", _ORG + r"/members/(?P<user>[^/]+)", set_role)
    r.add("DELETE", _ORG + r"/members/(?P<user>[^/]+)", remove_member)
    r.add("GET", _ORG + "/settings", get_settings)
    r.add("PUT", _ORG + "/settings", put_settings)
