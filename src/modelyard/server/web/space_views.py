"""Spaces in the web UI: the space page (the running app embedded from the Spaces origin, its stage, the log tail
when it does not serve), the build and run logs streamed live, the owner's Restart / Factory rebuild / Pause
buttons, and the Space settings page (sleep time, secrets, variables); stage badges for listings.

Rules: the page, its stage fragment and its logs need read access to the space (`Repos.get`: a private space is
404 to others); every control needs write access (`Repos.get_for_write`: 401 anonymous, 403 others) and is a
CSRF-checked form (`RouteKit.form`). The supervisor (`app.state.space_manager`, spaces/manager.py) is async and
lives on the server's event loop: these sync views (threadpool) call it through `anyio.from_thread.run`. Secret
values are written, never shown: the pages list secret names and descriptions only.

The app is embedded from the Spaces origin, never the hub's own (its session cookie must not reach Space code):
the page's CSP gets a `frame-src` for that origin only. A private Space's frame gets a signed URL
(server/spaces_proxy.py `sign_space_url`) for the viewing user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import anyio.from_thread
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import BadRequest, HubError, NotFound
from modelyard.hub.repos import Repo
from modelyard.server import sse
from modelyard.server.web import repo_views
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import Pages, services, web_principal
from modelyard.server.web.security import page_headers
from modelyard.server.web.views import form_fields
from modelyard.spaces.runtime import FAILED, SERVING, TRANSITIONAL, WAKEABLE, SpaceRuntime, Stage
from modelyard.types import RepoType

if TYPE_CHECKING:
    from modelyard.spaces.manager import SpaceManager

R = TypeVar("R")
LOG_TAIL = 60  # lines of a log shown on the page without JavaScript
LOG_KINDS = ("build", "run")
KEEPALIVE_S = 15.0  # an SSE comment line this often while a log is quiet
POLL_MS = 2000  # the stage badge refreshes this often while the Space builds or starts
POLL_IDLE_MS = (
    10_000  # and this often otherwise (a crash, a pause, a new commit's build show up on open pages)
)
SLEEP_CHOICES = ((300, "5 minutes"), (900, "15 minutes"), (3600, "1 hour"), (86400, "1 day"), (-1, "Never"))
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
MAX_VALUE = 32 * 1024
IFRAME_SANDBOX = "allow-scripts allow-forms allow-popups allow-downloads allow-same-origin"
IFRAME_ALLOW = "clipboard-read; clipboard-write; fullscreen"
# what a new Space (NO_APP_FILE, e.g. just made on /new-space) is shown as a first app file, by sdk
STARTERS = {
    "gradio": ("app.py", 'import gradio as gr\n\n\ndef greet(name):\n    return "Hello " + name + "!"\n\n\n'
               'gr.Interface(greet, gr.Textbox(label="name"), gr.Textbox(label="greeting")).launch()\n'),
    "streamlit": ("app.py", 'import streamlit as st\n\nname = st.text_input("name")\nst.write("Hello", name)\n'),
    "static": ("index.html", "<!doctype html>\n<title>Hello</title>\n<h1>Hello from a static Space</h1>\n"),
}  # fmt: skip
# badge colour of each stage (class `stage-<tone>`)
_TONE = {
    **{s: "ok" for s in SERVING},
    **{s: "busy" for s in TRANSITIONAL},
    **{s: "bad" for s in FAILED},
}


def _manager(request: Request) -> SpaceManager | None:
    return getattr(request.app.state, "space_manager", None)


def _run(fn: Callable[..., Coroutine[Any, Any, R]], *args: Any) -> R:
    """Run a supervisor coroutine on the server's event loop from this threadpool view."""
    return anyio.from_thread.run(fn, *args)


def _space(request: Request, ns: str, name: str) -> Repo:
    """The space if the web user may read it (a private one is 404 to others)."""
    return services(request).repos.get(RepoType.SPACE, ns, name, web_principal(request))


def _owned(request: Request, ns: str, name: str) -> Repo:
    """The space if the web user may write to it (404 private to others, 401 anonymous, 403 others)."""
    return services(request).repos.get_for_write(RepoType.SPACE, ns, name, web_principal(request))


def _url(repo: Repo) -> str:
    return f"/spaces/{repo.id_str}"


