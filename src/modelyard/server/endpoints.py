"""Inference endpoints on the hub: the endpoint manager (model workers fed from our own store) and the
`/endpoints` sub-app, authorised by the hub's repo visibility rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from modelyard.errors import RepoNotFound, Unauthorized
from modelyard.inference.auth import Authorizer
from modelyard.inference.manager import EndpointManager
from modelyard.inference.store_source import StoreSource
from modelyard.server.inference_app import create_inference_app
from modelyard.server.services import Services
from modelyard.types import RepoId, RepoType

PREFIX = "/endpoints"


def build_manager(svc: Services) -> EndpointManager:
    s = svc.settings
    data = Path(s.data_dir).resolve()
    source = StoreSource(
        s.resolved_database_url, s.resolved_blob_url, s.resolved_secret(), data / "snapshots"
    )
    return EndpointManager(
        source,
        memory_budget_bytes=s.inference_memory_budget_mb * 1024 * 1024,
        max_loaded=s.inference_max_loaded,
        state_file=data / "endpoints.json",
    )


def hub_authorizer(svc: Services, write: bool = False) -> Authorizer:
    """A token may use an endpoint iff it may read the endpoint's model repo (private repos: 404 otherwise);
    with `write`, managing it (create, delete, pause, resume, unload) needs write access to the repo."""

    def check(token: str | None, repo_id: str) -> None:
        who = svc.accounts.authenticate(token)
        try:
            rid = RepoId.parse(repo_id)
        except ValueError:
            raise RepoNotFound(f"Repository {repo_id} not found") from None
        if write:
            svc.repos.get_for_write(RepoType.MODEL, rid.namespace, rid.name, who)
        else:
            svc.repos.get(RepoType.MODEL, rid.namespace, rid.name, who)

    async def authorize(token: str | None, repo_id: str) -> None:
        await run_in_threadpool(check, token, repo_id)

    return authorize


def hub_is_admin(svc: Services) -> Callable[[str | None], Awaitable[bool]]:
    """Admin accounts (`modelyard users create NAME --admin`) see every endpoint in listings and metrics."""

    async def is_admin(token: str | None) -> bool:
        if not token:
            return False
        try:
            who = await run_in_threadpool(svc.accounts.authenticate, token)
        except Unauthorized:
            return False
        return who is not None and who.is_admin

    return is_admin


def endpoints_app(state: Any) -> Starlette:
    """The `/endpoints` sub-app over the manager the lifespan created (`state.endpoint_manager`)."""
    svc = state.services
    return create_inference_app(
        state.endpoint_manager, hub_authorizer(svc), hub_authorizer(svc, write=True), hub_is_admin(svc)
    )
