"""Collection pages: /collections/{owner} (an owner's collections) and /collections/{owner}/{slug} (one, its items).

Only what the viewer may see is shown: private collections to members of their namespace, repo items to those who
may read the repo, collection items to those who may see that collection (hub.collections filters all three)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import UserNotFound
from modelyard.hub.collections import Collections
from modelyard.server.web.render import Pages, services, web_principal


def _collections(request: Request) -> Collections:
    svc = services(request)
    return Collections(svc.db, svc.repos, svc.accounts, svc.buckets)


def collection_page(pages: Pages, request: Request, owner: str, slug: str) -> Response:
    who = web_principal(request)
    cols = _collections(request)
    c = cols.get(f"{owner}/{slug}", who)
    return pages.render(request, "collection.html", collection=c, items=cols.items(c, who))


def owner_page(pages: Pages, request: Request, owner: str) -> Response:
    acc = services(request).accounts.find(owner)
    if acc is None:
        raise UserNotFound(f"No user or organization called {owner!r}")
    found = _collections(request).of_owner(acc.name, web_principal(request))
    return pages.render(request, "collections.html", account=acc, collections=found)
