"""The real git-lfs CLI (3.x) against `{repo}.git/info/lfs`: push, pull of Xet uploads, auth, locks.

No smart HTTP needed: each test builds a local git repo, points `lfs.url` at the hub and runs `git lfs push` /
`git lfs pull`; the bytes are read back through huggingface_hub or compared on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError
from huggingface_hub.lfs import UploadInfo, post_lfs_batch_info
from tests.git.conftest import Git, git_url, has_git_lfs

from _transfer import assert_arrived
from conftest import Hub

pytestmark = pytest.mark.skipif(not has_git_lfs(), reason="git-lfs is not installed")

LFS_JSON = "application/vnd.git-lfs+json"
MB = 1024 * 1024


# --- helpers ------------------------------------------------------------------------------------------------------
def lfs_url(
    hub: Hub, repo: str, token: str | None = None, user: str = "alice", repo_type: str = "model"
) -> str:
    return git_url(hub, repo, token, user, repo_type) + ".git/info/lfs"


def local_repo(git: Git, path: Path, hub: Hub, repo: str, token: str | None, **kw: Any) -> Path:
    """A fresh local repo tracking *.bin with LFS, its LFS server the hub (credentials in the URL if `token`)."""
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    git("lfs", "install", "--local", cwd=path)
    git("lfs", "track", "*.bin", cwd=path)
    git("remote", "add", "origin", git_url(hub, repo, repo_type=kw.get("repo_type", "model")), cwd=path)
    git("config", "lfs.url", lfs_url(hub, repo, token, **kw), cwd=path)
    return path


def commit_bin(git: Git, path: Path, name: str, data: bytes) -> str:
    (path / name).write_bytes(data)
    git("add", ".gitattributes", name, cwd=path)
    git("commit", "-q", "-m", f"add {name}", cwd=path)
    return hashlib.sha256(data).hexdigest()


def commit_pointer(git: Git, path: Path, name: str, oid: str, size: int) -> None:
    """Commit an LFS pointer file (what a clone of the hub repo holds) without its object."""
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
    (path / name).write_text(pointer)
    git("add", ".gitattributes", name, cwd=path)
    git("commit", "-q", "-m", f"pointer {name}", cwd=path)


def local_object(path: Path, oid: str) -> Path:
    return path / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def batch(hub: Hub, repo: str, body: dict[str, Any], token: str | None, prefix: str = "") -> httpx.Response:
    headers = {"accept": LFS_JSON, "content-type": LFS_JSON}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(f"{hub.url}/{prefix}{repo}.git/info/lfs/objects/batch", json=body, headers=headers)


def upload_body(oid: str, size: int, transfers: list[str]) -> dict[str, Any]:
    return {
        "operation": "upload",
        "transfers": transfers,
        "objects": [{"oid": oid, "size": size}],
        "ref": {"name": "refs/heads/main"},
        "hash_algo": "sha256",
    }


def commit_lfs_file(hub: Hub, repo: str, path: str, oid: str, size: int) -> httpx.Response:
    """A commit (the API's NDJSON) whose `lfsFile` line names an object the repo already holds."""
    lines = [
        {"key": "header", "value": {"summary": f"add {path}", "description": ""}},
        {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}},
    ]
    return httpx.post(
        f"{hub.url}/api/models/{repo}/commit/main",
        content="\n".join(json.dumps(x) for x in lines).encode(),
        headers={**hub.auth(), "content-type": "application/x-ndjson"},
        timeout=60,
    )


def new_repo(hub: Hub, private: bool = True, repo_type: str = "model") -> str:
    repo = f"alice/glfs-{uuid.uuid4().hex[:8]}"
    hub.api().create_repo(repo, private=private, repo_type=repo_type)
    return repo


