"""Discussions and pull requests in the web UI (server/web/discussion_views.py): the list with its filters, a thread
(comments, edit, hide, close/reopen, retitle, merge), the PR's "Files changed".

HTTP-level attacker tests (httpx, logged in through the /login token form) for every POST route, then the flow in
Chromium: bob opens a PR with the official client, alice finds it with the filter, reads its diff, comments (in
place, through htmx) and merges; axe-core and a phone-size check on the list, thread and diff pages."""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.web import _browser as b
from tests.web._http import csrf_of, error_code, web_client

from modelyard.server.context import LOGIN_COOKIE as COOKIE

HOSTILE = (
    'Hello **there**\n\n<script>window.__pwned = 1</script>\n<img src=x onerror="window.__pwned = 2">\n'
    '[click me](javascript:window.__pwned=3)\n<a href="javascript:window.__pwned=4">js</a>\n'
)
needs_chromium = pytest.mark.skipif(not os.path.exists(b.CHROMIUM), reason=f"{b.CHROMIUM} missing")


@dataclass
class Setup:
    hub: Any
    repo: str  # alice's public model, with a discussion by alice (#1) and a PR by bob (#2)
    url: str  # its web URL
    pr: int
    disc: int


def _pr(hub: Any, repo: str, title: str) -> int:
    from huggingface_hub import CommitOperationAdd

    bob = hub.api(hub.bob)
    info = bob.create_commit(
        repo,
        operations=[
            CommitOperationAdd("config.json", json.dumps({"hidden": 64, "layers": 2}, indent=1).encode()),
            CommitOperationAdd("weights.bin", os.urandom(3000) + b"\0"),
        ],
        commit_message=title,
        commit_description="Bigger **hidden** size.",
        create_pr=True,
    )
    assert info.pr_num is not None
    return int(info.pr_num)


def _make(hub: Any) -> Setup:
    from huggingface_hub import CommitOperationAdd

    api = hub.api()
    repo = f"alice/comm-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    api.create_commit(
        repo,
        operations=[
            CommitOperationAdd("README.md", b"# A model\n"),
            CommitOperationAdd("config.json", json.dumps({"hidden": 32}, indent=1).encode()),
            CommitOperationAdd("weights.bin", os.urandom(2000) + b"\0"),
        ],
        commit_message="first",
    )
    disc = api.create_discussion(repo, "Alice's question", description="What about *this*?").num
    pr = _pr(hub, repo, "Bob's bigger model")
    return Setup(hub, repo, f"{hub.url}/{repo}", pr, disc)


@pytest.fixture(scope="module")
def setup(live_server: Any) -> Setup:
    return _make(live_server)


def _thread(client: httpx.Client, s: Setup, num: int) -> str:
    r = client.get(f"/{s.repo}/discussions/{num}")
    assert r.status_code == 200, r.text[:300]
    return r.text


# --- reading ------------------------------------------------------------------------------------------------
def test_list_filters_counts_and_search(setup: Setup) -> None:
    s = setup
    c = httpx.Client(base_url=s.hub.url)
    page = c.get(f"/{s.repo}/discussions")
    assert page.status_code == 200
    assert f"#{s.disc}" in page.text and f"#{s.pr}" in page.text
    assert "Bob&#39;s bigger model" in page.text or "Bob's bigger model" in page.text
    prs = c.get(f"/{s.repo}/discussions", params={"type": "pull_request"}).text
    rows = re.findall(r'<li class="d-row" data-num="(\d+)"', prs)
    assert rows == [str(s.pr)]
    # counts: 2 open in all types; within "pull_request", 1 open; the type tabs count within the status
    assert re.search(r'data-filter="status-open"[^>]*>Open <span class="count">1</span>', prs), prs
    assert re.search(r'data-filter="type-all"[^>]*>All <span class="count">2</span>', prs)
    found = c.get(f"/{s.repo}/discussions", params={"search": "QUESTION", "status": "all"}).text
    assert re.findall(r'data-num="(\d+)"', found) == [str(s.disc)]
    closed = c.get(f"/{s.repo}/discussions", params={"status": "closed"}).text
    assert 'id="no-discussions"' in closed
    # junk filters fall back to the defaults, never a 500
    junk = c.get(f"/{s.repo}/discussions", params={"status": "<x>", "type": "'", "p": "9" * 30})
    assert junk.status_code == 200


