"""Webhooks through the official client (HfApi.create_webhook … delete_webhook), delivered to a real receiver.

A receiver (a tiny HTTP server on 127.0.0.1) collects what the hub POSTs; payloads must parse with
huggingface_hub's own `WebhookPayload` model and carry the webhook's secret in X-Webhook-Secret. Retries, the
delivery log and the attacker side (bob vs alice's private repos and webhooks) are checked on the wire.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import WebhookPayload
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from conftest import Hub


class Receiver:
    """Records every POST per path. `/flaky/…` answers 500 the first time, `/hold/…` waits for `release` and then
    answers 500 the first time; anything else answers 200."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[dict[str, str], Any]]] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.holding = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    seen = receiver.calls.setdefault(self.path, [])
                    seen.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                    first = len(seen) == 1
                if self.path.startswith("/hold/") and first:
                    receiver.holding.set()
                    receiver.release.wait(10)
                status = 500 if first and self.path.startswith(("/flaky/", "/hold/")) else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, kind: str = "ok") -> str:
        return f"{self.base}/{kind}/{uuid.uuid4().hex[:8]}"

    def got(self, url: str) -> list[tuple[dict[str, str], Any]]:
        with self.lock:
            return list(self.calls.get(url[len(self.base) :], []))

    def wait(self, url: str, pred: Callable[[list[Any]], bool], timeout: float = 15) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = [b for _, b in self.got(url)]
            if pred(bodies):
                return bodies
            time.sleep(0.05)
        raise AssertionError(f"receiver {url}: condition not met; got {self.got(url)}")


@pytest.fixture(scope="module")
def wh(hub_factory: Any) -> Hub:
    # fast retries and polling so the test stays quick
    return hub_factory(
        webhook_retry_base=0.2,
        webhook_poll_interval=0.05,
        webhook_max_attempts=3,
        webhook_timeout=15,
        webhook_allow_private=True,  # the receiver is on 127.0.0.1
    )


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.release.set()
    r.server.shutdown()


def _name() -> str:
    return f"wh-{uuid.uuid4().hex[:8]}"


def _settle(wh: Hub, seconds: float = 0.8) -> None:
    """Let the worker run several rounds (poll 0.05 s) so that anything queued would have been sent."""
    time.sleep(seconds)


def _deliveries(wh: Hub, webhook_id: str, token: str) -> httpx.Response:
    return httpx.get(f"{wh.url}/api/settings/webhooks/{webhook_id}/deliveries", headers=wh.auth(token))


def _scopes(bodies: list[Any]) -> list[tuple[str, str]]:
    return [(b["event"]["scope"], b["event"]["action"]) for b in bodies]


# --- management through HfApi ------------------------------------------------------------------------------
def test_manage_webhooks_with_the_client(wh: Hub, rx: Receiver) -> None:
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    url = rx.url()
    w = api.create_webhook(url=url, watched=[{"type": "model", "name": repo}], secret="s3cret")
    assert w.url == url and w.secret == "s3cret" and not w.disabled and w.job is None
    assert w.domains == ["repo", "discussion"]
    assert [(i.type, i.name) for i in w.watched] == [("model", repo)]
    assert api.get_webhook(w.id) == w
    assert w.id in [x.id for x in api.list_webhooks()]

    url2 = rx.url()
    up = api.update_webhook(w.id, url=url2, domains=["repo"], secret="other")
    assert (up.url, up.domains, up.secret) == (url2, ["repo"], "other")
    assert [(i.type, i.name) for i in up.watched] == [("model", repo)]  # `watched=[]` (the default) keeps it
    up = api.update_webhook(w.id, watched=[{"type": "user", "name": "alice"}])
    assert [(i.type, i.name) for i in up.watched] == [("user", "alice")]
    assert api.disable_webhook(w.id).disabled is True
    assert api.enable_webhook(w.id).disabled is False
    api.delete_webhook(w.id)
    with pytest.raises(HfHubHTTPError) as e:
        api.get_webhook(w.id)
    assert e.value.response.status_code == 404
    assert w.id not in [x.id for x in api.list_webhooks()]


