"""Accounts: sign-up (open/invite/closed), password login, password change and reset links, profile, tokens,
organisations (create, members, roles, invitations), the admin page.

Every rule is the hub's: sign-up modes, invites and resets in hub/signup.py, passwords in hub/passwords.py, the
token escalation guard in `Accounts.issue_token` (shared with /api/settings/tokens), org admin rights in
`Accounts.require_org_admin`, site admin rights in `Principal.is_admin`. Account settings change only through a
full session (a password login or a login with a ``write`` token): a session opened with a read or fine-grained
token is read-only here (TokenScope, 403). Every POST goes through `RouteKit.form` (CSRF first).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import BadRequest, Forbidden, HubError, NotFound, RateLimited, Unauthorized
from modelyard.hub import passwords
from modelyard.hub._time import now
from modelyard.hub.access import ALL_PERMS, ORG_ROLES, Grants, Perm
from modelyard.hub.accounts import Principal, require_token_manager
from modelyard.hub.signup import INVITE_DAYS, MAX_INVITE_DAYS, SIGNUP_MODES, Signup
from modelyard.server.context import current_session, secure_cookies, sessions
from modelyard.server.ratelimit import TokenBuckets
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import COOKIE, Pages, base_url, services, web_principal
from modelyard.server.web.views import form_fields, form_list
from modelyard.storage import disk_space

INVALID_LOGIN = "Invalid username or password"
# failed password logins allowed a minute per username, and per client IP; past either, 429 until it refills
FAILED_LOGINS_PER_USER = 10
FAILED_LOGINS_PER_IP = 30
SCOPE_KINDS = ("model", "dataset", "space", "org", "user")
SCOPE_PERMS = ("repo.content.read", "repo.write", "repo.access.read", "discussion.write")
NO_STORE = {"Cache-Control": "no-store"}


# --- helpers ------------------------------------------------------------------------------------------------
def _signup(request: Request) -> Signup:
    svc = services(request)
    return Signup(svc.db, svc.accounts)


def _next(value: str | None, default: str = "/") -> str:
    """A same-site path to go to after a form (never another host)."""
    nxt = str(value or default)
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt or len(nxt) > 2000:
        return default
    return nxt


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _me(request: Request) -> Principal:
    """The logged-in user (Unauthorized otherwise: POSTs; the GET pages redirect to /login first)."""
    who = web_principal(request)
    if who is None:
        raise Unauthorized("Log in first")
    return who


def _manager(request: Request) -> Principal:
    """The logged-in user, if the session may change account settings (a full session: see module docstring)."""
    who = _me(request)
    require_token_manager(who)
    return who


def _open_session(request: Request, resp: Response, account_id: int) -> Response:
    """Log the browser in as `account_id` (a new session id; the old session, if any, ends): the same cookie
    attributes as the token login."""
    sid, _ = sessions(request).create_for_account(account_id, replaces=request.cookies.get(COOKIE))
    _set_cookie(request, resp, sid)
    return resp


def _set_cookie(request: Request, resp: Response, sid: str) -> None:
    resp.set_cookie(
        COOKIE,
        sid,
        max_age=services(request).settings.session_max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def _failed(request: Request) -> tuple[TokenBuckets, TokenBuckets]:
    """Failed password logins per username and per client IP, per app (in memory, server/ratelimit.py's buckets)."""
    state = request.app.state
    buckets = getattr(state, "failed_logins", None)
    if buckets is None:
        buckets = state.failed_logins = (
            TokenBuckets(FAILED_LOGINS_PER_USER),
            TokenBuckets(FAILED_LOGINS_PER_IP),
        )
    return buckets  # type: ignore[no-any-return]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _error(pages: Pages, request: Request, template: str, e: HubError, **ctx: Any) -> Response:
    """Re-render a form with the error in its role=alert message, the error's status and X-Error-* headers."""
    resp = pages.render(request, template, e.status, error=e.message, code=e.code, message=e.message, **ctx)
    resp.headers.update(NO_STORE)
    return resp


# --- login --------------------------------------------------------------------------------------------------
def login_form(pages: Pages, request: Request, error: str | None = None, status: int = 200) -> Response:
    return pages.render(
        request,
        "login.html",
        status,
        error=error,
        next=_next(request.query_params.get("next")),
        username=request.query_params.get("username", "")[:96],
        signup_mode=_signup(request).mode(),
    )


def login_submit(pages: Pages, request: Request) -> Response:
    """A token (form.token-login) or a username and password (form.password-login); a new session either way."""
    form = form_fields(request)
    nxt = _next(form.get("next"))
    if "token" in form:
        token = str(form.get("token") or "").strip()
        try:
            sid = sessions(request).create(token, replaces=request.cookies.get(COOKIE))[0] if token else None
        except HubError:
            sid = None
        if sid is None:
            return _login_error(pages, request, Unauthorized("Invalid token"), nxt)
        resp = RedirectResponse(nxt, status_code=303)
        _set_cookie(request, resp, sid)
        return resp
    username = str(form.get("username") or "").strip()[:200]
    password = str(form.get("password") or "")
    checks = tuple(
        zip(_failed(request), ("user:" + username.lower(), "ip:" + _client_ip(request)), strict=True)
    )
    wait = max(b.wait(k) for b, k in checks)
    if wait:
        e = RateLimited(f"Too many failed logins: try again in {int(wait) + 1} seconds")
        limited = _login_error(pages, request, e, nxt, username)
        limited.headers["Retry-After"] = str(int(wait) + 1)
        return limited
    accounts = services(request).accounts
    acc, stored = accounts.password_hash(username)  # unknown: (None, None), verified against a dummy hash
    if not passwords.verify(stored, password) or acc is None or stored is None:
        for b, k in checks:
            b.spend(k)
        return _login_error(pages, request, Unauthorized(INVALID_LOGIN), nxt, username)
    if passwords.needs_rehash(stored):
        accounts.set_password_hash(acc.name, passwords.rehash(password))
    return _open_session(request, RedirectResponse(nxt, status_code=303), acc.id)


def _login_error(pages: Pages, request: Request, e: HubError, nxt: str, username: str = "") -> Response:
    return _error(
        pages, request, "login.html", e, next=nxt, username=username, signup_mode=_signup(request).mode()
    )


# --- sign-up ------------------------------------------------------------------------------------------------
def _join_ctx(request: Request, code: str | None) -> dict[str, Any]:
    su = _signup(request)
    ctx: dict[str, Any] = {"mode": su.mode(), "invite_code": code or "", "invite": None, "min_length": 0}
    ctx["min_length"] = passwords.MIN_LENGTH
    if code:
        ctx["invite"] = su.invite(code)
    return ctx


def join_form(pages: Pages, request: Request) -> Response:
    code = request.query_params.get("invite") or None
    try:
        ctx = _join_ctx(request, code)
    except HubError as e:  # a bad invite: say so on the page
        return _error(pages, request, "account/join.html", e, **_join_ctx(request, None))
    return pages.render(request, "account/join.html", **ctx)


def join_submit(pages: Pages, request: Request) -> Response:
    form = form_fields(request)
    code = str(form.get("invite") or "").strip() or None
    values = {k: str(form.get(k) or "")[:300] for k in ("username", "fullname", "email")}
    su = _signup(request)
    try:
        inv = su.invite(code) if code else None
        acc = su.sign_up(
            values["username"],
            str(form.get("password") or ""),
            values["fullname"],
            values["email"],
            invite_code=code,
        )
    except HubError as e:
        try:
            ctx = _join_ctx(request, code)
        except HubError:
            ctx = _join_ctx(request, None)
        return _error(pages, request, "account/join.html", e, values=values, **ctx)
    target = f"/{inv.org.name}" if inv is not None and inv.org is not None else "/"
    return _open_session(request, RedirectResponse(target, status_code=303), acc.id)


# --- profile and password -----------------------------------------------------------------------------------
def _orgs(who: Principal) -> list[tuple[str, str]]:
    """(org name, the user's role in it), for the profile page."""
    return [(o.name, who.role_in(o.name) or "read") for o in who.orgs]


def profile_page(pages: Pages, request: Request) -> Response:
    who = web_principal(request)
    if who is None:
        return _login_redirect(request)
    accounts = services(request).accounts
    return pages.render(
        request,
        "account/profile.html",
        profile=accounts.profile(who.account.name),
        orgs=_orgs(who),
        saved=request.query_params.get("saved") == "1",
        tab="profile",
    )


def profile_submit(pages: Pages, request: Request) -> Response:
    who = _manager(request)
    form = form_fields(request)
    accounts = services(request).accounts
    try:
        accounts.update_profile(
            who.account.name, str(form.get("fullname") or ""), str(form.get("email") or ""), actor=who
        )
    except BadRequest as e:
        return _error(
            pages,
            request,
            "account/profile.html",
            e,
            profile=accounts.profile(who.account.name),
            orgs=_orgs(who),
            tab="profile",
        )
    return RedirectResponse("/settings/profile?saved=1", status_code=303)


def password_page(pages: Pages, request: Request) -> Response:
    who = web_principal(request)
    if who is None:
        return _login_redirect(request)
    profile = services(request).accounts.profile(who.account.name)
    return pages.render(
        request,
        "account/password.html",
        has_password=profile["hasPassword"],
        saved=request.query_params.get("saved") == "1",
        min_length=passwords.MIN_LENGTH,
        tab="password",
    )


def password_submit(pages: Pages, request: Request) -> Response:
    """Change (or set a first) password; every other session of the account ends."""
    who = _manager(request)
    form = form_fields(request)
    accounts = services(request).accounts
    _, stored = accounts.password_hash(who.account.name)
    try:
        if stored and not passwords.verify(stored, str(form.get("current_password") or "")):
            raise Forbidden("The current password is wrong")
        new = str(form.get("new_password") or "")
        if new != str(form.get("confirm_password") or ""):
            raise BadRequest("The new password and its confirmation differ")
        accounts.set_password_hash(
            who.account.name, passwords.hash_password(new, who.account.name), actor=who
        )
    except HubError as e:
        return _error(
            pages,
            request,
            "account/password.html",
            e,
            has_password=bool(stored),
            min_length=passwords.MIN_LENGTH,
            tab="password",
        )
    session = current_session(request)
    sessions(request).end_for_account(who.account.id, keep=session.id_hash if session else None)
    return RedirectResponse("/settings/password?saved=1", status_code=303)


def reset_page(pages: Pages, request: Request, code: str) -> Response:
    reset = _signup(request).reset(code)  # NotFound: unknown, used or expired
    return pages.render(
        request, "account/reset.html", account=reset.account, min_length=passwords.MIN_LENGTH, code=code
    )


def reset_submit(pages: Pages, request: Request, code: str) -> Response:
    """Set a new password from an admin-issued link: the code names the account (no username field to forge),
    is used up, and every session of the account ends."""
    su = _signup(request)
    reset = su.reset(code)
    form = form_fields(request)
    try:
        new = str(form.get("new_password") or "")
        if new != str(form.get("confirm_password") or ""):
            raise BadRequest("The new password and its confirmation differ")
        acc = su.use_reset(code, new)
    except BadRequest as e:
        return _error(
            pages,
            request,
            "account/reset.html",
            e,
            account=reset.account,
            min_length=passwords.MIN_LENGTH,
            code=code,
        )
    sessions(request).end_for_account(acc.id)
    return RedirectResponse(f"/login?username={quote(acc.name)}", status_code=303)


# --- tokens -------------------------------------------------------------------------------------------------
def _tokens_ctx(request: Request, who: Principal) -> dict[str, Any]:
    return {
        "tokens": services(request).accounts.token_infos(who.account.name),
        "scope_kinds": SCOPE_KINDS,
        "scope_perms": SCOPE_PERMS,
        "global_perms": sorted(ALL_PERMS),
        "can_manage_tokens": who.role == "write",
        "tab": "tokens",
    }


def tokens_page(pages: Pages, request: Request) -> Response:
    who = web_principal(request)
    if who is None:
        return _login_redirect(request)
    resp = pages.render(request, "account/tokens.html", **_tokens_ctx(request, who))
    resp.headers.update(NO_STORE)
    return resp


def _grants_from_form(request: Request) -> Grants:
    """The fine-grained fields as the Hub's `fineGrained` object, parsed (and checked) by `Grants.parse`."""
    form = form_fields(request)
    kind = str(form.get("scope_kind") or "").strip()
    name = str(form.get("scope_name") or "").strip()
    scoped_perms = form_list(request, "scope_perms")
    scoped = []
    if name or scoped_perms:
        if not name or not scoped_perms:
            raise BadRequest("A scoped permission needs both a name (such as alice/my-model) and permissions")
        scoped.append({"entity": {"type": kind, "name": name}, "permissions": scoped_perms})
    global_perms = form_list(request, "global_perms")
    if not scoped and not global_perms:
        raise BadRequest("A fine-grained token needs at least one permission")
    return Grants.parse(
        {"canReadGatedRepos": bool(form.get("can_read_gated")), "global": global_perms, "scoped": scoped}
    )


def tokens_submit(pages: Pages, request: Request) -> Response:
    """Create a token; the response page shows its value once (#new-token-value), never cached."""
    who = _me(request)
    form = form_fields(request)
    role = str(form.get("role") or "read")
    try:
        grants = _grants_from_form(request) if role == "fineGrained" else None
        days_raw = str(form.get("expires_in_days") or "").strip()
        expires = None
        if days_raw:
            if not days_raw.isdigit() or not 1 <= int(days_raw) <= 3650:
                raise BadRequest("Expiry: a number of days from 1 to 3650, or empty for none")
            expires = now() + timedelta(days=int(days_raw))
        name = str(form.get("name") or "")
        token = services(request).accounts.issue_token(who, name, role, grants, expires)
    except HubError as e:
        return _error(pages, request, "account/tokens.html", e, **_tokens_ctx(request, who))
    resp = pages.render(
        request,
        "account/tokens.html",
        new_token=token,
        new_token_name=name.strip(),
        **_tokens_ctx(request, who),
    )
    resp.headers.update(NO_STORE)
    return resp


def token_revoke(pages: Pages, request: Request) -> Response:
    who = _manager(request)
    name = str(form_fields(request).get("name") or "")
    if not services(request).accounts.revoke_token(who.account.name, name, actor=who):
        raise NotFound(f"No token called {name[:100]!r}")
    return RedirectResponse("/settings/tokens", status_code=303)


# --- organisations ------------------------------------------------------------------------------------------
def org_new_page(pages: Pages, request: Request) -> Response:
    if web_principal(request) is None:
        return _login_redirect(request)
    return pages.render(request, "account/org_new.html")


def org_new_submit(pages: Pages, request: Request) -> Response:
    """Create an org; its creator becomes its admin."""
    who = _manager(request)
    form = form_fields(request)
    name = str(form.get("name") or "").strip()[:200]
    fullname = str(form.get("fullname") or "")[:300]
    accounts = services(request).accounts
    try:
        org = accounts.create(name, fullname, kind="org")
    except HubError as e:
        return _error(pages, request, "account/org_new.html", e, values={"name": name, "fullname": fullname})
    accounts.add_member(org.name, who.account.name, "admin", actor=who)
    return RedirectResponse(f"/organizations/{org.name}/settings/members", status_code=303)


def _members_ctx(request: Request, org: str) -> dict[str, Any]:
    return {
        "org": org,
        "members": services(request).accounts.members(org),
        "roles": ORG_ROLES,
        "max_days": MAX_INVITE_DAYS,
        "default_days": INVITE_DAYS,
    }


def members_page(pages: Pages, request: Request, org: str) -> Response:
    who = web_principal(request)
    if who is None:
        return _login_redirect(request)
    o = services(request).accounts.require_org_admin(who, org, Perm.ORG_READ)  # the POSTs need org.write
    return pages.render(request, "account/org_members.html", **_members_ctx(request, o.name))


def members_submit(pages: Pages, request: Request, org: str) -> Response:
    """Change a member's role, or remove a member (org admins only)."""
    who = _me(request)
    accounts = services(request).accounts
    o = accounts.require_org_admin(who, org)
    form = form_fields(request)
    user, action = str(form.get("user") or ""), str(form.get("action") or "")
    try:
        if action == "remove":
            accounts.remove_member(o.name, user, actor=who)
        elif action == "role":
            accounts.add_member(o.name, user, str(form.get("role") or ""), actor=who)
        else:
            raise BadRequest("Unknown action: 'role' or 'remove'")
    except HubError as e:
        return _error(pages, request, "account/org_members.html", e, **_members_ctx(request, o.name))
    return RedirectResponse(f"/organizations/{o.name}/settings/members", status_code=303)


def members_invite(pages: Pages, request: Request, org: str) -> Response:
    """A single-use invite link to join the org with a role (shown once, on this response)."""
    who = _me(request)
    o = services(request).accounts.require_org_admin(who, org)
    form = form_fields(request)
    try:
        days = _days(form.get("days"))
        code = _signup(request).create_invite(who, o.name, str(form.get("role") or "read"), days)
    except HubError as e:
        return _error(pages, request, "account/org_members.html", e, **_members_ctx(request, o.name))
    resp = pages.render(
        request,
        "account/org_members.html",
        invite_link=f"{base_url(request)}/invite/{code}",
        **_members_ctx(request, o.name),
    )
    resp.headers.update(NO_STORE)
    return resp


def _days(value: object) -> int:
    raw = str(value or INVITE_DAYS).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_INVITE_DAYS:
        raise BadRequest(f"An invite lasts 1 to {MAX_INVITE_DAYS} days")
    return int(raw)


def invite_page(pages: Pages, request: Request, code: str) -> Response:
    """An invite link: a logged-in user accepts an org invitation here; others sign up (/join?invite=) or log in."""
    inv = _signup(request).invite(code)
    resp = pages.render(request, "account/invite.html", invite=inv, code=code)
    resp.headers.update(NO_STORE)
    return resp


def invite_accept(pages: Pages, request: Request, code: str) -> Response:
    who = _manager(request)
    inv = _signup(request).accept_invite(who, code)
    assert inv.org is not None
    return RedirectResponse(f"/{inv.org.name}", status_code=303)


# --- admin --------------------------------------------------------------------------------------------------
def _admin(request: Request) -> Principal:
    """Site admins only; to everyone else the page does not exist (404)."""
    who = web_principal(request)
    if who is None or not who.is_admin:
        raise NotFound("Page not found")
    return who


def _admin_ctx(request: Request) -> dict[str, Any]:
    svc = services(request)
    try:
        usage = shutil.disk_usage(svc.settings.data_dir)
        disk = {"total": usage.total, "used": usage.used, "free": usage.free}
    except OSError:
        disk = None
    store = disk_space(svc.store)
    return {
        "users": svc.accounts.overview(),
        "mode": _signup(request).mode(),
        "modes": SIGNUP_MODES,
        "disk": disk,
        "store": store,
        "data_dir": svc.settings.data_dir,
        "webhooks_pending": svc.webhooks.pending_count(),
        "pickles_queued": svc.pickles.queued_count(),
        "roles": ORG_ROLES,
        "orgs": [a["account"].name for a in svc.accounts.overview() if a["account"].kind == "org"],
        "max_days": MAX_INVITE_DAYS,
        "default_days": INVITE_DAYS,
    }


def admin_page(pages: Pages, request: Request) -> Response:
    _admin(request)
    resp = pages.render(request, "account/admin.html", **_admin_ctx(request))
    resp.headers.update(NO_STORE)
    return resp


def admin_submit(pages: Pages, request: Request, action: str) -> Response:
    """POST /admin/{signup-mode|invites|password-reset}: the hub checks the site admin right again (hub.signup)."""
    who = _admin(request)
    form = form_fields(request)
    su = _signup(request)
    extra: dict[str, Any] = {}
    try:
        if action == "signup-mode":
            su.set_mode(who, str(form.get("mode") or ""))
            return RedirectResponse("/admin", status_code=303)
        if action == "invites":
            org = str(form.get("org") or "").strip() or None
            code = su.create_invite(who, org, str(form.get("role") or "") or None, _days(form.get("days")))
            extra["invite_link"] = f"{base_url(request)}/join?invite={code}"
        elif action == "password-reset":
            user = str(form.get("username") or "").strip()
            code = su.create_reset(who, user)
            extra["reset_link"] = f"{base_url(request)}/reset-password/{code}"
            extra["reset_user"] = user
        else:
            raise NotFound("Page not found")
    except HubError as e:
        if isinstance(e, NotFound) and action not in ("invites", "password-reset"):
            raise
        return _error(pages, request, "account/admin.html", e, **_admin_ctx(request))
    resp = pages.render(request, "account/admin.html", **extra, **_admin_ctx(request))
    resp.headers.update(NO_STORE)
    return resp


def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (matched before /{user} and the repo pages)."""
    g, form = kit.page, kit.form
    return [
        Route("/login", g(login_form), methods=["GET"]),
        Route("/login", form(login_submit), methods=["POST"]),
        Route("/join", g(join_form), methods=["GET"]),
        Route("/join", form(join_submit), methods=["POST"]),
        Route("/settings/profile", g(profile_page), methods=["GET"]),
        Route("/settings/profile", form(profile_submit), methods=["POST"]),
        Route("/settings/password", g(password_page), methods=["GET"]),
        Route("/settings/password", form(password_submit), methods=["POST"]),
        Route("/settings/tokens", g(tokens_page), methods=["GET"]),
        Route("/settings/tokens", form(tokens_submit), methods=["POST"]),
        Route("/settings/tokens/revoke", form(token_revoke), methods=["POST"]),
        Route("/reset-password/{code}", g(reset_page), methods=["GET"]),
        Route("/reset-password/{code}", form(reset_submit), methods=["POST"]),
        Route("/invite/{code}", g(invite_page), methods=["GET"]),
        Route("/invite/{code}", form(invite_accept), methods=["POST"]),
        Route("/organizations/new", g(org_new_page), methods=["GET"]),
        Route("/organizations/new", form(org_new_submit), methods=["POST"]),
        Route("/organizations/{org}/settings/members", g(members_page), methods=["GET"]),
        Route("/organizations/{org}/settings/members", form(members_submit), methods=["POST"]),
        Route("/organizations/{org}/settings/members/invite", form(members_invite), methods=["POST"]),
        Route("/admin", g(admin_page), methods=["GET"]),
        Route("/admin/signup-mode", form(admin_submit, action="signup-mode"), methods=["POST"]),
        Route("/admin/invites", form(admin_submit, action="invites"), methods=["POST"]),
        Route("/admin/password-reset", form(admin_submit, action="password-reset"), methods=["POST"]),
    ]


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """Paths under a repo's base path (`/{ns}/{name}`, `/datasets/{ns}/{name}`, `/spaces/{ns}/{name}`)."""
    return []
