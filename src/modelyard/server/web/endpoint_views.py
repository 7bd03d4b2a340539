"""Endpoints in the web UI: the Deploy form on model pages, the endpoints list, an endpoint's page (state, logs,
charts, the "Try it" widget), pause/resume/delete.

Every rule is the management API's (server/endpoints.py `endpoint_rule`, with the web session's principal): deploying,
pausing, resuming and deleting need ``use="manage"`` (write access to the model, and the token's
``inference.endpoints.write``); seeing an endpoint's page needs ``use="view"`` (whoever can read the model; a private
model's endpoint is 404 to others, like a name that does not exist). The endpoint manager is async and lives on the
server's event loop: these sync views (threadpool) call it through `anyio.from_thread.run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import HubError, NotFound, Unauthorized
from modelyard.hub.accounts import Principal
from modelyard.inference import tasks as T
from modelyard.inference.config import EndpointConfig, default_name
from modelyard.inference.errors import EndpointNotFound, InvalidInput
from modelyard.inference.manager import FAILED, PAUSED, UNLOADED, Endpoint, EndpointManager
from modelyard.server.endpoints import PREFIX, audit_endpoint, endpoint_rule
from modelyard.server.web import repo_views
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import Pages, base_url, services, web_principal
from modelyard.server.web.views import form_fields
from modelyard.types import RepoId, RepoType

R = TypeVar("R")
LIST_PATH = "/inference-endpoints"
# which of the page's buttons each state offers (the page's script shows/hides them as the state changes)
RESUMABLE = (PAUSED, UNLOADED, FAILED)
DEFAULTS: dict[str, str] = {
    "revision": "main",
    "keep_alive_s": "300",
    "max_batch_size": "32",
    "max_wait_ms": "0",
    "max_queue": "128",
    "dtype": "float32",
}


def _manager(request: Request) -> EndpointManager:
    return request.app.state.endpoint_manager  # type: ignore[no-any-return]


def _run(fn: Callable[..., Coroutine[Any, Any, R]], *args: Any) -> R:
    """Run a manager coroutine on the server's event loop from this threadpool view."""
    return anyio.from_thread.run(fn, *args)


def _login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _may(request: Request, who: Principal | None, endpoint: Endpoint, use: str) -> bool:
    rid = RepoId.parse(endpoint.config.repo_id)
    try:
        endpoint_rule(services(request), who, rid.namespace, rid.name, use)
    except HubError:
        return False
    return True


def _endpoint(request: Request, name: str, use: str) -> Endpoint:
    """The endpoint if the web user may `use` it; one it may not even see answers like an unknown name (404)."""
    endpoint = _manager(request).get(name)
    rid = RepoId.parse(endpoint.config.repo_id)
    try:
        endpoint_rule(services(request), web_principal(request), rid.namespace, rid.name, use)
    except NotFound:
        raise EndpointNotFound(f"Endpoint {name!r} not found") from None
    return endpoint


# ------------------------------------------------------------------------------------------------ deploy
def _deploy_ctx(request: Request, ns: str, name: str) -> dict[str, Any]:
    """The model (404 when the user cannot see it) and its header context, once the user may deploy it."""
    who = web_principal(request)
    if who is None:
        raise Unauthorized("Log in to deploy a model")
    repo = services(request).repos.get(RepoType.MODEL, ns, name, who)
    endpoint_rule(services(request), who, repo.namespace, repo.name, "manage")
    ctx = repo_views.repo_context(request, repo, "main", "deploy")
    return {**ctx, "tasks": T.TASKS, "url_prefix": f"{base_url(request)}{PREFIX}/"}


def deploy_form(pages: Pages, request: Request, ns: str, name: str) -> Response:
    if web_principal(request) is None:
        return _login(request)
    ctx = _deploy_ctx(request, ns, name)
    repo = ctx["repo"]
    task = repo.pipeline_tag or ""
    try:
        task = T.normalize_task(task) if task else ""
    except HubError:
        task = ""  # a pipeline_tag we do not serve: let the worker infer it, or the user choose
    values = {**DEFAULTS, "name": default_name(repo.id_str), "task": task}
    return pages.render(request, "endpoints/deploy.html", **ctx, values=values, error=None)


def _number(fields: dict[str, str], key: str, label: str, cast: Callable[[str], float | int]) -> Any:
    raw = (fields.get(key) or "").strip() or DEFAULTS[key]
    try:
        return cast(raw)
    except ValueError:
        raise InvalidInput(f"{label} must be a number") from None


def _config(fields: dict[str, str], repo_id: str) -> EndpointConfig:
    keep = (fields.get("keep_alive_s") or "").strip()
    try:
        keep_alive = float(keep) if keep else None  # empty: never scale to zero
    except ValueError:
        keep_alive = math.nan
    if keep_alive is not None and not (math.isfinite(keep_alive) and keep_alive >= 0):
        raise InvalidInput("Keep-alive must be a number of seconds, 0 or more (empty: never unload)")
    return EndpointConfig(
        name=(fields.get("name") or "").strip() or default_name(repo_id),
        repo_id=repo_id,
        revision=(fields.get("revision") or "").strip() or "main",
        task=(fields.get("task") or "").strip() or None,
        keep_alive_s=keep_alive,
        max_batch_size=_number(fields, "max_batch_size", "Max batch size", int),
        max_wait_ms=_number(fields, "max_wait_ms", "Max wait", float),
        max_queue=_number(fields, "max_queue", "Max queue", int),
        allow_unsafe_pickle=fields.get("allow_unsafe_pickle") == "on",
        dtype=(fields.get("dtype") or "").strip() or "float32",
    )


