"""Sets `hub.audit.client_ip` for the request being served, so audit entries written anywhere below (async code,
sync handlers in the threadpool: starlette's run_in_threadpool copies the context) carry the client's address.

The address is the ASGI `client` of the scope: the socket peer, or, behind a reverse proxy that uvicorn
trusts (the FORWARDED_ALLOW_IPS environment variable, default 127.0.0.1 only), the address its X-Forwarded-For
names. ModelYard has no trusted-proxy setting of its own and never reads X-Forwarded-For itself: a client cannot
write an address of its choosing into the log unless the deployer trusts its peer as a proxy.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.hub import audit


def peer_address(scope: Scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    host = str(client[0])[:64]
    return host or None


class AuditContext:
    """Pure ASGI middleware: `audit.client_ip` holds the client address for the duration of each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = audit.client_ip.set(peer_address(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            audit.client_ip.reset(token)
