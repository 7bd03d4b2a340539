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
from modelyard.server.api.orgs import _sees_private as org_roles_visible
from modelyard.server.context import secure_cookies, sessions
from modelyard.server.errors import error_response
from modelyard.server.web.render import COOKIE, Pages, services, web_principal
from modelyard.server.web.security import check_csrf
from modelyard.types import RepoType

PAGE_SIZE = 30
MAX_FORM_BODY = 64 * 1024  # the web forms (login, logout, like) are tiny
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
            # a private repo is 404 to others; a gated one says so (403, 401 anonymous: log in to ask)
            hidden = e.status in (401, 403) and "Repo" in e.code and e.code != "GatedRepo"
            status = 404 if hidden else e.status
            page = await run_in_threadpool(
                pages.render,
                request,
                "error.html",
                status,
                code=e.code,
                message=e.message,
                status_code=status,
            )
            # the one error edge (server/errors.py): same status and X-Error-* headers as the API, HTML body
            response = error_response(request, e, status=status, html=bytes(page.body).decode())
            for key, value in page.headers.items():
                if key.lower() not in ("content-length", "content-type"):
                    response.headers.setdefault(key, value)
            return response

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
    who = web_principal(request)
    repos, more = svc.search.list(q, who)
    facets, approx = svc.search.facets_within(q, who)  # counted within the search and filters
    active = {k: qp.get(k) for k in ("pipeline_tag", "library", "license", "language", "author") if qp.get(k)}

    def link(**changes: Any) -> str:
        params = {k: v for k, v in qp.multi_items() if k != "page"}
        params.update({k: str(v) for k, v in changes.items() if v is not None})
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
        return f"/{plural}?{urlencode(params)}"

    def type_link(other: str) -> str:
        """The same search in another type's listing (the type-specific task/library/tag filters dropped)."""
        keep = ("search", "author", "license", "language", "sort")
        params = [(k, v) for k, v in qp.multi_items() if k in keep and v]
        return f"/{other}?{urlencode(params)}" if params else f"/{other}"

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
        facets_approx=approx,
        type_link=type_link,
        search_query=qp.get("search", ""),
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
    from modelyard.hub import activity
    from modelyard.hub.collections import Collections
    from modelyard.hub.likes import Likes

    liked = Likes(svc.db).by_user(acc.id, who)[:20] if acc.kind == "user" else []
    events = activity.recent(svc.db, acc, who, limit=30) if acc.kind == "user" else []
    members = svc.accounts.members(acc.name) if acc.kind == "org" else []
    # member names are public; their roles only to members and site admins (the API's rule, api/orgs.py)
    show_roles = acc.kind == "org" and org_roles_visible(who, acc)
    colls = Collections(svc.db, svc.repos, svc.accounts, svc.buckets).of_owner(acc.name, who)
    return pages.render(
        request,
        "user.html",
        account=acc,
        sections=sections,
        liked=liked,
        collections=colls,
        events=events,
        members=members,
        show_roles=show_roles,
    )


def with_form(pages: Pages, fn: View, max_body: int = MAX_FORM_BODY, max_files: int = 0) -> Endpoint:
    """A POST form view: the url-encoded/multipart fields are read into the scope (files, up to `max_files`, into
    `modelyard.files`: starlette spools them to disk past 1 MB), then `fn` runs `guarded`."""
    inner = guarded(pages, fn)

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        fields: dict[str, str] = {}
        multi: list[tuple[str, str]] = []
        files: list[tuple[str, Any]] = []
        size = request.headers.get("content-length", "")
        # a body too big (or of unknown size) stays unread: no fields, so the CSRF check refuses it
        if size.isdigit() and int(size) <= max_body:
            try:
                form = await request.form(max_files=max_files, max_part_size=max(max_body, 1024 * 1024))
                for k, val in form.multi_items():
                    if isinstance(val, str):
                        fields[k] = val
                        multi.append((k, val))
                    else:
                        files.append((k, val))
            except Exception:  # a malformed body: no fields either
                fields, multi, files = {}, [], []
        request.scope["modelyard.form"] = fields
        request.scope["modelyard.form_multi"] = multi
        request.scope["modelyard.files"] = files
        try:
            return await inner(request)
        finally:
            for _, f in files:
                await f.close()

    return endpoint


def form_fields(request: Request) -> dict[str, str]:
    """A form POST's fields (the last value of a repeated name)."""
    return request.scope.get("modelyard.form") or {}  # type: ignore[no-any-return]


def form_list(request: Request, name: str) -> list[str]:
    """Every value of a repeated form field (checkboxes, multi-selects), in the form's order."""
    return [val for k, val in request.scope.get("modelyard.form_multi") or [] if k == name]


# login (token and password forms), sign-up and account pages: account_views.py


def logout_page(pages: Pages, request: Request) -> Response:
    """GET /logout changes nothing: it shows a button that POSTs the form (with its CSRF token)."""
    if web_principal(request) is None:
        return RedirectResponse("/", status_code=303)
    return pages.render(request, "logout.html")


def logout_submit(pages: Pages, request: Request) -> Response:
    """POST /logout: delete the session server-side (a replayed cookie is then worthless), clear the cookie."""
    check_csrf(request, form_fields(request))
    sessions(request).delete(request.cookies.get(COOKIE))
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request))
    return resp


def not_found(pages: Pages, request: Request, **_: str) -> Response:
    return pages.render(
        request, "error.html", 404, code="NotFound", message="Page not found", status_code=404
    )
