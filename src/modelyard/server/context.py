"""Per-request context shared by the API and the web pages: the services container and the public base URL."""

from __future__ import annotations

from starlette.requests import Request

from modelyard.hub.accounts import Principal
from modelyard.hub.sessions import Session, Sessions
from modelyard.server.services import Services

# HttpOnly, SameSite=Lax cookie holding the random id of a server-side web session (hub.sessions), never a token.
# It authenticates the pages and plain file downloads (safe GET/HEAD on /resolve and /raw), never the JSON API.
LOGIN_COOKIE = "modelyard_session"


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


def sessions(request: Request) -> Sessions:
    svc = services(request)
    st = svc.settings
    return Sessions(svc.db, svc.accounts, st.session_idle_timeout, st.session_max_age)


def current_session(request: Request) -> Session | None:
    """The live web session of the login cookie (cached per request; sync: call it in the threadpool)."""
    cached = request.scope.get("modelyard.session", ...)
    if cached is not ...:
        return cached  # type: ignore[no-any-return]
    session = sessions(request).get(request.cookies.get(LOGIN_COOKIE))
    request.scope["modelyard.session"] = session
    return session


def cookie_principal(request: Request) -> Principal | None:
    """Who the login cookie's session belongs to; None without a live session."""
    session = current_session(request)
    return session.principal if session is not None else None


def secure_cookies(request: Request) -> bool:
    """Cookies get `Secure` when the public URL is https, or the request itself arrived over https (uvicorn sets
    the scheme from X-Forwarded-Proto only for its trusted proxies, --forwarded-allow-ips)."""
    return (
        services(request).settings.public_url.lower().startswith("https://") or request.url.scheme == "https"
    )
