"""Who may use an endpoint: an ``Authorizer`` decides whether a token may read the endpoint's repo.

The hub passes its own (repo visibility + token permissions); standalone servers use
:class:`StaticTokenAuthorizer` (``--token``) or :func:`allow_all`.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Protocol

from modelyard.errors import Forbidden, Unauthorized


class Authorizer(Protocol):
    async def __call__(self, token: str | None, repo_id: str) -> None:
        """Return if ``token`` may read ``repo_id``; raise an error with ``status``/``message`` otherwise."""
        ...


async def allow_all(token: str | None, repo_id: str) -> None:
    return None


class StaticTokenAuthorizer:
    """Private repos (all of them when ``private_repos`` is None) need one of ``tokens``."""

    def __init__(self, tokens: Collection[str], private_repos: Collection[str] | None = None) -> None:
        self.tokens = [t.encode() for t in tokens]
        self.private_repos = None if private_repos is None else set(private_repos)

    async def __call__(self, token: str | None, repo_id: str) -> None:
        if self.private_repos is not None and repo_id not in self.private_repos:
            return
        if not token:
            raise Unauthorized(f"A token is required to use the endpoint of {repo_id}")
        if not any(hmac.compare_digest(token.encode(), t) for t in self.tokens):
            raise Forbidden(f"This token may not read {repo_id}")
