"""Inference endpoints on the hub: the endpoint manager (model workers fed from our own store) and the
`/endpoints` sub-app, authorised by the hub's repo visibility rules."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.errors import ConfigError, Forbidden, HubError, RepoNotFound, TokenScope, Unauthorized
from modelyard.hub.access import Perm
from modelyard.hub.accounts import Principal
from modelyard.hub.audit import Audit
from modelyard.hub.repos import account_can_write
from modelyard.inference.auth import Authorizer
from modelyard.inference.config import EndpointConfig
from modelyard.inference.manager import Endpoint, EndpointManager, WorkerBackend
from modelyard.inference.registry import EndpointRegistry
from modelyard.inference.store_source import StoreSource
from modelyard.server.api._common import CSRF_HEADER, principal
from modelyard.server.context import LOGIN_COOKIE
from modelyard.server.inference_app import create_inference_app
from modelyard.server.services import Services
from modelyard.storage import S3Options
from modelyard.types import RepoId, RepoType

PREFIX = "/endpoints"
# (marker, principal) of a request the web UI's own script made with the session cookie and its X-CSRF-Token
_WEB_CALLER: ContextVar[tuple[str, Principal] | None] = ContextVar(
    "modelyard_endpoint_web_caller", default=None
)


def build_manager(svc: Services) -> EndpointManager:
    s = svc.settings
    data = Path(s.data_dir).resolve()
    source = StoreSource(
        s.resolved_database_url,
        s.resolved_blob_url,
        s.resolved_secret(),
        data / "snapshots",
        S3Options.of(s),
    )
    backend: WorkerBackend | None = None
    if s.inference_backend == "ray":  # every endpoint a Ray Serve application (inference/ray_backend.py)
        from modelyard.inference.ray_backend import RayBackend

        backend = RayBackend(s.ray_address)
    elif s.inference_backend != "local":
        raise ConfigError(f"inference_backend must be 'local' or 'ray', not {s.inference_backend!r}")
    return EndpointManager(
        source,
        memory_budget_bytes=s.inference_memory_budget_mb * 1024 * 1024,
        max_loaded=s.inference_max_loaded,
        state_file=data / "endpoints.json",  # an older hub's file: imported into the registry once
        admit=hub_admit(svc),
        wait_timeout_s=s.inference_wait_timeout,
        registry=EndpointRegistry(svc.db),  # definitions in the database: every replica sees every endpoint
        backend=backend,
    )


def hub_admit(svc: Services) -> Callable[[EndpointConfig], None]:
    """Refuse (UnsafePickle, 409) to create or resume an endpoint whose snapshot holds a pickle file scanned unsafe
    or unscannable, scanning files not scanned yet first; `allow_unsafe_pickle` in the config overrides. The worker
    checks the files it loads again (hub/pickles.check_snapshot_dir): the revision may move before a reload."""

    def admit(config: EndpointConfig) -> None:
        if config.allow_unsafe_pickle:
            return
        rid = RepoId.parse(config.repo_id)
        svc.pickles.check_revision(RepoType.MODEL, rid.namespace, rid.name, config.revision)

    return admit


def endpoint_rule(svc: Services, who: Principal | None, ns: str, name: str, use: str) -> None:
    """Who may use the endpoints of model `ns/name` (the endpoint's scope entity is its model: a token's
    ``endpoint`` or ``model`` entity of that name, or the namespace, or global):

    - the account must see the repo (a private one it cannot see is 404), whatever the token;
    - ``use="view"`` (info, health, listing): ``inference.endpoints.infer.write`` or ``inference.endpoints.write``;
    - ``use="call"`` (predict, chat, embeddings): ``inference.endpoints.infer.write``; read and write tokens may
      view and call; a fine-grained one needs no ``repo.content.read`` for it;
    - ``use="manage"`` (create, delete, pause, resume, unload): write access to the repo (the account's right) and
      ``inference.endpoints.write``.
    """
    manage = use == "manage"
    account = replace(who, role="write") if who is not None and who.role != "write" else who
    repo = svc.repos.get(RepoType.MODEL, ns, name, account)  # the account's right (404); the token is next
    svc.repos.check_download(repo, who)  # an endpoint serves the model's files: a gated model's gate applies
    if who is None:
        if manage:
            raise Unauthorized("You must be authenticated to manage an endpoint")
        return
    if manage and not account_can_write(repo, who):
        raise Forbidden(f"You don't have write access to model {repo.id_str}")
    if not manage and who.role == "read":
        return

    def allows(perm: str) -> bool:
        return who.allows(perm, "endpoint", ns, name) or who.allows(perm, "model", ns, name)

    perm = Perm.ENDPOINTS_WRITE if manage else Perm.ENDPOINTS_INFER
    if not (allows(perm) or (use == "view" and allows(Perm.ENDPOINTS_WRITE))):
        raise TokenScope(
            f"This token ({who.role} token {who.token_name!r}) does not have the {perm!r} permission on the "
            f"endpoints of model {repo.id_str}"
        )


def can_deploy(svc: Services, who: Principal | None, ns: str, name: str) -> bool:
    """Whether `who` may create and manage endpoints of model `ns/name` (`endpoint_rule`, ``use="manage"``): the
    web pages show the Deploy and Pause/Resume/Delete buttons only then."""
    if who is None:
        return False
    try:
        endpoint_rule(svc, who, ns, name, "manage")
    except HubError:
        return False
    return True


def caller(svc: Services, token: str | None) -> Principal | None:
    """Who a bearer token of the `/endpoints` sub-app is: the marker `WebSession` gave this request stands for the
    web session's principal; anything else is an access token (unknown, expired or revoked: 401)."""
    web = _WEB_CALLER.get()
    if web is not None and token is not None and hmac.compare_digest(token.encode(), web[0].encode()):
        return web[1]
    return svc.accounts.authenticate(token)


class WebSession:
    """The web UI's scripts (the inference widget, the endpoint page) call `/endpoints` as the logged-in user: a
    request with no Authorization header, the session cookie and the session's secret in `X-CSRF-Token` is the
    session's principal, by the API's own rule (api/_common.principal: no cross-site form can send that header).
    The front authorises by bearer token, so the request gets a random one-request marker as its token, which
    `caller` maps back to the principal (a marker never outlives its request: the context variable is this
    request's). A wrong or missing header leaves the request anonymous."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        headers = request.headers
        if (
            "authorization" in headers
            or not headers.get(CSRF_HEADER)
            or not request.cookies.get(LOGIN_COOKIE)
        ):
            await self.app(scope, receive, send)
            return
        who = await run_in_threadpool(principal, request)
        if who is None:
            await self.app(scope, receive, send)
            return
        marker = "web-session." + secrets.token_urlsafe(32)
        scope = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {marker}".encode())]}
        reset = _WEB_CALLER.set((marker, who))
        try:
            await self.app(scope, receive, send)
        finally:
            _WEB_CALLER.reset(reset)


def hub_authorizer(svc: Services, use: str = "view") -> Authorizer:
    """Viewing an endpoint, calling it (`use="call"`) or managing it (`use="manage"`): `endpoint_rule`."""

    def check(token: str | None, repo_id: str) -> None:
        who = caller(svc, token)
        try:
            rid = RepoId.parse(repo_id)
        except ValueError:
            raise RepoNotFound(f"Repository {repo_id} not found") from None
        endpoint_rule(svc, who, rid.namespace, rid.name, use)

    async def authorize(token: str | None, repo_id: str) -> None:
        await run_in_threadpool(check, token, repo_id)

    return authorize


def hub_is_admin(svc: Services) -> Callable[[str | None], Awaitable[bool]]:
    """Admin accounts (`modelyard users create NAME --admin`) see every endpoint in listings and metrics. An
    unknown, expired or revoked token is 401 there too (Unauthorized), as on every hub route."""

    async def is_admin(token: str | None) -> bool:
        if not token:
            return False
        who = await run_in_threadpool(caller, svc, token)
        return who is not None and who.is_admin

    return is_admin


def audit_endpoint(svc: Services, action: str, who: Principal | None, endpoint: Endpoint) -> None:
    """An endpoint's create/delete (its registry row: inference/registry.py) is recorded in a short transaction
    right after (by the management API and by the web pages alike)."""
    rid = RepoId.parse(endpoint.config.repo_id)
    Audit(svc.db).record(
        action,
        actor=who,
        target=f"endpoint/{endpoint.name}",
        namespace=rid.namespace,
        details={"repo": f"model/{rid.namespace}/{rid.name}", "task": endpoint.config.task},
    )


def hub_audit(svc: Services) -> Callable[[str, str | None, Endpoint], Awaitable[None]]:
    """The management API's audit hook: `audit_endpoint` for the caller of `token`."""

    def write(action: str, token: str | None, endpoint: Endpoint) -> None:
        audit_endpoint(svc, action, caller(svc, token), endpoint)

    async def on_change(action: str, token: str | None, endpoint: Endpoint) -> None:
        await run_in_threadpool(write, action, token, endpoint)

    return on_change


def endpoints_app(state: Any) -> ASGIApp:
    """The `/endpoints` sub-app over the manager the lifespan created (`state.endpoint_manager`); the web UI's
    scripts may call it with the login cookie and X-CSRF-Token (`WebSession`)."""
    svc = state.services
    app: Starlette = create_inference_app(
        state.endpoint_manager,
        hub_authorizer(svc),
        hub_authorizer(svc, "manage"),
        hub_is_admin(svc),
        hub_audit(svc),
        hub_authorizer(svc, "call"),
    )
    return WebSession(app)
