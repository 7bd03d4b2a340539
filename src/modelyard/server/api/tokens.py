"""Access-token management (ModelYard's own routes; no official client has them):

- ``GET /api/settings/tokens``: the caller's tokens (name, role, createdAt, expiresAt, fineGrained), never a value;
- ``POST /api/settings/tokens`` ``{"name", "role": "read"|"write"|"fineGrained", "fineGrained"?: {canReadGatedRepos,
  global, scoped}, "expiresAt"?: ISO 8601}``: a new token, its value shown once in ``token``;
- ``DELETE /api/settings/tokens/{name}``: revoke it (every web session opened with it ends too).

Escalation guard: only a ``write``-role token manages tokens (a read or fine-grained token answers 403, so a scoped
token can never mint a broader one), and a fine-grained token may only be scoped to the caller's own namespace, the
orgs it belongs to, or resources in them (403 otherwise). Created and revoked tokens are in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, NotFound, Unauthorized
from modelyard.hub.access import TOKEN_ROLES, Grants
from modelyard.hub.accounts import Principal, require_token_manager
from modelyard.server.api._common import json_response, principal, services, sync_json_body
from modelyard.server.routing import Router

TOKEN_NAME = r"(?P<name>[^/]+)"


def _manager(request: Request) -> Principal:
    """The caller, if its token may manage tokens: a plain ``write`` token only (hub.accounts)."""
    who = principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated to manage access tokens")
    require_token_manager(who)
    return who


def _expires_at(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest("Invalid 'expiresAt': an ISO 8601 time like 2027-01-31T00:00:00Z")
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"Invalid 'expiresAt' {value[:40]!r}: an ISO 8601 time like 2027-01-31T00:00:00Z"
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def listing(request: Request) -> Response:
    who = _manager(request)
    return json_response(services(request).accounts.token_infos(who.account.name))


def create(request: Request) -> Response:
    who = _manager(request)
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    name, role = body.get("name"), body.get("role", "read")
    if not isinstance(name, str):
        raise BadRequest("Invalid 'name': 1 to 100 characters, no '/'")
    if role not in TOKEN_ROLES:
        raise BadRequest(f"Invalid 'role' {role!r}: one of {', '.join(TOKEN_ROLES)}")
    grants: Grants | None = None
    if role == "fineGrained":
        grants = Grants.parse(body.get("fineGrained"))
    elif body.get("fineGrained") is not None:
        raise BadRequest("'fineGrained' is only for tokens with the 'fineGrained' role")
    expires = _expires_at(body.get("expiresAt"))
    accounts = services(request).accounts
    # the escalation guard, names, duplicates and the per-user cap: one rule, shared with the web token page
    token = accounts.issue_token(who, name, role, grants, expires)
    name = name.strip()
    info: dict[str, Any] = next(t for t in accounts.token_infos(who.account.name) if t["displayName"] == name)
    return json_response({"token": token, **info})


def revoke(request: Request, name: str) -> Response:
    who = _manager(request)
    if not services(request).accounts.revoke_token(who.account.name, name, actor=who):
        raise NotFound(f"No token called {name[:100]!r}")
    return json_response({"revoked": name})


def register(r: Router) -> None:
    r.add("GET", r"/api/settings/tokens", listing)
    r.add("POST", r"/api/settings/tokens", create)
    r.add("DELETE", rf"/api/settings/tokens/{TOKEN_NAME}", revoke)
