"""The Spaces origin: a reverse proxy in front of running Spaces (never the hub's origin, spaces/urls.py).

Routing: `/spaces/{ns}/{name}/...` on the default listener or a fixed `spaces_url` (`/spaces/{ns}/{name}` without
the slash: 307 to the slash form); in wildcard mode the Host `{ns}-{name}.spaces.example.org` names the Space and
its app is at `/`. `/` of the default origin is a small page linking back to the hub.

Access: the hub's own check (`Repos.get` → `can_read`) for a principal from `Authorization: Bearer` or
`x-hf-authorization: Bearer` (gradio_client), or from a signed, short-lived `__sign` link made by the hub's space
page (`sign_space_url`, 1 h), which the proxy swaps for its own HttpOnly cookie scoped to the Space (303 to the URL
without `__sign`). Unknown Spaces, private ones the caller may not read and a disabled Spaces feature are all the
Hub's 404. The app never sees hub credentials: Authorization, x-hf-authorization and every `modelyard*` cookie
(the hub's login and CSRF cookies, which browsers send to every port of a host, and the proxy's own) are removed
before forwarding, and `Set-Cookie` answers naming them are dropped; an app's cookies lose any `Domain` and get a
`Path` inside the Space's prefix.

Forwarding (`AppTarget` kind "socket"): HTTP/1.1 over pooled keep-alive connections to the app's Unix socket
(httptools parses the answers; an httpx client measured twice the added latency and keeps a cookie jar across
callers), request and response bodies streamed as they come (no re-encoding, no buffering: SSE passes event by
event), hop-by-hop headers dropped, `X-Forwarded-Host/Proto/Prefix/For` set, the prefix stripped or kept as the
runtime says. WebSockets are bridged with the `websockets` package (subprotocols, text and binary frames, close
codes). Kind "static": files served from the materialised directory, safe against traversal. A Space that is not
serving: a browser navigation wakes it and gets a self-refreshing "waking up" page (or a page with the failed
stage, 503); other requests wait up to `spaces_start_timeout` for it, else the Hub's JSON 503 with the `stage`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import json
import logging
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import anyio
import httptools
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.config import Settings
from modelyard.errors import Forbidden, HubError, NotFound, RepoNotFound, SpaceNotRunning, Unauthorized
from modelyard.hub.repos import Repo
from modelyard.server.edge import EdgeGuard
from modelyard.server.errors import HttpError, RequestIdMiddleware, error_response
from modelyard.server.routing import try_cached
from modelyard.spaces.runtime import TRANSITIONAL, WAKEABLE, Stage
from modelyard.types import RepoType

if TYPE_CHECKING:
    from modelyard.hub.accounts import Principal
    from modelyard.server.services import Services
    from modelyard.spaces.manager import AppTarget, SpaceManager

log = logging.getLogger("modelyard.spaces.proxy")

SIGN_PARAM = "__sign"
SIGN_COOKIE = "modelyard_space_access"
SIGN_TTL = 3600  # seconds a `__sign` link from the hub's space page stays valid
COOKIE_TTL = 12 * 3600  # seconds the access cookie it is swapped for stays valid
HUB_COOKIE_PREFIX = "modelyard"  # the hub's cookies (login, CSRF) and the proxy's own: never reach an app

# Request and response headers that describe one hop, never forwarded (RFC 9110 7.6.1), plus those the proxy sets.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_REQUEST_DROP = _HOP | {
    "host",
    "authorization",
    "x-hf-authorization",
    "cookie",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-prefix",
    "x-forwarded-port",
    "x-real-ip",
}
_RESPONSE_DROP = _HOP | {"set-cookie", "x-frame-options", "date", "server", "x-request-id"}
_WS_REQUEST_DROP = _REQUEST_DROP | {
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "origin",
    "content-length",
}
_CONNECT_TIMEOUT = 10.0  # reads never time out: SSE, long predictions
_READ_SIZE = 256 * 1024


class SpaceUnreachable(HubError):
    """The app's socket refused the connection (it crashed or is restarting): HTTP 502."""

    code = "SpaceUnreachable"
    status = 502


