"""Access requests of gated repos (hub-protocol-2.md §4): the maintainers' routes `HfApi` calls
(`list_{pending,accepted,rejected}_access_requests`, `accept/reject/cancel_access_request`, `grant_access`) and
ModelYard's own user-side route to ask for access with the card's form answers (the Hub has only a web form):

    POST /api/{type}/{ns}/{name}/user-access-request/request   {"fields": {<label>: <answer>, ...}}

answered with the caller's request (`status` "accepted" at once on an ``auto`` gate, else "pending")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest
from modelyard.hub import audit
from modelyard.hub._time import iso
from modelyard.hub.gating import AccessRequest
from modelyard.server.api._common import (
    get_repo,
    json_response,
    next_link,
    principal,
    services,
    sync_json_body,
)
from modelyard.server.routing import REPO, TYPES, Router

BASE = rf"/api/{TYPES}/{REPO}/user-access-request"


def request_json(r: AccessRequest, owner_view: bool = True) -> dict[str, Any]:
    """One request in the Hub's listing shape (`AccessRequest` of huggingface_hub), plus ModelYard's extras."""
    out: dict[str, Any] = {
        "requestId": r.request_id,
        "status": r.status,
        "timestamp": iso(r.created_at),
        "updatedAt": iso(r.updated_at),
        "fields": r.fields or {},
    }
    if owner_view:
        out["user"] = {"user": r.user.name, "fullname": r.user.fullname, "type": "user"}
        out["handledBy"] = r.handled_by
    if r.status == "rejected" and r.rejection_reason:
        out["rejectionReason"] = r.rejection_reason
    return out


def _body(request: Request) -> dict[str, Any]:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


def listing(request: Request, type: str, ns: str, name: str, status: str) -> Response:
    svc = services(request)
    repo = get_repo(request, type, ns, name)
    cursor = request.query_params.get("cursor") or "0"
    if not cursor.isdigit() or len(cursor) > 18:
        raise BadRequest("Invalid cursor")
    rows, after = svc.gating.list(principal(request), repo, status, int(cursor))
    headers = next_link(request, cursor=after) if after is not None else None
    return json_response([request_json(r) for r in rows], headers=headers)


def handle(request: Request, type: str, ns: str, name: str) -> Response:
    body = _body(request)
    repo = get_repo(request, type, ns, name)
    r = services(request).gating.handle(
        principal(request),
        repo,
        body.get("status"),
        user=body.get("user"),
        request_id=body.get("requestId"),
        reason=body.get("rejectionReason"),
    )
    return json_response(request_json(r))


def grant(request: Request, type: str, ns: str, name: str) -> Response:
    body = _body(request)
    repo = get_repo(request, type, ns, name)
    r = services(request).gating.grant(principal(request), repo, body.get("user"))
    return json_response(request_json(r))


def ask(request: Request, type: str, ns: str, name: str) -> Response:
    """The caller asks for access, with the answers to the card's `extra_gated_fields`."""
    body = _body(request)
    repo = get_repo(request, type, ns, name)
    r = services(request).gating.request(principal(request), repo, body.get("fields"), audit.client_ip.get())
    return json_response(request_json(r, owner_view=False))


def register(r: Router) -> None:
    r.add("GET", BASE + r"/(?P<status>pending|accepted|rejected)", listing)
    r.add("POST", BASE + r"/handle", handle)
    r.add("POST", BASE + r"/grant", grant)
    r.add("POST", BASE + r"/request", ask)