def test_thread_and_files_changed(setup: Setup) -> None:
    s = setup
    c = httpx.Client(base_url=s.hub.url)
    html = _thread(c, s, s.pr)
    assert f"refs/pr/{s.pr}" in html and "Bigger <strong>hidden</strong> size." in html
    assert "pushed" in html  # the PR's commit event
    assert 'id="merge-form"' not in html  # anonymous: no merge button
    files = c.get(f"/{s.repo}/discussions/{s.pr}/files")
    assert files.status_code == 200
    text = files.text
    assert "config.json" in text and "weights.bin" in text
    # line-numbered unified diff: old line 2 removed, new lines 2 and 3 added
    assert re.search(r'<tr class="del"><td class="ln">2</td><td class="ln"></td>', text), text[-3000:]
    assert re.search(r'<tr class="add"><td class="ln"></td><td class="ln">3</td>', text)
    # the binary file shows its size and sha256 change when it is an LFS/Xet file, else no line diff
    assert "sha256:" in text and "LFS" in text
    # a discussion has no files; a number past any discussion is a 404
    assert c.get(f"/{s.repo}/discussions/{s.disc}/files").status_code == 404
    for bad in ("99999999999999999999", "0", "abc"):
        r = c.get(f"/{s.repo}/discussions/{bad}")
        assert r.status_code == 404, (bad, r.status_code)


# --- attackers ----------------------------------------------------------------------------------------------
POSTS = ("comment", "status", "title", "merge", "comment/{cid}/edit", "comment/{cid}/hide")


def _first_comment_id(client: httpx.Client, s: Setup, num: int) -> str:
    m = re.search(r'id="comment-(\d+)"', _thread(client, s, num))
    assert m is not None
    return m.group(1)


def test_csrf_missing_or_foreign(setup: Setup) -> None:
    s = setup
    alice, alice_csrf = web_client(s.hub.url, s.hub.alice)
    _, bob_csrf = web_client(s.hub.url, s.hub.bob)
    cid = _first_comment_id(alice, s, s.pr)
    for action in POSTS:
        path = f"/{s.repo}/discussions/{s.pr}/" + action.format(cid=cid)
        for data in (
            {"comment": "x", "status": "closed", "title": "x"},
            {"csrf_token": bob_csrf, "comment": "x"},
        ):
            r = alice.post(path, data=data)
            assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid", (path, r.status_code)
    r = alice.post(f"/{s.repo}/discussions/new", data={"title": "x", "csrf_token": bob_csrf})
    assert r.status_code == 403 and error_code(r) == "CsrfTokenInvalid"
    assert alice_csrf  # the control (the same forms with alice's token) is every other test here
    d = s.hub.api().get_discussion_details(s.repo, s.pr)
    assert d.status in ("open", "draft") and all(e.type != "comment" or e.content != "x" for e in d.events)