# --- signed access links ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(settings: Settings, purpose: str, user_id: int, repo_id: int, expires: int) -> str:
    body = f"{user_id}.{repo_id}.{expires}"
    mac = hmac.new(settings.derived_key(b"space-sign"), f"{purpose}:{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def _verify(settings: Settings, purpose: str, token: str, now: float | None = None) -> tuple[int, int] | None:
    """(user id, repo id) of a valid, unexpired token of `purpose`; None otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or len(token) > 200:
        return None
    user_id, repo_id, expires = (int(p) for p in parts[:3])
    if not hmac.compare_digest(_sign(settings, purpose, user_id, repo_id, expires), token):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return user_id, repo_id


def sign_token(settings: Settings, user_id: int, repo_id: int, ttl: int = SIGN_TTL) -> str:
    return _sign(settings, "link", user_id, repo_id, int(time.time()) + ttl)


def sign_space_url(settings: Settings, space_host: str, user_id: int, repo_id: int) -> str:
    """The Space's URL (`space_host`: SpaceUrls.host, no trailing slash) with a `__sign` parameter that lets the
    user's browser in for an hour (the hub's space page embeds it in its iframe: a private Space then works without
    any hub credential on the Spaces origin)."""
    return f"{space_host}/?{SIGN_PARAM}={sign_token(settings, user_id, repo_id)}"


def verify_link(settings: Settings, token: str) -> tuple[int, int] | None:
    return _verify(settings, "link", token)


# --- request parts ------------------------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k == name:
            return str(v.decode("latin-1"))
    return None


def bearer_token(scope: Scope) -> str | None:
    """The hub token of `Authorization: Bearer` or, as gradio_client sends it, `x-hf-authorization: Bearer`."""
    for name in (b"authorization", b"x-hf-authorization"):
        value = _header(scope, name)
        if value:
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def parse_cookies(header: str) -> list[tuple[str, str]]:
    out = []
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name:
            out.append((name.strip(), value.strip()))
    return out


def app_cookie_header(scope: Scope) -> str | None:
    """The request's cookies without the hub's and the proxy's own (every name starting with "modelyard")."""
    kept = []
    for k, v in scope.get("headers") or ():
        if k != b"cookie":
            continue
        for part in v.decode("latin-1").split(";"):
            name = part.strip().partition("=")[0].strip()
            if name and not name.lower().startswith(HUB_COOKIE_PREFIX):
                kept.append(part.strip())
    return "; ".join(kept) or None


def sign_cookies(scope: Scope) -> list[str]:
    values = []
    for k, v in scope.get("headers") or ():
        if k == b"cookie":
            values += [value for name, value in parse_cookies(v.decode("latin-1")) if name == SIGN_COOKIE]
    return values


def rewrite_set_cookie(value: str, prefix: str, strip_prefix: bool) -> str | None:
    """An app's Set-Cookie as the browser may keep it: None for a cookie named like the hub's (it could reach the
    hub: browsers send cookies to every port of a host), no `Domain` (host-only: never another Space's host or the
    hub's), and on a shared origin a `Path` within the Space's prefix."""
    parts = [p.strip() for p in value.split(";")]
    name = parts[0].partition("=")[0].strip()
    if not name or name.lower().startswith(HUB_COOKIE_PREFIX):
        return None
    attrs = []
    path: str | None = None
    for attr in parts[1:]:
        key = attr.partition("=")[0].strip().lower()
        if key == "domain":
            continue
        if key == "path":
            path = attr.partition("=")[2].strip() or "/"
            continue
        if attr:
            attrs.append(attr)
    if prefix:
        if strip_prefix:
            path = prefix + (path if path and path.startswith("/") else "/")
        elif path is None or not (path == prefix or path.startswith(prefix + "/")):
            path = prefix + "/"
    if path is not None:
        attrs.append(f"Path={path}")
    return "; ".join([parts[0], *attrs])


def safe_static_path(root: Path, rest: str, raw_rest: bytes, index: str) -> Path | None:
    """The file under `root` a static Space serves for the request path `rest` (decoded; `raw_rest` as sent):
    None for traversal (`..`, encoded slashes or backslashes, NUL, a symlink leading out of `root`) or no file."""
    raw_lower = raw_rest.lower()
    if b"%2f" in raw_lower or b"%5c" in raw_lower or b"%00" in raw_lower or "\\" in rest or "\x00" in rest:
        return None
    segments = [s for s in rest.split("/") if s]
    if any(s in (".", "..") for s in segments):
        return None
    base = root.resolve()
    target = base.joinpath(*segments) if segments else base
    if not segments or rest.endswith("/"):
        target = target / (index if not segments else "index.html")
    try:
        resolved = target.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if resolved != base and base not in resolved.parents:
        return None
    if resolved.is_dir():
        inner = resolved / "index.html"
        return inner if inner.is_file() else None
    return resolved if resolved.is_file() else None


