"""Per-request context shared by the API and the web pages: the services container and the public base URL."""

from __future__ import annotations

from starlette.requests import Request

from modelyard.server.services import Services

# HttpOnly, SameSite=Lax cookie holding the token of a user who logged in on the web pages. It authenticates the
# pages and plain file downloads (safe GET/HEAD on /resolve), never the JSON API.
LOGIN_COOKIE = "modelyard_token"


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    """The configured public URL, else the one the client used (Host header, X-Forwarded-Proto behind a proxy).
    HF clients only accept returned URLs on the host of their endpoint, so this must match what they called."""
    configured = services(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    proto = request.headers.get("x-forwarded-proto") or request.url.scheme
    return f"{proto}://{host}"
