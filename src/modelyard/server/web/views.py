"""Web pages: home/search listings, user and org pages, login/logout, error pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.errors import HubError, UserNotFound
from modelyard.hub.search import Query
from modelyard.server.web.render import COOKIE, Pages, services, web_principal
from modelyard.types import RepoType

PAGE_SIZE = 30
SORTS = [
    ("downloads", "Most downloads"),
    ("likes", "Most likes"),
    ("lastModified", "Recently updated"),
    ("createdAt", "Recently created"),
]
TYPES = {"models": RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}

View = Callable[..., Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(pages: Pages, fn: View) -> Endpoint:
    """Run a sync view in the threadpool; render HubErrors as HTML error pages with their status."""

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        try:
            return await run_in_threadpool(fn, request, **request.path_params)
        except HubError as e:
            status = 404 if e.status in (401, 403) and "Repo" in e.code else e.status
            return await run_in_threadpool(
                pages.render,
                request,
                "error.html",
                status,
                code=e.code,
                message=e.message,
                status_code=status,
            )

    return endpoint


def list_page(pages: Pages, request: Request, plural: str = "models") -> Response:
    rtype = TYPES[plural]
    qp = request.query_params
    try:
        page = max(1, int(qp.get("page") or 1))
    except ValueError:
        page = 1
    sort = qp.get("sort") or "downloads"
    q = Query(
        repo_type=rtype,
        search=[qp.get("search", "").strip()],
        author=qp.get("author") or None,
        filters=[t for t in qp.getlist("tag") if t],
        pipeline_tag=qp.get("pipeline_tag") or None,
        library=qp.get("library") or None,
        language=qp.get("language") or None,
        license=qp.get("license") or None,
        sort=sort,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    svc = services(request)
    repos, more = svc.search.list(q, web_principal(request))
    facets = svc.search.facets(rtype)
    active = {k: qp.get(k) for k in ("pipeline_tag", "library", "license", "language", "author") if qp.get(k)}

    def link(**changes: Any) -> str:
        params = {k: v for k, v in qp.multi_items() if k != "page"}
        params.update({k: str(v) for k, v in changes.items() if v is not None})
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
        return f"/{plural}?{urlencode(params)}"

    return pages.render(
        request,
        "list.html",
        repos=repos,
        plural=plural,
        rtype=rtype,
        query=qp.get("search", ""),
        sort=sort,
        sorts=SORTS,
        facets=facets,
        active=active,
        tags=q.filters,
        page=page,
        more=more,
        link=link,
    )


def user_page(pages: Pages, request: Request, user: str) -> Response:
    svc = services(request)
    acc = svc.accounts.find(user)
    if acc is None:
        raise UserNotFound(f"No user or organization called {user!r}")
    who = web_principal(request)
    sections = []
    for plural, rtype in TYPES.items():
        repos, more = svc.search.list(Query(rtype, author=acc.name, sort="lastModified", limit=50), who)
        sections.append((plural, repos, more))
    from modelyard.hub.likes import Likes

    liked = Likes(svc.db).by_user(acc.id, who)[:20] if acc.kind == "user" else []
    return pages.render(request, "user.html", account=acc, sections=sections, liked=liked)


def login_form(pages: Pages, request: Request, error: str | None = None, status: int = 200) -> Response:
    return pages.render(
        request, "login.html", status, error=error, next=request.query_params.get("next", "/")
    )


async def login_submit(pages: Pages, request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token") or "").strip()
    nxt = str(form.get("next") or "/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    try:
        who = await run_in_threadpool(services(request).accounts.authenticate, token) if token else None
    except HubError:
        who = None
    if who is None:
        return await run_in_threadpool(login_form, pages, request, "Invalid token", 401)
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(
        COOKIE,
        token,
        max_age=30 * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return resp


async def logout(request: Request) -> Response:
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


def not_found(pages: Pages, request: Request, **_: str) -> Response:
    return pages.render(
        request, "error.html", 404, code="NotFound", message="Page not found", status_code=404
    )
