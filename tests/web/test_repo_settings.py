"""The repo settings page (server/web/settings_views.py): visibility, gating with the card's request fields,
rename/transfer, delete with typed confirmation.

HTTP-level attacker tests (httpx, sessions opened through the /login token form) for each POST form, then the flow
in Chromium: alice makes a repo private, and deletes another by typing its id; axe-core and a phone-size check."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import httpx
import pytest
from huggingface_hub.utils import RepositoryNotFoundError
from tests.web import _browser as b
from tests.web._http import error_code, web_client

from modelyard.server.context import LOGIN_COOKIE as COOKIE

GATED_CARD = """---
license: mit
extra_gated_prompt: "You agree to **not** misuse this model."
extra_gated_fields:
  Company: text
  Country:
    type: select
    options: [France, Japan]
  I agree to the terms: checkbox
---
# Gated
"""
needs_chromium = pytest.mark.skipif(not os.path.exists(b.CHROMIUM), reason=f"{b.CHROMIUM} missing")
FORMS = {
    "visibility": {"visibility": "private"},
    "gating": {"gated": "manual"},
    "rename": {"namespace": "alice", "name": "stolen"},
    "delete": {"confirm": "{repo}"},
}


def _repo(hub: Any, card: str | None = None) -> str:
    repo = f"alice/set-{uuid.uuid4().hex[:6]}"
    api = hub.api()
    api.create_repo(repo)
    if card:
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo)
    return repo


def _info(hub: Any, repo: str) -> Any:
    return hub.api().model_info(repo)


def test_page_shows_sections_and_the_gate_form(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub, GATED_CARD)
    alice, _ = web_client(hub.url, hub.alice)
    r = alice.get(f"/{repo}/settings")
    assert r.status_code == 200
    html = r.text
    for section in ("visibility", "gating", "rename", "delete"):
        assert '<section class="settings-section' in html and f'id="{section}"' in html
    assert "<strong>not</strong> misuse" in html  # the card's prompt, rendered
    fields = re.search(r'<ul class="gate-fields" id="gate-fields">(.*?)</ul>', html, re.S)
    assert fields and all(
        x in fields.group(1) for x in ("Company", "Country", "France", "I agree to the terms")
    )
    assert f'href="/{repo}/settings/gated-user-access"' in html
    assert 'name="namespace"' in html and '<option value="acme"' in html  # alice may move to her org
    # the repo header shows the Settings tab to maintainers only
    assert f'href="/{repo}/settings"' in alice.get(f"/{repo}").text
    bob, _ = web_client(hub.url, hub.bob)
    assert f'href="/{repo}/settings"' not in bob.get(f"/{repo}").text


def test_who_may_see_the_page(live_server: Any) -> None:
    hub = live_server
    public = _repo(hub)
    private = f"alice/set-priv-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(private, private=True)
    anon = httpx.Client(base_url=hub.url)
    r = anon.get(f"/{public}/settings")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert anon.get(f"/{private}/settings").status_code == 404
    bob, _ = web_client(hub.url, hub.bob)
    assert bob.get(f"/{public}/settings").status_code == 403
    assert bob.get(f"/{private}/settings").status_code == 404
    ro, _ = web_client(hub.url, hub.alice_read)
    r = ro.get(f"/{public}/settings")
    assert r.status_code == 403 and "read-only" in r.text


def test_attackers_change_nothing(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    private = f"alice/set-priv-{uuid.uuid4().hex[:6]}"
    hub.api().create_repo(private, private=True)
    anon, anon_csrf = web_client(hub.url)
    bob, bob_csrf = web_client(hub.url, hub.bob)
    ro, ro_csrf = web_client(hub.url, hub.alice_read)
    alice, alice_csrf = web_client(hub.url, hub.alice)
    for section, data in FORMS.items():
        data = {k: v.format(repo=repo) for k, v in data.items()}
        path = f"/{repo}/settings/{section}"
        for client, token, status in ((anon, anon_csrf, 401), (bob, bob_csrf, 403), (ro, ro_csrf, 403)):
            r = client.post(path, data={**data, "csrf_token": token})
            assert r.status_code == status, (section, status, r.status_code)
        # alice's own session without its token, or with bob's
        for token in (None, bob_csrf):
            r = alice.post(path, data={**data, **({"csrf_token": token} if token else {})})
            assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid", (section, r.status_code)
        # bob on a private repo he cannot see: 404, as every page of it
        r = bob.post(f"/{private}/settings/{section}", data={**data, "csrf_token": bob_csrf})
        assert r.status_code == 404
    info = _info(hub, repo)
    assert info.private is False and not info.gated
    assert alice_csrf


def test_alice_changes_visibility_and_gating(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    r = alice.post(f"/{repo}/settings/visibility", data={"csrf_token": token, "visibility": "private"})
    assert r.status_code == 303 and r.headers["location"] == f"/{repo}/settings#visibility"
    assert _info(hub, repo).private is True
    assert httpx.get(f"{hub.url}/{repo}").status_code == 404  # now hidden from others
    r = alice.post(f"/{repo}/settings/visibility", data={"csrf_token": token, "visibility": "public"})
    assert r.status_code == 303 and _info(hub, repo).private is False
    for mode, expected in (("manual", "manual"), ("auto", "auto"), ("off", False)):
        r = alice.post(f"/{repo}/settings/gating", data={"csrf_token": token, "gated": mode})
        assert r.status_code == 303
        assert _info(hub, repo).gated == expected
    # hostile values: the page again with the message, nothing changed
    for section, data in (("visibility", {"visibility": "secret"}), ("gating", {"gated": "<script>"})):
        r = alice.post(f"/{repo}/settings/{section}", data={"csrf_token": token, **data})
        assert r.status_code == 400 and f'id="{section}-error"' in r.text and "<script>" not in r.text
    assert _info(hub, repo).private is False and not _info(hub, repo).gated


def test_rename_and_transfer(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    other = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    name = repo.split("/")[1]
    # bad names and a taken name: the form again with the message (400/422, 409)
    for data, status in (
        ({"namespace": "alice", "name": "bad name!"}, 400),
        ({"namespace": "alice", "name": ""}, 400),
        ({"namespace": "alice", "name": other.split("/")[1]}, 409),
    ):
        r = alice.post(f"/{repo}/settings/rename", data={"csrf_token": token, **data})
        assert r.status_code == status, (data, r.status_code, r.text[:300])
        assert 'id="rename-error"' in r.text
    # a namespace alice may not write to
    r = alice.post(f"/{repo}/settings/rename", data={"csrf_token": token, "namespace": "bob", "name": name})
    assert r.status_code == 403
    # transfer to her org under a new name: redirected to the new URL
    new = f"acme/{name}-moved"
    r = alice.post(
        f"/{repo}/settings/rename",
        data={"csrf_token": token, "namespace": "acme", "name": f"{name}-moved"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/{new}"
    assert alice.get(f"/{new}/settings").status_code == 200
    assert _info(hub, new).id == new


def test_delete_needs_the_typed_id(live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub)
    alice, token = web_client(hub.url, hub.alice)
    for typed in ("", repo.split("/")[1], repo.upper(), repo + " x"):
        r = alice.post(f"/{repo}/settings/delete", data={"csrf_token": token, "confirm": typed})
        assert r.status_code == 400 and 'id="delete-error"' in r.text, typed
        assert "Type the full name" in r.text
    assert _info(hub, repo).id == repo  # still there
    r = alice.post(f"/{repo}/settings/delete", data={"csrf_token": token, "confirm": repo})
    assert r.status_code == 303 and r.headers["location"] == "/alice"
    with pytest.raises(RepositoryNotFoundError):
        _info(hub, repo)


# --- in the browser -----------------------------------------------------------------------------------------
def login(page: Any, url: str, token: str) -> None:
    """A session opened through the /login token form (over HTTP), its cookie given to the browser."""
    client, _ = web_client(url, token)
    cookie = client.cookies.get(COOKIE)
    assert cookie
    page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])


@needs_chromium
def test_browser_visibility_and_delete(page: Any, live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub, GATED_CARD)
    doomed = _repo(hub)
    login(page, hub.url, hub.alice)
    page.goto(f"{hub.url}/{repo}")
    page.click("nav.tabs >> text=Settings")
    page.wait_for_url(f"**/{repo}/settings")
    b.axe(page)
    b.shot(page, "settings-page")
    assert page.inner_text("#current-visibility") == "public"
    page.click("#visibility-form button")
    page.wait_for_url(f"**/{repo}/settings#visibility")
    assert page.inner_text("#current-visibility") == "private"
    assert _info(hub, repo).private is True
    page.select_option("#gating select[name=gated]", "manual")
    page.click("#gating-form button")
    page.wait_for_url(f"**/{repo}/settings#gating")
    assert _info(hub, repo).gated == "manual"
    page.click("#review-requests")
    page.wait_for_url(f"**/{repo}/settings/gated-user-access")
    # delete: the button waits for the exact id
    page.goto(f"{hub.url}/{doomed}/settings#delete")
    button = page.locator("#delete-form button")
    assert button.is_disabled()
    page.fill("#delete-confirm", doomed.split("/")[1])
    assert button.is_disabled()
    page.fill("#delete-confirm", doomed)
    assert button.is_enabled()
    button.click()
    page.wait_for_url(f"{hub.url}/alice")
    with pytest.raises(RepositoryNotFoundError):
        _info(hub, doomed)


@needs_chromium
def test_browser_phone(phone: Any, live_server: Any) -> None:
    hub = live_server
    repo = _repo(hub, GATED_CARD)
    login(phone, hub.url, hub.alice)
    phone.goto(f"{hub.url}/{repo}/settings")
    b.no_sideways_scroll(phone)
    b.axe(phone)
    b.shot(phone, "settings-page-phone")
