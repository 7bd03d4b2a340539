"""The audit log (ModelYard's own routes): `GET /api/admin/audit-log` (site admins, every entry) and
`GET /api/organizations/{org}/audit-log` (the org's admins, the org's entries only).

Who may read: anonymous 401; the site log needs a site admin, the org log an admin of the org (or a site admin),
else 403. The token must allow `org.read` (hub/access.py `Perm.ORG_READ`: org settings, members, audit log): read
and write tokens do; a fine-grained token needs it globally (site log) or globally or on the org (org log), else
403 TokenScope. Filters: ?action= (exact, or a prefix "repo.*"), ?actor=, ?since= (ISO 8601), ?limit= (1..1000);
newest first, paged with a `Link: rel="next"` header (?cursor=).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, Forbidden, TokenScope, Unauthorized
from modelyard.hub.access import Perm
from modelyard.hub.accounts import Principal
from modelyard.hub.audit import DEFAULT_LIMIT, MAX_LIMIT, Audit, entry_json
from modelyard.server.api._common import json_response, next_link, principal, services
from modelyard.server.routing import Router

#: The token permission reading an audit log needs (see the module docstring).
AUDIT_PERM = Perm.ORG_READ
_PLUS_AS_SPACE = re.compile(r"(T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$")


def _int(request: Request, key: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise BadRequest(f"Invalid {key!r}: a positive integer")
    return max(lo, min(int(raw), hi))


def _since(request: Request) -> datetime | None:
    raw = request.query_params.get("since")
    if not raw:
        return None
    try:
        # a "+" of the offset arrives as a space when the client did not percent-encode it
        dt = datetime.fromisoformat(_PLUS_AS_SPACE.sub(r"\1+\2", raw.strip()).replace("Z", "+00:00"))
        dt = (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"Invalid 'since' {raw[:40]!r}: an ISO 8601 time like 2026-12-01T00:00:00Z"
        ) from None
    return dt


def _page(request: Request, namespace: str | None) -> Response:
    qp = request.query_params
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    assert limit is not None
    cursor = _int(request, "cursor", None, 0, 2**62)
    action = (qp.get("action") or "").strip() or None
    actor = (qp.get("actor") or "").strip() or None
    for key, value in (("action", action), ("actor", actor)):
        if value is not None and (len(value) > 100 or not value.isprintable()):
            raise BadRequest(f"Invalid {key!r}: at most 100 printable characters")
    entries, more = Audit(services(request).db).list(
        namespace=namespace, actor=actor, action=action, since=_since(request), limit=limit, cursor=cursor
    )
    return json_response(
        [entry_json(e) for e in entries],
        headers=next_link(request, cursor=more) if more is not None else None,
    )


def _authenticated(request: Request) -> Principal:
    who = principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated to read an audit log")
    return who


def site_log(request: Request) -> Response:
    who = _authenticated(request)
    if not who.is_admin:
        raise Forbidden("Only site admins can read the site's audit log")
    if who.role == "fineGrained" and AUDIT_PERM not in who.grants.global_perms:
        raise TokenScope(
            f"This token (fineGrained token {who.token_name!r}) needs the global {AUDIT_PERM!r} permission "
            "to read the site's audit log"
        )
    if not who.allows(AUDIT_PERM, "user", who.account.name):
        raise TokenScope(f"This token ({who.role} token {who.token_name!r}) does not have {AUDIT_PERM!r}")
    return _page(request, None)


def org_log(request: Request, org: str) -> Response:
    who = _authenticated(request)
    o = services(request).accounts.require_org_admin(who, org, AUDIT_PERM)  # 404 / 403 / TokenScope
    return _page(request, o.name)


def register(r: Router) -> None:
    r.add("GET", r"/api/admin/audit-log", site_log)
    r.add("GET", r"/api/organizations/(?P<org>[^/]+)/audit-log", org_log)
