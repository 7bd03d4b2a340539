"""Spaces in the web UI over HTTP (a hub running Spaces, `spaces_hub`): the space page embeds the app from the
Spaces origin (CSP frame-src for that origin only), private Spaces are 404 to others, the owner's controls and
Space settings (secrets never shown again), the log page and its SSE stream (escaped lines; 404 to others), stage
badges in the listing, search and "Spaces using this model". Attacks: anonymous, another user, a read-token
session, missing or foreign CSRF tokens, hostile keys."""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from tests.spaces._spaces import card, push_space, wait_stage
from tests.web._http import csrf_of, error_code, web_client

SECRET_VALUE = "s3cr3t-Value-9d1f"
STATIC_FILES = {"index.html": "<!doctype html><title>hello</title><h1>Hello from a static Space</h1>"}


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def _static(hub: Any, name: str, private: bool = False, **meta: Any) -> str:
    rid = push_space(hub, name, {"README.md": card("static", **meta), **STATIC_FILES}, private=private)
    wait_stage(hub, rid, {"RUNNING"}, timeout=60)
    return rid


@pytest.fixture(scope="module")
def public_space(spaces_hub: Any) -> str:
    return _static(spaces_hub, f"web-static-{_tag()}")


def test_space_page_embeds_the_app_from_the_spaces_origin(spaces_hub: Any, public_space: str) -> None:
    anon, _ = web_client(spaces_hub.url)
    r = anon.get(f"/spaces/{public_space}")
    assert r.status_code == 200, r.text[:300]
    origin = spaces_hub.extra["spaces_url"]
    frame = re.search(r'<iframe id="space-frame"[^>]*\bsrc="([^"]+)"', r.text)
    assert frame is not None, r.text[:2000]
    assert frame.group(1) == f"{origin}/spaces/{public_space}/"
    assert 'sandbox="allow-scripts allow-forms allow-popups allow-downloads allow-same-origin"' in r.text
    csp = r.headers["content-security-policy"]
    assert f"frame-src {origin}" in csp and "frame-ancestors 'none'" in csp
    assert f"frame-src {spaces_hub.url}" not in csp  # never the hub's own origin
    assert 'id="space-stage"' in r.text and "stage-ok" in r.text and ">Running<" in r.text
    # the tabs: App (this page), Files, Logs
    assert (
        f'href="/spaces/{public_space}/tree/main"' in r.text
        and f'href="/spaces/{public_space}/logs"' in r.text
    )
    # the app itself answers on the Spaces origin
    app = httpx.get(frame.group(1), timeout=30)
    assert app.status_code == 200 and "Hello from a static Space" in app.text


def test_private_space_page_is_404_to_others(spaces_hub: Any) -> None:
    rid = _static(spaces_hub, f"web-private-{_tag()}", private=True)
    alice, _ = web_client(spaces_hub.url, spaces_hub.alice)
    bob, _ = web_client(spaces_hub.url, spaces_hub.bob)
    anon, _ = web_client(spaces_hub.url)
    r = alice.get(f"/spaces/{rid}")
    assert r.status_code == 200 and 'id="space-frame"' in r.text
    frame = re.search(r'<iframe id="space-frame"[^>]*\bsrc="([^"]+)"', r.text)
    assert frame is not None
    src = html.unescape(frame.group(1))
    host = f"{spaces_hub.extra['spaces_url']}/spaces/{rid}"
    assert (
        src.startswith(host + "/?") and "__sign=" in src
    )  # signed for alice: no hub credential needed there
    assert "Hello from a static Space" in httpx.get(src, timeout=30, follow_redirects=True).text
    assert httpx.get(host + "/", timeout=30).status_code in (401, 403, 404)  # unsigned: refused
    for client in (bob, anon):
        for path in ("", "/logs", "/logs/run/stream", "/logs/build/stream", "/stage", "/settings/space"):
            r = client.get(f"/spaces/{rid}{path}")
            assert r.status_code == 404, (path, r.status_code)
    r = bob.post(f"/spaces/{rid}/pause", data={"csrf_token": csrf_of(bob.get("/logout").text)})
    assert r.status_code == 404
    assert spaces_hub.api().get_space_runtime(rid).stage == "RUNNING"


def test_controls_only_for_writers(spaces_hub: Any, public_space: str) -> None:
    alice, _ = web_client(spaces_hub.url, spaces_hub.alice)
    bob, _ = web_client(spaces_hub.url, spaces_hub.bob)
    ro, _ = web_client(spaces_hub.url, spaces_hub.alice_read)
    anon, _ = web_client(spaces_hub.url)
    assert 'id="space-controls"' in alice.get(f"/spaces/{public_space}").text
    for client in (bob, ro, anon):
        page = client.get(f"/spaces/{public_space}")
        assert page.status_code == 200
        assert 'id="space-controls"' not in page.text and "/restart" not in page.text
    assert bob.get(f"/spaces/{public_space}/settings/space").status_code == 403
    assert anon.get(f"/spaces/{public_space}/settings/space").status_code == 303  # to the login page