@dataclass
class _Route:
    ns: str
    name: str
    rest: str  # decoded path after the Space's prefix, "/..." ("/" at least)
    raw_rest: bytes  # the same, as sent (percent-encoded)


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.idle_since = reader, writer, 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Pool:
    """Keep-alive HTTP/1.1 connections to one app's Unix socket. An idle connection is reused for a short while
    only (the app's server closes idle ones after ~5 s: uvicorn's default), and never once the app closed it."""

    IDLE_MAX = 3.0
    KEEP = 32

    def __init__(self, path: str) -> None:
        self.path = path
        self.idle: list[_Conn] = []
        self.closed = False

    async def get(self) -> tuple[_Conn, bool]:
        """(a connection, whether it was reused)."""
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing() or now - conn.idle_since > self.IDLE_MAX:
                conn.close()
                continue
            return conn, True
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path, limit=_READ_SIZE), _CONNECT_TIMEOUT
        )
        return _Conn(reader, writer), False

    def put(self, conn: _Conn) -> None:
        if self.closed or len(self.idle) >= self.KEEP or conn.reader.at_eof():
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def sweep(self, now: float) -> None:
        """Close idle connections past their time (a sleeping Space's app is gone: no fd stays open for it)."""
        fresh = []
        for conn in self.idle:
            if now - conn.idle_since > self.IDLE_MAX or conn.reader.at_eof():
                conn.close()
            else:
                fresh.append(conn)
        self.idle = fresh

    def close(self) -> None:
        self.closed = True
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class _Pools:
    """One pool per app socket; a Space whose socket path changes (a restart) gets a new one, the old one closes."""

    SWEEP_EVERY = 10.0

    def __init__(self) -> None:
        self.by_path: dict[str, _Pool] = {}
        self.path_of: dict[int, str] = {}
        self.swept = time.monotonic()

    def get(self, repo_id: int, path: Path) -> _Pool:
        key = str(path)
        now = time.monotonic()
        if now - self.swept > self.SWEEP_EVERY:
            self.swept = now
            for idle in self.by_path.values():
                idle.sweep(now)
        old = self.path_of.get(repo_id)
        if old is not None and old != key:
            stale = self.by_path.pop(old, None)
            if stale is not None:
                stale.close()
        self.path_of[repo_id] = key
        pool = self.by_path.get(key)
        if pool is None:
            pool = self.by_path[key] = _Pool(key)
        return pool


