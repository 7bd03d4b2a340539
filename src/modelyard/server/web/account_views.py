"""Accounts: sign-up (open/invite/closed), password login, password change and reset links, profile, tokens, organisations (create, members, roles, invitations), the admin page."""

from __future__ import annotations

from starlette.routing import BaseRoute

from modelyard.server.web.kit import RouteKit


def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    return []


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path (`/{ns}/{name}`, `/datasets/{ns}/{name}`, `/spaces/{ns}/{name}`)."""
    return []
