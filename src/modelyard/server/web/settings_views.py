"""Repo settings: visibility, gating and its request fields, rename/transfer, delete with typed confirmation."""

from __future__ import annotations

from starlette.routing import BaseRoute

from modelyard.server.web.kit import RouteKit


def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    return []


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path (`/{ns}/{name}`, `/datasets/{ns}/{name}`, `/spaces/{ns}/{name}`)."""
    return []