def deploy_submit(pages: Pages, request: Request, ns: str, name: str) -> Response:
    """Create the endpoint as the management API does (same rule, same manager call, same audit entry)."""
    ctx = _deploy_ctx(request, ns, name)
    repo = ctx["repo"]
    fields = form_fields(request)
    try:
        config = _config(fields, repo.id_str)
        endpoint = _run(_manager(request).create, config)
    except (
        HubError
    ) as e:  # name taken (409), unsafe pickle (409), bad value or task (422), unknown revision (404)
        values = {**DEFAULTS, **{k: v for k, v in fields.items() if k != "csrf_token"}}
        status = e.status if 400 <= e.status < 500 else 422
        return pages.render(
            request, "endpoints/deploy.html", status, **ctx, values=values, error=e.message, error_code=e.code
        )
    audit_endpoint(services(request), "endpoint.create", web_principal(request), endpoint)
    return RedirectResponse(f"{LIST_PATH}/{endpoint.name}", status_code=303)


# ------------------------------------------------------------------------------------------------- pages
def _row(request: Request, endpoint: Endpoint) -> dict[str, Any]:
    data = endpoint.to_dict()
    data["url"] = f"{base_url(request)}{PREFIX}/{endpoint.name}"
    data["page"] = f"{LIST_PATH}/{endpoint.name}"
    for line in data["logs"]:
        when = datetime.fromtimestamp(line["time"], UTC)
        line["iso"], line["clock"] = when.isoformat(), when.strftime("%H:%M:%S UTC")
    return data


def list_page(pages: Pages, request: Request) -> Response:
    """The endpoints the user may manage (write access to their model); an admin sees all of them."""
    who = web_principal(request)
    if who is None:
        return _login(request)
    endpoints = [
        e for e in _manager(request).list_endpoints() if who.is_admin or _may(request, who, e, "manage")
    ]
    rows = [_row(request, e) for e in endpoints]
    return pages.render(request, "endpoints/list.html", endpoints=rows)


def _endpoint_response(
    pages: Pages, request: Request, endpoint: Endpoint, error: str | None = None, status: int = 200
) -> Response:
    who = web_principal(request)
    data = _row(request, endpoint)
    return pages.render(
        request,
        "endpoints/endpoint.html",
        status,
        ep=data,
        can_manage=_may(request, who, endpoint, "manage"),
        resumable=RESUMABLE,
        api=f"{PREFIX}/-/api/endpoints/{endpoint.name}",
        metrics=f"{PREFIX}/{endpoint.name}/metrics",
        error=error,
    )


def endpoint_page(pages: Pages, request: Request, name: str) -> Response:
    """State, logs, charts and the widget: for whoever may see the endpoint; the buttons for who may manage it."""
    return _endpoint_response(pages, request, _endpoint(request, name, "view"))


def endpoint_action(pages: Pages, request: Request, name: str, action: str) -> Response:
    """POST pause / resume / delete (delete asks for the endpoint's name typed again)."""
    who = web_principal(request)
    if who is None:
        raise Unauthorized("Log in to manage an endpoint")
    endpoint = _endpoint(request, name, "manage")
    manager = _manager(request)
    if action == "delete":
        typed = (form_fields(request).get("confirm") or "").strip().lower()
        if typed != endpoint.name:
            msg = f"Type the endpoint's name ({endpoint.name}) to confirm its deletion"
            return _endpoint_response(pages, request, endpoint, msg, 400)
        _run(manager.delete, endpoint.name)
        audit_endpoint(services(request), "endpoint.delete", who, endpoint)
        return RedirectResponse(LIST_PATH, status_code=303)
    try:
        _run(manager.pause if action == "pause" else manager.resume, endpoint.name)
    except HubError as e:  # resume: the snapshot now holds an unsafe pickle (409), ...
        status = e.status if 400 <= e.status < 500 else 409
        return _endpoint_response(pages, request, endpoint, e.message, status)
    return RedirectResponse(f"{LIST_PATH}/{endpoint.name}", status_code=303)


def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    out: list[BaseRoute] = [
        Route(LIST_PATH, kit.page(list_page), methods=["GET"]),
        Route(LIST_PATH + "/{name}", kit.page(endpoint_page), methods=["GET"]),
    ]
    for action in ("pause", "resume", "delete"):
        out.append(
            Route(
                f"{LIST_PATH}/{{name}}/{action}", kit.form(endpoint_action, action=action), methods=["POST"]
            )
        )
    return out


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path: `{repo_url}/deploy` for models."""
    if prefix is not None:
        return []
    return [
        Route(base + "/deploy", kit.page(deploy_form), methods=["GET"]),
        Route(base + "/deploy", kit.form(deploy_submit), methods=["POST"]),
    ]