def assert_asks_for_credentials(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["lfs-authenticate"].startswith("Basic")
    assert r.headers["www-authenticate"].startswith("Basic")


# --- upload -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_parts_hub(hub_factory: Any) -> Hub:
    """A hub whose multipart threshold is 1 MiB, so that an ordinary git-lfs object is "big"."""
    hub: Hub = hub_factory(multipart_threshold=1 * MB, multipart_chunk_size=512 * 1024)
    return hub


def test_git_lfs_push_then_read_back_through_huggingface_hub(
    small_parts_hub: Hub, git: Git, tmp_path: Path
) -> None:
    hub = small_parts_hub
    repo = new_repo(hub)
    data = os.urandom(3 * MB + 17)  # above the multipart threshold: git-lfs still PUTs it whole
    oid = hashlib.sha256(data).hexdigest()
    # git-lfs offers no "multipart": no part URLs in `header` (git-lfs would send them as HTTP headers)
    r = batch(hub, repo, upload_body(oid, len(data), ["basic", "lfs-standalone-file", "ssh"]), hub.alice)
    upload = r.json()["objects"][0]["actions"]["upload"]
    assert "chunk_size" not in upload.get("header", {}) and "/part/" not in json.dumps(upload)
    # huggingface_hub offers it and keeps getting parts
    r = batch(hub, repo, upload_body(oid, len(data), ["basic", "multipart"]), hub.alice)
    assert r.json()["objects"][0]["actions"]["upload"]["header"]["chunk_size"] == str(512 * 1024)

    work = local_repo(git, tmp_path / "work", hub, repo, hub.alice)
    commit_bin(git, work, "weights.bin", data)
    assert not hub.services.store.exists(oid)
    git("lfs", "push", "--all", "origin", cwd=work)  # locks/verify, batch, one PUT, verify
    assert hub.services.store.exists(oid)
    # the hub holds it for this repo: "already present" (no actions) to the next upload batch
    r = batch(hub, repo, upload_body(oid, len(data), ["basic"]), hub.alice)
    assert "actions" not in r.json()["objects"][0], r.json()
    # a commit naming it, then huggingface_hub reads the bytes back
    assert commit_lfs_file(hub, repo, "weights.bin", oid, len(data)).status_code == 200
    got = hf_hub_download(
        repo, "weights.bin", cache_dir=tmp_path / "cache", endpoint=hub.url, token=hub.alice
    )
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == oid
    # pushing again is a no-op (the batch answers "already present")
    git("lfs", "push", "--object-id", "origin", oid, cwd=work)


@pytest.mark.parametrize("repo_type", ["dataset", "space"])
def test_git_lfs_push_and_anonymous_pull_of_public_dataset_and_space(
    live_server: Hub, git: Git, tmp_path: Path, repo_type: str
) -> None:
    hub = live_server
    repo = f"alice/glfs-{uuid.uuid4().hex[:8]}"
    kw = {"space_sdk": "static"} if repo_type == "space" else {}
    hub.api().create_repo(repo, repo_type=repo_type, **kw)
    data = os.urandom(70_000)
    work = local_repo(git, tmp_path / "work", hub, repo, hub.alice, repo_type=repo_type)
    oid = commit_bin(git, work, "d.bin", data)
    git("lfs", "push", "--all", "origin", cwd=work)
    prefix = f"{repo_type}s/"
    r = batch(hub, repo, upload_body(oid, len(data), ["basic"]), hub.alice, prefix)
    assert "actions" not in r.json()["objects"][0], r.json()  # held by this repo
    assert (
        "actions"
        in batch(hub, new_repo(hub), upload_body(oid, len(data), ["basic"]), hub.alice).json()["objects"][0]
    )  # and by no other
    # a public repo: anyone fetches, no credentials asked
    anon = local_repo(git, tmp_path / "anon", hub, repo, None, repo_type=repo_type)
    commit_pointer(git, anon, "d.bin", oid, len(data))
    git("lfs", "pull", cwd=anon)
    assert (anon / "d.bin").read_bytes() == data


def test_git_lfs_push_refused_without_push_rights(live_server: Hub, git: Git, tmp_path: Path) -> None:
    hub = live_server
    repo = new_repo(hub)
    public = new_repo(hub, private=False)
    data = os.urandom(40_000)
    cases = [
        ("anonymous", repo, None, "bob", "Git credentials for"),  # asked (401), prompts off: no credentials
        ("bob", repo, hub.bob, "bob", "Repository not found"),  # a private repo bob may not see (404)
        ("bob-public", public, hub.bob, "bob", "You don't have write access"),  # 403
        ("read-token", repo, hub.alice_read, "alice", "This token is read-only"),  # 403
    ]
    for label, target, token, user, words in cases:
        work = local_repo(git, tmp_path / label, hub, target, token, user=user)
        oid = commit_bin(git, work, "x.bin", data)
        p = git("lfs", "push", "--object-id", "origin", oid, cwd=work, check=False)
        assert p.returncode != 0, (label, p.stdout, p.stderr)
        assert words in p.stderr, (label, p.stderr)
        assert not hub.services.store.exists(oid)
        assert not hub.services.content.exists(oid)


def test_batch_answers_git_lfs_auth_rules(live_server: Hub) -> None:
    hub = live_server
    repo = new_repo(hub)
    oid = hashlib.sha256(b"nothing").hexdigest()
    down = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": 7}]}
    # anonymous on a private repo: asked for credentials, still RepoNotFound for huggingface_hub
    r = batch(hub, repo, down, None)
    assert_asks_for_credentials(r)
    assert r.headers["x-error-code"] == "RepoNotFound"
    assert r.json()["message"] and r.json()["error"]
    # huggingface_hub's own batch call keeps raising RepositoryNotFoundError (anonymous: 401, bob: 404)
    info = UploadInfo(sha256=bytes.fromhex(oid), size=7, sample=b"nothing")
    for token in (None, hub.bob):
        with pytest.raises(RepositoryNotFoundError):
            post_lfs_batch_info([info], token, "model", repo, "main", endpoint=hub.url)
    # a repo that does not exist: the same answer (nothing tells them apart)
    r2 = batch(hub, f"alice/missing-{uuid.uuid4().hex[:6]}", down, None)
    assert_asks_for_credentials(r2)
    assert r2.headers["x-error-code"] == "RepoNotFound"
    # a bad token: asked again
    assert_asks_for_credentials(batch(hub, repo, down, "hf_not_a_token"))
    # authenticated non-reader: 404, no prompt
    r = batch(hub, repo, down, hub.bob)
    assert r.status_code == 404 and "lfs-authenticate" not in r.headers
    assert r.headers["x-error-code"] == "RepoNotFound"
    # read token uploading: 403
    r = batch(hub, repo, upload_body(oid, 7, ["basic"]), hub.alice_read)
    assert r.status_code == 403 and "lfs-authenticate" not in r.headers
    # anonymous upload to a public repo: asked
    public = new_repo(hub, private=False)
    assert_asks_for_credentials(batch(hub, public, upload_body(oid, 7, ["basic"]), None))
    # datasets/ and spaces/ prefixes
    for rtype, prefix in (("dataset", "datasets/"), ("space", "spaces/")):
        rid = f"alice/glfs-{uuid.uuid4().hex[:8]}"
        kw = {"space_sdk": "static"} if rtype == "space" else {}
        hub.api().create_repo(rid, repo_type=rtype, private=True, **kw)
        assert_asks_for_credentials(batch(hub, rid, down, None, prefix))
        r = batch(hub, rid, down, hub.alice, prefix)
        assert r.status_code == 200 and r.json()["objects"][0]["error"]["code"] == 404


# --- download -----------------------------------------------------------------------------------------------------
@pytest.fixture
def xet_upload(live_server: Hub) -> tuple[str, bytes, str]:
    """A private repo where alice uploaded weights.bin with the default client (Xet)."""
    hub = live_server
    repo = new_repo(hub)
    data = os.urandom(300_000) + b"\0"
    hub.api().upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id=repo)
    oid = hashlib.sha256(data).hexdigest()
    assert_arrived(hub, oid, "xet")
    return repo, data, oid