def test_anonymous_and_read_token_sessions_are_refused(setup: Setup) -> None:
    s = setup
    anon, anon_csrf = web_client(s.hub.url)
    ro, ro_csrf = web_client(s.hub.url, s.hub.alice_read)
    cid = _first_comment_id(anon, s, s.disc)
    for client, token, codes in ((anon, anon_csrf, {401}), (ro, ro_csrf, {403})):
        for action in POSTS:
            path = f"/{s.repo}/discussions/{s.pr}/" + action.format(cid=cid)
            data = {"csrf_token": token, "comment": "sneaky", "status": "closed", "title": "pwned"}
            r = client.post(path, data=data)
            assert r.status_code in codes | {404}, (path, r.status_code, r.text[:200])
            assert r.status_code != 404 or "comment/" in action  # cid belongs to #disc, not #pr
        r = client.post(f"/{s.repo}/discussions/new", data={"csrf_token": token, "title": "spam"})
        assert r.status_code in codes
    # read-token session: the page says it cannot comment; no form, no buttons
    html = _thread(ro, s, s.disc)
    assert 'id="comment-form"' not in html and 'id="status-form"' not in html
    d = s.hub.api().get_discussion_details(s.repo, s.pr)
    assert d.title == "Bob's bigger model" and d.status in ("open", "draft")
    assert all("sneaky" not in (e.content or "") for e in d.events if e.type == "comment")


def test_bob_comments_but_cannot_moderate_or_merge(live_server: Any) -> None:
    s = _make(live_server)
    bob, bob_csrf = web_client(s.hub.url, s.hub.bob)
    alice_cid = _first_comment_id(bob, s, s.disc)
    # bob may comment on alice's public repo (no JS: a 303 back to the comment's anchor)
    r = bob.post(
        f"/{s.repo}/discussions/{s.disc}/comment", data={"csrf_token": bob_csrf, "comment": "Me too"}
    )
    assert r.status_code == 303 and re.search(rf"/discussions/{s.disc}#comment-\d+$", r.headers["location"])
    bob_cid = r.headers["location"].rsplit("-", 1)[1]
    html = _thread(bob, s, s.disc)
    assert "Me too" in html
    assert f'action="/{s.repo}/discussions/{s.disc}/comment/{bob_cid}/edit"' in html  # his own comment
    assert f"comment/{alice_cid}/edit" not in html and "/hide" not in html and 'id="status-form"' not in html
    # ... and edit his own comment
    r = bob.post(
        f"/{s.repo}/discussions/{s.disc}/comment/{bob_cid}/edit",
        data={"csrf_token": bob_csrf, "comment": "Me too, edited"},
    )
    assert r.status_code == 303
    assert "Me too, edited" in _thread(bob, s, s.disc)
    # not alice's comment, not hide, not close alice's discussion, not merge, not retitle
    refused = [
        (f"comment/{alice_cid}/edit", {"comment": "bob was here"}),
        (f"comment/{alice_cid}/hide", {}),
        ("status", {"status": "closed"}),
        ("title", {"title": "bob's title"}),
    ]
    for action, data in refused:
        r = bob.post(f"/{s.repo}/discussions/{s.disc}/{action}", data={"csrf_token": bob_csrf, **data})
        assert r.status_code == 403, (action, r.status_code)
    r = bob.post(f"/{s.repo}/discussions/{s.pr}/merge", data={"csrf_token": bob_csrf})
    assert r.status_code == 403 and "maintainers" in r.text
    assert 'id="merge-form"' not in _thread(bob, s, s.pr)
    d = s.hub.api().get_discussion_details(s.repo, s.disc)
    assert d.title == "Alice's question" and d.status == "open"
    assert d.events[0].content == "What about *this*?"
    assert s.hub.api().get_discussion_details(s.repo, s.pr).status in ("open", "draft")
    # bob may open a discussion, and close and reopen his own PR (the author's right)
    r = bob.post(
        f"/{s.repo}/discussions/new", data={"csrf_token": bob_csrf, "title": "Bob asks", "description": ""}
    )
    assert r.status_code == 303 and "/discussions/" in r.headers["location"]
    for new in ("closed", "open"):
        r = bob.post(f"/{s.repo}/discussions/{s.pr}/status", data={"csrf_token": bob_csrf, "status": new})
        assert r.status_code == 303
        assert s.hub.api().get_discussion_details(s.repo, s.pr).status == new


