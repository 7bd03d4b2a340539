"""User files never run on the hub's origin: response headers for /resolve and /raw, and the `content_url` origin.

Every file response gets `X-Content-Type-Options: nosniff` and `Content-Security-Policy: default-src 'none';
sandbox` (no script, no plugin, no same-origin access even if a browser renders it). Types a browser could
execute or render as a document (HTML, XHTML, SVG, XML and XSLT, JavaScript, CSS, MHTML, Flash, WML, RDF/RSS/Atom,
and files with no known type, which a browser would sniff) are served as `application/octet-stream` with
`Content-Disposition: attachment`: a download, never a page, script or stylesheet of the hub.

With `content_url` set (a second host name for the same server), file bytes are served only there: the hub answers
`/resolve` and `/raw` (after its usual access check, cookie or Bearer) with a 302 to a short-lived HMAC-signed URL
on the content origin, which needs no credentials and carries no cookie of the hub. A request whose Host is the
content origin may only fetch such signed file URLs; everything else there is 404.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import time
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.config import Settings
from modelyard.errors import Forbidden, NotFound
from modelyard.server.errors import error_response

USER_CONTENT_CSP = "default-src 'none'; sandbox"
INERT_TYPE = "application/octet-stream"
SIGNED_TTL = 900  # seconds a signed content URL stays valid (the download must start within it)

ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "text/jscript",
        "text/vbscript",
        "text/css",
        "message/rfc822",  # .mht/.mhtml
        "multipart/related",
        "application/x-shockwave-flash",
        "text/vnd.wap.wml",
        "application/pdf",  # viewers run embedded script; download instead
    }
)
ACTIVE_EXTENSIONS = frozenset(
    [
        ".html",
        ".htm",
        ".shtml",
        ".xhtml",
        ".xht",
        ".svg",
        ".svgz",
        ".xml",
        ".xsl",
        ".xslt",
        ".js",
        ".mjs",
        ".cjs",
        ".jsx",
        ".css",
        ".mht",
        ".mhtml",
        ".swf",
        ".wml",
        ".rdf",
        ".rss",
        ".atom",
        ".hta",
        ".pdf",
    ]
)


def is_active(path: str) -> bool:
    """Whether a browser could run or render this file as a document (or would sniff it: no known type)."""
    name = path.rsplit("/", 1)[-1].lower()
    mime = mimetypes.guess_type(name)[0]
    if mime is None:
        return True
    ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return mime in ACTIVE_TYPES or mime.endswith("+xml") or ext in ACTIVE_EXTENSIONS


def content_headers(path: str) -> dict[str, str]:
    """Content-Type, Content-Disposition, nosniff and the sandbox CSP for a user file served under `path`."""
    filename = quote(path.rsplit("/", 1)[-1])
    if is_active(path):
        ctype, disposition = INERT_TYPE, "attachment"
    else:
        ctype, disposition = mimetypes.guess_type(path)[0] or INERT_TYPE, "inline"
    return {
        "Content-Type": ctype,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{filename}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": USER_CONTENT_CSP,
    }


# --- the content origin --------------------------------------------------------------------------------------
_DEFAULT_PORTS = {"http": 80, "https": 443}
FILE_PATH = re.compile(r"^/(?:(?:datasets|spaces)/)?[^/]+/[^/]+/(?:resolve|raw)/[^/]+/.+$")


def _origin(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if not parts.hostname:
        return None
    return parts.hostname.lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)


def _content_origin(settings: Settings) -> tuple[str, int] | None:
    if not settings.content_url:
        return None
    content = _origin(settings.content_url)
    if content is None or (settings.public_url and _origin(settings.public_url) == content):
        return None  # the same origin as the hub would isolate nothing: ignored
    return content


def on_content_origin(settings: Settings, host: str | None) -> bool:
    """Whether a request's Host header names the content origin (a port, if given, must match too: behind a TLS
    proxy the Host usually has none)."""
    content = _content_origin(settings)
    if content is None or not host:
        return False
    parts = urlsplit("//" + host)
    try:
        port = parts.port
    except ValueError:
        return False
    return (parts.hostname or "").lower() == content[0] and (port is None or port == content[1])


def content_enabled(settings: Settings) -> bool:
    return _content_origin(settings) is not None


def _sig(
    settings: Settings, kind: str, prefix: str, ns: str, name: str, sha: str, path: str, exp: int
) -> str:
    msg = "\n".join([kind, prefix, ns, name, sha, path, str(exp)]).encode()
    return hmac.new(settings.derived_key(b"modelyard content url"), msg, hashlib.sha256).hexdigest()


def signed_url(settings: Settings, kind: str, prefix: str, ns: str, name: str, sha: str, path: str) -> str:
    """A URL on the content origin for one file at one commit, valid for SIGNED_TTL seconds."""
    exp = int(time.time()) + SIGNED_TTL
    sig = _sig(settings, kind, prefix, ns, name, sha, path, exp)
    lead = f"{prefix}/" if prefix else ""
    base = settings.content_url.rstrip("/")
    return (
        f"{base}/{lead}{quote(ns, safe='')}/{quote(name, safe='')}/{kind}/{sha}/{quote(path, safe='/')}"
        f"?exp={exp}&sig={sig}"
    )


def verify(request: Request, kind: str, prefix: str, ns: str, name: str, sha: str, path: str) -> None:
    """Forbidden unless the request carries a valid, unexpired signature for exactly this file."""
    settings = request.app.state.services.settings
    exp_s, sig = request.query_params.get("exp", ""), request.query_params.get("sig", "")
    if not exp_s.isdigit() or not sig:
        raise Forbidden("The content origin serves only signed file URLs (get one from the hub)")
    exp = int(exp_s)
    expected = _sig(settings, kind, prefix, ns, name, sha, path, exp)
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        raise Forbidden("Invalid signature for this file URL")
    if exp < time.time():
        raise Forbidden("This file URL has expired; request the file from the hub again")


class ContentOriginGate:
    """On the content origin, only file URLs (/resolve, /raw; signature checked by the route) get through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            settings = scope["app"].state.services.settings
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            if on_content_origin(settings, host):
                raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
                if scope["method"] not in ("GET", "HEAD") or not FILE_PATH.match(raw):
                    request = Request(scope, receive)
                    resp = error_response(request, NotFound("Not found on the content origin"))
                    resp.headers["X-Content-Type-Options"] = "nosniff"
                    await resp(scope, receive, send)
                    return
                scope["modelyard.content_origin"] = True
        await self.app(scope, receive, send)