# --- deliveries -------------------------------------------------------------------------------------------
def test_upload_delivers_a_signed_hub_payload(wh: Hub, rx: Receiver) -> None:
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    url = rx.url()
    w = api.create_webhook(url=url, watched=[{"type": "model", "name": repo}], domains=["repo"], secret="k3y")
    info = api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo)
    api.create_branch(repo, branch="dev")
    api.create_tag(repo, tag="v1")

    bodies = rx.wait(url, lambda b: len(b) >= 3)
    headers = [h for h, _ in rx.got(url)]
    assert all(h.get("x-webhook-secret") == "k3y" for h in headers)
    assert all(h.get("content-type") == "application/json" for h in headers)
    parsed = [WebhookPayload.model_validate(b) for b in bodies]  # arrival order is not guaranteed
    assert all((p.event.scope, p.event.action) == ("repo.content", "update") for p in parsed)
    assert all(p.webhook.id == w.id and p.webhook.version == 3 for p in parsed)
    by_ref = {p.updatedRefs[0].ref: p for p in parsed if p.updatedRefs and len(p.updatedRefs) == 1}
    assert sorted(by_ref) == ["refs/heads/dev", "refs/heads/main", "refs/tags/v1"]
    push = by_ref["refs/heads/main"]
    assert push.repo.name == repo and push.repo.type == "model" and push.repo.private is False
    assert push.repo.head_sha == info.oid
    assert push.updatedRefs is not None and push.updatedRefs[0].newSha == info.oid
    assert push.updatedRefs[0].oldSha not in (None, info.oid)
    for created in (by_ref["refs/heads/dev"], by_ref["refs/tags/v1"]):
        assert created.updatedRefs is not None and created.updatedRefs[0].oldSha is None
        assert created.updatedRefs[0].newSha == info.oid


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_push_delivers_one_payload_naming_each_moved_ref(wh: Hub, rx: Receiver, tmp_path: Path) -> None:
    """A `git push` of main and a new branch is one change: one repo.content event with both refs (docs/git.md)."""
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    url = rx.url()
    api.create_webhook(url=url, watched=[{"type": "model", "name": repo}], domains=["repo"])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Alice",
        "GIT_AUTHOR_EMAIL": "alice@example.org",
        "GIT_COMMITTER_NAME": "Alice",
        "GIT_COMMITTER_EMAIL": "alice@example.org",
    }
    remote = wh.url.replace("http://", f"http://alice:{wh.alice}@") + f"/{repo}"
    work = tmp_path / "work"

    def git(*args: str) -> str:
        p = subprocess.run(
            ["git", *args],
            cwd=work if work.exists() else tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    git("clone", "-q", remote, str(work))
    (work / "notes.txt").write_text("pushed with git\n")
    git("add", "notes.txt")
    git("commit", "-q", "-m", "notes")
    sha = git("rev-parse", "HEAD")
    git("push", "-q", "origin", "HEAD:main", "HEAD:refs/heads/feature")
    bodies = rx.wait(url, lambda b: len(b) >= 1)
    _settle(wh)
    bodies = [b for _, b in rx.got(url)]
    assert len(bodies) == 1, _scopes(bodies)
    payload = WebhookPayload.model_validate(bodies[0])
    assert (payload.event.scope, payload.event.action) == ("repo.content", "update")
    moved = {r.ref: r for r in payload.updatedRefs or []}
    assert sorted(moved) == ["refs/heads/feature", "refs/heads/main"]
    assert moved["refs/heads/main"].newSha == sha and moved["refs/heads/feature"].oldSha is None
    assert payload.repo.head_sha == sha


def test_namespace_watch_sees_repo_lifecycle(wh: Hub, rx: Receiver) -> None:
    api = wh.api()
    url = rx.url()
    api.create_webhook(url=url, watched=[{"type": "user", "name": "alice"}], domains=["repo"])
    repo = f"alice/{_name()}"
    api.create_repo(repo, repo_type="dataset")
    api.update_repo_settings(repo, repo_type="dataset", private=True)
    moved = f"alice/{_name()}"
    api.move_repo(repo, moved, repo_type="dataset")
    api.delete_repo(moved, repo_type="dataset")
    bodies = rx.wait(url, lambda b: ("repo", "delete") in _scopes(b))
    mine = {
        (p.event.scope, p.event.action): p
        for p in (WebhookPayload.model_validate(b) for b in bodies if b["repo"]["name"] in (repo, moved))
    }
    assert sorted(mine) == [
        ("repo", "create"),
        ("repo", "delete"),
        ("repo", "move"),
        ("repo.config", "update"),
    ]
    assert mine[("repo", "create")].repo.type == "dataset"
    assert mine[("repo.config", "update")].repo.private is True
    move = mine[("repo", "move")]
    assert move.repo.name == repo and move.movedTo is not None and move.movedTo.name == moved
    assert mine[("repo", "delete")].repo.name == moved


def test_discussion_events(wh: Hub, rx: Receiver) -> None:
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    url = rx.url()
    api.create_webhook(url=url, watched=[{"type": "model", "name": repo}], domains=["discussion"], secret="d")
    d = api.create_discussion(repo, title="Hello there", description="first post")
    api.comment_discussion(repo, d.num, "a comment")
    api.change_discussion_status(repo, d.num, "closed")
    bodies = rx.wait(url, lambda b: len(b) >= 3)
    parsed = [WebhookPayload.model_validate(b) for b in bodies]
    ev = {(p.event.scope, p.event.action): p for p in parsed}
    assert sorted(ev) == [
        ("discussion", "create"),
        ("discussion", "update"),
        ("discussion.comment", "create"),
    ]
    assert all(p.discussion is not None and p.discussion.num == d.num for p in parsed)
    opened, said, closed = (
        ev[("discussion", "create")],
        ev[("discussion.comment", "create")],
        ev[("discussion", "update")],
    )
    assert opened.discussion is not None and opened.discussion.title == "Hello there"
    assert not opened.discussion.isPullRequest
    assert said.comment is not None and said.comment.content == "a comment" and said.comment.hidden is False
    assert closed.discussion is not None and closed.discussion.status == "closed"
    assert all(p.updatedRefs is None for p in parsed)  # the "repo" domain is not watched

    # a pull request: opened by an upload, pushed to refs/pr/N, merged
    url2 = rx.url()
    api.create_webhook(url=url2, watched=[{"type": "model", "name": repo}])
    pr = api.upload_file(path_or_fileobj=b"x", path_in_repo="pr.txt", repo_id=repo, create_pr=True)
    assert pr.pr_num is not None
    api.merge_pull_request(repo, pr.pr_num)
    bodies = rx.wait(url2, lambda b: any(x.get("discussion", {}).get("status") == "merged" for x in b))
    parsed = [WebhookPayload.model_validate(b) for b in bodies]
    opened = next(p for p in parsed if p.event.scope == "discussion" and p.event.action == "create")
    assert opened.discussion is not None and opened.discussion.isPullRequest
    pushed = [p.updatedRefs[0].ref for p in parsed if p.updatedRefs]
    assert f"refs/pr/{pr.pr_num}" in pushed and "refs/heads/main" in pushed
    merged = next(p.discussion for p in parsed if p.discussion and p.discussion.status == "merged")
    assert merged.changes is not None and merged.changes.base == "refs/heads/main"
    assert merged.changes.mergeCommitId


def test_failed_delivery_is_retried_and_logged(wh: Hub, rx: Receiver) -> None:
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    url = rx.url("flaky")
    w = api.create_webhook(url=url, watched=[{"type": "model", "name": repo}], domains=["repo"])
    api.upload_file(path_or_fileobj=b"retry me", path_in_repo="r.txt", repo_id=repo)
    bodies = rx.wait(url, lambda b: len(b) >= 2)
    assert bodies[0] == bodies[1]  # the same payload, sent again
    deadline = time.monotonic() + 10
    while True:
        log = _deliveries(wh, w.id, wh.alice).json()
        if (log and log[0]["status"] == "delivered") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(log) == 1
    entry = log[0]
    assert entry["status"] == "delivered" and entry["event"] == {"action": "update", "scope": "repo.content"}
    assert [a["statusCode"] for a in entry["attempts"]] == [500, 200]
    assert entry["attempts"][0]["error"] == "HTTP 500" and entry["attempts"][1]["error"] is None


def test_always_failing_receiver_gives_up(wh: Hub) -> None:
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    w = api.create_webhook(
        url="http://127.0.0.1:9/nothing-listens", watched=[{"type": "model", "name": repo}]
    )
    api.upload_file(path_or_fileobj=b"z", path_in_repo="z.txt", repo_id=repo)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = _deliveries(wh, w.id, wh.alice).json()
        if log and log[0]["status"] == "failed":
            break
        time.sleep(0.05)
    assert log[0]["status"] == "failed" and len(log[0]["attempts"]) == 3  # webhook_max_attempts
    assert all(a["statusCode"] is None and a["error"] for a in log[0]["attempts"])


def test_disabled_webhook_delivers_nothing(wh: Hub, rx: Receiver) -> None:
    api = wh.api()
    repo = f"alice/{_name()}"
    api.create_repo(repo)
    url = rx.url()
    w = api.create_webhook(url=url, watched=[{"type": "model", "name": repo}])
    api.disable_webhook(w.id)
    api.upload_file(path_or_fileobj=b"quiet", path_in_repo="q.txt", repo_id=repo)
    api.create_discussion(repo, title="quiet")
    _settle(wh)
    assert rx.got(url) == []
    assert _deliveries(wh, w.id, wh.alice).json() == []
    api.enable_webhook(w.id)
    api.upload_file(path_or_fileobj=b"loud", path_in_repo="l.txt", repo_id=repo)
    assert len(rx.wait(url, lambda b: len(b) >= 1)) == 1


# --- attacker side ----------------------------------------------------------------------------------------
def test_cannot_watch_a_private_repo_one_cannot_read(wh: Hub, rx: Receiver) -> None:
    alice, bob = wh.api(), wh.api(wh.bob)
    private = f"alice/{_name()}"
    alice.create_repo(private, private=True)
    for name in (private, f"alice/{_name()}"):  # private and missing: the same 404
        with pytest.raises(RepositoryNotFoundError):
            bob.create_webhook(url=rx.url(), watched=[{"type": "model", "name": name}])
    r = httpx.post(
        f"{wh.url}/api/settings/webhooks",
        json={"url": rx.url(), "watched": [{"type": "model", "name": private}]},
        headers=wh.auth(wh.bob),
    )
    assert r.status_code == 404 and private not in r.text
    # nor sneak it in through an update
    mine = bob.create_webhook(url=rx.url(), watched=[{"type": "user", "name": "bob"}])
    with pytest.raises(RepositoryNotFoundError):
        bob.update_webhook(mine.id, watched=[{"type": "model", "name": private}])
    assert [(i.type, i.name) for i in bob.get_webhook(mine.id).watched] == [("user", "bob")]


def test_namespace_watch_skips_private_repos_of_others(wh: Hub, rx: Receiver) -> None:
    alice, bob = wh.api(), wh.api(wh.bob)
    url = rx.url()
    bob.create_webhook(url=url, watched=[{"type": "user", "name": "alice"}, {"type": "org", "name": wh.org}])
    private, public = f"alice/{_name()}", f"alice/{_name()}"
    org_private = f"{wh.org}/{_name()}"
    alice.create_repo(private, private=True)
    alice.create_repo(org_private, private=True)
    alice.create_repo(public)
    for repo in (private, org_private, public):
        alice.upload_file(path_or_fileobj=b"secret stuff", path_in_repo="s.txt", repo_id=repo)
        d = alice.create_discussion(repo, title="internal plans")
        alice.comment_discussion(repo, d.num, "confidential")
    bodies = rx.wait(url, lambda b: ("discussion.comment", "create") in _scopes(b))
    _settle(wh)
    bodies = [b for _, b in rx.got(url)]
    assert {b["repo"]["name"] for b in bodies} == {public}
    assert private.split("/")[1] not in json.dumps(bodies) and org_private.split("/")[1] not in json.dumps(
        bodies
    )


def test_no_delivery_after_the_owner_loses_access(wh: Hub, rx: Receiver) -> None:
    alice, bob = wh.api(), wh.api(wh.bob)
    repo = f"alice/{_name()}"
    alice.create_repo(repo)
    url = rx.url()
    bob.create_webhook(url=url, watched=[{"type": "model", "name": repo}])
    alice.upload_file(path_or_fileobj=b"public", path_in_repo="p.txt", repo_id=repo)
    rx.wait(url, lambda b: len(b) == 1)
    alice.update_repo_settings(repo, private=True)
    alice.upload_file(path_or_fileobj=b"now private", path_in_repo="p.txt", repo_id=repo)
    alice.create_discussion(repo, title="private talk")
    _settle(wh)
    assert len(rx.got(url)) == 1  # neither the visibility change, nor the push, nor the discussion


def test_access_is_checked_again_at_delivery_time(wh: Hub, rx: Receiver) -> None:
    """A delivery queued while the repo was public is not retried once it turned private."""
    alice, bob = wh.api(), wh.api(wh.bob)
    repo = f"alice/{_name()}"
    alice.create_repo(repo)
    url = rx.url("hold")
    w = bob.create_webhook(url=url, watched=[{"type": "model", "name": repo}], domains=["repo"])
    rx.holding.clear()
    rx.release.clear()
    alice.upload_file(path_or_fileobj=b"v1", path_in_repo="p.txt", repo_id=repo)
    assert rx.holding.wait(10)  # the first attempt is in flight
    alice.update_repo_settings(repo, private=True)
    rx.release.set()  # ... and fails with 500: the retry must not be sent
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = _deliveries(wh, w.id, wh.bob).json()
        if log and log[0]["status"] != "pending":
            break
        time.sleep(0.05)
    assert log[0]["status"] == "skipped"
    assert [a["statusCode"] for a in log[0]["attempts"]] == [500, None]
    assert "cannot read" in log[0]["attempts"][1]["error"]
    _settle(wh, 0.5)
    assert len(rx.got(url)) == 1


def test_others_webhooks_are_invisible(wh: Hub, rx: Receiver) -> None:
    alice, bob = wh.api(), wh.api(wh.bob)
    w = alice.create_webhook(url=rx.url(), watched=[{"type": "user", "name": "alice"}], secret="alice-only")
    assert w.id not in [x.id for x in bob.list_webhooks()]
    for call in (
        lambda: bob.get_webhook(w.id),
        lambda: bob.update_webhook(w.id, url=rx.url()),
        lambda: bob.disable_webhook(w.id),
        lambda: bob.enable_webhook(w.id),
        lambda: bob.delete_webhook(w.id),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 404
        assert "alice-only" not in e.value.response.text
    r = _deliveries(wh, w.id, wh.bob)
    assert r.status_code == 404 and r.headers["x-error-code"] == "NotFound"
    assert alice.get_webhook(w.id) == w  # untouched
    # no token: 401; a read token may look but not change
    assert httpx.get(f"{wh.url}/api/settings/webhooks").status_code == 401
    assert httpx.get(f"{wh.url}/api/settings/webhooks/{w.id}").status_code == 401
    read = wh.api(wh.alice_read)
    assert w.id in [x.id for x in read.list_webhooks()]
    with pytest.raises(HfHubHTTPError) as e:
        read.create_webhook(url=rx.url(), watched=[{"type": "user", "name": "alice"}])
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        read.disable_webhook(w.id)
    assert e.value.response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"watched": [{"type": "user", "name": "alice"}]},  # no url
        {"url": "ftp://127.0.0.1/x", "watched": [{"type": "user", "name": "alice"}]},
        {"url": "http://127.0.0.1/x", "watched": []},
        {"url": "http://127.0.0.1/x", "watched": "alice"},
        {"url": "http://127.0.0.1/x", "watched": [{"type": "bucket", "name": "alice/b"}]},
        {"url": "http://127.0.0.1/x", "watched": [{"type": "galaxy", "name": "alice"}]},
        {
            "url": "http://127.0.0.1/x",
            "watched": [{"type": "user", "name": "alice"}],
            "domains": ["everything"],
        },
        {"url": "http://127.0.0.1/x", "watched": [{"type": "user", "name": "alice"}], "secret": 7},
        {"jobSourceId": "abc", "watched": [{"type": "user", "name": "alice"}]},
        {"url": "http://[::1/x", "watched": [{"type": "user", "name": "alice"}]},
        {
            "url": "http://127.0.0.1/x",
            "watched": [{"type": "user", "name": "alice"}],
            "secret": "sé\r\nX-Evil: 1",
        },
        [1, 2],
    ],
)
def test_bad_input_is_a_clear_400(wh: Hub, body: Any) -> None:
    r = httpx.post(f"{wh.url}/api/settings/webhooks", json=body, headers=wh.auth())
    assert r.status_code == 400, r.text
    assert r.headers["x-error-code"] == "BadRequest" and r.headers["x-error-message"]


