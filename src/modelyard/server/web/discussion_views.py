"""Discussions and pull requests: list with filters, thread, comment, edit, hide, close/reopen, retitle, the PR's
diff ("Files changed") and merge.

Every rule is the hub's: `hub/pulls.py` (`check_discuss`, `check_change`, `check_merge`) and `hub/repo_admin.py`
(`edit_comment`, `hide_comment`), called with the web session's principal, exactly as the JSON API calls them. The
pages show only the buttons their viewer may use; the POST is what is enforced. Forms work as plain POSTs (then a
303 back to the thread, at the comment's anchor); with JavaScript, htmx posts the comment form and swaps the thread's
events in place (static/community.js resets the form and reports errors)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import BadRequest, NotFound
from modelyard.hub import viewer
from modelyard.hub.discussions import Discussion, Event
from modelyard.hub.pulls import allowed, check_change, check_discuss, check_merge
from modelyard.hub.repo_admin import RepoAdmin
from modelyard.hub.repos import Repo, can_write
from modelyard.server.web import repo_views
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import Pages, render_markdown, services, web_principal
from modelyard.server.web.views import form_fields

PER_PAGE = 50
MAX_TITLE = 200
MAX_TEXT = 64 * 1024  # a comment or description (the form body limit is the kit's 64 kB as well)
STATUSES = ("open", "closed", "all")
KINDS = ("all", "discussion", "pull_request")
OPEN = ("open", "draft")


def _repo(request: Request, prefix: str | None, ns: str, name: str) -> Repo:
    return services(request).repos.get(repo_views.PREFIX[prefix], ns, name, web_principal(request))


def _url(repo: Repo) -> str:
    return f"/{repo.type.url_prefix}{repo.id_str}"


def _num(num: str) -> int:
    if not num.isdigit() or len(num) > 9:  # beyond any discussion number (and SQLite's integers)
        raise NotFound(f"Discussion {num[:20]} not found")
    return int(num)


def _login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


# --- the list -------------------------------------------------------------------------------------------------
def _matches(d: Discussion, status: str, kind: str, search: str) -> bool:
    if status != "all" and (d.status in OPEN) != (status == "open"):
        return False
    if kind != "all" and d.is_pr != (kind == "pull_request"):
        return False
    return not search or search.lower() in d.title.lower()


def list_page(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """`?status=open|closed|all&type=all|discussion|pull_request&search=…&p=N`, with each filter's count."""
    repo = _repo(request, prefix, ns, name)
    svc = services(request)
    qp = request.query_params
    status = str(qp.get("status")) if qp.get("status") in STATUSES else "open"
    kind = str(qp.get("type")) if qp.get("type") in KINDS else "all"
    search = (qp.get("search") or "").strip()[:MAX_TITLE]
    page = int(qp["p"]) if (qp.get("p") or "").isdigit() and len(qp["p"]) < 6 else 0
    everything = svc.pulls.discussions(repo)
    counts = svc.pulls.comment_counts(repo)
    status_counts = {s: sum(_matches(d, s, kind, search) for d in everything) for s in STATUSES}
    kind_counts = {k: sum(_matches(d, status, k, search) for d in everything) for k in KINDS}
    items = [d for d in everything if _matches(d, status, kind, search)]
    url = _url(repo)

    def link(**changes: Any) -> str:
        params = {"status": status, "type": kind, "search": search}
        params.update({k: str(v) for k, v in changes.items()})
        return f"{url}/discussions?" + urlencode({k: v for k, v in params.items() if v})

    return pages.render(
        request,
        "community/list.html",
        **repo_views.repo_context(request, repo, "main", "community"),
        items=items[page * PER_PAGE : (page + 1) * PER_PAGE],
        comment_counts=counts,
        current_status=status,
        kind=kind,
        search=search,
        status_counts=status_counts,
        kind_counts=kind_counts,
        statuses=STATUSES,
        kinds=KINDS,
        page=page,
        more=len(items) > (page + 1) * PER_PAGE,
        link=link,
        may_discuss=allowed(check_discuss, repo, web_principal(request)),
    )


