"""Who may read a repo over git: tokens as the Basic password (in the URL, from a credential helper), read tokens,
anonymous callers (a 401 challenge, the same for private and missing repos), other users (404), gated repos, and
the attacker's tries: fetching a private repo's objects by id through another repo, a reused repo name, the old
name of a moved repo, the dumb protocol, garbage request bodies.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.git.conftest import Git, git_url

from conftest import Hub
from modelyard.hub.gitobjects import blob_sha1
from modelyard.types import RepoType

SECRET = b"private weights, do not leak\n"


# --- helpers ------------------------------------------------------------------------------------------------------
def private_repo(hub: Hub, name: str, repo_type: str = "model") -> tuple[str, str]:
    """alice's private repo with a secret file: (repo id, head commit)."""
    api = hub.api()
    repo = f"alice/{name}"
    api.create_repo(repo, private=True, repo_type=repo_type)
    info = api.upload_file(
        path_or_fileobj=SECRET, path_in_repo="secret.txt", repo_id=repo, repo_type=repo_type
    )
    return repo, info.oid


def info_refs(
    hub: Hub, path: str, token: str | None = None, user: str = "alice", **params: str
) -> httpx.Response:
    auth = (user, token) if token else None
    return httpx.get(
        f"{hub.url}/{path}/info/refs", params=params or {"service": "git-upload-pack"}, auth=auth, timeout=30
    )


def new_user(hub: Hub, prefix: str = "u") -> tuple[str, str]:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    hub.services.accounts.create(name)
    return name, hub.services.accounts.create_token(name, "t", "write")


def helper(user: str, token: str) -> str:
    return f"credential.helper=!f() {{ echo username={user}; echo password={token}; }}; f"


def cloned(git: Git, url: str, dest: Path, *config: str) -> Any:
    args: list[str] = []
    for c in config:
        args += ["-c", c]
    return git(*args, "clone", url, str(dest), check=False)


# --- public and private repos --------------------------------------------------------------------------------------
def test_public_repo_anonymous(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"hi\n", path_in_repo="a.txt", repo_id=repo)
    r = cloned(git, git_url(live_server, repo), tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "a.txt").read_bytes() == b"hi\n"
    # an anonymous caller may not push: asked for credentials
    push = info_refs(live_server, repo, service="git-receive-pack")
    assert push.status_code == 401 and push.headers["www-authenticate"].startswith("Basic")