@pytest.mark.parametrize("action", ["restart", "factory-rebuild", "pause"])
def test_forged_and_csrf_less_posts_are_refused(spaces_hub: Any, public_space: str, action: str) -> None:
    url = f"/spaces/{public_space}/{action}"
    alice, _ = web_client(spaces_hub.url, spaces_hub.alice)
    bob, bob_csrf = web_client(spaces_hub.url, spaces_hub.bob)
    ro, ro_csrf = web_client(spaces_hub.url, spaces_hub.alice_read)
    anon, anon_csrf = web_client(spaces_hub.url)
    r = alice.post(url, data={})
    assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid"
    r = alice.post(url, data={"csrf_token": bob_csrf})  # another session's token
    assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid"
    r = bob.post(url, data={"csrf_token": bob_csrf})  # a valid form, but not his Space
    assert r.status_code == 403 and error_code(r) != "CsrfTokenInvalid"
    r = ro.post(url, data={"csrf_token": ro_csrf})
    assert r.status_code == 403
    r = anon.post(url, data={"csrf_token": anon_csrf})
    assert r.status_code == 401
    stage = spaces_hub.api().get_space_runtime(public_space).stage
    assert stage == "RUNNING", f"{action} refused, but the Space is {stage}"
    for path in ("settings/space/sleep", "settings/space/secret", "settings/space/variable-delete"):
        r = bob.post(
            f"/spaces/{public_space}/{path}", data={"csrf_token": bob_csrf, "key": "K", "value": "v"}
        )
        assert r.status_code == 403, path
        assert alice.post(f"/spaces/{public_space}/{path}", data={"key": "K"}).status_code == 403


