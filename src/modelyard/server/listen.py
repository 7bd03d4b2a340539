"""The hub's listeners: the hub itself, and the Spaces origin (a second listener unless spaces_url says otherwise).

Spaces are never served on the hub's origin (spaces/urls.py): `spaces_app(app)` is the ASGI app of the second
listener, sharing the hub app's state (services, the Space supervisor). `bind_spaces` tells the supervisor the
addresses known only once the sockets are bound (port 0).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send


def bind_hub(app: Starlette, hub_address: tuple[str, int]) -> None:
    """Called once the hub's socket is bound: jobs reach the hub at `hub_address` (their HF_ENDPOINT)."""
    app.state.hub_address = hub_address
    manager = getattr(app.state, "job_manager", None)
    if manager is not None:
        manager.hub_address = hub_address


def bind_spaces(app: Starlette, hub_address: tuple[str, int], spaces_origin: str) -> None:
    """Called once both listeners are bound: Spaces reach the hub at `hub_address` (their HF_ENDPOINT); the
    default Spaces origin (when spaces_url is empty or a wildcard's fallback) is `spaces_origin`."""
    app.state.spaces_binding = (hub_address, spaces_origin)
    manager = getattr(app.state, "space_manager", None)
    if manager is not None:
        manager.hub_address = hub_address
        manager.urls.origin = spaces_origin


class _SpacesEntry:
    """The second listener's app: built on first use from the hub app's state (filled by its lifespan)."""

    def __init__(self, hub: Starlette) -> None:
        self.hub = hub
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if self.app is None:
            from modelyard.server.spaces_proxy import create_spaces_app

            self.app = create_spaces_app(self.hub.state)
        await self.app(scope, receive, send)


def spaces_app(hub: Starlette) -> Any:
    return _SpacesEntry(hub)


def run(app: Starlette, settings: Any, **uvicorn_options: Any) -> None:
    """`modelyard serve`: the hub on host:port and, with Spaces on, the Spaces origin on host:spaces_port, in one
    event loop (one process: the Space supervisor lives in the hub app's state)."""
    import asyncio
    import socket

    import uvicorn

    from modelyard.server.http_server import server_config

    def bind(port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit it: asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP, and
        # without it uvicorn's two writes (head, body) meet the client's delayed ACK: +40 ms per keep-alive request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((settings.host, port))
        sock.set_inheritable(True)
        return sock

    class Server(uvicorn.Server):
        """A signal stops both listeners (each serve() installs its own handlers: the last one wins)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            for server, _ in servers:
                uvicorn.Server.handle_exit(server, sig, frame)

    hub_sock = bind(settings.port)
    hub_port = hub_sock.getsockname()[1]
    local = "127.0.0.1" if settings.host in {"0.0.0.0", "::", "localhost"} else settings.host
    bind_hub(app, (local, hub_port))
    servers: list[tuple[uvicorn.Server, socket.socket]] = [
        (Server(server_config(app, **uvicorn_options)), hub_sock)
    ]
    if settings.spaces_enabled:
        spaces_sock = bind(settings.spaces_port)
        sport = spaces_sock.getsockname()[1]
        shown = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host
        origin = f"http://{shown}:{sport}"
        connect = "127.0.0.1" if settings.host in {"0.0.0.0", "::", "localhost"} else settings.host
        bind_spaces(app, hub_address=(connect, hub_port), spaces_origin=origin)
        opts = {**uvicorn_options, "lifespan": "off"}
        servers.append((Server(server_config(spaces_app(app), **opts)), spaces_sock))
        print(f"Spaces on {settings.spaces_url or origin}", flush=True)

    async def main() -> None:
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))

    asyncio.run(main())