class _Parsed:
    """httptools callbacks of one response: status line and headers, then body pieces as they are decoded."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.done = False
        self.keep_alive = False  # read in the callback: llhttp forgets it once the message is complete
        self.body: list[bytes] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((bytes(name).lower(), bytes(value)))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(bytes(body))

    def on_message_complete(self) -> None:
        self.done = True
        self.keep_alive = bool(self.parser.should_keep_alive())


# --- the app ------------------------------------------------------------------------------------------------


class SpacesProxy:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.pools = _Pools()
        self._principals: dict[int, tuple[float, Principal | None]] = {}
        self._subdomains: dict[str, tuple[float, tuple[str, str] | None]] = {}
        self._csp: dict[str, str] = {}

    @property
    def services(self) -> Services:
        return self.state.services  # type: ignore[no-any-return]

    @property
    def manager(self) -> SpaceManager | None:
        return getattr(self.state, "space_manager", None)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        websocket = scope["type"] == "websocket"
        try:
            await self._handle(scope, receive, send, websocket)
        except HubError as exc:
            if websocket:
                await self._deny_websocket(scope, send, exc)
            else:
                await self._error(scope, exc)(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, websocket: bool) -> None:
        manager = self.manager
        if manager is None:
            raise NotFound("Spaces are not enabled on this hub")
        route = await self._route(scope, manager)
        if route is None:
            if scope["path"] == "/" and not websocket and scope["method"] in ("GET", "HEAD"):
                await self._home(scope)(scope, receive, send)
                return
            raise NotFound("Not found")
        if isinstance(route, Response):
            await route(scope, receive, send)
            return
        link = self._query_param(scope, SIGN_PARAM) if not websocket else None
        if link is not None:
            await (await self._swap_link(scope, route, link))(scope, receive, send)
            return
        repo = await self._authorize(scope, route)
        if websocket:
            await self._websocket(scope, receive, send, manager, repo, route)
            return
        navigation = scope["method"] == "GET" and "text/html" in (_header(scope, b"accept") or "")
        try:
            wait = 0 if navigation else float(self.settings.spaces_start_timeout)
            target = await self._acquire(manager, repo, wait)
        except SpaceNotRunning as exc:
            if not navigation:
                raise
            await self._waiting_page(scope, repo, exc)(scope, receive, send)
            return
        if target.kind == "static":
            await self._static(scope, target, route)(scope, receive, send)
            return
        with manager.in_use(repo):
            await self._forward(scope, receive, send, repo, target, route)

    # --- routing and access ---------------------------------------------------------------------------
    async def _route(self, scope: Scope, manager: SpaceManager) -> _Route | Response | None:
        urls = manager.urls
        path: str = scope["path"]
        raw: bytes = scope.get("raw_path") or path.encode()
        if urls.wildcard:
            sub = urls.match_host((_header(scope, b"host") or "").split(":")[0].strip("."))
            if sub is None:
                return None
            found = await self._by_subdomain(sub)
            if found is None:
                raise RepoNotFound("Space not found")
            return _Route(found[0], found[1], path or "/", raw or b"/")
        m = urls.match_path(path)
        if m is None:
            return None
        ns, name, rest = m
        if not rest:
            if scope["type"] != "http":
                raise NotFound("Not found")
            qs = scope.get("query_string") or b""
            location = raw.decode("latin-1") + "/" + ("?" + qs.decode("latin-1") if qs else "")
            return RedirectResponse(location, status_code=307)
        head = f"/spaces/{ns}/{name}".encode()
        raw_rest = raw[len(head) :] if raw.lower().startswith(head.lower()) else quote(rest).encode()
        return _Route(ns, name, rest, raw_rest or b"/")

    async def _by_subdomain(self, sub: str) -> tuple[str, str] | None:
        """(ns, name) of a wildcard host's Space, remembered a few seconds (then `Repos.get` checks access)."""
        now = time.monotonic()
        hit = self._subdomains.get(sub)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await self._sync(self.services.spaces.find_by_subdomain, sub)
        if len(self._subdomains) > 4096:
            self._subdomains.clear()
        self._subdomains[sub] = (now + 10.0, found)
        return found  # type: ignore[no-any-return]

    @staticmethod
    async def _acquire(manager: SpaceManager, repo: Repo, wait: float) -> AppTarget:
        """`manager.acquire` in the supervisor's own event loop (the Spaces listener may run in another one: the
        tests run it in its own thread)."""
        loop = getattr(manager, "loop", None)
        if loop is None or loop is asyncio.get_running_loop() or loop.is_closed():
            return await manager.acquire(repo, wait)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(manager.acquire(repo, wait), loop))

    async def _sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A sync hub lookup: on the event loop when its rows are cached, else in the threadpool."""
        done, result = try_cached(fn, *args)
        if done:
            return result
        return await run_in_threadpool(fn, *args)

    def _find(self, route: _Route, who: Principal | None) -> Repo:
        return self.services.repos.get(RepoType.SPACE, route.ns, route.name, who)

    def _token_principal(self, token: str | None) -> Principal | None:
        try:
            return self.services.accounts.authenticate(token)
        except Unauthorized:
            return None  # e.g. a huggingface.co token gradio_client sends along: anonymous here

    def _user_principal(self, user_id: int) -> Principal | None:
        """A reader principal for the user a signed link names (cached a few seconds: membership changes apply)."""
        now = time.monotonic()
        hit = self._principals.get(user_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        acc = self.services.accounts.by_id(user_id)
        who = None if acc is None else self.services.accounts.principal_for(acc, "space-link", "read")
        if len(self._principals) > 4096:
            self._principals.clear()
        self._principals[user_id] = (now + 10.0, who)
        return who

    def _authorize_sync(self, scope: Scope, route: _Route) -> Repo:
        """The Space if the caller may read it (the hub's own check, `Repos.get`), else RepoNotFound."""
        who = self._token_principal(bearer_token(scope))
        try:
            return self._find(route, who)
        except RepoNotFound:
            pass
        for value in sign_cookies(scope):
            ids = _verify(self.settings, "cookie", value)
            if ids is None:
                continue
            user = self._user_principal(ids[0])
            if user is None:
                continue
            try:
                repo = self._find(route, user)
            except RepoNotFound:
                continue
            if repo.id == ids[1]:
                return repo
        raise RepoNotFound("Space not found")

    async def _authorize(self, scope: Scope, route: _Route) -> Repo:
        if bearer_token(scope) is None and not sign_cookies(scope):
            return await self._sync(self._find, route, None)  # type: ignore[no-any-return]
        return await self._sync(self._authorize_sync, scope, route)  # type: ignore[no-any-return]

    def _query_param(self, scope: Scope, name: str) -> str | None:
        qs = scope.get("query_string") or b""
        if name.encode() not in qs:
            return None
        for k, v in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
            if k == name:
                return str(v)
        return None

    async def _swap_link(self, scope: Scope, route: _Route, link: str) -> Response:
        """`?__sign=<token>`: a valid link becomes the proxy's cookie, then 303 to the same URL without it."""
        ids = verify_link(self.settings, link)
        if ids is None:
            raise Forbidden(
                "This link to the Space is invalid or has expired: open the Space from the hub again"
            )
        user = await run_in_threadpool(self._user_principal, ids[0])
        repo = await run_in_threadpool(self._find, route, user)
        if repo.id != ids[1]:
            raise RepoNotFound("Space not found")
        qs = [
            (k, v)
            for k, v in parse_qsl(
                (scope.get("query_string") or b"").decode("latin-1"), keep_blank_values=True
            )
            if k != SIGN_PARAM
        ]
        prefix = self.manager.urls.prefix(route.ns, route.name) if self.manager else ""
        location = prefix + route.raw_rest.decode("latin-1") + ("?" + urlencode(qs) if qs else "")
        resp = Response(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})
        resp.set_cookie(
            SIGN_COOKIE,
            _sign(self.settings, "cookie", ids[0], repo.id, int(time.time()) + COOKIE_TTL),
            max_age=COOKIE_TTL,
            path=(prefix + "/") if prefix else "/",
            httponly=True,
            samesite="lax",
            secure=scope.get("scheme") in ("https", "wss"),
        )
        return resp

    # --- answers of the proxy itself ----------------------------------------------------------------
    def _error(self, scope: Scope, exc: HubError) -> Response:
        request = Request(scope)
        resp = error_response(request, exc)
        stage = exc.extra.get("stage")
        if stage is not None and request.method != "HEAD":
            body = json.loads(bytes(resp.body))
            body["stage"] = str(stage)
            headers = {
                k: v for k, v in resp.headers.items() if k.lower() not in ("content-length", "content-type")
            }
            resp = Response(
                json.dumps(body), status_code=resp.status_code, headers=headers, media_type="application/json"
            )
        self._frame_headers(scope, resp.headers)
        return resp

    async def _deny_websocket(self, scope: Scope, send: Send, exc: HubError) -> None:
        """A refused WebSocket: the Hub's error as an HTTP answer where the server can send one, else 403."""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            resp = self._error({**scope, "type": "http", "method": "GET"}, exc)
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": resp.status_code,
                    "headers": resp.raw_headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": bytes(resp.body)})
            return
        await send({"type": "websocket.close", "code": 1008})

    def _hub_url(self, scope: Scope) -> str:
        public = self.settings.public_url
        if public:
            return public.rstrip("/")
        binding = getattr(self.state, "spaces_binding", None)
        host = (_header(scope, b"host") or "localhost").rsplit(":", 1)[0]
        if binding is not None:
            return f"{scope.get('scheme', 'http')}://{host}:{binding[0][1]}"
        return "/"

    def _frame_headers(self, scope: Scope, headers: Any) -> None:
        """Who may frame pages of the Spaces origin: the hub and the origin itself (no X-Frame-Options)."""
        host = f"{scope.get('scheme')}://{_header(scope, b'host')}"
        cached = self._csp.get(host)
        if cached is None:
            cached = self._csp_for(scope)
            if len(self._csp) > 1024:
                self._csp.clear()
            self._csp[host] = cached
        headers["Content-Security-Policy"] = cached

    def _csp_for(self, scope: Scope) -> str:
        hub = self._hub_url(scope)
        sources = ["'self'"]
        parts = urlsplit(hub)
        if parts.scheme and parts.netloc:
            sources.append(f"{parts.scheme}://{parts.netloc}")
        return "frame-ancestors " + " ".join(sources)

    def _home(self, scope: Scope) -> Response:
        hub = html.escape(self._hub_url(scope))
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Spaces</title></head><body>"
            "<h1>Spaces</h1><p>This origin serves the running Spaces of a ModelYard hub. "
            f"Browse them on <a href='{hub}/spaces'>the hub</a>.</p></body></html>"
        )
        resp = HTMLResponse(page)
        self._frame_headers(scope, resp.headers)
        return resp

    def _waiting_page(self, scope: Scope, repo: Repo, exc: SpaceNotRunning) -> Response:
        stage = str(exc.extra.get("stage") or "")
        title = html.escape(f"{repo.namespace}/{repo.name}")
        hub = html.escape(f"{self._hub_url(scope)}/spaces/{repo.namespace}/{repo.name}")
        waking = stage in {s.value for s in TRANSITIONAL | WAKEABLE} or stage in ("", Stage.RUNNING.value)
        if waking:
            what = "building" if "BUILDING" in stage else "waking up"
            body = (
                f"<h1>{title} is {what}</h1><p>Stage: <code>{html.escape(stage or 'STARTING')}</code>. "
                "This page reloads itself until the app is ready.</p>"
            )
            head, status = "<meta http-equiv='refresh' content='2'>", 200
        else:
            body = (
                f"<h1>{title} is not running</h1><p>Stage: <code>{html.escape(stage)}</code></p>"
                f"<pre>{html.escape(exc.message)}</pre><p>See the logs on <a href='{hub}' target='_top'>its page "
                "on the hub</a>.</p>"
            )
            head, status = "", 503
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'>{head}<title>{title}</title></head>"
            f"<body style='font-family:sans-serif;margin:3em'>{body}</body></html>"
        )
        resp = HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
        self._frame_headers(scope, resp.headers)
        return resp

    def _static(self, scope: Scope, target: AppTarget, route: _Route) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HttpError(405, "Static Spaces only answer GET and HEAD")
        file = safe_static_path(target.path, route.rest, route.raw_rest, target.index)
        if file is None:
            raise NotFound("File not found")
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        resp = FileResponse(file, media_type=ctype, headers={"X-Content-Type-Options": "nosniff"})
        self._frame_headers(scope, resp.headers)
        return resp

    # --- HTTP forwarding -------------------------------------------------------------------------------
    def _upstream_path(self, target: AppTarget, route: _Route) -> bytes:
        return route.raw_rest if target.strip_prefix else target.prefix.encode() + route.raw_rest

    def _forward_headers(
        self, scope: Scope, target: AppTarget, drop: frozenset[str]
    ) -> list[tuple[str, str]]:
        """The request's headers for the app: hop-by-hop ones, hub credentials and hub cookies removed, the
        X-Forwarded-* set by the proxy."""
        headers: list[tuple[str, str]] = []
        connection_tokens = {t.strip() for t in (_header(scope, b"connection") or "").lower().split(",")}
        for k, v in scope.get("headers") or ():
            name = k.decode("latin-1")
            if name in drop or name in connection_tokens:
                continue
            headers.append((name, v.decode("latin-1")))
        cookies = app_cookie_header(scope)
        if cookies:
            headers.append(("cookie", cookies))
        host = _header(scope, b"host") or "localhost"
        scheme = str(scope.get("scheme", "http"))
        headers += [
            ("x-forwarded-host", host),
            ("x-forwarded-proto", {"ws": "http", "wss": "https"}.get(scheme, scheme)),
            ("x-forwarded-prefix", target.prefix),
        ]
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", str(client[0])))
        return headers

    def _response_headers(
        self, scope: Scope, target: AppTarget, raw: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """The app's response headers for the client: hop-by-hop ones, X-Frame-Options and hub-named cookies
        removed, cookies confined to the Space, our frame-ancestors policy added."""
        out: list[tuple[bytes, bytes]] = []
        connection_tokens: set[str] = set()
        for name, value in raw:
            if name == b"connection":
                connection_tokens |= {t.strip() for t in value.decode("latin-1").lower().split(",")}
        for name, value in raw:
            sname = name.decode("latin-1")
            if sname == "set-cookie":
                cookie = rewrite_set_cookie(value.decode("latin-1"), target.prefix, target.strip_prefix)
                if cookie is not None:
                    out.append((b"set-cookie", cookie.encode("latin-1")))
            elif sname not in _RESPONSE_DROP and sname not in connection_tokens:
                out.append(
                    (name, value)
                )  # an app's own Content-Security-Policy stands; ours is added next to it
        frame: dict[str, str] = {}
        self._frame_headers(scope, frame)
        out.append((b"content-security-policy", frame["Content-Security-Policy"].encode()))
        return out

    def _request_head(self, scope: Scope, target: AppTarget, route: _Route, chunked: bool) -> bytes:
        qs: bytes = scope.get("query_string") or b""
        raw_path = self._upstream_path(target, route) + (b"?" + qs if qs else b"")
        lines = [scope["method"].encode("latin-1") + b" " + raw_path + b" HTTP/1.1"]
        for name, value in self._forward_headers(scope, target, _REQUEST_DROP):
            if chunked and name == "content-length":
                continue
            lines.append(f"{name}: {value}".encode("latin-1"))
        lines.append(b"host: " + (_header(scope, b"host") or "localhost").encode("latin-1"))
        if chunked:
            lines.append(b"transfer-encoding: chunked")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, repo: Repo, target: AppTarget, route: _Route
    ) -> None:
        """One request to the app over a pooled keep-alive connection (HTTP/1.1 on its Unix socket), the body
        streamed both ways as it comes (httptools parses the answer; content-encoding is left alone)."""
        pool = self.pools.get(repo.id, target.path)
        chunked = _header(scope, b"transfer-encoding") is not None
        has_body = chunked or (_header(scope, b"content-length") or "0") != "0"
        head = self._request_head(scope, target, route, chunked)
        head_only = scope["method"] == "HEAD"
        body_sent = False
        for attempt in (0, 1):
            try:
                conn, reused = await pool.get()
            except (OSError, TimeoutError) as e:
                log.info("Space %s unreachable: %s", repo.id_str, e)
                raise SpaceUnreachable(
                    "The Space's app is not reachable (it may have crashed): retry in a moment"
                ) from None
            parsed = _Parsed()
            parser = parsed.parser
            got_bytes = False
            try:
                conn.writer.write(head)
                if has_body:
                    body_sent = True
                    await self._send_body(receive, conn.writer, chunked)
                await conn.writer.drain()
                while not parsed.headers_done:
                    data = await conn.reader.read(_READ_SIZE)
                    if not data:
                        raise ConnectionResetError("the app closed the connection")
                    got_bytes = True
                    parser.feed_data(data)
            except (OSError, httptools.HttpParserError) as e:
                conn.close()
                if reused and not got_bytes and not body_sent and attempt == 0:
                    continue  # a keep-alive connection the app had just closed: once more on a new one
                log.info("Space %s: no answer: %s", repo.id_str, e)
                raise SpaceUnreachable(
                    "The Space's app is not reachable (it may have crashed): retry in a moment"
                ) from None
            break
        keep = False
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": parser.get_status_code(),
                    "headers": self._response_headers(scope, target, parsed.headers),
                }
            )
            if head_only:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if any(name == b"content-length" for name, _ in parsed.headers):
                keep = await self._pump(send, conn, parser, parsed)
                return
            async with anyio.create_task_group() as tg:  # unbounded (SSE): stop when the client goes away

                async def watch() -> None:
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            tg.cancel_scope.cancel()
                            return

                tg.start_soon(watch)
                keep = await self._pump(send, conn, parser, parsed)
                tg.cancel_scope.cancel()
        finally:
            if keep and parsed.keep_alive:
                pool.put(conn)
            else:
                conn.close()

    @staticmethod
    async def _send_body(receive: Receive, writer: asyncio.StreamWriter, chunked: bool) -> None:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ConnectionAbortedError("the client went away while sending its body")
            chunk = message.get("body", b"")
            if chunk:
                writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                await writer.drain()
            if not message.get("more_body", False):
                if chunked:
                    writer.write(b"0\r\n\r\n")
                return

    @staticmethod
    async def _pump(send: Send, conn: _Conn, parser: Any, parsed: _Parsed) -> bool:
        """The answer's body to the client as it arrives; True when it ended cleanly (the connection is reusable)."""

        try:
            while True:
                if parsed.body:
                    chunks, parsed.body = parsed.body, []
                    for chunk in chunks:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if parsed.done:
                    break
                data = await conn.reader.read(_READ_SIZE)
                if not data:
                    break  # no length and no chunks: the body ends with the connection
                parser.feed_data(data)
        except (OSError, httptools.HttpParserError) as e:
            log.info("A Space's response ended early: %s", e)  # the app died mid-answer: end what was sent
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return parsed.done

    # --- WebSockets ------------------------------------------------------------------------------------
    async def _websocket(
        self, scope: Scope, receive: Receive, send: Send, manager: SpaceManager, repo: Repo, route: _Route
    ) -> None:
        from websockets.asyncio.client import unix_connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        target = await self._acquire(manager, repo, float(self.settings.spaces_start_timeout))
        if target.kind != "socket":
            raise NotFound("This Space has no WebSocket endpoint")
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        qs: bytes = scope.get("query_string") or b""
        path = self._upstream_path(target, route).decode("latin-1") + (
            "?" + qs.decode("latin-1") if qs else ""
        )
        host = _header(scope, b"host") or "localhost"
        if not all(c.isalnum() or c in ".-:[]" for c in host):
            host = "localhost"
        offered = [
            p.strip() for p in (_header(scope, b"sec-websocket-protocol") or "").split(",") if p.strip()
        ]
        headers = self._forward_headers(scope, target, frozenset(_WS_REQUEST_DROP))
        try:
            upstream = await unix_connect(
                str(target.path),
                f"ws://{host}{path}",
                subprotocols=offered or None,  # type: ignore[arg-type]
                additional_headers=headers,
                origin=_header(scope, b"origin"),  # type: ignore[arg-type]
                open_timeout=30,
                ping_interval=None,
                max_size=None,
                compression=None,
                user_agent_header=_header(scope, b"user-agent"),
            )
        except InvalidStatus as e:
            await send({"type": "websocket.close", "code": 1008 if e.response.status_code < 500 else 1011})
            return
        except (OSError, InvalidHandshake, TimeoutError) as e:
            log.info("WebSocket to Space %s failed: %s", repo.id_str, e)
            await send({"type": "websocket.close", "code": 1011})
            return
        with manager.in_use(repo):
            try:
                await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
                await self._bridge(receive, send, upstream, ConnectionClosed)
            finally:
                await upstream.close()

    @staticmethod
    async def _bridge(receive: Receive, send: Send, upstream: Any, closed: type[Exception]) -> None:
        async with anyio.create_task_group() as tg:

            async def down_to_up() -> None:
                while True:
                    message: Message = await receive()
                    if message["type"] == "websocket.receive":
                        data = message.get("text")
                        if data is None:
                            data = message.get("bytes") or b""
                        try:
                            await upstream.send(data)
                        except closed:
                            return
                    elif message["type"] == "websocket.disconnect":
                        code = int(message.get("code") or 1000)
                        if code in (1005, 1006, 1015) or not (1000 <= code < 5000):
                            code = 1000
                        with contextlib.suppress(Exception):
                            await upstream.close(code=code, reason=str(message.get("reason") or ""))
                        tg.cancel_scope.cancel()
                        return

            async def up_to_down() -> None:
                try:
                    async for data in upstream:
                        if isinstance(data, str):
                            await send({"type": "websocket.send", "text": data})
                        else:
                            await send({"type": "websocket.send", "bytes": bytes(data)})
                except closed:
                    pass
                code = upstream.close_code or 1000
                if code in (1005, 1006, 1015):
                    code = 1000 if code == 1005 else 1011
                with contextlib.suppress(Exception):
                    await send(
                        {"type": "websocket.close", "code": code, "reason": upstream.close_reason or ""}
                    )
                tg.cancel_scope.cancel()

            tg.start_soon(down_to_up)
            tg.start_soon(up_to_down)


def create_spaces_app(state: Any) -> ASGIApp:
    """The ASGI app of the Spaces origin, over the hub app's state (services, space_manager)."""
    proxy: ASGIApp = SpacesProxy(state)
    settings: Settings = state.services.settings
    return RequestIdMiddleware(EdgeGuard(proxy, max_header_size=settings.max_header_size))


__all__ = ["SIGN_COOKIE", "SIGN_PARAM", "create_spaces_app", "sign_space_url", "verify_link"]