def test_private_repo_tokens(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    repo, head = private_repo(live_server, repo_name)
    # the write token in the URL, the read token in the URL, a credential helper
    for i, (url, config) in enumerate(
        [
            (git_url(live_server, repo, live_server.alice), ()),
            (git_url(live_server, repo, live_server.alice_read), ()),
            (git_url(live_server, repo) + ".git", (helper("alice", live_server.alice),)),
        ]
    ):
        dest = tmp_path / f"c{i}"
        r = cloned(git, url, dest, *config)
        assert r.returncode == 0, r.stderr
        assert (dest / "secret.txt").read_bytes() == SECRET
        assert git("rev-parse", "HEAD", cwd=dest).stdout.strip() == head
    # the user name does not matter, the token does (as on the Hub)
    r = cloned(git, git_url(live_server, repo, live_server.alice, user="whoever"), tmp_path / "any-user")
    assert r.returncode == 0, r.stderr


def test_private_repo_anonymous_is_challenged(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    repo, _ = private_repo(live_server, repo_name)
    r = info_refs(live_server, repo)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic realm=")
    assert r.headers["content-type"].startswith("text/plain")
    assert SECRET.decode() not in r.text
    p = cloned(git, git_url(live_server, repo), tmp_path / "c")
    assert p.returncode != 0
    assert "could not read Username" in p.stderr  # git asked for credentials (prompts are off)
    assert not (tmp_path / "c" / "secret.txt").exists()
    # a wrong token is refused the same way, and so is an empty password
    for token in ("hf_not_a_real_token", ""):
        bad = httpx.get(
            f"{live_server.url}/{repo}/info/refs",
            params={"service": "git-upload-pack"},
            auth=("alice", token),
            timeout=30,
        )
        assert bad.status_code == 401, token
    p = cloned(git, git_url(live_server, repo, "hf_not_a_real_token"), tmp_path / "wrong")
    assert p.returncode != 0 and "Authentication failed" in p.stderr


def test_missing_repo_looks_like_a_private_one(live_server: Hub, repo_name: str) -> None:
    repo, _ = private_repo(live_server, repo_name)
    private = info_refs(live_server, repo)
    missing = info_refs(live_server, f"alice/{repo_name}-nope")
    other_ns = info_refs(live_server, f"nobody-{uuid.uuid4().hex[:6]}/x")
    for r in (missing, other_ns):
        assert (r.status_code, r.text, r.headers["www-authenticate"], r.headers["content-type"]) == (
            private.status_code,
            private.text,
            private.headers["www-authenticate"],
            private.headers["content-type"],
        )
    for service in ("git-upload-pack", "git-receive-pack"):
        post = httpx.post(f"{live_server.url}/{repo}/{service}", content=b"0000", timeout=30)
        post_missing = httpx.post(
            f"{live_server.url}/alice/{repo_name}-nope/{service}", content=b"0000", timeout=30
        )
        assert post.status_code == post_missing.status_code == 401
        assert post.text == post_missing.text


def test_other_user_gets_not_found(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    repo, head = private_repo(live_server, repo_name)
    r = info_refs(live_server, repo, live_server.bob, user="bob")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain")
    assert "Repository not found" in r.text
    assert head not in r.text
    p = cloned(git, git_url(live_server, repo, live_server.bob, user="bob"), tmp_path / "c")
    assert p.returncode != 0
    assert "Repository not found" in p.stderr, p.stderr  # git shows the server's text: remote: …
    # the same answer as a repo that does not exist
    nope = info_refs(live_server, f"alice/{repo_name}-nope", live_server.bob, user="bob")
    assert (nope.status_code, nope.text) == (r.status_code, r.text)
    # and a POST straight to upload-pack
    post = httpx.post(
        f"{live_server.url}/{repo}/git-upload-pack",
        content=b"0000",
        auth=("bob", live_server.bob),
        timeout=30,
    )
    assert post.status_code == 404


def test_private_dataset_and_space(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    for repo_type in ("dataset", "space"):
        name = f"{repo_name}-{repo_type}"
        if repo_type == "space":
            api = live_server.api()
            api.create_repo(f"alice/{name}", private=True, repo_type="space", space_sdk="static")
            api.upload_file(
                path_or_fileobj=SECRET, path_in_repo="secret.txt", repo_id=f"alice/{name}", repo_type="space"
            )
            repo = f"alice/{name}"
        else:
            repo, _ = private_repo(live_server, name, repo_type)
        prefix = {"dataset": "datasets/", "space": "spaces/"}[repo_type]
        assert info_refs(live_server, prefix + repo).status_code == 401
        assert info_refs(live_server, prefix + repo, live_server.bob, user="bob").status_code == 404
        dest = tmp_path / repo_type
        r = cloned(git, git_url(live_server, repo, live_server.alice_read, repo_type=repo_type), dest)
        assert r.returncode == 0, r.stderr
        assert (dest / "secret.txt").read_bytes() == SECRET


# --- gated repos -----------------------------------------------------------------------------------------------
def test_gated_repo(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=SECRET, path_in_repo="secret.txt", repo_id=repo)
    api.update_repo_settings(repo, gated="manual")
    user, token = new_user(live_server)
    # anonymous: asked to sign in; a signed-in user without access: refused with the reason
    anon = info_refs(live_server, repo)
    assert anon.status_code == 401 and anon.headers["www-authenticate"].startswith("Basic")
    refused = info_refs(live_server, repo, token, user=user)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/plain")
    p = cloned(git, git_url(live_server, repo, token, user=user), tmp_path / "refused")
    assert p.returncode != 0 and not (tmp_path / "refused" / "secret.txt").exists()
    assert "gated" in p.stderr.lower() or "access" in p.stderr.lower(), p.stderr
    # POST to upload-pack without the info/refs step: refused too
    post = httpx.post(
        f"{live_server.url}/{repo}/git-upload-pack", content=b"0000", auth=(user, token), timeout=30
    )
    assert post.status_code == 403
    # the owner clones; the user too once granted
    assert cloned(git, git_url(live_server, repo, live_server.alice), tmp_path / "owner").returncode == 0
    api.grant_access(repo, user)
    dest = tmp_path / "granted"
    p = cloned(git, git_url(live_server, repo, token, user=user), dest)
    assert p.returncode == 0, p.stderr
    assert (dest / "secret.txt").read_bytes() == SECRET


# --- objects of other repos ----------------------------------------------------------------------------------------
def test_private_objects_not_fetchable_through_other_repos(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    """Mirrors are per repo: alice's private commit id, guessed or leaked, fetches nothing through a public repo
    (alice's own or bob's), in protocol v0 or v2, even when both repos share history."""
    api = live_server.api()
    repo, secret_head = private_repo(live_server, f"{repo_name}-private")
    assert info_refs(live_server, repo, live_server.alice).status_code == 200  # its mirror holds the objects
    public = f"alice/{repo_name}-public"
    api.create_repo(public)
    api.upload_file(path_or_fileobj=b"public\n", path_in_repo="a.txt", repo_id=public)
    bob_api = live_server.api(live_server.bob)
    bobs = f"bob/{repo_name}"
    bob_api.create_repo(bobs)
    bob_api.upload_file(path_or_fileobj=b"bob\n", path_in_repo="b.txt", repo_id=bobs)
    secret_blob = blob_sha1(SECRET)
    for target, token, user in ((public, None, "alice"), (bobs, live_server.bob, "bob")):
        dest = tmp_path / f"c-{target.replace('/', '-')}"
        git("clone", git_url(live_server, target, token, user=user), str(dest))
        for version in ("0", "2"):
            for sha in (secret_head, secret_blob):
                r = git("-c", f"protocol.version={version}", "fetch", "origin", sha, cwd=dest, check=False)
                assert r.returncode != 0, (target, version, sha, r.stderr)
        assert git("cat-file", "-e", secret_head, cwd=dest, check=False).returncode != 0


def test_recreated_repo_never_serves_old_history(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    old = api.upload_file(path_or_fileobj=SECRET, path_in_repo="secret.txt", repo_id=repo)
    url = git_url(live_server, repo)
    git("clone", url, str(tmp_path / "old"))
    svc = live_server.services
    old_mirror = svc.mirrors.path(svc.repos.get(RepoType.MODEL, "alice", repo_name, None))
    assert old_mirror.exists()
    api.delete_repo(repo)
    assert not old_mirror.exists()  # removed on the deletion event
    assert not old_mirror.with_suffix(".lock").exists()

    api.create_repo(repo)
    new = api.upload_file(path_or_fileobj=b"new\n", path_in_repo="new.txt", repo_id=repo)
    dest = tmp_path / "new"
    git("clone", url, str(dest))
    assert not (dest / "secret.txt").exists()
    history = git("log", "--format=%H", cwd=dest).stdout.split()
    assert new.oid in history and old.oid not in history
    assert svc.mirrors.path(svc.repos.get(RepoType.MODEL, "alice", repo_name, None)) != old_mirror
    for version in ("0", "2"):
        r = git("-c", f"protocol.version={version}", "fetch", "origin", old.oid, cwd=dest, check=False)
        assert r.returncode != 0
    # the old clone's fetch sees the new history only (its old commits are unrelated)
    git("fetch", "origin", cwd=tmp_path / "old")
    assert git("rev-parse", "origin/main", cwd=tmp_path / "old").stdout.strip() == new.oid


def test_moved_repo(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    head = api.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id=repo).oid
    old_url = git_url(live_server, repo)
    git("clone", old_url, str(tmp_path / "before"))
    moved = f"{live_server.org}/{repo_name}-moved"
    api.move_repo(repo, moved)
    # the new name: a clone, and the old clone's fetch with its URL updated
    dest = tmp_path / "new"
    git("clone", git_url(live_server, moved), str(dest))
    assert git("rev-parse", "HEAD", cwd=dest).stdout.strip() == head
    # the old name redirects (git follows it and warns), for clones and fetches of existing clones
    r = git("clone", old_url + ".git", str(tmp_path / "old"))
    assert "redirecting to" in r.stderr and moved in r.stderr
    assert git("rev-parse", "HEAD", cwd=tmp_path / "old").stdout.strip() == head
    api.upload_file(path_or_fileobj=b"y\n", path_in_repo="y.txt", repo_id=moved)
    git("pull", "--ff-only", cwd=tmp_path / "before")
    assert (tmp_path / "before" / "y.txt").read_bytes() == b"y\n"
    raw = info_refs(live_server, repo)
    assert raw.status_code == 307
    assert raw.headers["location"] == f"/{moved}/info/refs?service=git-upload-pack"


def test_moved_private_repo_redirects_only_readers(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    repo, head = private_repo(live_server, repo_name)
    moved = f"alice/{repo_name}-renamed"
    live_server.api().move_repo(repo, moved)
    # anonymous and bob learn nothing about where it went
    anon = info_refs(live_server, repo)
    assert anon.status_code == 401 and "location" not in anon.headers
    bob = info_refs(live_server, repo, live_server.bob, user="bob")
    assert bob.status_code == 404 and "location" not in bob.headers and moved not in bob.text
    # alice is redirected, and git takes her credentials along
    dest = tmp_path / "c"
    r = git("clone", git_url(live_server, repo, live_server.alice), str(dest))
    assert "redirecting to" in r.stderr
    assert git("rev-parse", "HEAD", cwd=dest).stdout.strip() == head


# --- the protocol's edges ------------------------------------------------------------------------------------------
def test_dumb_protocol_and_bad_requests(
    live_server: Hub, repo_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    dumb = httpx.get(f"{live_server.url}/{repo}/info/refs", timeout=30)
    assert dumb.status_code == 403
    assert dumb.headers["content-type"].startswith("text/plain")
    assert "smart HTTP" in dumb.text
    odd = info_refs(live_server, repo, service="git-upload-archive")
    assert odd.status_code == 403 and odd.headers["content-type"].startswith("text/plain")
    caplog.set_level(logging.INFO, logger="modelyard")
    pack = {"content-type": "application/x-git-upload-pack-request"}
    for body, headers, status, expect in (
        (b"garbage, not pkt-lines", pack, 200, b""),  # git: "protocol error: bad line length"
        # git stops reading at the first bad line while megabytes still arrive: the rest is dropped, no 500
        (b"garbage! " * 500_000, pack, 200, b""),
        (b"0032want " + b"0" * 40 + b"\n0000" + b"0009done\n", pack, 200, b"ERR upload-pack: not our ref"),
        (b"\x1f\x8b not gzip", {**pack, "content-encoding": "gzip"}, 200, b""),  # git: zlib error
        (b"0000", {}, 415, b"Expected POST with Content-Type"),  # http-backend's own check, as text
    ):
        r = httpx.post(f"{live_server.url}/{repo}/git-upload-pack", content=body, headers=headers, timeout=30)
        assert r.status_code == status, (body, r.status_code, r.text)
        assert expect in r.content, (body, r.content)
        if status >= 400:
            assert r.headers["content-type"].startswith("text/plain")
        assert b"Traceback" not in r.content
    # git v2 commands with nonsense arguments: git's own error, in git's format
    v2 = httpx.post(
        f"{live_server.url}/{repo}/git-upload-pack",
        content=b"0014command=unknown\n0000",
        headers={"content-type": "application/x-git-upload-pack-request", "git-protocol": "version=2"},
        timeout=30,
    )
    assert v2.status_code < 500 and "Traceback" not in v2.text
    # hostile names: never a server error
    for path in ("alice/..%2f..%2fetc", "alice/%2e%2e", "..%2f/x", "alice/" + "a" * 300):
        r = httpx.get(
            f"{live_server.url}/{path}/info/refs", params={"service": "git-upload-pack"}, timeout=30
        )
        assert r.status_code in {400, 401, 404}, (path, r.status_code)
    # the wrong method
    assert httpx.post(
        f"{live_server.url}/{repo}/info/refs?service=git-upload-pack", timeout=30
    ).status_code in {
        404,
        405,
    }
    assert httpx.get(f"{live_server.url}/{repo}/git-upload-pack", timeout=30).status_code in {404, 405}
    # the session hub serves other tests' requests too: only the git serving code's records count here
    ours = [r for r in caplog.records if r.name.startswith(("modelyard.git", "modelyard.server.git_http"))]
    assert any("protocol error" in r.getMessage() for r in ours)  # git's own complaint, logged by the server
    assert [r.getMessage() for r in ours if r.levelno >= logging.ERROR] == []  # nothing crashed