def test_git_lfs_pull_of_a_xet_upload(live_server: Hub, git: Git, tmp_path: Path, xet_upload: Any) -> None:
    hub = live_server
    repo, data, oid = xet_upload
    work = local_repo(git, tmp_path / "work", hub, repo, hub.alice)
    commit_pointer(git, work, "weights.bin", oid, len(data))
    git("lfs", "pull", cwd=work)
    assert hashlib.sha256((work / "weights.bin").read_bytes()).hexdigest() == oid
    assert local_object(work, oid).read_bytes() == data


def test_git_lfs_asks_git_credential_helpers(
    live_server: Hub, git: Git, tmp_path: Path, xet_upload: Any
) -> None:
    """No credentials in the URL: the hub's 401 + LFS-Authenticate makes git-lfs ask the credential helper."""
    hub = live_server
    repo, data, oid = xet_upload
    store = tmp_path / "credentials"
    host = hub.url.split("://", 1)[1]
    store.write_text(f"http://alice:{hub.alice}@{host}\n")
    work = local_repo(git, tmp_path / "work", hub, repo, None)
    git("config", "credential.helper", f"store --file={store}", cwd=work)
    commit_pointer(git, work, "weights.bin", oid, len(data))
    git("lfs", "fetch", cwd=work)
    assert local_object(work, oid).read_bytes() == data