# --- a new discussion -----------------------------------------------------------------------------------------
def new_page(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    prefix: str | None = None,
    error: str | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    repo = _repo(request, prefix, ns, name)
    if web_principal(request) is None:
        return _login(request)
    return pages.render(
        request,
        "community/new.html",
        status,
        **repo_views.repo_context(request, repo, "main", "community"),
        error=error,
        values=values or {},
        may_discuss=allowed(check_discuss, repo, web_principal(request)),
    )


def new_submit(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    repo = _repo(request, prefix, ns, name)
    who = check_discuss(repo, web_principal(request))
    form = form_fields(request)
    title = (form.get("title") or "").strip()
    description = form.get("description") or ""
    problem = None
    if not title:
        problem = "A discussion needs a title."
    elif len(title) > MAX_TITLE:
        problem = f"The title is too long (at most {MAX_TITLE} characters)."
    elif len(description) > MAX_TEXT:
        problem = "The description is too long."
    if problem:
        return new_page(
            pages, request, ns, name, prefix, problem, 422, {"title": title, "description": description}
        )
    d = services(request).pulls.open_discussion(who, repo, title, description, False)
    return RedirectResponse(f"{_url(repo)}/discussions/{d.num}", status_code=303)


# --- a thread -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One event of a thread, as the template shows it."""

    event: Event
    kind: str  # "comment" | "status" | "title" | "commit" | other event types as they are
    html: str = ""  # a comment's sanitised markdown
    raw: str = ""  # a comment's text (its edit form)
    hidden: bool = False
    edited: bool = False
    may_edit: bool = False
    may_hide: bool = False


def _items(request: Request, repo: Repo, d: Discussion) -> list[Item]:
    who = web_principal(request)
    may_discuss = allowed(check_discuss, repo, who)
    may_hide = can_write(repo, who)  # RepoAdmin.hide_comment's rule
    out: list[Item] = []
    for e in d.events:
        if e.type == "comment":
            found = e.data.get("latest")
            latest: dict[str, Any] = found if isinstance(found, dict) else {}
            raw = str(latest.get("raw") or "")
            hidden = bool(e.data.get("hidden"))
            mine = who is not None and e.author == who.account.name
            out.append(
                Item(
                    e,
                    "comment",
                    "" if hidden else render_markdown(raw),
                    "" if hidden else raw,
                    hidden,
                    bool(e.data.get("edited")),
                    mine and may_discuss and not hidden,
                    may_hide and not hidden,
                )
            )
        else:
            kind = {"status-change": "status", "title-change": "title"}.get(e.type, e.type)
            out.append(Item(e, kind))
    return out


def _thread_ctx(request: Request, repo: Repo, d: Discussion, tab: str) -> dict[str, Any]:
    who = web_principal(request)
    return {
        **repo_views.repo_context(request, repo, "main", "community"),
        "d": d,
        "thread_url": f"{_url(repo)}/discussions/{d.num}",
        "thread_tab": tab,
        "is_open": d.status in OPEN,
        "may_discuss": allowed(check_discuss, repo, who),
        "may_change": allowed(check_change, repo, who, d),
        "may_merge": d.is_pr and d.status in OPEN and allowed(check_merge, repo, who),
    }


def thread_page(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    num: str,
    prefix: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    repo = _repo(request, prefix, ns, name)
    d = services(request).pulls.discussion(repo, _num(num))
    return pages.render(
        request,
        "community/thread.html",
        status,
        **_thread_ctx(request, repo, d, "conversation"),
        items=_items(request, repo, d),
        error=error,
        login_url=f"/login?next={quote(request.url.path)}",
    )


def files_page(
    pages: Pages, request: Request, ns: str, name: str, num: str, prefix: str | None = None
) -> Response:
    """The PR's diff: its head against the fork point on its base (what a merge applies)."""
    repo = _repo(request, prefix, ns, name)
    svc = services(request)
    svc.repos.check_download(repo, web_principal(request))  # diffs show file bytes: a gated repo's gate
    d = svc.pulls.discussion(repo, _num(num))
    if not d.is_pr:
        raise NotFound(f"#{d.num} is a discussion, not a pull request: it has no files")
    fork, head = svc.pulls.pr_revisions(repo, d.num)
    old = svc.files.manifest(repo, fork) if fork else {}
    new = svc.files.manifest(repo, head)
    try:
        changes = viewer.diff(svc.content, old, new)
    except OSError:
        changes = []
    return pages.render(
        request,
        "community/files.html",
        **_thread_ctx(request, repo, d, "files"),
        changes=changes,
        fork=fork,
        head=head,
    )


# --- the thread's forms ---------------------------------------------------------------------------------------
def _back(repo: Repo, num: int, anchor: str = "") -> Response:
    return RedirectResponse(f"{_url(repo)}/discussions/{num}{anchor}", status_code=303)


def _text(request: Request, field: str) -> str:
    text = form_fields(request).get(field) or ""
    if not text.strip():
        raise BadRequest("A comment cannot be empty")
    if len(text) > MAX_TEXT:
        raise BadRequest("The comment is too long")
    return text


def _on_thread(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    num: str,
    prefix: str | None,
    act: Callable[[], Response],
) -> Response:
    """Run a form's action; a bad request (empty comment, title) re-renders the thread with the message."""
    try:
        return act()
    except BadRequest as e:
        return thread_page(pages, request, ns, name, num, prefix, e.message, e.status)


def comment_submit(
    pages: Pages, request: Request, ns: str, name: str, num: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    who = check_discuss(repo, web_principal(request))
    d = services(request).pulls.discussion(repo, _num(num))

    def act() -> Response:
        ev = services(request).pulls.discussion_comment(who, repo, d.num, _text(request, "comment"))
        return _back(repo, d.num, f"#comment-{ev.id}")

    return _on_thread(pages, request, ns, name, num, prefix, act)


def status_submit(
    pages: Pages, request: Request, ns: str, name: str, num: str, prefix: str | None = None
) -> Response:
    """Close or reopen (`status` = closed | open), with an optional comment."""
    repo = _repo(request, prefix, ns, name)
    d = services(request).pulls.discussion(repo, _num(num))
    who = check_change(repo, web_principal(request), d)
    form = form_fields(request)

    def act() -> Response:
        new = form.get("status")
        if new not in ("open", "closed"):
            raise BadRequest("status must be 'open' or 'closed'")
        comment = (form.get("comment") or "").strip() or None
        if comment and len(comment) > MAX_TEXT:
            raise BadRequest("The comment is too long")
        services(request).pulls.discussion_status(who, repo, d.num, new, comment)
        return _back(repo, d.num)

    return _on_thread(pages, request, ns, name, num, prefix, act)


def title_submit(
    pages: Pages, request: Request, ns: str, name: str, num: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    d = services(request).pulls.discussion(repo, _num(num))
    who = check_change(repo, web_principal(request), d)
    title = (form_fields(request).get("title") or "").strip()

    def act() -> Response:
        if len(title) > MAX_TITLE:
            raise BadRequest(f"The title is too long (at most {MAX_TITLE} characters)")
        services(request).pulls.discussion_title(who, repo, d.num, title)
        return _back(repo, d.num)

    return _on_thread(pages, request, ns, name, num, prefix, act)


def merge_submit(
    pages: Pages, request: Request, ns: str, name: str, num: str, prefix: str | None = None
) -> Response:
    repo = _repo(request, prefix, ns, name)
    d = services(request).pulls.discussion(repo, _num(num))
    who = check_merge(repo, web_principal(request))
    comment = (form_fields(request).get("comment") or "").strip() or None

    def act() -> Response:
        services(request).pulls.merge_pr(who, repo, d.num, comment)
        return _back(repo, d.num)

    return _on_thread(pages, request, ns, name, num, prefix, act)


def _admin(request: Request) -> RepoAdmin:
    svc = services(request)
    return RepoAdmin(svc.db, svc.repos, svc.files, svc.content, svc.search)


def comment_edit(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    num: str,
    comment_id: str,
    prefix: str | None = None,
) -> Response:
    """The author edits their comment (RepoAdmin.edit_comment: the author only, with a token that may discuss)."""
    repo = _repo(request, prefix, ns, name)
    n = _num(num)

    def act() -> Response:
        ev = _admin(request).edit_comment(
            web_principal(request), repo, n, comment_id, _text(request, "comment")
        )
        return _back(repo, n, f"#comment-{ev.id}")

    return _on_thread(pages, request, ns, name, num, prefix, act)


def comment_hide(
    request: Request, ns: str, name: str, num: str, comment_id: str, prefix: str | None = None
) -> Response:
    """A maintainer hides a comment for good (RepoAdmin.hide_comment: write access; the text is erased)."""
    repo = _repo(request, prefix, ns, name)
    n = _num(num)
    ev = _admin(request).hide_comment(web_principal(request), repo, n, comment_id)
    return _back(repo, n, f"#comment-{ev.id}")


def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    return []


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path (`/{ns}/{name}`, `/datasets/{ns}/{name}`, `/spaces/{ns}/{name}`)."""
    g, form = kit.page, kit.form
    d = base + "/discussions"
    one = d + "/{num}"
    return [
        Route(d, g(list_page, prefix=prefix), methods=["GET"]),
        Route(d + "/new", g(new_page, prefix=prefix), methods=["GET"]),
        Route(d + "/new", form(new_submit, prefix=prefix), methods=["POST"]),
        Route(one, g(thread_page, prefix=prefix), methods=["GET"]),
        Route(one + "/files", g(files_page, prefix=prefix), methods=["GET"]),
        Route(one + "/comment", form(comment_submit, prefix=prefix), methods=["POST"]),
        Route(one + "/status", form(status_submit, prefix=prefix), methods=["POST"]),
        Route(one + "/title", form(title_submit, prefix=prefix), methods=["POST"]),
        Route(one + "/merge", form(merge_submit, prefix=prefix), methods=["POST"]),
        Route(one + "/comment/{comment_id}/edit", form(comment_edit, prefix=prefix), methods=["POST"]),
        Route(
            one + "/comment/{comment_id}/hide",
            form(comment_hide, prefix=prefix, with_pages=False),
            methods=["POST"],
        ),
    ]
