"""create_app(settings) -> ASGI app. Lifespan opens/closes the services; nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.config import Settings
from modelyard.db import migrate
from modelyard.errors import ConfigError, HubError, RepoNotFound
from modelyard.hub.events import FanOut
from modelyard.server import git_http, openapi
from modelyard.server.api import audit as audit_api
from modelyard.server.api import buckets as buckets_api
from modelyard.server.api import collections as collections_api
from modelyard.server.api import commit as commit_api
from modelyard.server.api import discussions as discussions_api
from modelyard.server.api import gating as gating_api
from modelyard.server.api import health as health_api
from modelyard.server.api import inference_endpoints as inference_endpoints_api
from modelyard.server.api import jobs as jobs_api
from modelyard.server.api import lfs as lfs_api
from modelyard.server.api import orgs as orgs_api
from modelyard.server.api import repo_admin as repo_admin_api
from modelyard.server.api import repos as repos_api
from modelyard.server.api import resolve as resolve_api
from modelyard.server.api import social as social_api
from modelyard.server.api import spaces as spaces_api
from modelyard.server.api import tokens as tokens_api
from modelyard.server.api import training as training_api
from modelyard.server.api import tree as tree_api
from modelyard.server.api import webhooks as webhooks_api
from modelyard.server.api import xet as xet_api
from modelyard.server.audit_context import AuditContext
from modelyard.server.edge import EdgeGuard, read_body
from modelyard.server.errors import (
    EXCEPTION_HANDLERS,
    HttpError,
    RequestIdMiddleware,
    error_response,
    internal_error,
)
from modelyard.server.ratelimit import RateLimitMiddleware
from modelyard.server.routing import NO_NAMESPACE, Router, call
from modelyard.server.services import Services
from modelyard.server.task_worker import build_task_worker
from modelyard.server.user_content import ContentOriginGate
from modelyard.server.webhook_worker import WebhookWorker
from modelyard.server.xet_cas import create_cas_app
from modelyard.types import RepoType

log = logging.getLogger("modelyard.server")

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_MAX_JSON_BODY = 8 * 1024 * 1024  # default of the max_json_body setting
PASSTHROUGH = ("/endpoints/", "/xet-cas/", "/static/")


def build_router() -> Router:
    r = Router()
    jobs_api.register(r)  # /api/jobs/…, /api/scheduled-jobs/… (/api/jobs/hardware before /api/jobs/{ns})
    spaces_api.register(r)  # first: /api/spaces/hardware, /api/spaces/zero-gpu/quota are no repo ids
    git_http.register(r)  # /{repo}[.git]/info/refs, git-upload-pack, git-receive-pack (before the repo pages)
    repos_api.register(r)
    tree_api.register(r)
    commit_api.register(r)
    discussions_api.register(r)
    lfs_api.register(r)
    resolve_api.register(r)
    social_api.register(r)
    collections_api.register(r)
    repo_admin_api.register(
        r
    )  # duplicate, lfs-files (+ /duplicate), settings/repositories, comment edit/hide
    xet_api.register(r)
    gating_api.register(r)  # /api/{type}/{repo}/user-access-request/… (gated repos)
    buckets_api.register(r)  # /api/buckets/…, /buckets/{ns}/{name}/resolve/{path}
    webhooks_api.register(r)  # /api/settings/webhooks…
    tokens_api.register(r)  # /api/settings/tokens…
    audit_api.register(r)  # /api/admin/audit-log, /api/organizations/{org}/audit-log
    orgs_api.register(r)  # /api/organizations/{org}/overview, …/members[/{user}], …/settings
    inference_endpoints_api.register(r)  # /v2/endpoint/{namespace}[/{name}[/…]]: the Hub's endpoint API
    training_api.register(r)  # /api/training/tasks, /api/training/{ns}[/validate] (issue 14, recipes)
    health_api.register(r)  # GET /health, GET /metrics (aggregates only)
    openapi.register(r)  # GET /openapi.json: describes every route above
    return r


class HubApp:
    """The raw-path dispatcher for the HF-compatible API and downloads."""

    def __init__(self, router: Router, fallback: ASGIApp | None, max_body: int = _MAX_JSON_BODY) -> None:
        self.router = router
        self.fallback = fallback
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if self.fallback is not None:
                await self.fallback(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        if self.fallback is not None and raw_path.startswith(PASSTHROUGH):
            await self.fallback(scope, receive, send)  # sub-apps: no HF route can live under these prefixes
            return
        route, params, other = self.router.match(scope["method"], raw_path)
        if route is None and NO_NAMESPACE.match(raw_path):  # a repo id without a namespace: as on the Hub
            request = Request(scope, receive)
            await error_response(request, RepoNotFound("Repository not found"))(scope, receive, send)
            return
        if route is None and (self.fallback is None or other or raw_path.startswith("/api/")):
            request = Request(scope, receive)
            status = 405 if other else 404
            resp = error_response(request, HttpError(status, "Method Not Allowed" if other else "Not Found"))
            await resp(scope, receive, send)
            return
        if route is None:
            assert self.fallback is not None
            await self.fallback(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            if not _is_async(route.handler) and scope["method"] in _BODY_METHODS:
                scope["modelyard.body"] = await read_body(request, self.max_body)
            response = await call(route.handler, request, params)
        except RepoNotFound as e:
            response = await self._maybe_redirect(request, raw_path, params) or error_response(request, e)
        except HubError as e:
            response = error_response(request, e)
        except Exception as e:
            response = internal_error(request, e)
        await response(scope, receive, send)

    async def _maybe_redirect(
        self, request: Request, raw_path: str, params: dict[str, str]
    ) -> Response | None:
        ns, name = params.get("ns"), params.get("name")
        if not ns or not name:
            return None
        plural = params.get("type") or params.get("prefix") or (params.get("rtype", "model") + "s")
        if not ({"type", "prefix", "rtype"} & params.keys()) and raw_path.startswith("/api/spaces/"):
            plural = "spaces"  # the Spaces API (server/api/spaces.py): /api/spaces/{ns}/{name}/runtime, …
        rtype = {"models": RepoType.MODEL, "datasets": RepoType.DATASET, "spaces": RepoType.SPACE}.get(
            plural, RepoType.MODEL
        )
        from modelyard.server.api._common import moved_to, principal

        who = await run_in_threadpool(principal, request)
        target = await run_in_threadpool(moved_to, request, rtype, ns, name, who)
        if target is None:
            return None
        new_path = re.sub(
            rf"/{re.escape(ns)}/{re.escape(name)}(?=/|$)", f"/{target.id_str}", raw_path, count=1
        )
        if request.url.query:
            new_path += "?" + request.url.query
        return Response(status_code=307, headers={"Location": new_path})


def _is_async(handler: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(handler)


class LazyApp:
    """A sub-app built on first use from the app state the lifespan filled (services, endpoint manager)."""

    def __init__(self, outer: Starlette, factory: Callable[[Any], ASGIApp]) -> None:
        self.outer = outer
        self.factory = factory
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            self.app = self.factory(self.outer.state)
        await self.app(scope, receive, send)


class HubStarlette(Starlette):
    """Keeps the server's raw `send` in the scope so downloads can use sendfile(2) (see api/resolve.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["modelyard.send"] = send
        await super().__call__(scope, receive, send)


