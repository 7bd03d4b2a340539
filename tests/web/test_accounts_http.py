"""Accounts over HTTP, from the attacker's side: sign-up modes, invites, password login, resets, tokens, orgs, admin.

One hub of its own (its sign-up mode changes here), with a site admin `root`, users with passwords, alice and bob
(tests/conftest.py) and their tokens. Every state-changing route is tried without a session, with another user's
session, with a read-only token's session, with a missing or foreign CSRF token, and with hostile input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from modelyard.db.schema import invites
from modelyard.hub import passwords
from modelyard.hub.signup import Signup

PW = "correct horse battery"


@pytest.fixture(scope="module")
def hub(hub_factory: Any) -> Any:
    h = hub_factory()
    acc = h.services.accounts
    acc.create("root", "Root", is_admin=True, password_hash=passwords.hash_password(PW))
    acc.create("carol", "Carol", password_hash=passwords.hash_password(PW))
    acc.create("dave", "Dave", password_hash=passwords.hash_password(PW))
    h.extra["root_token"] = acc.create_token("root", "root-write", "write")
    return h


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m is not None, html[:500]
    return m.group(1)


class Client(httpx.Client):
    """An httpx client usable in `with` after it has made requests (the login helpers return used ones)."""

    def __enter__(self) -> Client:
        return self


def _client(hub: Any) -> Client:
    return Client(base_url=hub.url, follow_redirects=False, timeout=30)


@pytest.fixture
def anon(hub: Any) -> Iterator[httpx.Client]:
    with _client(hub) as c:
        yield c


def login_pw(hub: Any, user: str, password: str = PW) -> httpx.Client:
    c = _client(hub)
    r = c.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": _csrf(c.get("/login").text)},
    )
    assert r.status_code == 303, r.text[:400]
    return c


def login_token(hub: Any, token: str) -> httpx.Client:
    c = _client(hub)
    r = c.post("/login", data={"token": token, "csrf_token": _csrf(c.get("/login").text)})
    assert r.status_code == 303
    return c


def page_csrf(c: httpx.Client, path: str = "/settings/profile") -> str:
    return _csrf(c.get(path).text)


def set_mode(hub: Any, mode: str) -> None:
    root = hub.services.accounts.principal_for(hub.services.accounts.get("root"), "web")
    Signup(hub.services.db, hub.services.accounts).set_mode(root, mode)


def invite(hub: Any, org: str | None = None, role: str | None = None, by: str = "root") -> str:
    acc = hub.services.accounts
    who = acc.principal_for(acc.get(by), "web")
    return Signup(hub.services.db, acc).create_invite(who, org, role)


def join(c: httpx.Client, username: str, code: str | None = None, password: str = PW) -> httpx.Response:
    page = c.get("/login").text  # its CSRF token (the join page has no form when sign-up is closed to us)
    data = {
        "username": username,
        "fullname": "X",
        "email": "",
        "password": password,
        "csrf_token": _csrf(page),
    }
    if code:
        data["invite"] = code
    return c.post("/join", data=data)


def hub_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text[:600])
    assert r.headers.get("x-error-code"), r.headers
    if code:
        assert r.headers["x-error-code"] == code


def _name() -> str:
    return "u" + uuid.uuid4().hex[:8]


# --- sign-up ------------------------------------------------------------------------------------------------
def test_closed_mode_refuses_sign_up(hub: Any, anon: httpx.Client) -> None:
    set_mode(hub, "closed")
    page = anon.get("/join")
    assert page.status_code == 200 and "Sign-up is closed" in page.text and "Create account" not in page.text
    name = _name()
    r = anon.post(
        "/join", data={"username": name, "password": PW, "csrf_token": _csrf(anon.get("/login").text)}
    )
    hub_error(r, 403, "Forbidden")
    assert hub.services.accounts.find(name) is None and "modelyard_session" not in r.cookies
    # an invite made by an org admin (not a site admin) does not open a closed hub
    acc = hub.services.accounts
    org = "org" + uuid.uuid4().hex[:6]
    acc.create(org, kind="org")
    acc.add_member(org, "carol", "admin")
    code = invite(hub, org, "read", by="carol")
    hub_error(join(anon, _name(), code), 403)
    # a site admin's invite does
    ok = join(anon, name, invite(hub))
    assert ok.status_code == 303 and hub.services.accounts.find(name) is not None


def test_open_sign_up_logs_in(hub: Any) -> None:
    set_mode(hub, "open")
    try:
        with _client(hub) as c:
            name = _name()
            r = join(c, name)
            assert r.status_code == 303
            cookie = r.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
            prof = c.get("/settings/profile")
            assert prof.status_code == 200 and name in prof.text
            # the stored password is an argon2id hash, never the password
            _, stored = hub.services.accounts.password_hash(name)
            assert stored is not None and stored.startswith("$argon2id$") and PW not in stored
            # taken name, too-short password: re-rendered form with the Hub's error headers
            hub_error(join(_client(hub), name), 409, "Conflict")
            hub_error(join(_client(hub), _name(), password="short"), 400)
    finally:
        set_mode(hub, "closed")


@pytest.mark.parametrize(
    "username",
    [
        "admin",
        "join",
        "API",
        "settings",
        "new-dataset",
        "reset-password",
        "a/b",
        "../x",
        "%2e%2e",
        "ünïcode",
        "<script>",
        "a" * 200,
        "a--b",
        "x.git",
        "",
    ],
)
def test_hostile_usernames(hub: Any, anon: httpx.Client, username: str) -> None:
    set_mode(hub, "open")
    try:
        r = join(anon, username)
        assert r.status_code in (400, 409, 422), (username, r.status_code)
        assert r.headers.get("x-error-code") and "<script>" not in r.text.replace("&lt;script&gt;", "")
        assert hub.services.accounts.find(username) is None
    finally:
        set_mode(hub, "closed")


def test_invite_reuse_and_expiry(hub: Any) -> None:
    set_mode(hub, "invite")
    try:
        code = invite(hub)
        with _client(hub) as c:
            assert join(c, _name(), code).status_code == 303
        with _client(hub) as c:
            hub_error(join(c, _name(), code), 404)  # single use
            assert c.get("/join", params={"invite": code}).status_code == 404
        old = invite(hub)
        with hub.services.db.transaction() as conn:  # make it expired
            conn.execute(
                update(invites)
                .where(invites.c.code_hash == __import__("hashlib").sha256(old.encode()).hexdigest())
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        with _client(hub) as c:
            hub_error(join(c, _name(), old), 404)
            hub_error(join(c, _name(), "made-up-code"), 404)
            hub_error(join(c, _name()), 403)  # invite mode without an invite
    finally:
        set_mode(hub, "closed")


# --- login --------------------------------------------------------------------------------------------------
def test_wrong_password_same_as_unknown_user(hub: Any, anon: httpx.Client) -> None:
    token = _csrf(anon.get("/login").text)
    wrong = anon.post("/login", data={"username": "carol", "password": "nope-nope-nope", "csrf_token": token})
    unknown = anon.post(
        "/login", data={"username": "nobody-x", "password": "nope-nope-nope", "csrf_token": token}
    )
    org = anon.post("/login", data={"username": "acme", "password": "nope-nope-nope", "csrf_token": token})
    for r in (wrong, unknown, org):
        hub_error(r, 401, "Unauthorized")
        assert "Invalid username or password" in r.text and "modelyard_session" not in r.cookies
    # users without a password (made by the CLI) cannot log in with any password
    hub_error(anon.post("/login", data={"username": "alice", "password": "", "csrf_token": token}), 401)
    # no CSRF token: refused before the password is looked at
    hub_error(anon.post("/login", data={"username": "carol", "password": PW}), 403, "CsrfTokenInvalid")


def test_failed_logins_are_rate_limited(hub: Any) -> None:
    acc = hub.services.accounts
    name = _name()
    acc.create(name, password_hash=passwords.hash_password(PW))
    with _client(hub) as c:
        token = _csrf(c.get("/login").text)
        codes = [
            c.post(
                "/login", data={"username": name, "password": f"bad-{i}-guess", "csrf_token": token}
            ).status_code
            for i in range(11)
        ]
        assert codes[:10] == [401] * 10 and codes[10] == 429
        r = c.post("/login", data={"username": name, "password": PW, "csrf_token": token})
        hub_error(r, 429, "RateLimited")  # even the right password waits
        assert int(r.headers["retry-after"]) >= 1
    login_pw(hub, "dave").close()  # other users are not locked out


# --- tokens -------------------------------------------------------------------------------------------------
def test_tokens_create_once_list_revoke(hub: Any) -> None:
    with login_pw(hub, "carol") as c:
        csrf = page_csrf(c, "/settings/tokens")
        r = c.post("/settings/tokens", data={"name": "laptop", "role": "write", "csrf_token": csrf})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        m = re.search(r'id="new-token-value" value="(hf_[^"]+)"', r.text)
        assert m is not None
        token = m.group(1)
        me = httpx.get(f"{hub.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).json()
        assert me["name"] == "carol"
        listing = c.get("/settings/tokens")
        assert "laptop" in listing.text and token not in listing.text  # shown once
        assert listing.headers["cache-control"] == "no-store"
        hub_error(
            c.post("/settings/tokens", data={"name": "laptop", "role": "read", "csrf_token": csrf}), 409
        )
        # fine-grained: own model OK; another user's namespace refused; an unknown permission refused
        fine = {
            "name": "fg",
            "role": "fineGrained",
            "scope_kind": "model",
            "scope_name": "carol/x",
            "scope_perms": ["repo.content.read", "repo.write"],
            "csrf_token": csrf,
        }
        ok = c.post("/settings/tokens", data=fine)
        assert ok.status_code == 200 and "new-token-value" in ok.text
        info = next(t for t in hub.services.accounts.token_infos("carol") if t["displayName"] == "fg")
        assert info["fineGrained"]["scoped"][0]["permissions"] == ["repo.content.read", "repo.write"]
        hub_error(c.post("/settings/tokens", data={**fine, "name": "fg2", "scope_name": "bob/x"}), 403)
        hub_error(c.post("/settings/tokens", data={**fine, "name": "fg3", "scope_perms": ["root.all"]}), 400)
        hub_error(c.post("/settings/tokens", data={**fine, "name": "fg4", "scope_kind": "galaxy"}), 400)
        hub_error(c.post("/settings/tokens", data={"name": "x/y", "role": "write", "csrf_token": csrf}), 400)
        hub_error(
            c.post(
                "/settings/tokens",
                data={"name": "e", "role": "read", "expires_in_days": "-1", "csrf_token": csrf},
            ),
            400,
        )
        hub_error(c.post("/settings/tokens", data={"name": "e", "role": "root", "csrf_token": csrf}), 400)
        # a session only manages its own user's tokens: bob's token name is unknown here
        hub_error(c.post("/settings/tokens/revoke", data={"name": "bob-write", "csrf_token": csrf}), 404)
        assert httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth(hub.bob)).status_code == 200
        assert (
            c.post("/settings/tokens/revoke", data={"name": "laptop", "csrf_token": csrf}).status_code == 303
        )
        assert (
            httpx.get(f"{hub.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}).status_code
            == 401
        )


def test_read_token_session_is_read_only(hub: Any) -> None:
    with login_token(hub, hub.alice_read) as c:
        page = c.get("/settings/tokens")
        assert page.status_code == 200 and "ci-read" in page.text and 'id="new-token-form"' not in page.text
        csrf = _csrf(page.text)
        hub_error(
            c.post("/settings/tokens", data={"name": "esc", "role": "write", "csrf_token": csrf}),
            403,
            "TokenScope",
        )
        hub_error(c.post("/settings/tokens/revoke", data={"name": "ci-write", "csrf_token": csrf}), 403)
        hub_error(c.post("/settings/profile", data={"fullname": "pwned", "csrf_token": csrf}), 403)
        hub_error(
            c.post(
                "/settings/password", data={"new_password": PW, "confirm_password": PW, "csrf_token": csrf}
            ),
            403,
        )
        hub_error(c.post("/organizations/new", data={"name": _name(), "csrf_token": csrf}), 403)
    assert "esc" not in [t["displayName"] for t in hub.services.accounts.token_infos("alice")]
    assert hub.services.accounts.profile("alice")["fullname"] != "pwned"


def test_csrf_missing_or_foreign(hub: Any) -> None:
    with login_pw(hub, "carol") as carol, login_pw(hub, "dave") as dave:
        foreign = page_csrf(dave)
        for path, data in [
            ("/settings/tokens", {"name": "csrf", "role": "write"}),
            ("/settings/profile", {"fullname": "csrf"}),
            (
                "/settings/password",
                {"current_password": PW, "new_password": "x" * 12, "confirm_password": "x" * 12},
            ),
            ("/settings/tokens/revoke", {"name": "x"}),
            ("/organizations/new", {"name": _name()}),
        ]:
            hub_error(carol.post(path, data=data), 403, "CsrfTokenInvalid")
            hub_error(carol.post(path, data={**data, "csrf_token": foreign}), 403, "CsrfTokenInvalid")
        assert hub.services.accounts.profile("carol")["fullname"] != "csrf"


def test_anonymous_posts_refused(hub: Any, anon: httpx.Client) -> None:
    csrf = _csrf(anon.get("/login").text)  # a valid pre-session token: the refusal is about the session
    for path in (
        "/settings/tokens",
        "/settings/profile",
        "/settings/password",
        "/settings/tokens/revoke",
        "/organizations/new",
    ):
        hub_error(anon.post(path, data={"name": "x", "role": "write", "csrf_token": csrf}), 401)
    for path in ("/settings/tokens", "/settings/profile", "/settings/password", "/organizations/new"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


# --- password change and reset ------------------------------------------------------------------------------
def test_password_change_ends_other_sessions(hub: Any) -> None:
    name = _name()
    hub.services.accounts.create(name, password_hash=passwords.hash_password(PW))
    tok = hub.services.accounts.create_token(name, "t", "write")
    with login_pw(hub, name) as a, login_pw(hub, name) as b, login_token(hub, tok) as t:
        csrf = page_csrf(a, "/settings/password")
        new = "a brand new passphrase"
        bad = a.post(
            "/settings/password",
            data={
                "current_password": "wrong-wrong",
                "new_password": new,
                "confirm_password": new,
                "csrf_token": csrf,
            },
        )
        hub_error(bad, 403)
        hub_error(
            a.post(
                "/settings/password",
                data={
                    "current_password": PW,
                    "new_password": new,
                    "confirm_password": new + "x",
                    "csrf_token": csrf,
                },
            ),
            400,
        )
        ok = a.post(
            "/settings/password",
            data={"current_password": PW, "new_password": new, "confirm_password": new, "csrf_token": csrf},
        )
        assert ok.status_code == 303
        assert a.get("/settings/profile").status_code == 200  # this session stays
        assert b.get("/settings/profile").status_code == 303  # the others end
        assert t.get("/settings/profile").status_code == 303
    login_pw(hub, name, new).close()


def test_reset_links(hub: Any) -> None:
    name, other = _name(), _name()
    acc = hub.services.accounts
    acc.create(name, password_hash=passwords.hash_password(PW))
    acc.create(other, password_hash=passwords.hash_password(PW))
    victim_session = login_pw(hub, name)
    # only site admins issue reset links; to others /admin does not exist
    with login_pw(hub, "carol") as carol:
        assert carol.get("/admin").status_code == 404
        hub_error(
            carol.post("/admin/password-reset", data={"username": name, "csrf_token": page_csrf(carol)}), 404
        )
    with login_pw(hub, "root") as root:
        page = root.get("/admin")
        assert page.status_code == 200 and name in page.text
        r = root.post("/admin/password-reset", data={"username": name, "csrf_token": _csrf(page.text)})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        m = re.search(r'id="reset-link" value="[^"]*/reset-password/([^"]+)"', r.text)
        assert m is not None
        code = m.group(1)
        hub_error(
            root.post("/admin/password-reset", data={"username": "acme", "csrf_token": _csrf(page.text)}), 400
        )
    with _client(hub) as c:
        page = c.get(f"/reset-password/{code}")
        assert page.status_code == 200 and name in page.text
        new = "reset passphrase ok"
        # the code names the account: a username field cannot point it at another user
        r = c.post(
            f"/reset-password/{code}",
            data={
                "username": other,
                "new_password": new,
                "confirm_password": new,
                "csrf_token": _csrf(page.text),
            },
        )
        assert r.status_code == 303
        hub_error(
            c.post(
                f"/reset-password/{code}",
                data={"new_password": new, "confirm_password": new, "csrf_token": _csrf(page.text)},
            ),
            404,
        )  # single use
        assert c.get(f"/reset-password/{code}").status_code == 404
        assert c.get("/reset-password/made-up").status_code == 404
    login_pw(hub, name, new).close()
    login_pw(hub, other, PW).close()  # untouched
    assert victim_session.get("/settings/profile").status_code == 303  # every session of the account ended
    victim_session.close()


# --- organisations ------------------------------------------------------------------------------------------
def test_org_members_and_invites(hub: Any) -> None:
    org = "org" + uuid.uuid4().hex[:6]
    with login_pw(hub, "carol") as carol, login_pw(hub, "dave") as dave:
        csrf = page_csrf(carol)
        hub_error(carol.post("/organizations/new", data={"name": "admin", "csrf_token": csrf}), 400)
        hub_error(carol.post("/organizations/new", data={"name": "a/b", "csrf_token": csrf}), 400)
        hub_error(carol.post("/organizations/new", data={"name": "carol", "csrf_token": csrf}), 409)
        r = carol.post("/organizations/new", data={"name": org, "fullname": "Org", "csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == f"/organizations/{org}/settings/members"
        assert hub.services.accounts.members(org)[0][1] == "admin"
        members = f"/organizations/{org}/settings/members"
        # dave (not a member) may neither see nor change the members, nor make invites
        dcsrf = page_csrf(dave)
        hub_error(dave.get(members), 403)
        hub_error(
            dave.post(members, data={"user": "dave", "action": "role", "role": "admin", "csrf_token": dcsrf}),
            403,
        )
        hub_error(dave.post(members + "/invite", data={"role": "admin", "csrf_token": dcsrf}), 403)
        # carol invites as "write"; dave accepts while logged in
        r = carol.post(members + "/invite", data={"role": "write", "days": "3", "csrf_token": csrf})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        m = re.search(r'id="invite-link" value="[^"]*/invite/([^"]+)"', r.text)
        assert m is not None
        code = m.group(1)
        page = dave.get(f"/invite/{code}")
        assert page.status_code == 200 and org in page.text
        assert dave.post(f"/invite/{code}", data={"csrf_token": _csrf(page.text)}).status_code == 303
        assert dict((a.name, role) for a, role in hub.services.accounts.members(org))["dave"] == "write"
        hub_error(dave.post(f"/invite/{code}", data={"csrf_token": _csrf(page.text)}), 404)  # single use
        # a write member is still not an admin
        hub_error(dave.get(members), 403)
        # carol changes dave's role, cannot remove herself as the last admin, removes dave
        assert (
            carol.post(
                members, data={"user": "dave", "action": "role", "role": "read", "csrf_token": csrf}
            ).status_code
            == 303
        )
        hub_error(carol.post(members, data={"user": "carol", "action": "remove", "csrf_token": csrf}), 409)
        hub_error(
            carol.post(members, data={"user": "dave", "action": "role", "role": "owner", "csrf_token": csrf}),
            400,
        )
        assert (
            carol.post(members, data={"user": "dave", "action": "remove", "csrf_token": csrf}).status_code
            == 303
        )
        assert [a.name for a, _ in hub.services.accounts.members(org)] == ["carol"]
        hub_error(
            carol.post(members + "/invite", data={"role": "write", "days": "999", "csrf_token": csrf}), 400
        )


def test_org_invite_at_sign_up(hub: Any) -> None:
    org = "org" + uuid.uuid4().hex[:6]
    acc = hub.services.accounts
    acc.create(org, kind="org")
    acc.add_member(org, "root", "admin")
    set_mode(hub, "invite")
    try:
        code = invite(hub, org, "contributor")
        with _client(hub) as c:
            name = _name()
            r = join(c, name, code)
            assert r.status_code == 303 and r.headers["location"] == f"/{org}"
        assert dict((a.name, role) for a, role in acc.members(org))[name] == "contributor"
    finally:
        set_mode(hub, "closed")


# --- admin --------------------------------------------------------------------------------------------------
def test_admin_page_rules(hub: Any, anon: httpx.Client) -> None:
    assert anon.get("/admin").status_code == 404
    csrf = _csrf(anon.get("/login").text)
    hub_error(anon.post("/admin/signup-mode", data={"mode": "open", "csrf_token": csrf}), 404)
    with login_pw(hub, "carol") as carol:
        hub_error(
            carol.post("/admin/signup-mode", data={"mode": "open", "csrf_token": page_csrf(carol)}), 404
        )
        hub_error(carol.post("/admin/invites", data={"csrf_token": page_csrf(carol)}), 404)
    # an admin's read-token session sees the page but changes nothing
    ro = hub.services.accounts.create_token("root", "root-read-" + uuid.uuid4().hex[:4], "read")
    with login_token(hub, ro) as c:
        page = c.get("/admin")
        assert page.status_code == 200
        hub_error(c.post("/admin/signup-mode", data={"mode": "open", "csrf_token": _csrf(page.text)}), 403)
    assert Signup(hub.services.db, hub.services.accounts).mode() == "closed"
    with login_pw(hub, "root") as root:
        page = root.get("/admin")
        text = page.text
        assert "Webhook deliveries pending" in text and "Pickle scans queued" in text and "carol" in text
        csrf = _csrf(text)
        hub_error(root.post("/admin/signup-mode", data={"mode": "wide-open", "csrf_token": csrf}), 400)
        hub_error(root.post("/admin/signup-mode", data={"mode": "open"}), 403, "CsrfTokenInvalid")
        r = root.post("/admin/invites", data={"org": "", "role": "read", "days": "2", "csrf_token": csrf})
        assert r.status_code == 200 and re.search(r'id="invite-link" value="[^"]*/join\?invite=', r.text)
        assert root.post("/admin/signup-mode", data={"mode": "invite", "csrf_token": csrf}).status_code == 303
        assert Signup(hub.services.db, hub.services.accounts).mode() == "invite"
        assert root.post("/admin/signup-mode", data={"mode": "closed", "csrf_token": csrf}).status_code == 303


# --- CLI ----------------------------------------------------------------------------------------------------
def test_cli_set_password_and_invite(hub: Any) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "MODELYARD_DATA_DIR": hub.settings.data_dir,
        "MODELYARD_DATABASE_URL": hub.settings.resolved_database_url,
        "MODELYARD_PUBLIC_URL": hub.url,
    }

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelyard", *args], input=stdin, env=env, capture_output=True, text=True
        )

    name = _name()
    hub.services.accounts.create(name)
    out = cli("users", "set-password", name, "--password-stdin", stdin="a cli made passphrase\n")
    assert out.returncode == 0, out.stderr
    login_pw(hub, name, "a cli made passphrase").close()
    assert cli("users", "set-password", name, "--password-stdin", stdin="short\n").returncode != 0
    out = cli("invites", "create", "--days", "2")
    assert out.returncode == 0 and f"{hub.url}/join?invite=" in out.stdout, out.stderr
    code = out.stdout.strip().rsplit("=", 1)[1]
    with _client(hub) as c:  # the hub is "closed": the operator's invite opens it
        assert join(c, _name(), code).status_code == 303


def test_profile_and_api_with_a_password_session(hub: Any) -> None:
    name = _name()
    hub.services.accounts.create(name, password_hash=passwords.hash_password(PW))
    with login_pw(hub, name) as c:
        csrf = page_csrf(c)
        hub_error(
            c.post("/settings/profile", data={"fullname": "A", "email": "not an email", "csrf_token": csrf}),
            400,
        )
        hub_error(c.post("/settings/profile", data={"fullname": "x" * 300, "csrf_token": csrf}), 400)
        r = c.post(
            "/settings/profile", data={"fullname": "Pat Doe", "email": "pat@example.org", "csrf_token": csrf}
        )
        assert r.status_code == 303
        assert hub.services.accounts.profile(name) | {"createdAt": None} == {
            "fullname": "Pat Doe",
            "email": "pat@example.org",
            "createdAt": None,
            "hasPassword": True,
        }
        # the pages' scripts call the JSON API as the password session's user (cookie + X-CSRF-Token) ...
        me = c.get("/api/whoami-v2", headers={"x-csrf-token": csrf})
        assert me.status_code == 200 and me.json()["name"] == name
        # ... and without the header the cookie is not a credential
        assert c.get("/api/whoami-v2").status_code == 401