def test_hostile_bodies_are_400s(setup: Setup) -> None:
    s = setup
    alice, token = web_client(s.hub.url, s.hub.alice)
    base = f"/{s.repo}/discussions/{s.disc}"
    cases = [
        (f"{base}/comment", {"comment": "   "}, 400),
        (f"{base}/title", {"title": ""}, 400),
        (f"{base}/title", {"title": "x" * 500}, 400),
        (f"{base}/status", {"status": "merged"}, 400),
        (f"{base}/comment/abc/edit", {"comment": "x"}, 404),
        (f"{base}/comment/99999999999999/hide", {}, 404),
        (f"/{s.repo}/discussions/99999999999/comment", {"comment": "x"}, 404),
        (f"/{s.repo}/discussions/new", {"title": ""}, 422),
        (f"/{s.repo}/discussions/{s.disc}/merge", {}, 400),  # not a pull request
    ]
    for path, data, status in cases:
        r = alice.post(path, data={"csrf_token": token, **data})
        assert r.status_code == status, (path, data, r.status_code, r.text[:300])
        if status in (400, 422):
            assert 'role="alert"' in r.text, path  # the form again, with the message
    # an empty comment re-renders the thread with its message
    r = alice.post(f"{base}/comment", data={"csrf_token": token, "comment": ""})
    assert "cannot be empty" in r.text


def test_hostile_markdown_is_inert(setup: Setup) -> None:
    s = setup
    alice, token = web_client(s.hub.url, s.hub.alice)
    r = alice.post(f"/{s.repo}/discussions/{s.disc}/comment", data={"csrf_token": token, "comment": HOSTILE})
    assert r.status_code == 303
    html = _thread(alice, s, s.disc)
    bodies = re.findall(r'<div class="markdown comment-body">(.*?)</div>', html, re.S)
    body = next(x for x in bodies if "there" in x)
    assert "<strong>there</strong>" in body
    assert "<script" not in body and "onerror=" not in body and 'href="javascript' not in body, body
    # the edit form holds the raw text, escaped (inert inside <textarea>)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html and "<script>window" not in html


def test_private_repo_is_404_to_others(live_server: Any) -> None:
    hub = live_server
    repo = f"alice/secret-comm-{uuid.uuid4().hex[:6]}"
    api = hub.api()
    api.create_repo(repo, private=True)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id=repo)
    num = api.create_discussion(repo, "private talk").num
    alice, _ = web_client(hub.url, hub.alice)
    assert alice.get(f"/{repo}/discussions/{num}").status_code == 200
    bob, bob_csrf = web_client(hub.url, hub.bob)
    anon = httpx.Client(base_url=hub.url)
    for client in (bob, anon):
        for path in ("discussions", f"discussions/{num}", "discussions/new", f"discussions/{num}/files"):
            r = client.get(f"/{repo}/{path}")
            assert r.status_code == 404, (path, r.status_code)
            assert "private talk" not in r.text
    r = bob.post(f"/{repo}/discussions/{num}/comment", data={"csrf_token": bob_csrf, "comment": "hi"})
    assert r.status_code == 404
    assert len(api.get_discussion_details(repo, num).events) == 1