async def _flush_downloads(svc: Services) -> None:
    """Write the download counts counted in memory every few seconds (hub/repos.py DownloadCounter)."""
    while True:
        await asyncio.sleep(svc.repos.downloads.FLUSH_SECONDS)
        try:
            await run_in_threadpool(svc.repos.flush_downloads)
        except Exception:  # a full disk: the counts stay pending, retried next time
            log.warning("download counts not written yet", exc_info=True)


def prepare_database(services: Services, auto_migrate: bool) -> None:
    db = services.db
    if migrate.is_empty(db) or auto_migrate:
        migrate.upgrade(db)
    elif not migrate.is_current(db):
        raise ConfigError(
            f"The database schema is at {migrate.current_revision(db)}, the code expects {migrate.head_revision(db)}. "
            "Run `modelyard db upgrade` (or start with --migrate)."
        )


def create_app(
    settings: Settings,
    services: Services | None = None,
    auto_migrate: bool = False,
    mounts: list[Mount] | None = None,
) -> Starlette:
    """Build the ASGI app. `services` may be given (tests); otherwise built from settings at startup."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = app.state.services if getattr(app.state, "services", None) else Services.build(settings)
        await run_in_threadpool(prepare_database, svc, auto_migrate)
        # issue 17 (task queue helper): one secret for all replicas. Services built before the migration use the
        # local one: store it as the shared one, or (another replica's is stored) build them again with that one.
        if not await run_in_threadpool(svc.share_secret):
            if getattr(app.state, "services", None):  # given by the caller: theirs to rebuild
                log.warning("another replica's secret is stored in the database; restart to use it")
            else:
                svc.close()
                svc = await run_in_threadpool(Services.build, settings)
        app.state.services = svc
        if settings.seed:
            from modelyard.server.seed import seed_demo

            await run_in_threadpool(seed_demo, svc)
        from modelyard.server.endpoints import build_manager

        app.state.endpoint_manager = build_manager(svc)
        if settings.seed:
            from modelyard.server.seed import seed_endpoint

            await seed_endpoint(svc, app.state.endpoint_manager)  # the demo Space's endpoint, unloaded
        space_manager = None
        if (
            settings.spaces_enabled
        ):  # Spaces run (spaces/manager.py); served by the second listener (server/listen.py)
            from modelyard.spaces.manager import SpaceManager

            space_manager = SpaceManager(settings, svc.db, svc.content, svc.spaces)
            binding = getattr(app.state, "spaces_binding", None)
            if binding is not None:
                space_manager.hub_address, space_manager.urls.origin = binding
            await space_manager.start()
            fan_out = svc.repos.events
            if isinstance(fan_out, FanOut):
                fan_out.sinks.append(
                    space_manager
                )  # commits to a Space's main branch (re)build and restart it
        app.state.space_manager = space_manager
        job_manager = None
        if settings.jobs_enabled:  # jobs and training recipes (jobs/manager.py)
            from modelyard.jobs.manager import JobManager

            job_manager = JobManager(
                settings, svc.db, svc.jobs, svc.accounts, svc.content, svc.buckets, svc.repos
            )
            job_manager.hub_address = getattr(app.state, "hub_address", None)
            await job_manager.start()
        app.state.job_manager = job_manager
        training_api.install_deploy_hook(app)  # deploy trained models when the recipe says so
        webhook_worker = WebhookWorker(svc.webhooks, settings.webhook_timeout, settings.webhook_poll_interval)
        await webhook_worker.start()  # sends queued webhook deliveries (server/webhook_worker.py)
        # issue 17 (task queue helper): pickle scans, gc, housekeeping run as database tasks, once across replicas;
        # the worker's heartbeat splits the rate limits between live replicas (server/task_worker.py)
        task_worker = app.state.task_worker = build_task_worker(svc, app)
        await task_worker.start()
        flusher = asyncio.create_task(_flush_downloads(svc))  # download counts, batched off the request path
        hooks = getattr(app.state, "startup_hooks", [])
        for hook in hooks:
            await hook(app)
        try:
            yield
        finally:
            for hook in getattr(app.state, "shutdown_hooks", []):
                await hook(app)
            await app.state.endpoint_manager.aclose()
            if app.state.space_manager is not None:
                await app.state.space_manager.aclose()
            if app.state.job_manager is not None:
                await app.state.job_manager.aclose()
            await webhook_worker.aclose()
            await task_worker.aclose()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            svc.close()  # writes the last download counts

    outer = HubStarlette(
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        # RequestIdMiddleware first: every response, the EdgeGuard's too, carries X-Request-Id.
        # EdgeGuard before any routing (a Mount does not match a path holding a newline): control characters, huge heads
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AuditContext),  # audit.client_ip: the client address of audit entries
            Middleware(EdgeGuard, max_header_size=settings.max_header_size),
        ],
    )
    from modelyard.server.endpoints import PREFIX as ENDPOINTS_PREFIX
    from modelyard.server.endpoints import endpoints_app
    from modelyard.server.web import web_routes  # the web UI comes last: it ends with a catch-all 404 page

    inner = Starlette(
        routes=[
            Mount(xet_api.CAS_PREFIX, app=LazyApp(outer, lambda st: create_cas_app(st.services.xet))),
            Mount(ENDPOINTS_PREFIX, app=LazyApp(outer, endpoints_app)),
            *(mounts or []),
            *web_routes(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    inner.state = outer.state
    fallback: ASGIApp = inner
    if services is not None:
        outer.state.services = services
    hub: ASGIApp = HubApp(build_router(), fallback, settings.max_json_body)
    if settings.rate_limit_per_minute > 0 or settings.rate_limit_anonymous_per_minute > 0:
        hub = RateLimitMiddleware(
            hub, settings.rate_limit_per_minute, settings.rate_limit_anonymous_per_minute
        )
        outer.state.rate_limiter = hub  # issue 17: the task worker sets each replica's share of the limits
    hub = ContentOriginGate(hub)  # content_url: only signed file URLs on the content origin
    outer.router.routes = [Mount("/", app=hub)]
    return outer


__all__ = ["create_app"]
