"""Every state-changing web route refuses a request without this browser's CSRF token.

The routes are read from `web_routes()` itself, so a POST page added later is covered without editing this test:
each is POSTed, as a logged-in user, (1) with no token, (2) with another session's token, (3) with the token in
the wrong field; each must answer 403 CsrfTokenInvalid and change nothing (the repo's likes stay as they were)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from starlette.routing import Mount, Route
from tests.web._http import error_code, web_client

from modelyard.server.web import web_routes


def _post_paths(ns: str, name: str) -> list[str]:
    values = {
        "ns": ns,
        "name": name,
        "rev": "main",
        "path": "README.md",
        "num": "1",
        "user": "alice",
        "org": "acme",
        "owner": "alice",
        "slug": "x",
        "code": "x" * 20,
        "name_": "x",
        "id": "x",
        "comment_id": "x",
    }
    paths = []
    for r in web_routes():
        if isinstance(r, Mount) or not isinstance(r, Route) or "POST" not in (r.methods or set()):
            continue
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), r.path)
        paths.append(path)
    return sorted(set(paths))


def test_every_post_route_checks_csrf(live_server: Any) -> None:
    hub = live_server
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(name)
    paths = _post_paths("alice", name)
    assert len(paths) >= 6, paths  # login, logout, like, ask-access, gated-user-access, ... per repo type
    alice, alice_csrf = web_client(hub.url, hub.alice)
    _, bob_csrf = web_client(hub.url, hub.bob)
    failures = []
    for path in paths:
        for label, data in (
            ("no token", {"title": "x", "comment": "x"}),
            ("bob's token", {"csrf_token": bob_csrf, "title": "x"}),
            ("token in another field", {"csrf": alice_csrf, "token": alice_csrf}),
        ):
            r = alice.post(path, data=data)
            if r.status_code != 403 or error_code(r) != "CsrfTokenInvalid":
                failures.append(f"{path} ({label}): {r.status_code} {error_code(r)}")
    assert not failures, "\n".join(failures)
    info = hub.api().model_info(f"alice/{name}")
    assert info.likes == 0  # nothing changed


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_a_valid_token_still_works(live_server: Any, who: str) -> None:
    """The control: the same like form with the session's own token is accepted (so the refusals above are the
    CSRF check's, not a broken route)."""
    hub = live_server
    name = f"csrf-ok-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(name)
    client, token = web_client(hub.url, hub.alice if who == "alice" else None)
    r = client.post(f"/alice/{name}/like", data={"csrf_token": token})
    assert r.status_code == 303, r.text[:300]
    assert hub.api().model_info(f"alice/{name}").likes == (1 if who == "alice" else 0)
