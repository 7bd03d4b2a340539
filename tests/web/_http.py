"""HTTP-level helpers for web tests: a logged-in httpx client and the CSRF token of its session."""

from __future__ import annotations

import re
from typing import Any

import httpx

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = TOKEN_FIELD.search(html)
    assert m is not None, "no csrf_token field on the page"
    return m.group(1)


def web_client(url: str, token: str | None = None) -> tuple[httpx.Client, str]:
    """An httpx client (cookies kept) logged in with `token` through the /login token form, or anonymous; and the
    CSRF token its forms carry (the session's secret, or the pre-session token when anonymous)."""
    c = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    pre = csrf_of(c.get("/login").text)
    if token is None:
        return c, pre
    r = c.post("/login", data={"token": token, "next": "/", "csrf_token": pre})
    assert r.status_code == 303, r.text[:500]
    return c, csrf_of(c.get("/logout").text)


def error_code(r: Any) -> str:
    return str(r.headers.get("x-error-code", ""))