def test_unknown_namespace_is_404(wh: Hub) -> None:
    r = httpx.post(
        f"{wh.url}/api/settings/webhooks",
        json={"url": "http://127.0.0.1/x", "watched": [{"type": "org", "name": "alice"}]},  # alice is a user
        headers=wh.auth(),
    )
    assert r.status_code == 404


def test_private_targets_are_refused_by_default(hub_factory: Any, rx: Receiver) -> None:
    """SSRF: with the default settings a webhook cannot reach loopback, private or link-local addresses."""
    hub = hub_factory(webhook_retry_base=0.05, webhook_poll_interval=0.05, webhook_max_attempts=2)
    api = hub.api()
    for url in (
        rx.url(),  # 127.0.0.1
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://[::1]:8080/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://localhost:9/hook",
    ):
        with pytest.raises(HfHubHTTPError) as e:
            api.create_webhook(url=url, watched=[{"type": "user", "name": "alice"}])
        assert (
            e.value.response.status_code == 400
            and "non-public" in e.value.response.headers["x-error-message"]
        )
    # a name that resolves to loopback passes creation but is refused before each attempt
    target = rx.url()
    sneaky = target.replace("127.0.0.1", "0x7f.1")  # inet_aton form of 127.0.0.1: a "name" to the URL parser
    w = api.create_webhook(url=sneaky, watched=[{"type": "user", "name": "alice"}], domains=["repo"])
    api.create_repo(f"alice/{_name()}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = _deliveries(hub, w.id, hub.alice).json()
        if log and log[0]["status"] == "failed":
            break
        time.sleep(0.05)
    assert log[0]["status"] == "failed"
    assert all("non-public" in a["error"] for a in log[0]["attempts"])
    assert rx.got(target) == []
