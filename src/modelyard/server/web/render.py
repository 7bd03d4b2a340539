"""Rendering helpers for the web UI: Jinja2 environment, sanitised markdown, formatting filters, web auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nh3
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from starlette.requests import Request
from starlette.responses import HTMLResponse

from modelyard.hub.accounts import Principal
from modelyard.server.context import LOGIN_COOKIE, cookie_principal
from modelyard.server.context import base_url as base_url
from modelyard.server.context import services as services
from modelyard.server.errors import header_safe
from modelyard.server.web.security import csrf_token, finish

TEMPLATES = Path(__file__).parent / "templates"
COOKIE = LOGIN_COOKIE


def render_markdown(text: str) -> str:
    """CommonMark + tables to HTML, then sanitised by nh3: no scripts, event handlers or javascript: URLs."""
    md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")
    return nh3.clean(md.render(text), link_rel="noopener noreferrer nofollow")


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def human_count(n: int | None) -> str:
    if not n:
        return "0"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n)


def ago(dt: datetime | None) -> str:
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    s = (datetime.now(UTC) - dt).total_seconds()
    for div, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        if s >= div:
            n = int(s // div)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
    )
    env.filters.update(
        size=human_size,
        count=human_count,
        ago=ago,
        tojson_pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str),
    )
    return env


def web_principal(request: Request) -> Principal | None:
    """The user of the web session in the HttpOnly login cookie (web pages only; the API stays Bearer-based)."""
    return cookie_principal(request)


class Pages:
    """Renders templates with the common context (current user, base URL, CSRF token) and the page headers."""

    def __init__(self) -> None:
        self.env = make_env()

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("who", web_principal(request))
        ctx.setdefault("base", base_url(request))
        ctx.setdefault("request", request)
        ctx.setdefault("csrf_token", lambda: csrf_token(request))
        html = self.env.get_template(name).render(**ctx)
        resp = HTMLResponse(html, status_code=status)
        if status >= 400 and ctx.get("code"):  # error pages carry the Hub's error headers too
            resp.headers["X-Error-Code"] = str(ctx["code"])
            resp.headers["X-Error-Message"] = header_safe(str(ctx.get("message", "")))
        finish(request, resp)
        return resp
