"""Rendering helpers for the web UI: Jinja2 environment, sanitised markdown, formatting filters, web auth."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import nh3
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
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


# --- the file viewer's code: class-based highlighting (styles in static/reading.css) ----------------------
PREVIEW_CAP = 200 * 1000  # bytes of a file the viewer shows (then: "showing the first N kB")
PREVIEW_LINES = 10_000  # and at most this many lines
PYGMENTS_CAP = 256 * 1000  # Pygments on at most this much text (big JSON uses the fast highlighter)
_JSON_TOKEN = re.compile(
    r'("(?:[^"\\\n]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}\[\]])'
)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_line(text: str) -> str:
    """One line of JSON as HTML with Pygments' class names (nt: key, s2: string, m: number, kc: constant,
    p: bracket): a regex pass, ~4x faster than Pygments on a big tokenizer.json."""
    out: list[str] = []
    pos = 0
    for m in _JSON_TOKEN.finditer(text):
        if m.start() > pos:
            out.append(_esc(text[pos : m.start()]))
        if m.group(1):
            out.append(f'<span class="{"nt" if m.group(2) else "s2"}">{_esc(m.group(1))}</span>')
            out.append(_esc(m.group(2) or ""))
        elif m.group(3):
            out.append(f'<span class="m">{m.group(3)}</span>')
        elif m.group(4):
            out.append(f'<span class="kc">{m.group(4)}</span>')
        else:
            out.append(f'<span class="p">{m.group(5)}</span>')
        pos = m.end()
    out.append(_esc(text[pos:]))
    return "".join(out)


def highlight_lines(text: str, path: str) -> list[str]:
    """The lines of `text` as HTML (escaped, with highlighting spans that never cross a line), by file name."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith((".json", ".jsonl", ".ndjson", ".ipynb")):
        return [_json_line(ln) for ln in lines]
    lexer = None
    if len(text) <= PYGMENTS_CAP and not name.endswith(".txt"):
        from pygments.lexers import get_lexer_for_filename
        from pygments.util import ClassNotFound

        try:
            lexer = get_lexer_for_filename(name, stripnl=False, ensurenl=False)
        except ClassNotFound:
            lexer = None
    if lexer is None:
        return [_esc(ln) for ln in lines]
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    out: list[str] = str(highlight(text, lexer, HtmlFormatter(nowrap=True))).split(
        "\n"
    )  # spans are closed at each line end
    if out and out[-1] == "":
        out.pop()
    return out


def code_table(text: str, path: str) -> Markup:
    """A line-numbered, highlighted table of `text` (the file viewer). The HTML is built here (Pygments or the
    JSON highlighter escape every character of `text`): a Jinja loop over 10k lines costs more."""
    rows = [
        f"<tr><td>{i}</td><td>{ln}</td></tr>"  # short rows: 10k lines stay small (CSS styles by position)
        for i, ln in enumerate(highlight_lines(text, path), 1)
    ]
    caption = '<caption class="sr-only">File content with line numbers</caption>'
    return Markup(f'<table class="code hl">{caption}<tbody>{"".join(rows)}</tbody></table>')


def bar_chart(points: list[tuple[date, int]], width: int = 300, height: int = 64) -> dict[str, Any]:
    """Geometry of a server-side SVG bar chart of daily counts (the downloads chart; no JavaScript)."""
    top = max((n for _, n in points), default=0)
    step = width / max(1, len(points))
    bars = []
    for i, (day, n) in enumerate(points):
        h = round(n / top * (height - 2), 1) if top else 0
        if n and h < 1:
            h = 1.0
        bars.append(
            {
                "x": round(i * step + 1, 1),
                "y": round(height - h, 1),
                "w": round(max(1.0, step - 2), 1),
                "h": h,
                "label": f"{day.isoformat()}: {n} download{'s' if n != 1 else ''}",
            }
        )
    first = points[0][0].isoformat() if points else ""
    last = points[-1][0].isoformat() if points else ""
    total = sum(n for _, n in points)
    return {
        "bars": bars,
        "width": width,
        "height": height,
        "max": top,
        "total": total,
        "first": first,
        "last": last,
    }


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