def _runtime(request: Request, repo: Repo) -> SpaceRuntime | None:
    manager = _manager(request)
    return manager.runtime(repo) if manager is not None else None


def stage_info(runtime: SpaceRuntime | None) -> dict[str, Any]:
    """What a stage badge shows: the stage, its tone (ok / busy / bad / idle), whether it spins, the error."""
    if runtime is None:
        return {"stage": "", "tone": "idle", "busy": False, "serving": False, "frame": False, "poll_ms": 0,
                "error": None, "label": ""}  # fmt: skip
    stage = Stage(runtime.stage)
    return {
        "stage": stage.value,
        "label": stage.value.replace("_", " ").capitalize(),
        "tone": _TONE.get(stage, "idle"),
        "busy": stage in TRANSITIONAL,
        "serving": stage in SERVING,
        # the app is framed while it serves, and while it sleeps (the proxy wakes it with a waiting page)
        "frame": stage in SERVING or stage in WAKEABLE,
        "poll_ms": POLL_MS if stage in TRANSITIONAL else POLL_IDLE_MS,
        "error": runtime.error_message if stage in FAILED else None,
    }


def space_badge(request: Request, repo: Any) -> Markup:
    """A space's stage and sdk for listings (`repo_item`): a Jinja global; empty for other repos or without Spaces."""
    if getattr(repo, "type", None) is not RepoType.SPACE:
        return Markup("")
    parts = []
    if repo.sdk:
        parts.append(f'<span class="chip sdk">{escape(repo.sdk)}</span>')
    manager = _manager(request)
    if manager is not None:
        try:
            info = stage_info(manager.runtime(repo))
        except Exception:  # a listing never fails on a Space's state
            info = stage_info(None)
        if info["stage"]:
            parts.append(
                f'<span class="stage-badge stage-{info["tone"]}" title="Space stage">{escape(info["label"])}</span>'
            )
    return Markup("".join(parts))


def _log_tail(request: Request, repo: Repo, kind: str, n: int = LOG_TAIL) -> list[dict[str, str]]:
    manager = _manager(request)
    if manager is None:
        return []
    lines = manager.logs(repo, kind).snapshot()[-n:]  # type: ignore[arg-type]
    return [{"time": ln.timestamp, "text": ln.data} for ln in lines]


def _frame_url(request: Request, manager: SpaceManager, repo: Repo) -> str:
    """The app's public URL on the Spaces origin; a private Space's is signed for the viewing user."""
    host = manager.urls.host(repo.namespace, repo.name)
    who = web_principal(request)
    if repo.private and who is not None:
        from modelyard.server.spaces_proxy import sign_space_url

        return sign_space_url(services(request).settings, host, who.account.id, repo.id)
    return host + "/"