def test_owner_pauses_and_restarts(spaces_hub: Any) -> None:
    rid = _static(spaces_hub, f"web-pause-{_tag()}")
    alice, csrf = web_client(spaces_hub.url, spaces_hub.alice)
    r = alice.post(f"/spaces/{rid}/pause", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/spaces/{rid}"
    assert spaces_hub.api().get_space_runtime(rid).stage == "PAUSED"
    page = alice.get(f"/spaces/{rid}").text
    assert 'id="space-frame"' not in page and "This Space is paused" in page and ">Paused<" in page
    assert 'id="space-pause"' not in page and 'id="space-restart"' in page
    bob, _ = web_client(spaces_hub.url, spaces_hub.bob)
    assert "Its owner paused it" in bob.get(f"/spaces/{rid}").text
    r = alice.post(f"/spaces/{rid}/restart", data={"csrf_token": csrf})
    assert r.status_code == 303
    wait_stage(spaces_hub, rid, {"RUNNING"}, timeout=60)
    assert 'id="space-frame"' in alice.get(f"/spaces/{rid}").text


def test_space_settings_sleep_secrets_and_variables(spaces_hub: Any, public_space: str) -> None:
    base = f"/spaces/{public_space}"
    alice, csrf = web_client(spaces_hub.url, spaces_hub.alice)
    page = alice.get(f"{base}/settings/space")
    assert page.status_code == 200 and 'id="sleep-form"' in page.text
    assert 'id="space-settings-link"' in alice.get(f"{base}/settings").text

    r = alice.post(f"{base}/settings/space/sleep", data={"csrf_token": csrf, "sleep_time": "900"})
    assert r.status_code == 303
    assert spaces_hub.api().get_space_runtime(public_space).raw["gcTimeout"] == 900
    assert '<option value="900" selected>' in alice.get(f"{base}/settings/space").text
    r = alice.post(f"{base}/settings/space/sleep", data={"csrf_token": csrf, "sleep_time": "17"})
    assert r.status_code == 400 and "sleep-error" in r.text

    data = {"csrf_token": csrf, "key": "API_KEY", "value": SECRET_VALUE, "description": "the <b>key</b>"}
    assert alice.post(f"{base}/settings/space/secret", data=data).status_code == 303
    data = {"csrf_token": csrf, "key": "GREETING", "value": "hello <there>", "description": ""}
    assert alice.post(f"{base}/settings/space/variable", data=data).status_code == 303
    page = alice.get(f"{base}/settings/space").text
    assert "API_KEY" in page and "the &lt;b&gt;key&lt;/b&gt;" in page
    assert "GREETING" in page and "hello &lt;there&gt;" in page
    assert sorted(spaces_hub.api().get_space_secrets(public_space)) == ["API_KEY"]

    # a hostile key is refused (400), and a refused secret's value is not sent back
    bad = {"csrf_token": csrf, "key": "1; rm -rf /", "value": SECRET_VALUE}
    r = alice.post(f"{base}/settings/space/secret", data=bad)
    assert r.status_code == 400 and "secrets-error" in r.text and SECRET_VALUE not in r.text

    # the value is never on a page: settings, space page, logs, listing
    for path in (f"{base}/settings/space", base, f"{base}/logs", "/spaces", f"{base}/settings"):
        assert SECRET_VALUE not in alice.get(path).text, path

    r = alice.post(f"{base}/settings/space/secret-delete", data={"csrf_token": csrf, "key": "API_KEY"})
    assert r.status_code == 303
    r = alice.post(f"{base}/settings/space/variable-delete", data={"csrf_token": csrf, "key": "GREETING"})
    assert r.status_code == 303
    page = alice.get(f"{base}/settings/space").text
    assert "API_KEY" not in page and "GREETING" not in page
    assert spaces_hub.api().get_space_secrets(public_space) == {}


def _sse_lines(client: httpx.Client, url: str, until_end: float = 60) -> list[str]:
    """The `data` of each event of a log stream, up to its `event: end` (or `until_end` seconds)."""
    out: list[str] = []
    deadline = time.monotonic() + until_end
    with client.stream("GET", url, timeout=30) as r:
        assert r.status_code == 200, r.read()[:300]
        assert r.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event != "end":
                out.append(json.loads(line[5:])["data"])
            elif line == "" and event == "end":
                break
            elif line == "":
                event = ""
            if time.monotonic() > deadline:
                break
    return out


def test_build_log_page_and_stream_escape_lines(spaces_hub: Any) -> None:
    """A requirement line holding markup fails the build; the log shows it as text, on the page and in the
    stream, and a private Space's log is 404 to others."""
    hostile = "<script>window.__pwned=1</script>"
    rid = push_space(
        spaces_hub,
        f"web-badbuild-{_tag()}",
        {"README.md": card("gradio"), "app.py": "print('hi')\n", "requirements.txt": hostile + "\n"},
        private=True,
    )
    wait_stage(spaces_hub, rid, {"BUILD_ERROR"}, timeout=180)
    alice, _ = web_client(spaces_hub.url, spaces_hub.alice)
    page = alice.get(f"/spaces/{rid}")
    assert page.status_code == 200
    assert 'id="space-frame"' not in page.text and 'id="space-log-tail"' in page.text
    assert "stage-bad" in page.text and 'id="space-error"' in page.text
    assert hostile not in page.text and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page.text
    logs = alice.get(f"/spaces/{rid}/logs")
    assert logs.status_code == 200 and hostile not in logs.text and "&lt;script&gt;" in logs.text
    lines = _sse_lines(alice, f"/spaces/{rid}/logs/build/stream")
    assert any(hostile in ln for ln in lines), lines[-20:]
    bob, _ = web_client(spaces_hub.url, spaces_hub.bob)
    assert bob.get(f"/spaces/{rid}/logs/build/stream").status_code == 404
    assert alice.get(f"/spaces/{rid}/logs/nope/stream").status_code == 404


def test_run_log_streams_live(spaces_hub: Any, public_space: str) -> None:
    """The run log stream follows: a keep-alive comment first, then lines as they are written."""
    with (
        httpx.Client(base_url=spaces_hub.url, timeout=10) as c,
        c.stream("GET", f"/spaces/{public_space}/logs/run/stream") as r,
    ):
        assert r.status_code == 200
        first = next(r.iter_lines())
        assert first.startswith(":")


def test_stage_badges_in_listing_search_and_model_page(spaces_hub: Any, public_space: str) -> None:
    tag = _tag()
    model = f"alice/web-model-{tag}"
    spaces_hub.api().create_repo(model)
    rid = _static(spaces_hub, f"web-uses-{tag}", models=[model])
    anon, _ = web_client(spaces_hub.url)
    listing = anon.get("/spaces", params={"search": f"web-uses-{tag}"}).text
    item = listing[listing.index(rid) :]
    assert 'class="stage-badge stage-ok"' in item[:800] and 'class="chip sdk">static<' in item[:800]
    found = anon.get("/search", params={"q": f"web-uses-{tag}"}).text
    assert 'class="stage-badge stage-ok"' in found[found.index(rid) :][:800]
    page = anon.get(f"/{model}").text
    side = page[page.index('id="spaces-using"') :]
    assert f'href="/spaces/{rid}"' in side and "stage-badge stage-ok" in side[:1500]
    # the space page lists the model it uses
    assert f'href="/{model}"' in anon.get(f"/spaces/{rid}").text


def test_stage_fragment_refreshes_the_page_when_serving_changes(spaces_hub: Any, public_space: str) -> None:
    anon, _ = web_client(spaces_hub.url)
    r = anon.get(f"/spaces/{public_space}/stage", params={"was": "BUILDING"})
    assert r.status_code == 200 and r.headers.get("hx-refresh") == "true" and "Running" in r.text
    r = anon.get(f"/spaces/{public_space}/stage", params={"was": "PAUSED"})
    assert r.headers.get("hx-refresh") == "true"
    for was in ("RUNNING", "SLEEPING"):  # the frame stays: a sleeping Space's frame wakes it by itself
        r = anon.get(f"/spaces/{public_space}/stage", params={"was": was})
        assert r.status_code == 200 and "hx-refresh" not in r.headers
    assert 'hx-trigger="every 10000ms"' in r.text
    r = anon.get(f"/spaces/{public_space}/stage", params={"was": "<x>"})
    assert r.status_code == 200 and "<x>" not in r.text
