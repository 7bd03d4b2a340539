"""Server-rendered web UI (Jinja2, a little JavaScript). `web_routes()` is mounted by `create_app` after the
HF API: everything the raw-path API router does not match falls through to these routes."""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.errors import NotFound
from modelyard.server.web import (
    account_views,
    discussion_views,
    edit_views,
    endpoint_views,
    job_views,
    settings_views,
    space_views,
)
from modelyard.server.web import collection_views as cv
from modelyard.server.web import gating_views as gv
from modelyard.server.web import repo_views as rv
from modelyard.server.web import search_views as sv
from modelyard.server.web import views as v
from modelyard.server.web.compress import HtmlGZip
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import Pages
from modelyard.server.web.security import PAGE_HEADERS

STATIC = Path(__file__).parent / "static"
# the area modules: each adds its fixed routes and its repo routes (kit.py)
AREAS = (account_views, edit_views, discussion_views, settings_views, endpoint_views, space_views, job_views)


class NoSniff:
    """Static files with `X-Content-Type-Options: nosniff` and the pages' CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, val in PAGE_HEADERS.items():
                    headers.setdefault(k, val)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page_not_found(pages: Pages, request: Request, **_: str) -> Response:
    """The catch-all: a 404 page through `guarded`, so it carries the X-Error-* headers like every error."""
    raise NotFound("Page not found")


def web_routes() -> list[BaseRoute]:
    """The web UI's routes. Fixed paths first (each area module's `routes(kit)`), then `/{user}`, then the
    `/{ns}/{name}/...` repo pages (each area module's `repo_routes(kit, base, prefix)`), then the 404 page."""
    kit = RouteKit(Pages())
    g, form = kit.page, kit.form
    routes: list[BaseRoute] = [
        Mount("/static", app=NoSniff(StaticFiles(directory=STATIC)), name="static"),
        Route("/", g(v.list_page), methods=["GET"]),
        Route("/logout", g(v.logout_page), methods=["GET"]),
        Route("/logout", form(v.logout_submit), methods=["POST"]),
        Route("/models", g(v.list_page, plural="models"), methods=["GET"]),
        Route("/datasets", g(v.list_page, plural="datasets"), methods=["GET"]),
        Route("/spaces", g(v.list_page, plural="spaces"), methods=["GET"]),
        Route("/search", g(sv.search_page), methods=["GET"]),
        Route("/datasets/{ns}/{name}/viewer", g(rv.dataset_viewer), methods=["GET"]),
        Route("/collections/{owner}", g(cv.owner_page), methods=["GET"]),
        Route("/collections/{owner}/{slug}", g(cv.collection_page), methods=["GET"]),
    ]
    for area in AREAS:
        routes += area.routes(kit)
    routes.append(Route("/{user}", g(v.user_page), methods=["GET"]))
    for prefix in ("datasets", "spaces", None):
        base = f"/{prefix}/{{ns}}/{{name}}" if prefix else "/{ns}/{name}"
        routes += [
            Route(base, g(rv.repo_page, prefix=prefix), methods=["GET"]),
            Route(base + "/tree/{rev}", g(rv.tree_page, prefix=prefix), methods=["GET"]),
            Route(base + "/tree/{rev}/{path:path}", g(rv.tree_page, prefix=prefix), methods=["GET"]),
            Route(base + "/blob/{rev}/{path:path}", g(rv.blob_page, prefix=prefix), methods=["GET"]),
            Route(base + "/commits/{rev}", g(rv.commits_page, prefix=prefix), methods=["GET"]),
            Route(base + "/commit/{sha}", g(rv.commit_page, prefix=prefix), methods=["GET"]),
            Route(base + "/like", form(rv.like, prefix=prefix, with_pages=False), methods=["POST"]),
            # gated repos: ask for access (the repo page's form); the maintainers' review page and its buttons
            Route(
                base + "/ask-access", form(gv.ask_access, prefix=prefix, with_pages=False), methods=["POST"]
            ),
            Route(base + "/settings/gated-user-access", g(gv.access_page, prefix=prefix), methods=["GET"]),
            Route(
                base + "/settings/gated-user-access",
                form(gv.handle_access, prefix=prefix, with_pages=False),
                methods=["POST"],
            ),
        ]
        for area in AREAS:
            routes += area.repo_routes(kit, base, prefix)
    routes.append(Route("/{path:path}", g(_page_not_found), methods=["GET"]))
    # gzip for the HTML pages (never downloads: those are the API's routes, and static files)
    for r in routes:
        if isinstance(r, Route):
            r.app = HtmlGZip(r.app)
    return routes


__all__ = ["Mount", "web_routes"]