def _with_frame_src(response: Response, request: Request, frame_url: str) -> Response:
    """The page's CSP, with the Space's origin (only) allowed in frames."""
    parts = urlsplit(frame_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        csp = page_headers(services(request).settings)["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = f"{csp}; frame-src {parts.scheme}://{parts.netloc}"
    return response


# --------------------------------------------------------------------------------------------- the page
def _page_ctx(request: Request, repo: Repo, tab: str) -> dict[str, Any]:
    ctx: dict[str, Any] = repo_views.repo_context(request, repo, "main", tab)
    runtime = _runtime(request, repo)
    info = stage_info(runtime)
    return {
        **ctx,
        "runtime": runtime,
        "info": info,
        "spaces_on": _manager(request) is not None,
        "space_url": _url(repo),
    }


def space_page(pages: Pages, request: Request, ns: str, name: str) -> Response:
    """`/spaces/{ns}/{name}`: the app in a frame when it serves, else its stage and the log tail; the card below."""
    repo = _space(request, ns, name)
    manager = _manager(request)
    if manager is None:  # Spaces are off: the repo page (card and files) as for any repo
        return repo_views.repo_page(pages, request, ns, name, prefix="spaces")
    ctx = _page_ctx(request, repo, "card")
    info = ctx["info"]
    frame = _frame_url(request, manager, repo) if info["frame"] else None
    log_kind = "build" if info["stage"] in (Stage.BUILDING, Stage.BUILD_ERROR) else "run"
    files = ctx["files"]
    card = repo.card_data or {}
    body = repo_views._read_card(request, files)
    card_html = None
    if body is not None and body.strip():
        card_html = repo_views.render_card(request, body, ctx["repo_url"], "main", files)[0]
    links = repo_views._linker(request, {RepoType.MODEL: set(_models(card))})
    response = pages.render(
        request,
        "space_page.html",
        **ctx,
        frame_url=frame,
        public_url=manager.urls.host(repo.namespace, repo.name) + "/",
        sandbox=IFRAME_SANDBOX,
        allow=IFRAME_ALLOW,
        log_kind=log_kind,
        log_lines=[] if frame else _log_tail(request, repo, log_kind),
        starter=STARTERS.get(repo.sdk or "") if info["stage"] == Stage.NO_APP_FILE else None,
        card_html=card_html,
        space_models=[links.repo(RepoType.MODEL, m) for m in _models(card)],
        title=str(card.get("title") or repo.name),
        emoji=str(card.get("emoji") or ""),
        short=str(card.get("short_description") or ""),
    )
    if repo.private:
        response.headers["Cache-Control"] = "private, no-store"  # the frame's URL is signed for this user
    return _with_frame_src(response, request, frame) if frame else response


def _models(card: dict[str, Any]) -> list[str]:
    raw = card.get("models")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    return [str(m) for m in items if isinstance(m, str) and m][:50]


def stage_fragment(pages: Pages, request: Request, ns: str, name: str) -> Response:
    """`…/stage`: the badge alone (htmx polls it: often while the Space builds or starts). `?was=<stage>`: the stage the
    page was rendered with; once the Space serves (or stops serving) the page reloads (`HX-Refresh`)."""
    repo = _space(request, ns, name)
    info = stage_info(_runtime(request, repo))
    was = request.query_params.get("was", "")
    was = was if was in Stage.__members__ else ""
    response = pages.render(request, "space_stage.html", info=info, space_url=_url(repo), repo=repo, was=was)
    if was and info["stage"] and info["stage"] != was:
        then = stage_info(SpaceRuntime(Stage(was)))
        # the page shows something else now (the app, or the stage and its log): reload it; not between two
        # busy stages (the badge says it), nor between serving and sleeping (the frame wakes the app itself:
        # reloading it would keep a Space awake as long as a tab is open)
        if not (then["busy"] and info["busy"]) and not (then["frame"] and info["frame"]):
            response.headers["HX-Refresh"] = "true"
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------------- logs
def logs_page(pages: Pages, request: Request, ns: str, name: str) -> Response:
    """`…/logs`: the build and run logs (the current lines; `static/spaces.js` follows them live)."""
    repo = _space(request, ns, name)
    ctx = _page_ctx(request, repo, "logs")
    logs = {kind: _log_tail(request, repo, kind, 5000) for kind in LOG_KINDS}
    return pages.render(request, "space_logs.html", **ctx, logs=logs)


def logs_stream(pages: Pages, request: Request, ns: str, name: str, kind: str) -> Response:
    """`…/logs/{build|run}/stream`: the log as `text/event-stream` for the page's EventSource (the session cookie;
    read access as the page: a private space's is 404 to others)."""
    repo = _space(request, ns, name)
    if kind not in LOG_KINDS:
        raise NotFound("Page not found")
    manager = _manager(request)
    if manager is None:
        raise NotFound("Spaces are not enabled on this hub")
    book = manager.logs(repo, kind)  # type: ignore[arg-type]
    return sse.response(sse.log_lines(book, page=True), KEEPALIVE_S)


# ---------------------------------------------------------------------------------------- owner controls
def _control_manager(request: Request) -> SpaceManager:
    manager = _manager(request)
    if manager is None:
        raise NotFound("Spaces are not enabled on this hub")
    return manager


def control(pages: Pages, request: Request, ns: str, name: str, action: str) -> Response:
    """POST restart / factory-rebuild / pause (writers only), then back to the space page."""
    repo = _owned(request, ns, name)
    manager = _control_manager(request)
    if action == "pause":
        _run(manager.pause, repo)
    else:
        _run(manager.restart, repo, action == "factory-rebuild")
    return RedirectResponse(_url(repo), status_code=303)


def settings_page(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    errors: dict[str, str] | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    """`…/settings/space`: sleep time, secrets (names only) and variables, for writers."""
    if web_principal(request) is None:
        _space(request, ns, name)  # 404 if private
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    repo = _owned(request, ns, name)
    store = services(request).spaces
    ctx = _page_ctx(request, repo, "settings")
    current = store.get(repo.id).sleep_time
    default = services(request).settings.spaces_sleep_time
    effective = current if current is not None else default
    choices = list(SLEEP_CHOICES)
    if effective not in [c for c, _ in choices]:
        choices.append((effective, f"{effective} seconds"))
    return pages.render(
        request,
        "space_settings.html",
        status,
        **ctx,
        sleep_choices=choices,
        sleep_time=effective,
        secrets=sorted(store.secrets(repo.id).items()),
        variables=sorted(store.variables(repo.id).items()),
        errors=errors or {},
        values=values or {},
    )


def _key(fields: dict[str, str]) -> str:
    key = (fields.get("key") or "").strip()
    if not ENV_KEY.match(key):
        raise BadRequest("A key is a letter or _, then letters, digits or _ (an environment variable name)")
    return key


def _changed(request: Request, repo: Repo, anchor: str) -> Response:
    manager = _manager(request)
    if manager is not None:
        _run(manager.settings_changed, repo)
    return RedirectResponse(f"{_url(repo)}/settings/space#{anchor}", status_code=303)


def settings_submit(pages: Pages, request: Request, ns: str, name: str, section: str) -> Response:
    """POST sleep / secret / secret-delete / variable / variable-delete."""
    repo = _owned(request, ns, name)
    store = services(request).spaces
    fields = form_fields(request)
    anchor = "sleep" if section == "sleep" else section.split("-")[0] + "s"
    try:
        if section == "sleep":
            try:
                seconds = int(fields.get("sleep_time") or "")
            except ValueError:
                raise BadRequest("Choose a sleep time") from None
            if seconds not in [c for c, _ in SLEEP_CHOICES]:
                raise BadRequest("Choose one of the sleep times offered")
            store.set_sleep_time(repo.id, seconds)
        elif section in ("secret", "variable"):
            key = _key(fields)
            value = fields.get("value") or ""
            if len(value) > MAX_VALUE:
                raise BadRequest(f"A value is at most {MAX_VALUE // 1024} KiB")
            description = (fields.get("description") or "").strip()[:500] or None
            add = store.add_secret if section == "secret" else store.add_variable
            add(repo.id, key, value, description)
        elif section in ("secret-delete", "variable-delete"):
            key = _key(fields)
            delete = store.delete_secret if section == "secret-delete" else store.delete_variable
            delete(repo.id, key)
        else:  # pragma: no cover - the routes only bind the sections above
            raise NotFound("Page not found")
    except HubError as e:
        if e.status >= 500 or e.status in (401, 403):
            raise
        values = dict(fields)
        values.pop("value", None)  # a refused secret's value is never sent back
        return settings_page(pages, request, ns, name, {anchor: e.message}, e.status, values)
    return _changed(request, repo, anchor)


# ---------------------------------------------------------------------------------------------- routes
def routes(kit: RouteKit) -> list[BaseRoute]:
    """The space page itself (before the generic repo page of `/spaces/{ns}/{name}`), and the listings' badge."""
    kit.pages.env.globals["space_badge"] = space_badge
    kit.pages.env.globals["space_stage_info"] = stage_info
    return [Route("/spaces/{ns}/{name}", kit.page(space_page), methods=["GET"])]


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Under `/spaces/{ns}/{name}`: stage, logs (page and streams), controls, Space settings."""
    if prefix != "spaces":
        return []
    g, form = kit.page, kit.form
    out: list[BaseRoute] = [
        Route(base + "/stage", g(stage_fragment), methods=["GET"]),
        Route(base + "/logs", g(logs_page), methods=["GET"]),
        Route(base + "/logs/{kind}/stream", g(logs_stream), methods=["GET"]),
        Route(base + "/settings/space", g(settings_page), methods=["GET"]),
    ]
    for action in ("restart", "factory-rebuild", "pause"):
        out.append(Route(f"{base}/{action}", form(control, action=action), methods=["POST"]))
    for section in ("sleep", "secret", "secret-delete", "variable", "variable-delete"):
        out.append(
            Route(
                f"{base}/settings/space/{section}", form(settings_submit, section=section), methods=["POST"]
            )
        )
    return out


__all__ = ["repo_routes", "routes", "space_badge", "stage_info"]
