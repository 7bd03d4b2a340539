"""Finding 10: web sessions and CSRF.

The login cookie must be a server-side session id (not a token), rotated at each login, expiring, revocable
(logout by POST, token revocation), `Secure` behind an https public URL; every state-changing form needs a
CSRF token checked server-side.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest

from conftest import Hub  # the rootdir conftest (tests/ is on sys.path)

COOKIE = "modelyard_session"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def login(c: httpx.Client, token: str) -> httpx.Response:
    form = c.get("/login")
    r = c.post("/login", data={"token": token, "next": "/", "csrf_token": _csrf(form.text)})
    assert r.status_code == 303, r.text
    return r


def _session_cookie(r: httpx.Response) -> str:
    for h in r.headers.get_list("set-cookie"):
        if h.startswith(COOKIE + "="):
            return h.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {COOKIE} cookie set: {r.headers.get_list('set-cookie')}")


@pytest.fixture
def private_repo(live_server: Hub) -> str:
    repo = f"alice/sess-{uuid.uuid4().hex[:8]}"
    live_server.api().create_repo(repo, private=True)
    return repo


def test_cookie_is_a_session_id_not_a_token(live_server: Hub, private_repo: str) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        r = login(c, live_server.alice)
        sid = _session_cookie(r)
        header = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE))
        assert "httponly" in header.lower() and "samesite=lax" in header.lower()
        assert "secure" not in header.lower()  # plain http public URL
        assert sid != live_server.alice and live_server.alice not in sid
        assert c.get(f"/{private_repo}").status_code == 200
    # the session id is not a credential for the API
    who = httpx.get(f"{live_server.url}/api/whoami-v2", headers={"authorization": f"Bearer {sid}"})
    assert who.status_code == 401
    assert httpx.get(
        f"{live_server.url}/api/models/{private_repo}", headers=live_server.auth(sid)
    ).status_code in (
        401,
        404,
    )
    # an old-style cookie holding the raw token no longer logs anyone in
    old = httpx.get(f"{live_server.url}/{private_repo}", cookies={"modelyard_token": live_server.alice})
    assert old.status_code == 404
    assert (
        httpx.get(f"{live_server.url}/{private_repo}", cookies={COOKIE: live_server.alice}).status_code == 404
    )


def test_session_rotated_at_login(live_server: Hub, private_repo: str) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        first = _session_cookie(login(c, live_server.alice))
        second = _session_cookie(login(c, live_server.alice))
        assert first != second
    # the session the second login replaced is dead server-side
    assert httpx.get(f"{live_server.url}/{private_repo}", cookies={COOKIE: first}).status_code == 404
    assert httpx.get(f"{live_server.url}/{private_repo}", cookies={COOKIE: second}).status_code == 200


def test_logout_by_post_ends_session_server_side(live_server: Hub, private_repo: str) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        sid = _session_cookie(login(c, live_server.alice))
        page = c.get("/")
        # GET /logout does not log out
        g = c.get("/logout")
        assert g.status_code in (200, 405)
        assert c.get(f"/{private_repo}").status_code == 200
        # POST without a CSRF token is refused
        bad = c.post("/logout")
        assert bad.status_code == 403 and bad.headers.get("x-error-code")
        assert c.get(f"/{private_repo}").status_code == 200
        ok = c.post("/logout", data={"csrf_token": _csrf(page.text)})
        assert ok.status_code == 303
    # replaying the old cookie fails: the session is gone
    replay = httpx.get(f"{live_server.url}/{private_repo}", cookies={COOKIE: sid})
    assert replay.status_code == 404
    f = httpx.get(f"{live_server.url}/{private_repo}/resolve/main/.gitattributes", cookies={COOKIE: sid})
    assert f.status_code in (401, 404)


def test_login_requires_csrf(live_server: Hub) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        no = c.post("/login", data={"token": live_server.alice, "next": "/"})
        assert no.status_code == 403 and COOKIE not in no.headers.get("set-cookie", "")
        c.get("/login")
        wrong = c.post("/login", data={"token": live_server.alice, "next": "/", "csrf_token": "x" * 40})
        assert wrong.status_code == 403
        assert "text/html" in wrong.headers["content-type"] and wrong.headers.get("x-error-code")
    # a token from one browser does not work in another (bound to that browser's pre-session cookie)
    with httpx.Client(base_url=live_server.url) as a, httpx.Client(base_url=live_server.url) as b:
        tok = _csrf(a.get("/login").text)
        b.get("/login")
        assert b.post("/login", data={"token": live_server.alice, "csrf_token": tok}).status_code == 403


def test_like_form_requires_csrf(live_server: Hub) -> None:
    repo = f"alice/like-{uuid.uuid4().hex[:8]}"
    live_server.api().create_repo(repo)
    with httpx.Client(base_url=live_server.url) as c:
        login(c, live_server.bob)
        page = c.get(f"/{repo}")
        assert c.post(f"/{repo}/like").status_code == 403
        assert c.post(f"/{repo}/like", data={"csrf_token": "nope"}).status_code == 403
        assert live_server.api().model_info(repo).likes == 0
        assert c.post(f"/{repo}/like", data={"csrf_token": _csrf(page.text)}).status_code == 303
        assert live_server.api().model_info(repo).likes == 1
        # another user's session's token does not work for this session
    with httpx.Client(base_url=live_server.url) as other:
        login(other, live_server.alice)
        theirs = _csrf(other.get(f"/{repo}").text)
    with httpx.Client(base_url=live_server.url) as c:
        login(c, live_server.bob)
        assert c.post(f"/{repo}/like", data={"csrf_token": theirs}).status_code == 403
        # toggle back (other tests count bob's likes)
        mine = _csrf(c.get(f"/{repo}").text)
        assert c.post(f"/{repo}/like", data={"csrf_token": mine}).status_code == 303
    assert live_server.api().model_info(repo).likes == 0


def test_revoked_token_ends_its_sessions(live_server: Hub, private_repo: str) -> None:
    acc = live_server.services.accounts
    name = f"web-{uuid.uuid4().hex[:6]}"
    token = acc.create_token("alice", name, "read")
    with httpx.Client(base_url=live_server.url) as c:
        login(c, token)
        assert c.get(f"/{private_repo}").status_code == 200
        acc.revoke_token("alice", name)  # what `modelyard tokens revoke alice NAME` does
        assert c.get(f"/{private_repo}").status_code == 404


def test_expired_session_refused(hub_factory: Any) -> None:
    hub = hub_factory(session_idle_timeout=2, session_max_age=4)
    repo = f"alice/exp-{uuid.uuid4().hex[:8]}"
    hub.api().create_repo(repo, private=True)
    with httpx.Client(base_url=hub.url) as c:
        login(c, hub.alice)
        assert c.get(f"/{repo}").status_code == 200
        time.sleep(3)  # idle past 2 s
        assert c.get(f"/{repo}").status_code == 404
    with httpx.Client(base_url=hub.url) as c:
        login(c, hub.alice)
        for _ in range(5):  # stays active, but the absolute lifetime (4 s) runs out
            time.sleep(1)
            c.get("/")
        assert c.get(f"/{repo}").status_code == 404


def test_secure_flag_behind_https_public_url(hub_factory: Any) -> None:
    hub = hub_factory(public_url="https://hub.example.org")
    # over plain http a client keeps no Secure cookie, so carry the pre-session cookie by hand (as a TLS proxy
    # in front of the hub would let a browser do)
    form = httpx.get(f"{hub.url}/login")
    pre = next(h for h in form.headers.get_list("set-cookie") if h.startswith("modelyard_csrf="))
    assert "secure" in pre.lower() and "httponly" in pre.lower()
    r = httpx.post(
        f"{hub.url}/login",
        data={"token": hub.alice, "csrf_token": _csrf(form.text)},
        headers={"cookie": pre.split(";", 1)[0]},
    )
    assert r.status_code == 303
    header = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "secure" in header.lower() and "httponly" in header.lower()
