"""Web page hardening: the pages' CSP and headers, CSRF tokens for every state-changing form.

CSRF: a logged-in browser's forms carry its session's secret (hub.sessions, random per session). An anonymous
browser (the login form) gets a signed double-submit token: a random HttpOnly pre-session cookie and, in the
form, HMAC(server key, cookie). A POST is accepted only with the token matching the browser's own session (or,
without a session, its own pre-session cookie); otherwise 403 CsrfTokenInvalid.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from modelyard.config import Settings
from modelyard.errors import CsrfTokenInvalid
from modelyard.server.context import current_session, secure_cookies, services

# Scripts, styles, fonts, fetches and forms only from the hub itself; no inline script/style, no plugins, no
# <base>, never framed. Images may come from https (model cards link pictures) and data: URLs; audio/video from
# blob: URLs too (the inference widget plays a text-to-speech answer from the response's blob).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
CSRF_FIELD = "csrf_token"
PRESESSION_COOKIE = "modelyard_csrf"
_NEW_COOKIE = "modelyard.new_csrf_cookie"


def _presession_token(request: Request, cookie: str) -> str:
    return hmac.new(
        services(request).settings.derived_key(b"modelyard web csrf"), cookie.encode(), hashlib.sha256
    ).hexdigest()


def csrf_token(request: Request) -> str:
    """The token to put in this browser's forms (sync: may read the session)."""
    session = current_session(request)
    if session is not None:
        return session.csrf_secret
    cookie = request.cookies.get(PRESESSION_COOKIE) or request.scope.get(_NEW_COOKIE)
    if not cookie or len(cookie) > 100:
        cookie = secrets.token_urlsafe(24)
        request.scope[_NEW_COOKIE] = cookie
    return _presession_token(request, cookie)


def check_csrf(request: Request, form: dict[str, Any]) -> None:
    """CsrfTokenInvalid unless the form's token belongs to this browser (its session, else its pre-session)."""
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not sent:
        raise CsrfTokenInvalid("Missing CSRF token: reload the page and try again")
    session = current_session(request)
    if session is not None:
        expected = session.csrf_secret
    else:
        cookie = request.cookies.get(PRESESSION_COOKIE)
        if not cookie:
            raise CsrfTokenInvalid("Missing CSRF cookie: enable cookies, reload the page and try again")
        expected = _presession_token(request, cookie)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfTokenInvalid("Invalid CSRF token: reload the page and try again")


def page_headers(settings: Settings) -> dict[str, str]:
    """PAGE_HEADERS; with `content_url` set, images and media may also come from the content origin."""
    return _page_headers(settings.content_url)


@functools.lru_cache(maxsize=8)
def _page_headers(content_url: str) -> dict[str, str]:
    if not content_url:
        return PAGE_HEADERS
    parts = urlsplit(content_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    csp = PAGE_CSP.replace("img-src 'self' https: data:", f"img-src 'self' https: data: {origin}").replace(
        "media-src 'self' blob:", f"media-src 'self' blob: {origin}"
    )
    return {**PAGE_HEADERS, "Content-Security-Policy": csp}


def finish(request: Request, response: Response) -> Response:
    """Add the page headers, and the pre-session cookie a rendered form needed."""
    for k, v in page_headers(services(request).settings).items():
        response.headers.setdefault(k, v)
    cookie = request.scope.pop(_NEW_COOKIE, None)
    if cookie:
        response.set_cookie(
            PRESESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
            path="/",
        )
    return response
