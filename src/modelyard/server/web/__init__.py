"""Server-rendered web UI (Jinja2, a little JavaScript). `web_routes()` is mounted by `create_app` after the
HF API: everything the raw-path API router does not match falls through to these routes."""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from modelyard.server.web import repo_views as rv
from modelyard.server.web import views as v
from modelyard.server.web.render import Pages

STATIC = Path(__file__).parent / "static"


def web_routes() -> list[BaseRoute]:
    """The web UI's routes. Fixed paths first, then `/{user}`, then `/{ns}/{name}/...` repo pages."""
    pages = Pages()

    def g(fn: v.View, **bound: object) -> v.Endpoint:
        return v.guarded(pages, functools.partial(fn, pages, **bound))

    routes: list[BaseRoute] = [
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/", g(v.list_page), methods=["GET"]),
        Route("/login", g(v.login_form), methods=["GET"]),
        Route("/login", functools.partial(v.login_submit, pages), methods=["POST"]),
        Route("/logout", v.logout, methods=["GET", "POST"]),
        Route("/models", g(v.list_page, plural="models"), methods=["GET"]),
        Route("/datasets", g(v.list_page, plural="datasets"), methods=["GET"]),
        Route("/spaces", g(v.list_page, plural="spaces"), methods=["GET"]),
        Route("/datasets/{ns}/{name}/viewer", g(rv.dataset_viewer), methods=["GET"]),
        Route("/{user}", g(v.user_page), methods=["GET"]),
    ]
    for prefix in ("datasets", "spaces", None):
        base = f"/{prefix}/{{ns}}/{{name}}" if prefix else "/{ns}/{name}"
        routes += [
            Route(base, g(rv.repo_page, prefix=prefix), methods=["GET"]),
            Route(base + "/tree/{rev}", g(rv.tree_page, prefix=prefix), methods=["GET"]),
            Route(base + "/tree/{rev}/{path:path}", g(rv.tree_page, prefix=prefix), methods=["GET"]),
            Route(base + "/blob/{rev}/{path:path}", g(rv.blob_page, prefix=prefix), methods=["GET"]),
            Route(base + "/commits/{rev}", g(rv.commits_page, prefix=prefix), methods=["GET"]),
            Route(base + "/commit/{sha}", g(rv.commit_page, prefix=prefix), methods=["GET"]),
            Route(
                base + "/like", v.guarded(pages, functools.partial(rv.like, prefix=prefix)), methods=["POST"]
            ),
        ]
    routes.append(Route("/{path:path}", g(v.not_found), methods=["GET"]))
    return routes


__all__ = ["Mount", "web_routes"]
