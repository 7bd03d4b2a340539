"""Web pages of gated repos: the access box on the repo page (the card's form, then the request's state), the form
POST that asks for access, and the maintainers' page listing the requests with accept / reject / cancel buttons.

Every POST carries this browser's CSRF token (server/web/security.py); the rules are hub/gating.py's, with the web
session's principal."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.errors import BadRequest, HubError
from modelyard.hub import audit
from modelyard.hub.gating import STATUSES, gate_form
from modelyard.hub.repos import Repo
from modelyard.server.web.render import Pages, render_markdown, services, web_principal
from modelyard.server.web.security import check_csrf
from modelyard.server.web.views import form_fields
from modelyard.types import RepoType

PREFIX = {"datasets": RepoType.DATASET, "spaces": RepoType.SPACE, None: RepoType.MODEL}


def _url(repo: Repo) -> str:
    return f"/{repo.type.url_prefix}{repo.id_str}"


def has_download_access(request: Request, repo: Repo, path: str | None = None) -> bool:
    """Whether the web session may see the repo's file bytes (the gate of `Repos.check_download`)."""
    try:
        services(request).repos.check_download(repo, web_principal(request), path)
    except HubError:
        return False
    return True


def gate_context(request: Request, repo: Repo) -> dict[str, Any] | None:
    """What the repo page shows about the gate (None: not gated). `state`: "open" (a member, or accepted),
    "pending", "rejected", "ask" (the form) or "login"."""
    if not repo.gated:
        return None
    who = web_principal(request)
    form = gate_form(repo.card_data)
    ctx: dict[str, Any] = {
        "mode": repo.gated,
        "form": form,
        "prompt_html": render_markdown(form.prompt) if form.prompt else None,
        "action": f"{_url(repo)}/ask-access",
        "manage_url": f"{_url(repo)}/settings/gated-user-access",
        "can_manage": False,
        "reason": None,
    }
    if who is None:
        return {**ctx, "state": "login", "login_url": f"/login?next={quote(_url(repo))}"}
    ctx["can_manage"] = _may_list(request, repo)
    if has_download_access(request, repo):  # a member of the namespace, or an accepted request
        return {**ctx, "state": "open"}
    found = services(request).gating.find(repo, who.account.id)
    if found is None:
        return {**ctx, "state": "ask"}
    state = {"accepted": "open", "pending": "pending", "rejected": "rejected"}[found.status]
    return {**ctx, "state": state, "reason": found.rejection_reason}


def _may_list(request: Request, repo: Repo) -> bool:
    try:
        services(request).gating.check_list(web_principal(request), repo)
    except HubError:
        return False
    return True


def _repo(request: Request, prefix: str | None, ns: str, name: str) -> Repo:
    return services(request).repos.get(PREFIX[prefix], ns, name, web_principal(request))


def ask_access(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """POST from the access box: the answers (fields f0, f1, ... in the form's order), then back to the repo."""
    form = form_fields(request)
    check_csrf(request, form)
    repo = _repo(request, prefix, ns, name)
    who = web_principal(request)
    if who is None:
        return RedirectResponse(f"/login?next={quote(_url(repo))}", status_code=303)
    answers: dict[str, Any] = {}
    for i, f in enumerate(gate_form(repo.card_data).fields):
        value = form.get(f"f{i}")
        if f.type == "checkbox":
            answers[f.label] = value == "on"
        elif value is not None:
            answers[f.label] = value
    services(request).gating.request(who, repo, answers, audit.client_ip.get())
    return RedirectResponse(_url(repo), status_code=303)


def access_page(pages: Pages, request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """The maintainers' list of access requests, by status (`?status=pending|accepted|rejected`)."""
    repo = _repo(request, prefix, ns, name)
    status = request.query_params.get("status") or "pending"
    if status not in STATUSES:
        raise BadRequest(f"Invalid status {status!r}: one of {', '.join(STATUSES)}")
    cursor = request.query_params.get("cursor") or "0"
    if not cursor.isdigit() or len(cursor) > 18:
        raise BadRequest("Invalid cursor")
    gating = services(request).gating
    rows, after = gating.list(web_principal(request), repo, status, int(cursor))
    return pages.render(
        request,
        "gated_access.html",
        repo=repo,
        repo_url=_url(repo),
        current=status,
        statuses=STATUSES,
        rows=rows,
        next_cursor=after,
        form=gate_form(repo.card_data),
    )


def handle_access(request: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    """POST from the maintainers' page: accept / reject (with a reason) / cancel one request."""
    form = form_fields(request)
    check_csrf(request, form)
    repo = _repo(request, prefix, ns, name)
    status = form.get("status")
    reason = (form.get("reason") or "").strip() or None if status == "rejected" else None
    services(request).gating.handle(
        web_principal(request), repo, status, request_id=form.get("request_id"), reason=reason
    )
    back = form.get("back") if form.get("back") in STATUSES else "pending"
    return RedirectResponse(f"{_url(repo)}/settings/gated-user-access?status={back}", status_code=303)
