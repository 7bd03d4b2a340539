"""The JSON API accepts a web session only together with its CSRF secret in `X-CSRF-Token` (the pages' own
scripts: uploads, previews). The cookie alone, another session's secret, a junk header, or the header without the
cookie are anonymous; a Bearer header always wins over the cookie; a read-token session stays read-only."""

from __future__ import annotations

import uuid
from typing import Any

from tests.web._http import web_client


def test_api_session_needs_the_csrf_header(live_server: Any) -> None:
    hub = live_server
    private = f"alice/session-api-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(private, private=True)
    alice, alice_csrf = web_client(hub.url, hub.alice)
    bob, bob_csrf = web_client(hub.url, hub.bob)

    ok = alice.get("/api/whoami-v2", headers={"x-csrf-token": alice_csrf})
    assert ok.status_code == 200 and ok.json()["name"] == "alice"
    assert alice.get(f"/api/models/{private}", headers={"x-csrf-token": alice_csrf}).status_code == 200

    for client, headers in (
        (alice, {}),  # the cookie alone: a cross-site form could send it
        (alice, {"x-csrf-token": bob_csrf}),  # another session's secret
        (alice, {"x-csrf-token": "x" * 43}),
        (bob, {"x-csrf-token": alice_csrf}),  # alice's secret with bob's cookie
    ):
        r = client.get(f"/api/models/{private}", headers=headers)
        assert r.status_code in (401, 404), (headers, r.status_code)
        w = client.get("/api/whoami-v2", headers=headers)
        assert w.status_code == 401 or w.json().get("name") != "alice", headers
    anon = alice.__class__(base_url=hub.url)  # no cookie, alice's secret: nothing
    assert anon.get(f"/api/models/{private}", headers={"x-csrf-token": alice_csrf}).status_code in (401, 404)


def test_bearer_wins_and_read_sessions_stay_read_only(live_server: Any) -> None:
    hub = live_server
    name = f"alice/session-ro-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(name)
    alice, csrf = web_client(hub.url, hub.alice)
    # a Bearer header is the caller, whatever the cookie says
    r = alice.get("/api/whoami-v2", headers={"x-csrf-token": csrf, "authorization": f"Bearer {hub.bob}"})
    assert r.json()["name"] == "bob"
    # a session opened with a read token cannot write through the API either
    ro, ro_csrf = web_client(hub.url, hub.alice_read)
    body = '{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"a.txt","content":"YQ==","encoding":"base64"}}\n'
    r = ro.post(
        f"/api/models/{name}/commit/main",
        content=body,
        headers={"x-csrf-token": ro_csrf, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 403, r.text[:300]
    r = alice.post(
        f"/api/models/{name}/commit/main",
        content=body,
        headers={"x-csrf-token": csrf, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text[:300]
    assert "a.txt" in hub.api().list_repo_files(name)