def test_git_lfs_pull_refused(live_server: Hub, git: Git, tmp_path: Path, xet_upload: Any) -> None:
    hub = live_server
    repo, data, oid = xet_upload
    # anonymous (no helper, prompts off), bob (cannot see the repo)
    for label, token, user in (("anon", None, "alice"), ("bob", hub.bob, "bob")):
        work = local_repo(git, tmp_path / label, hub, repo, token, user=user)
        commit_pointer(git, work, "weights.bin", oid, len(data))
        p = git("lfs", "fetch", cwd=work, check=False)
        assert p.returncode != 0, (label, p.stdout, p.stderr)
        assert not local_object(work, oid).exists()
        assert data not in (work / "weights.bin").read_bytes()
    # alice, but an object this repo does not hold (bob's, in his own private repo): per-object 404
    bob_repo = f"bob/glfs-{uuid.uuid4().hex[:8]}"
    hub.api(hub.bob).create_repo(bob_repo, private=True)
    secret = os.urandom(50_000)
    hub.api(hub.bob).upload_file(path_or_fileobj=secret, path_in_repo="s.bin", repo_id=bob_repo)
    guessed = hashlib.sha256(secret).hexdigest()
    r = batch(
        hub,
        repo,
        {"operation": "download", "transfers": ["basic"], "objects": [{"oid": guessed, "size": len(secret)}]},
        hub.alice,
    )
    assert r.status_code == 200 and r.json()["objects"][0]["error"]["code"] == 404
    assert "actions" not in r.json()["objects"][0]
    work = local_repo(git, tmp_path / "guess", hub, repo, hub.alice)
    commit_pointer(git, work, "s.bin", guessed, len(secret))
    p = git("lfs", "fetch", cwd=work, check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr + p.stdout, p.stderr
    assert not local_object(work, guessed).exists()


# --- locking API --------------------------------------------------------------------------------------------------
def locks_call(
    hub: Hub, method: str, repo: str, suffix: str, token: str | None, prefix: str = ""
) -> httpx.Response:
    headers = {"accept": LFS_JSON, "content-type": LFS_JSON}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    url = f"{hub.url}/{prefix}{repo}.git/info/lfs/locks{suffix}"
    body = None if method == "GET" else {"ref": {"name": "refs/heads/main"}, "path": "x.bin"}
    return httpx.request(method, url, json=body, headers=headers)


def test_locks_api(live_server: Hub) -> None:
    hub = live_server
    for rtype, prefix in (("model", ""), ("dataset", "datasets/"), ("space", "spaces/")):
        repo = f"alice/glfs-{uuid.uuid4().hex[:8]}"
        kw = {"space_sdk": "static"} if rtype == "space" else {}
        hub.api().create_repo(repo, repo_type=rtype, private=True, **kw)
        r = locks_call(hub, "POST", repo, "/verify", hub.alice, prefix)
        assert r.status_code == 200 and r.json() == {"ours": [], "theirs": []}
        assert r.headers["content-type"].startswith(LFS_JSON)
        r = locks_call(hub, "GET", repo, "", hub.alice_read, prefix)
        assert r.status_code == 200 and r.json() == {"locks": []}
        assert_asks_for_credentials(locks_call(hub, "POST", repo, "/verify", None, prefix))
        assert_asks_for_credentials(locks_call(hub, "GET", repo, "", None, prefix))
        assert locks_call(hub, "POST", repo, "/verify", hub.bob, prefix).status_code == 404
        assert locks_call(hub, "GET", repo, "", hub.bob, prefix).status_code == 404
        assert locks_call(hub, "POST", repo, "/verify", hub.alice_read, prefix).status_code == 403
        r = locks_call(hub, "POST", repo, "", hub.alice, prefix)
        assert r.status_code == 501 and r.headers["x-error-code"] == "NotImplemented"
        assert r.json()["message"] == "ModelYard does not support LFS file locking"
        assert locks_call(hub, "POST", repo, "/1/unlock", hub.alice, prefix).status_code == 501
        assert_asks_for_credentials(locks_call(hub, "POST", repo, "", None, prefix))
        assert locks_call(hub, "POST", repo, "", hub.bob, prefix).status_code == 404
    public = new_repo(hub, private=False)
    assert locks_call(hub, "GET", public, "", None).json() == {"locks": []}
    assert locks_call(hub, "POST", public, "/verify", hub.bob).status_code == 403


def test_git_lfs_lock_commands(live_server: Hub, git: Git, tmp_path: Path) -> None:
    hub = live_server
    repo = new_repo(hub)
    work = local_repo(git, tmp_path / "work", hub, repo, hub.alice)
    commit_bin(git, work, "x.bin", os.urandom(1000))
    p = git("lfs", "locks", cwd=work)
    assert p.stdout.strip() == ""
    p = git("lfs", "lock", "x.bin", cwd=work, check=False)
    assert p.returncode != 0 and "does not support LFS file locking" in p.stderr + p.stdout, p.stderr
