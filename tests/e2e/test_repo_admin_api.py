"""Issue 10's repo administration calls through huggingface_hub 2.4 (and `hf` where named): list_lfs_files,
list_user_repos (`hf repos ls`), edit/hide_discussion_comment, duplicate_repo (`hf repos duplicate`) and server-side
copies between repos (copy_files / CommitOperationCopy, `hf repos cp`). Attacker side for each: bob, a read token,
no token, private repos; a server-side copy needs read on the source and push on the destination."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from _xet_client import hf_client, xet_upload

BLOB = bytes(range(256)) * 40  # binary: uploaded as LFS


def _status(e: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    return e.value.response.status_code


def hf(hub: Any, token: str, tmp: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_IMPLICIT_TOKEN"}
    env.update(HF_TOKEN=token, HF_ENDPOINT=hub.url, HF_HOME=str(tmp / "hf-home"))
    out = subprocess.run(
        [sys.executable, "-m", "huggingface_hub.cli.hf", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def xet_client(hub: Any, tmp: Path, token: str, *args: str) -> Any:
    """One huggingface_hub operation with the default client (hf_xet on) in a fresh process."""
    return hf_client(hub, tmp / f"xet-cache-{token[-6:]}", token, True, *args)


# --- list_lfs_files ----------------------------------------------------------------------------------------
def test_list_lfs_files_has_filenames_for_maintainers_only(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name)
    api.upload_file(path_or_fileobj=BLOB, path_in_repo="weights/model.bin", repo_id=f"alice/{repo_name}")
    files = list(api.list_lfs_files(f"alice/{repo_name}"))
    assert [(f.filename, f.size, f.file_oid) for f in files] == [
        ("weights/model.bin", len(BLOB), hashlib.sha256(BLOB).hexdigest())
    ]
    assert files[0].pushed_at is not None
    for token, status in ((hub.bob, 403), (hub.alice_read, 403), (False, 401)):
        with pytest.raises(HfHubHTTPError) as e:
            list(hub.api(token).list_lfs_files(f"alice/{repo_name}"))
        assert _status(e) == status
    api.update_repo_settings(f"alice/{repo_name}", private=True)
    with pytest.raises(RepositoryNotFoundError):
        list(hub.api(hub.bob).list_lfs_files(f"alice/{repo_name}"))


# --- list_user_repos / hf repos ls -------------------------------------------------------------------------
def test_list_user_repos(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name, private=True)
    api.upload_file(path_or_fileobj=BLOB, path_in_repo="w.bin", repo_id=f"alice/{repo_name}")
    api.create_repo(repo_name, repo_type="dataset")
    api.create_repo(f"acme/{repo_name}")
    api.create_bucket(f"alice/{repo_name}", private=True)
    mine = {(r.id, r.type): r for r in api.list_user_repos()}
    assert mine[(f"alice/{repo_name}", "bucket")].visibility == "private"
    priv = mine[(f"alice/{repo_name}", "model")]
    assert priv.visibility == "private" and priv.storage >= len(BLOB) and 0 <= priv.storage_percent <= 100
    # shares of the namespace's storage (alice's session namespace holds large repos, so one small repo may round to 0)
    assert abs(sum(r.storage_percent for r in mine.values()) - 100) < 1
    assert mine[(f"alice/{repo_name}", "dataset")].visibility == "public"
    assert all(rid.startswith("alice/") for rid, _ in mine)
    org = {r.id for r in api.list_user_repos(namespace="acme")}
    assert f"acme/{repo_name}" in org
    assert f"alice/{repo_name}" in {r.id for r in hub.api(hub.alice_read).list_user_repos()}
    out = json.loads(hf(hub, hub.alice, tmp_path, "repos", "ls", "--format", "json", "--limit", "0"))
    assert f"alice/{repo_name}" in {r["id"] for r in out}
    # attacker: bob sees only his own, never alice's private names; not acme's (not a member); anonymous: 401
    bob_ids = {r.id for r in hub.api(hub.bob).list_user_repos()}
    assert not any(i.startswith(("alice/", "acme/")) for i in bob_ids)
    with pytest.raises(HfHubHTTPError) as e:
        list(hub.api(hub.bob).list_user_repos(namespace="acme"))
    assert _status(e) == 403 and repo_name not in e.value.response.text
    with pytest.raises(HfHubHTTPError) as e:
        list(hub.api(False).list_user_repos())
    assert _status(e) == 401
    r = httpx.get(f"{hub.url}/api/organizations/alice/settings/repositories", headers=hub.auth(hub.bob))
    assert r.status_code == 403 and repo_name not in r.text


# --- edit / hide discussion comments -----------------------------------------------------------------------
def test_edit_and_hide_comments(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api, bob = hub.api(), hub.api(hub.bob)
    repo = f"alice/{repo_name}"
    api.create_repo(repo_name)
    d = bob.create_discussion(repo, "question", description="first text")
    first = bob.get_discussion_details(repo, d.num).events[0]
    c = bob.comment_discussion(repo, d.num, "bob's reply")
    edited = bob.edit_discussion_comment(repo, d.num, c.id, "bob's better reply")
    assert edited.edited is True and edited.content == "bob's better reply" and edited.author == "bob"
    details = api.get_discussion_details(repo, d.num)
    assert [e.content for e in details.events if e.type == "comment"] == ["first text", "bob's better reply"]
    # only the author edits; only maintainers (write access, write token) hide
    with pytest.raises(HfHubHTTPError) as e:
        api.edit_discussion_comment(repo, d.num, c.id, "alice rewrote it")
    assert _status(e) == 403
    for token, status in ((hub.bob, 403), (hub.alice_read, 403), (False, 401)):
        with pytest.raises(HfHubHTTPError) as e:
            hub.api(token).hide_discussion_comment(repo, d.num, first.id)
        assert _status(e) == status
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(False).edit_discussion_comment(repo, d.num, c.id, "anon")
    assert _status(e) == 401
    with pytest.warns(UserWarning):
        hidden = api.hide_discussion_comment(repo, d.num, c.id)
    assert hidden.hidden is True and hidden.content == ""
    # hidden content is never returned again, to anyone; and it cannot be edited back
    raw = httpx.get(f"{hub.url}/api/models/{repo}/discussions/{d.num}").text
    raw += httpx.get(f"{hub.url}/api/models/{repo}/discussions/{d.num}", headers=hub.auth()).text
    assert "better reply" not in raw
    assert [
        e.hidden for e in hub.api(False).get_discussion_details(repo, d.num).events if e.type == "comment"
    ] == [
        False,
        True,
    ]
    with pytest.raises(HfHubHTTPError) as e:
        bob.edit_discussion_comment(repo, d.num, c.id, "resurrected")
    assert _status(e) == 403
    # unknown comment ids, comments of another discussion: 404
    other = bob.create_discussion(repo, "other")
    with pytest.raises(HfHubHTTPError) as e:
        bob.edit_discussion_comment(repo, other.num, c.id, "x")
    assert _status(e) == 404
    for bad in ("999999", "abc", "1" * 30):
        r = httpx.post(
            f"{hub.url}/api/models/{repo}/discussions/{d.num}/comment/{bad}/edit",
            json={"content": "x"},
            headers=hub.auth(hub.bob),
        )
        assert r.status_code == 404 and r.headers["x-error-code"]
    # a private repo: bob's comment ids are worthless there
    api.update_repo_settings(repo, private=True)
    with pytest.raises(RepositoryNotFoundError):
        bob.edit_discussion_comment(repo, other.num, c.id, "x")


# --- duplicate_repo / hf repos duplicate -------------------------------------------------------------------
def test_duplicate_repo(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    api = hub.api()
    src = f"alice/{repo_name}"
    api.create_repo(repo_name, private=True)
    api.upload_file(path_or_fileobj=BLOB, path_in_repo="w.bin", repo_id=src)
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# hi\n", path_in_repo="README.md", repo_id=src)
    api.create_branch(src, branch="dev")
    api.create_tag(src, tag="v1")
    url = api.duplicate_repo(src, f"alice/{repo_name}-copy")
    assert url.repo_id == f"alice/{repo_name}-copy" and url.files_copy_pending is False
    dst = f"alice/{repo_name}-copy"
    info = api.model_info(dst, files_metadata=True)
    assert info.private is True and info.sha == api.model_info(src).sha  # same history, same ids
    assert [c.commit_id for c in api.list_repo_commits(dst)] == [
        c.commit_id for c in api.list_repo_commits(src)
    ]
    refs = api.list_repo_refs(dst)
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v1"]
    assert "license:mit" in (info.tags or [])
    path = hf_hub_download(dst, "w.bin", token=hub.alice, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == BLOB
    assert [f.filename for f in api.list_lfs_files(dst)] == ["w.bin"]
    # public copy, into the org; exist_ok
    pub = api.duplicate_repo(src, f"acme/{repo_name}", private=False)
    assert api.model_info(pub.repo_id).private is False
    with pytest.raises(HfHubHTTPError) as e:
        api.duplicate_repo(src, f"acme/{repo_name}")
    assert _status(e) == 409
    api.duplicate_repo(src, f"acme/{repo_name}", exist_ok=True)
    # the CLI
    hf(hub, hub.alice, tmp_path, "repos", "duplicate", src, f"{repo_name}-cli")
    assert api.model_info(f"alice/{repo_name}-cli").sha == info.sha
    # attacker: bob cannot duplicate alice's private repo (404, as if missing) ...
    bob = hub.api(hub.bob)
    with pytest.raises(RepositoryNotFoundError):
        bob.duplicate_repo(src, f"bob/{repo_name}")
    # ... may duplicate a public one into his namespace, and reads the bytes there ...
    bob.duplicate_repo(pub.repo_id, f"bob/{repo_name}")
    got = hf_hub_download(f"bob/{repo_name}", "w.bin", token=hub.bob, cache_dir=tmp_path / "b")
    assert Path(got).read_bytes() == BLOB
    # ... but not into a namespace he is not in; a read token or no token creates nothing
    with pytest.raises(HfHubHTTPError) as e:
        bob.duplicate_repo(pub.repo_id, f"acme/{repo_name}-bob")
    assert _status(e) == 403
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(hub.alice_read).duplicate_repo(src, f"alice/{repo_name}-ro")
    assert _status(e) == 403
    r = httpx.post(
        f"{hub.url}/api/models/{pub.repo_id}/duplicate", json={"repository": f"bob/{repo_name}-anon"}
    )
    assert r.status_code == 401
    for body in ({}, {"repository": "no-slash"}, {"repository": 5}, {"repository": "a/b", "private": "yes"}):
        r = httpx.post(f"{hub.url}/api/models/{src}/duplicate", json=body, headers=hub.auth())
        assert r.status_code in (400, 422), (body, r.status_code)


# --- server-side copy between repos (copy_files, CommitOperationCopy, hf repos cp) ---------------------------
def test_cross_repo_copy(live_server: Any, repo_name: str, tmp_path: Path) -> None:
    hub = live_server
    api, bob = hub.api(), hub.api(hub.bob)
    src = f"alice/{repo_name}"
    api.create_repo(repo_name)
    data = os.urandom(300_000)
    xet_upload(hub, tmp_path, src, data, "big/w.bin")
    api.upload_file(path_or_fileobj=b"plain text", path_in_repo="notes.txt", repo_id=src)
    # alice copies into her org repo; bob copies into his own repo
    api.create_repo(f"acme/{repo_name}")
    api.create_commit(
        f"acme/{repo_name}",
        [
            CommitOperationCopy("big/w.bin", "w.bin", src_repo_id=src, src_repo_type="model"),
            CommitOperationCopy("notes.txt", "notes.txt", src_repo_id=src, src_repo_type="model"),
        ],
        commit_message="copy",
    )
    got = hf_hub_download(f"acme/{repo_name}", "w.bin", token=hub.alice, cache_dir=tmp_path / "a")
    assert Path(got).read_bytes() == data
    bob.create_repo(repo_name)
    bob.copy_files(f"hf://{src}/big/w.bin", f"hf://bob/{repo_name}/copied.bin")
    assert (
        Path(hf_hub_download(f"bob/{repo_name}", "copied.bin", cache_dir=tmp_path / "b")).read_bytes() == data
    )
    # the default client downloads the copy through Xet with bob's repo-bound read token: the repo holds it
    got_xet = xet_client(hub, tmp_path, hub.bob, "download", f"bob/{repo_name}", "copied.bin")
    assert got_xet == {"sha256": hashlib.sha256(data).hexdigest(), "xet_disabled": False}
    bob.duplicate_repo(src, f"bob/{repo_name}-dup")  # a duplicate holds the Xet-uploaded objects too
    got_dup = xet_client(hub, tmp_path, hub.bob, "download", f"bob/{repo_name}-dup", "big/w.bin")
    assert got_dup["sha256"] == hashlib.sha256(data).hexdigest()
    hf(hub, hub.bob, tmp_path, "repos", "cp", f"hf://{src}/big/w.bin", f"hf://bob/{repo_name}/cli.bin")
    assert "cli.bin" in bob.list_repo_files(f"bob/{repo_name}")

    sha = hashlib.sha256(data).hexdigest()
    xet_hash = next(iter(api.get_paths_info(src, ["big/w.bin"]))).xet_hash
    files = [{"sha256": sha, "xetHash": xet_hash, "filename": "w.bin"}]

    def dup(
        source: str, target: str, token: str | None, objs: list[dict[str, Any]] = files
    ) -> httpx.Response:
        body = {"target": {"type": "model", "name": target}, "files": objs}
        return httpx.post(
            f"{hub.url}/api/models/{source}/lfs-files/duplicate",
            json=body,
            headers=hub.auth(token) if token else {},
        )

    # attacker: a private source is 404 for bob (copy_files and the raw call alike)
    api.update_repo_settings(src, private=True)
    with pytest.raises(RepositoryNotFoundError):
        bob.copy_files(f"hf://{src}/big/w.bin", f"hf://bob/{repo_name}/again.bin")
    assert dup(src, f"bob/{repo_name}", hub.bob).status_code == 404
    # bob cannot launder an object of a private repo through a public repo that does not hold it
    api.create_repo(repo_name + "-pub")
    r = dup(f"alice/{repo_name}-pub", f"bob/{repo_name}-2", hub.bob)
    assert r.status_code == 404  # bob has no such destination yet
    bob.create_repo(repo_name + "-2")
    r = dup(f"alice/{repo_name}-pub", f"bob/{repo_name}-2", hub.bob)
    assert r.status_code == 200 and [f["sha256"] for f in r.json()["failed"]] == [sha]
    r = httpx.post(
        f"{hub.url}/api/models/bob/{repo_name}-2/commit/main",
        content="\n".join(
            json.dumps(x)
            for x in (
                {"key": "header", "value": {"summary": "steal", "description": ""}},
                {
                    "key": "lfsFile",
                    "value": {"path": "stolen.bin", "algo": "sha256", "oid": sha, "size": len(data)},
                },
            )
        ),
        headers={**hub.auth(hub.bob), "content-type": "application/x-ndjson"},
    )
    assert r.status_code in (400, 403, 404, 422)
    # destination rules: a read token, no token, a private destination bob cannot read
    api.update_repo_settings(src, private=False)
    assert dup(src, f"bob/{repo_name}-2", hub.alice_read).status_code == 403
    assert dup(src, f"bob/{repo_name}-2", None).status_code == 401
    api.create_repo(repo_name + "-secret", private=True)
    assert dup(src, f"alice/{repo_name}-secret", hub.bob).status_code == 404
    # bad input: clear errors, never a 500
    assert dup(src, "no-slash", hub.bob).status_code in (400, 422)
    r = dup(src, f"bob/{repo_name}-2", hub.bob, [{"sha256": "zz"}, {"sha256": sha, "xetHash": "0" * 64}, "x"])
    assert r.status_code == 200 and len(r.json()["failed"]) == 3
    r = dup(src, f"bob/{repo_name}-2", hub.bob, [{"sha256": sha}] * 501)
    assert r.status_code == 400
    # an object uploaded to a public repo but never committed is not readable: readers cannot copy it out
    secret = os.urandom(5000)
    api.preupload_lfs_files(src, [CommitOperationAdd("unpublished.bin", secret)])
    ssha = hashlib.sha256(secret).hexdigest()
    r = dup(src, f"bob/{repo_name}-2", hub.bob, [{"sha256": ssha}])
    assert [f["sha256"] for f in r.json()["failed"]] == [ssha]
    assert dup(src, f"acme/{repo_name}", hub.alice, [{"sha256": ssha}]).json() == {"failed": []}
    # and with everything right, bob's repo holds the object (he can read the source)
    assert dup(src, f"bob/{repo_name}-2", hub.bob).json() == {"failed": []}


def test_comment_edit_and_hide_reach_webhooks_without_the_hidden_text(hub_factory: Any) -> None:
    from huggingface_hub import WebhookPayload

    from e2e.test_webhooks import Receiver  # the receiver of the webhook tests (tests/ is on sys.path)

    hub = hub_factory(
        webhook_retry_base=0.2,
        webhook_poll_interval=0.05,
        webhook_max_attempts=3,
        webhook_timeout=15,
        webhook_allow_private=True,  # the receiver is on 127.0.0.1
    )
    rx = Receiver()
    try:
        api, bob = hub.api(), hub.api(hub.bob)
        api.create_repo("commented")
        url = rx.url()
        api.create_webhook(
            url=url, watched=[{"type": "model", "name": "alice/commented"}], domains=["discussion"]
        )
        d = bob.create_discussion("alice/commented", "question")
        c = bob.comment_discussion("alice/commented", d.num, "first words")
        bob.edit_discussion_comment("alice/commented", d.num, c.id, "edited words")
        with pytest.warns(UserWarning):
            api.hide_discussion_comment("alice/commented", d.num, c.id)

        def updates(bodies: list[Any]) -> list[Any]:
            return [
                b
                for b in bodies
                if (b["event"]["scope"], b["event"]["action"]) == ("discussion.comment", "update")
            ]

        got = updates(rx.wait(url, lambda bodies: len(updates(bodies)) >= 2))
        # deliveries run concurrently, so the two may arrive in either order
        edits = [b for b in got if b["comment"]["hidden"] is False]
        hides = [b for b in got if b["comment"]["hidden"] is True]
        assert len(edits) == 1 and len(hides) == 1, got
        edit, hide = edits[0], hides[0]
        assert edit["comment"]["content"] == "edited words" and edit["comment"]["hidden"] is False
        assert hide["comment"]["hidden"] is True and hide["comment"]["content"] == ""
        assert "edited words" not in json.dumps(hide)
        WebhookPayload(**hide)
    finally:
        rx.release.set()
        rx.server.shutdown()
