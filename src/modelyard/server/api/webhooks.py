"""Webhooks (`HfApi.create_webhook` … `delete_webhook`) and their delivery log. The caller's own webhooks only:
anyone else's id answers 404, as an unknown one does. Shapes: hub-protocol-2.md §3; the log is ModelYard's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest
from modelyard.hub._time import iso
from modelyard.hub.webhooks import LOG_SIZE, Delivery, Webhook
from modelyard.server.api._common import json_response, principal, services, sync_json_body
from modelyard.server.routing import Router

WEBHOOK_ID = r"(?P<webhook_id>[^/]+)"


def webhook_json(w: Webhook) -> dict[str, Any]:
    return {
        "id": w.id,
        "url": w.url,
        "job": None,
        "watched": [{"type": i.type, "name": i.name} for i in w.watched],
        "domains": list(w.domains),
        "secret": w.secret,
        "disabled": w.disabled,
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    due = d.next_attempt_ms
    return {
        "id": d.id,
        "event": {"action": d.action, "scope": d.scope},
        "status": d.state,
        "createdAt": iso(d.created_at),
        "nextAttemptAt": iso(datetime.fromtimestamp(due / 1000, UTC)) if due is not None else None,
        "attempts": [
            {"at": iso(a.at), "statusCode": a.status_code, "error": a.error, "durationMs": a.duration_ms}
            for a in d.attempts
        ],
    }


def _body(request: Request) -> dict[str, Any]:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    if body.get("jobSourceId") is not None or body.get("secrets") is not None:
        raise BadRequest("Job-triggered webhooks are not supported: give a 'url'")
    return body


def listing(request: Request) -> Response:
    hooks = services(request).webhooks.owned(principal(request))
    return json_response([webhook_json(w) for w in hooks])


def create(request: Request) -> Response:
    body = _body(request)
    w = services(request).webhooks.create(
        principal(request), body.get("url"), body.get("watched"), body.get("domains"), body.get("secret")
    )
    return json_response({"webhook": webhook_json(w)})


def get(request: Request, webhook_id: str) -> Response:
    return json_response(
        {"webhook": webhook_json(services(request).webhooks.get(principal(request), webhook_id))}
    )


def update(request: Request, webhook_id: str) -> Response:
    w = services(request).webhooks.update(principal(request), webhook_id, _body(request))
    return json_response({"webhook": webhook_json(w)})


def delete(request: Request, webhook_id: str) -> Response:
    services(request).webhooks.delete(principal(request), webhook_id)
    return json_response({})


def toggle(request: Request, webhook_id: str, switch: str) -> Response:
    w = services(request).webhooks.set_disabled(principal(request), webhook_id, switch == "disable")
    return json_response({"webhook": webhook_json(w)})


def deliveries(request: Request, webhook_id: str) -> Response:
    raw = request.query_params.get("limit") or str(LOG_SIZE)
    if not raw.isdigit() or len(raw) > 6:
        raise BadRequest("Invalid 'limit': a positive integer")
    log = services(request).webhooks.deliveries(principal(request), webhook_id, int(raw))
    return json_response([delivery_json(d) for d in log])


def register(r: Router) -> None:
    r.add("GET", r"/api/settings/webhooks", listing)
    r.add("POST", r"/api/settings/webhooks", create)
    r.add("GET", rf"/api/settings/webhooks/{WEBHOOK_ID}/deliveries", deliveries)
    r.add("POST", rf"/api/settings/webhooks/{WEBHOOK_ID}/(?P<switch>enable|disable)", toggle)
    r.add("GET", rf"/api/settings/webhooks/{WEBHOOK_ID}", get)
    r.add("POST", rf"/api/settings/webhooks/{WEBHOOK_ID}", update)
    r.add("DELETE", rf"/api/settings/webhooks/{WEBHOOK_ID}", delete)
