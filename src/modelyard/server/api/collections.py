"""Collections: /api/collections (list, create), /api/collections/{slug} (get, update, delete) and its items.

Shapes follow huggingface_hub's `Collection`/`CollectionItem` (hf_api.py) and @huggingface/hub's types: `owner` is an
author object, a listing omits `position` (the client numbers the listing itself) and carries the first items only,
PATCH answers `{"data": Collection}`, a 409 on create carries the existing collection's `slug`.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest
from modelyard.hub._time import iso
from modelyard.hub.accounts import Principal
from modelyard.hub.collections import LISTING_ITEMS, Collection, Collections, Item
from modelyard.server.api._common import json_response, next_link, principal, services, sync_json_body
from modelyard.server.routing import Router

SLUG = r"(?P<owner>[^/]+)/(?P<slug>[^/]+)"


def collections_of(request: Request) -> Collections:
    svc = services(request)
    return Collections(svc.db, svc.repos, svc.accounts, svc.buckets)


def owner_json(request: Request, namespace: str) -> dict[str, Any]:
    acc = services(request).accounts.find(namespace)
    return {
        "_id": str(acc.id) if acc else "",
        "name": namespace,
        "fullname": (acc.fullname if acc else "") or namespace,
        "type": acc.kind if acc else "user",
        "avatarUrl": "",
        "isHf": False,
        "isHfAdmin": False,
        "isMod": False,
    }


def item_json(request: Request, it: Item) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": it.object_id, "position": it.position, "type": it.item_type}
    if it.note:
        out["note"] = {"text": it.note, "html": html.escape(it.note)}
    if it.repo is not None:
        r = it.repo
        out.update(
            id=r.id_str,
            author=r.namespace,
            repoType=r.type.value,
            private=r.private,
            gated=r.gated or False,
            likes=r.likes,
            downloads=r.downloads,
            lastModified=iso(r.last_modified),
        )
        if r.pipeline_tag:
            out["pipeline_tag"] = r.pipeline_tag
    elif it.collection is not None:
        c = it.collection
        out.update(id=c.object_id, slug=c.slug, title=c.title, private=c.private, theme=c.theme)
        out["owner"] = owner_json(request, c.namespace)
    elif it.bucket is not None:
        b = it.bucket
        out.update(id=b.id_str, author=b.namespace, private=b.private, lastModified=iso(b.last_modified))
    else:
        out.update(id=it.paper_id, title=it.paper_id)
    return out


def collection_json(
    request: Request, c: Collection, who: Principal | None, *, listing: bool = False
) -> dict[str, Any]:
    items = collections_of(request).items(c, who, limit=LISTING_ITEMS if listing else None)
    out: dict[str, Any] = {
        "slug": c.slug,
        "title": c.title,
        "owner": owner_json(request, c.namespace),
        "items": [item_json(request, it) for it in items],
        "lastUpdated": iso(c.last_updated),
        "private": c.private,
        "theme": c.theme,
        "upvotes": c.upvotes,
        "isUpvotedByUser": False,
        "gating": False,
    }
    if c.description:
        out["description"] = c.description
    if not listing:  # the Python client numbers a listing itself: `position` there is a TypeError
        out["position"] = c.position
    return out


def _body(request: Request) -> dict[str, Any]:
    body = sync_json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


def list_collections(request: Request) -> Response:
    qp = request.query_params
    try:
        limit = max(1, min(int(qp.get("limit") or 100), 100))
        offset = max(0, min(int(qp.get("offset") or 0), 2**31))
    except ValueError:
        raise BadRequest("limit and offset must be integers") from None
    who = principal(request)
    found, more = collections_of(request).search(
        who, qp.getlist("owner"), qp.getlist("item"), qp.get("sort"), offset, limit
    )
    return json_response(
        [collection_json(request, c, who, listing=True) for c in found],
        headers=next_link(request, offset=offset + limit) if more else None,
    )


def create(request: Request) -> Response:
    body = _body(request)
    who = principal(request)
    rg = body.get("resourceGroupId")
    if rg is not None:
        raise BadRequest("Resource groups are not supported")
    c = collections_of(request).create(
        who, body.get("title"), body.get("namespace"), body.get("private"), body.get("description")
    )
    return json_response(collection_json(request, c, who))


def get(request: Request, owner: str, slug: str) -> Response:
    who = principal(request)
    c = collections_of(request).get(f"{owner}/{slug}", who)
    return json_response(collection_json(request, c, who))


def update(request: Request, owner: str, slug: str) -> Response:
    body = _body(request)
    who = principal(request)
    c = collections_of(request).update(who, f"{owner}/{slug}", body)
    return json_response({"data": collection_json(request, c, who)})


def delete(request: Request, owner: str, slug: str) -> Response:
    collections_of(request).delete(principal(request), f"{owner}/{slug}")
    return json_response({})


def resource_group(request: Request, owner: str, slug: str) -> Response:
    body = _body(request)
    collections_of(request).get_for_write(f"{owner}/{slug}", principal(request))
    if body.get("resourceGroupId") is not None:
        raise BadRequest("Resource groups are not supported")
    return json_response({})


def add_item(request: Request, owner: str, slug: str) -> Response:
    body = _body(request)
    item = body.get("item")
    if not isinstance(item, dict):
        raise BadRequest("Body needs 'item': {'id': ..., 'type': ...}")
    who = principal(request)
    c = collections_of(request).add_item(
        who, f"{owner}/{slug}", item.get("type"), item.get("id"), body.get("note")
    )
    return json_response(collection_json(request, c, who))


def item(request: Request, owner: str, slug: str, item: str) -> Response:
    who = principal(request)
    cols = collections_of(request)
    if request.method == "DELETE":
        cols.delete_item(who, f"{owner}/{slug}", item)
    else:
        body = _body(request)
        cols.update_item(who, f"{owner}/{slug}", item, body.get("note"), body.get("position"))
    return json_response({})


def register(r: Router) -> None:
    r.add("GET", r"/api/collections", list_collections)
    r.add("POST", r"/api/collections", create)
    r.add("GET", rf"/api/collections/{SLUG}", get)
    r.add("PATCH", rf"/api/collections/{SLUG}", update)
    r.add("DELETE", rf"/api/collections/{SLUG}", delete)
    r.add("POST", rf"/api/collections/{SLUG}/resource-group", resource_group)
    r.add("POST", rf"/api/collections/{SLUG}/items", add_item)
    r.add("PATCH,DELETE", rf"/api/collections/{SLUG}/items/(?P<item>[^/]+)", item)
