"""Repo settings: visibility, gating and its request fields, rename/transfer, delete with typed confirmation.

`{repo_url}/settings` is for the repo's maintainers (`Repos.get_for_write`: the Hub's write role, with a token that
allows ``repo.write``); each section is its own POST form (CSRF-checked by the kit) calling the same hub function as
the JSON API (`Repos.update_settings`, `Repos.move`, `Repos.delete`), which enforces its rule again. A refused value
re-renders the page with the message in the section (400/409/422); the access requests of a gated repo are reviewed
on gating_views' page (`{repo_url}/settings/gated-user-access`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import BadRequest, Conflict, HubError
from modelyard.hub.access import role_at_least
from modelyard.hub.gating import gate_form
from modelyard.hub.repos import Repo
from modelyard.server.web import repo_views
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import Pages, render_markdown, services, web_principal
from modelyard.server.web.views import form_fields

GATES = (("off", "Off: anyone who can read the repo downloads its files"),
         ("auto", "Automatic: requests are accepted at once"),
         ("manual", "Manual: maintainers review each request"))  # fmt: skip


def _url(repo: Repo) -> str:
    return f"/{repo.type.url_prefix}{repo.id_str}"


def _managed(request: Request, prefix: str | None, ns: str, name: str) -> Repo:
    """The repo, if the web user may manage it (404 for private repos to others, 401/403 otherwise)."""
    return services(request).repos.get_for_write(repo_views.PREFIX[prefix], ns, name, web_principal(request))


def _namespaces(request: Request) -> list[str]:
    """Where the user may move a repo (shown as choices; `Repos.move` checks it again): their own namespace and
    the orgs where their role is write or admin."""
    who = web_principal(request)
    if who is None:
        return []
    orgs = sorted(o.name for o in who.orgs if role_at_least(who.role_in(o.name), "write"))
    return [who.account.name, *orgs]


def settings_page(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    prefix: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    if web_principal(request) is None:
        services(request).repos.get(repo_views.PREFIX[prefix], ns, name, None)  # 404 if private
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    repo = _managed(request, prefix, ns, name)
    form = gate_form(repo.card_data)
    ctx: dict[str, Any] = repo_views.repo_context(request, repo, "main", "settings")
    return pages.render(
        request,
        "settings/repo.html",
        status,
        **ctx,
        gates=GATES,
        gate=form,
        gate_prompt_html=render_markdown(form.prompt) if form.prompt else None,
        namespaces=_namespaces(request),
        errors=errors or {},
        values=values or {},
    )


def _refused(
    pages: Pages, request: Request, ns: str, name: str, prefix: str | None, section: str, e: HubError
) -> Response:
    return settings_page(
        pages, request, ns, name, prefix, {section: e.message}, e.status, form_fields(request)
    )


def visibility_submit(
    pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None
) -> Response:
    """`visibility` = private | public."""
    repo = _managed(request, prefix, ns, name)
    value = form_fields(request).get("visibility")
    if value not in ("private", "public"):
        err = BadRequest("Choose 'private' or 'public'")
        return _refused(pages, request, ns, name, prefix, "visibility", err)
    services(request).repos.update_settings(web_principal(request), repo, private=value == "private")
    return RedirectResponse(f"{_url(repo)}/settings#visibility", status_code=303)


def gating_submit(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """`gated` = off | auto | manual."""
    repo = _managed(request, prefix, ns, name)
    value = form_fields(request).get("gated")
    if value not in ("off", "auto", "manual"):
        err = BadRequest("Choose 'off', 'auto' or 'manual'")
        return _refused(pages, request, ns, name, prefix, "gating", err)
    gated: str | bool = False if value == "off" else value
    services(request).repos.update_settings(web_principal(request), repo, gated=gated)
    return RedirectResponse(f"{_url(repo)}/settings#gating", status_code=303)


def rename_submit(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """Rename and/or transfer to another namespace (`namespace`, `name`); then to the repo's new URL (the old one
    redirects for the clients)."""
    repo = _managed(request, prefix, ns, name)
    form = form_fields(request)
    to_ns = (form.get("namespace") or "").strip()
    to_name = (form.get("name") or "").strip()
    try:
        if not to_ns or not to_name or "/" in to_ns or "/" in to_name:
            raise BadRequest("Give a namespace and a name (no '/')")
        if f"{to_ns}/{to_name}" == repo.id_str:
            raise BadRequest("That is the repository's current name")
        moved = services(request).repos.move(
            web_principal(request), repo.type, repo.id_str, f"{to_ns}/{to_name}"
        )
    except (BadRequest, Conflict) as e:
        return _refused(pages, request, ns, name, prefix, "rename", e)
    return RedirectResponse(_url(moved), status_code=303)


def delete_submit(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """Delete for good, once `confirm` is the full repo id (`namespace/name`); then to the owner's page."""
    repo = _managed(request, prefix, ns, name)
    typed = (form_fields(request).get("confirm") or "").strip()
    if typed != repo.id_str:
        err = BadRequest(f"Type the full name of the repository, {repo.id_str}, to confirm")
        return _refused(pages, request, ns, name, prefix, "delete", err)
    services(request).repos.delete(web_principal(request), repo.type, repo.namespace, repo.name)
    return RedirectResponse(f"/{repo.namespace}", status_code=303)


def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    return []


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path (`/{ns}/{name}`, `/datasets/{ns}/{name}`, `/spaces/{ns}/{name}`)."""
    g, form = kit.page, kit.form
    s = base + "/settings"
    return [
        Route(s, g(settings_page, prefix=prefix), methods=["GET"]),
        Route(s + "/visibility", form(visibility_submit, prefix=prefix), methods=["POST"]),
        Route(s + "/gating", form(gating_submit, prefix=prefix), methods=["POST"]),
        Route(s + "/rename", form(rename_submit, prefix=prefix), methods=["POST"]),
        Route(s + "/delete", form(delete_submit, prefix=prefix), methods=["POST"]),
    ]