def test_alice_merges_over_http(live_server: Any) -> None:
    s = _make(live_server)
    alice, token = web_client(s.hub.url, s.hub.alice)
    html = _thread(alice, s, s.pr)
    assert 'id="merge-form"' in html
    r = alice.post(f"/{s.repo}/discussions/{s.pr}/merge", data={"csrf_token": token})
    assert r.status_code == 303
    assert s.hub.api().get_discussion_details(s.repo, s.pr).status == "merged"
    cfg = s.hub.api().hf_hub_download(s.repo, "config.json")
    with open(cfg) as f:
        assert json.loads(f.read())["hidden"] == 64
    # merged: no merge form, no close/reopen; merging again is a 400 with the thread and its message
    html = _thread(alice, s, s.pr)
    assert 'id="merge-form"' not in html and 'id="status-form"' not in html and "merged as" in html
    r = alice.post(f"/{s.repo}/discussions/{s.pr}/merge", data={"csrf_token": token})
    assert r.status_code == 400 and "not an open pull request" in r.text
    # a maintainer retitles and closes/reopens anyone's discussion; the events say so
    r = alice.post(
        f"/{s.repo}/discussions/{s.disc}/title", data={"csrf_token": token, "title": "<b>New</b> title"}
    )
    assert r.status_code == 303
    for new in ("closed", "open"):
        r = alice.post(f"/{s.repo}/discussions/{s.disc}/status", data={"csrf_token": token, "status": new})
        assert r.status_code == 303
    html = _thread(alice, s, s.disc)
    assert "changed the title from <s>Alice&#39;s question</s> to <b>&lt;b&gt;New&lt;/b&gt; title</b>" in html
    assert "closed this" in html and "reopened this" in html
    # a maintainer hides bob's opening comment: its text is gone
    cid = _first_comment_id(alice, s, s.pr)
    r = alice.post(f"/{s.repo}/discussions/{s.pr}/comment/{cid}/hide", data={"csrf_token": token})
    assert r.status_code == 303
    html = _thread(alice, s, s.pr)
    assert "Bigger <strong>hidden</strong>" not in html and "has been hidden by alice" in html


def test_csrf_token_in_pages_is_the_sessions(setup: Setup) -> None:
    """The thread's forms carry the viewer's session token (what the CSRF check expects)."""
    s = setup
    alice, token = web_client(s.hub.url, s.hub.alice)
    assert csrf_of(_thread(alice, s, s.disc)) == token


# --- in the browser -----------------------------------------------------------------------------------------
def login(page: Any, url: str, token: str) -> None:
    """Log the browser in: a session opened through the /login token form (over HTTP), its cookie given to the
    browser (the login page itself is another area's, tested there)."""
    client, _ = web_client(url, token)
    cookie = client.cookies.get(COOKIE)
    assert cookie
    page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])


@needs_chromium
def test_browser_review_comment_and_merge(page: Any, live_server: Any) -> None:
    s = _make(live_server)
    login(page, s.hub.url, s.hub.alice)
    page.goto(f"{s.url}/discussions")
    page.click("#type-filter a[data-filter=type-pull_request]")
    page.wait_for_url("**type=pull_request**")
    rows = page.locator("#discussions li.d-row")
    assert rows.count() == 1 and "Bob's bigger model" in rows.first.inner_text()
    b.axe(page)
    b.shot(page, "community-list")
    rows.first.locator("a.d-title").click()
    page.wait_for_url(f"**/discussions/{s.pr}")
    page.click("nav.thread-tabs >> text=Files changed")
    page.wait_for_url(f"**/discussions/{s.pr}/files")
    assert page.locator("table.diff tr.add").count() >= 1
    b.axe(page)
    b.shot(page, "community-pr-files")
    page.click("nav.thread-tabs >> text=Conversation")
    page.wait_for_url(f"**/discussions/{s.pr}")
    # comment in place (htmx): the page is not reloaded, the comment appears, the form is emptied
    page.evaluate("window.__stay = 1")
    page.fill("#comment", "Looks good! The `config.json` change is **fine**.")
    page.click("#comment-form button:has-text('Comment')")
    page.locator("#thread-events .comment", has_text="Looks good!").wait_for()
    assert page.evaluate("window.__stay") == 1
    assert page.input_value("#comment") == ""
    b.axe(page)
    page.evaluate("window.scrollTo(0, 0)")
    b.shot(page, "community-thread")
    # hostile markdown: nothing of it runs (its <img> without alt is the user's content: axe ran before)
    page.fill("#comment", HOSTILE)
    page.click("#comment-form button:has-text('Comment')")
    page.locator("#thread-events .comment", has_text="Hello there").wait_for()
    page.reload()
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("window.__stay === undefined")  # (the reload was a real one)
    page.click("#merge-form button:has-text('Merge')")
    page.wait_for_url(f"**/discussions/{s.pr}")
    page.locator(".thread-meta .d-status.merged").wait_for()
    assert s.hub.api().get_discussion_details(s.repo, s.pr).status == "merged"


@needs_chromium
def test_browser_without_javascript_posts_and_redirects(browser: Any, live_server: Any) -> None:
    s = _make(live_server)
    ctx = browser.new_context(java_script_enabled=False)
    pg = ctx.new_page()
    try:
        login(pg, s.hub.url, s.hub.bob)
        pg.goto(f"{s.url}/discussions/{s.disc}")
        pg.fill("#comment", "plain form post")
        pg.click("#comment-form button[type=submit]")
        pg.wait_for_url(re.compile(r".*/discussions/\d+#comment-\d+$"))
        assert pg.locator("#thread-events", has_text="plain form post").count() == 1
    finally:
        ctx.close()


@needs_chromium
def test_browser_phone(phone: Any, setup: Setup) -> None:
    s = setup
    login(phone, s.hub.url, s.hub.alice)
    for path in ("discussions", f"discussions/{s.pr}", f"discussions/{s.pr}/files"):
        phone.goto(f"{s.url}/{path}")
        b.no_sideways_scroll(phone)
        b.axe(phone)
        if path == f"discussions/{s.pr}":
            b.shot(phone, "community-thread-phone")


def test_gated_repo_diff_needs_access(live_server: Any) -> None:
    """A PR's diff shows file bytes: past a gate only (the thread, like the card, stays readable)."""
    s = _make(live_server)
    s.hub.services.repos.update_settings(
        s.hub.services.accounts.principal_for(s.hub.services.accounts.get("alice"), "t"),
        s.hub.services.repos.get(*_key(s.repo), None),
        gated="manual",
    )
    bob, _ = web_client(s.hub.url, s.hub.bob)
    assert bob.get(f"/{s.repo}/discussions/{s.pr}").status_code == 200
    r = bob.get(f"/{s.repo}/discussions/{s.pr}/files")
    assert r.status_code == 403 and error_code(r) == "GatedRepo"
    alice, _ = web_client(s.hub.url, s.hub.alice)
    assert alice.get(f"/{s.repo}/discussions/{s.pr}/files").status_code == 200


def _key(repo: str) -> tuple[Any, str, str]:
    from modelyard.types import RepoType

    ns, name = repo.split("/")
    return RepoType.MODEL, ns, name


def test_dataset_discussions(live_server: Any) -> None:
    hub = live_server
    repo = f"alice/ds-comm-{uuid.uuid4().hex[:6]}"
    api = hub.api()
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data.csv", repo_id=repo, repo_type="dataset")
    bob, token = web_client(hub.url, hub.bob)
    r = bob.post(f"/datasets/{repo}/discussions/new", data={"csrf_token": token, "title": "About the data"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/datasets/{repo}/discussions/")
    listing = bob.get(f"/datasets/{repo}/discussions")
    assert listing.status_code == 200 and "About the data" in listing.text
    assert api.get_repo_discussions(repo, repo_type="dataset").__next__().title == "About the data"


@needs_chromium
def test_browser_new_discussion(page: Any, setup: Setup) -> None:
    s = setup
    login(page, s.hub.url, s.hub.bob)
    page.goto(f"{s.url}/discussions")
    page.click("a:has-text('New discussion')")
    page.wait_for_url("**/discussions/new")
    b.axe(page)
    page.fill("#d-title", "Bob wonders")
    page.fill("#d-description", "Is there a **bigger** one?")
    page.click("#new-discussion-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/discussions/\d+$"))
    assert page.inner_text("#thread-title").endswith("Bob wonders")
    assert page.locator(".comment-body strong", has_text="bigger").count() == 1
    # bob is the author: he may close it (and reopen it)
    page.click("#status-form button:has-text('Close')")
    page.locator(".thread-meta .d-status.closed").wait_for()
    page.click("#status-form button:has-text('Reopen')")
    page.locator(".thread-meta .d-status.open").wait_for()
