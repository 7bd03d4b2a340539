"""Reading over git: the real `git` and `git-lfs` CLIs clone, fetch, pull and ls-remote repos made through the API.

Every comparison is against what huggingface_hub reports for the same repo (commit ids, refs, file bytes), so a
mirror that drifts from the database fails here. The mirror is a cache: deleting it on disk changes nothing a
client can see, concurrent clones during API commits each get one consistent commit, and a client that goes away
mid-clone leaves no git process behind on the server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete
from tests.git.conftest import Git, git_url, has_git_lfs

from _transfer import assert_arrived, transfer_mode
from conftest import Hub
from modelyard.git import mirror as mirror_mod
from modelyard.storage.hashing import lfs_pointer
from modelyard.types import RepoType

FILES = {
    "README.md": b"---\nlicense: mit\n---\n# hello git\n",
    "config.json": b'{"hidden_size": 8}\n',
    "sub/dir/notes.txt": b"deep\nfile\n",
    "sub/other.txt": b"other\n",
}


# --- helpers ------------------------------------------------------------------------------------------------------
def api_refs(api: Any, repo: str, repo_type: str = "model") -> dict[str, str]:
    """Every ref of the repo as the API lists it, by full git name."""
    r = api.list_repo_refs(repo, repo_type=repo_type, include_pull_requests=True)
    out = {f"refs/heads/{b.name}": b.target_commit for b in r.branches}
    out.update({f"refs/tags/{t.name}": t.target_commit for t in r.tags})
    out.update({p.ref: p.target_commit for p in r.pull_requests or []})
    return out


def ls_remote(git: Git, url: str, *extra: str) -> dict[str, str]:
    out = git("ls-remote", *extra, url).stdout
    return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def local_refs(git: Git, clone: Path) -> dict[str, str]:
    """The clone's remote-tracking branches and tags, named as on the server."""
    out = git(
        "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes/origin", "refs/tags", cwd=clone
    )
    refs: dict[str, str] = {}
    for line in out.stdout.splitlines():
        ref, sha = line.split(" ")
        if ref == "refs/remotes/origin/HEAD":
            continue
        refs[ref.replace("refs/remotes/origin/", "refs/heads/")] = sha
    return refs


def git_log(git: Git, clone: Path, rev: str = "HEAD") -> list[str]:
    return git("log", "--format=%H", rev, cwd=clone).stdout.split()


def api_log(api: Any, repo: str, revision: str = "main", repo_type: str = "model") -> list[str]:
    return [c.commit_id for c in api.list_repo_commits(repo, revision=revision, repo_type=repo_type)]


def worktree(clone: Path) -> dict[str, bytes]:
    return {
        p.relative_to(clone).as_posix(): p.read_bytes()
        for p in sorted(clone.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(clone).parts
    }


def make_repo(api: Any, repo: str, repo_type: str = "model", files: dict[str, bytes] | None = None) -> str:
    api.create_repo(repo, repo_type=repo_type)
    ops = [CommitOperationAdd(path, data) for path, data in (files or FILES).items()]
    return str(api.create_commit(repo, ops, commit_message="files", repo_type=repo_type).oid)


# --- clone: the files, LFS and Xet ------------------------------------------------------------------------------
@pytest.mark.skipif(not has_git_lfs(), reason="git-lfs is not installed")
def test_clone_smudges_lfs_and_xet_files(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    lfs_bytes, xet_bytes = os.urandom(300_000), os.urandom(2_000_000)
    with transfer_mode("lfs"):
        api.upload_file(path_or_fileobj=lfs_bytes, path_in_repo="weights/lfs.bin", repo_id=repo)
    with transfer_mode("xet"):
        api.upload_file(path_or_fileobj=xet_bytes, path_in_repo="model.safetensors", repo_id=repo)
    lfs_sha, xet_sha = hashlib.sha256(lfs_bytes).hexdigest(), hashlib.sha256(xet_bytes).hexdigest()
    assert_arrived(live_server, lfs_sha, "lfs")
    assert_arrived(live_server, xet_sha, "xet")

    clone = tmp_path / "clone"
    git("clone", git_url(live_server, repo), str(clone))
    files = worktree(clone)
    assert files["weights/lfs.bin"] == lfs_bytes
    assert files["model.safetensors"] == xet_bytes
    for path, data in FILES.items():
        assert files[path] == data
    assert ".gitattributes" in files
    assert git_log(git, clone) == api_log(api, repo)
    assert git("rev-parse", "HEAD", cwd=clone).stdout.strip() == api.repo_info(repo).sha
    git("fsck", "--strict", "--no-dangling", cwd=clone)  # every object is what its id says
    assert git("status", "--porcelain", cwd=clone).stdout == ""  # smudged files match their pointers

    # without smudging, the big files are the Hub's LFS pointers (the same text the API's pointer files hold)
    raw = tmp_path / "pointers"
    git("clone", git_url(live_server, repo), str(raw), env={"GIT_LFS_SKIP_SMUDGE": "1"})
    assert (raw / "weights/lfs.bin").read_bytes() == lfs_pointer(lfs_sha, len(lfs_bytes))
    assert (raw / "model.safetensors").read_bytes() == lfs_pointer(xet_sha, len(xet_bytes))
    assert (
        (raw / "model.safetensors").read_bytes().startswith(b"version https://git-lfs.github.com/spec/v1\n")
    )
    info = {s.rfilename: s for s in api.model_info(repo, files_metadata=True).siblings}
    assert (
        info["model.safetensors"].blob_id
        == git("rev-parse", "HEAD:model.safetensors", cwd=raw).stdout.strip()
    )  # the API's blob id of an LFS file is its pointer's git id


def test_clone_without_git_lfs_shows_pointers(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    """No git-lfs filters configured (a user without git-lfs): the clone holds the pointers, nothing fails."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    data = os.urandom(50_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo)
    home = tmp_path / "bare-home"
    home.mkdir()
    plain = Git(home)  # no `git lfs install`
    clone = tmp_path / "c"
    plain("clone", git_url(live_server, repo), str(clone))
    assert (clone / "w.bin").read_bytes() == lfs_pointer(hashlib.sha256(data).hexdigest(), len(data))
    assert (clone / "README.md").read_bytes() == FILES["README.md"]


# --- protocol versions, URL forms, repo types ----------------------------------------------------------------
@pytest.mark.parametrize("version", ["0", "2"])
@pytest.mark.parametrize("suffix", ["", ".git"])
def test_protocol_versions_and_url_forms(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str, version: str, suffix: str
) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    url = git_url(live_server, repo) + suffix
    trace = tmp_path / "trace"
    clone = tmp_path / "c"
    git(
        "-c",
        f"protocol.version={version}",
        "clone",
        url,
        str(clone),
        env={"GIT_TRACE_PACKET": str(trace)},
    )
    assert worktree(clone)["config.json"] == FILES["config.json"]
    assert git_log(git, clone) == api_log(api, repo)
    packets = trace.read_text()
    if version == "2":
        assert "< version 2" in packets  # the server spoke protocol v2
    else:
        assert "version 2" not in packets
    assert ls_remote(git, url, "--refs") == api_refs(api, repo)


@pytest.mark.parametrize("repo_type", ["dataset", "space"])
def test_datasets_and_spaces(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str, repo_type: str
) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    if repo_type == "space":
        api.create_repo(repo, repo_type="space", space_sdk="static")
        api.create_commit(
            repo, [CommitOperationAdd(p, d) for p, d in FILES.items()], commit_message="f", repo_type="space"
        )
    else:
        make_repo(api, repo, repo_type)
    clone = tmp_path / "c"
    git("clone", git_url(live_server, repo, repo_type=repo_type) + ".git", str(clone))
    assert worktree(clone)["sub/dir/notes.txt"] == FILES["sub/dir/notes.txt"]
    assert git_log(git, clone) == api_log(api, repo, repo_type=repo_type)
    # the same name as a model does not exist: the type prefix selects the repo
    wrong = git("ls-remote", git_url(live_server, repo), check=False)
    assert wrong.returncode != 0


# --- refs: ls-remote, PRs, fetch by ref ------------------------------------------------------------------------
def test_ls_remote_branches_tags_and_prs(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    first = make_repo(api, repo)
    api.create_branch(repo, branch="dev", revision=first)
    api.upload_file(path_or_fileobj=b"dev only\n", path_in_repo="dev.txt", repo_id=repo, revision="dev")
    api.create_tag(repo, tag="v1.0", revision=first)
    pr = api.create_commit(
        repo,
        [CommitOperationAdd("pr.txt", b"from a pull request\n")],
        commit_message="a PR",
        create_pr=True,
    )
    assert pr.pr_num is not None
    url = git_url(live_server, repo)
    remote = ls_remote(git, url)
    expected = api_refs(api, repo)
    assert (
        f"refs/pr/{pr.pr_num}" in expected and "refs/heads/dev" in expected and "refs/tags/v1.0" in expected
    )
    assert remote.pop("HEAD") == expected["refs/heads/main"]
    assert remote == expected

    clone = tmp_path / "c"
    git("clone", url, str(clone))
    assert local_refs(git, clone) == {k: v for k, v in expected.items() if not k.startswith("refs/pr/")}
    git("fetch", "origin", f"refs/pr/{pr.pr_num}", cwd=clone)
    assert git("rev-parse", "FETCH_HEAD", cwd=clone).stdout.strip() == expected[f"refs/pr/{pr.pr_num}"]
    assert git("show", "FETCH_HEAD:pr.txt", cwd=clone).stdout == "from a pull request\n"
    git("fetch", "origin", "+refs/pr/*:refs/remotes/origin/pr/*", cwd=clone)
    assert git("rev-parse", f"origin/pr/{pr.pr_num}", cwd=clone).stdout.strip() == pr.oid
    assert git("show", "origin/dev:dev.txt", cwd=clone).stdout == "dev only\n"


def test_shallow_clone_and_deepen(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    for i in range(4):
        api.upload_file(path_or_fileobj=f"{i}\n".encode(), path_in_repo="n.txt", repo_id=repo)
    history = api_log(api, repo)
    assert len(history) >= 6
    clone = tmp_path / "c"
    git("clone", "--depth", "1", git_url(live_server, repo), str(clone))
    assert git_log(git, clone) == history[:1]
    assert (clone / ".git" / "shallow").read_text().split() == history[:1]
    assert (clone / "n.txt").read_text() == "3\n"
    git("fetch", "--deepen", "2", cwd=clone)
    assert git_log(git, clone) == history[:3]
    git("fetch", "--unshallow", cwd=clone)
    assert git_log(git, clone) == history
    assert not (clone / ".git" / "shallow").exists()
    # a shallow clone of v0 too
    v0 = tmp_path / "v0"
    git("-c", "protocol.version=0", "clone", "--depth", "2", git_url(live_server, repo), str(v0))
    assert git_log(git, v0) == history[:2]


def test_partial_clone_blob_none(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    api.upload_file(path_or_fileobj=b"v2\n", path_in_repo="config.json", repo_id=repo)
    clone = tmp_path / "c"
    git("clone", "--filter=blob:none", "--no-checkout", git_url(live_server, repo), str(clone))
    assert git("config", "remote.origin.promisor", cwd=clone).stdout.strip() == "true"
    missing = [
        line
        for line in git("rev-list", "--objects", "--all", "--missing=print", cwd=clone).stdout.splitlines()
        if line.startswith("?")
    ]
    assert len(missing) >= len(FILES)  # the blobs stayed on the server
    git("checkout", "main", cwd=clone)  # fetched on demand
    assert (clone / "config.json").read_bytes() == b"v2\n"
    assert git("show", "HEAD~1:config.json", cwd=clone).stdout.encode() == FILES["config.json"]


# --- incremental fetch: the API's changes, history rewrites -------------------------------------------------------
def test_fetch_and_pull_follow_api_changes(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    api.create_branch(repo, branch="old")
    api.create_tag(repo, tag="gone")
    url = git_url(live_server, repo)
    clone = tmp_path / "c"
    git("clone", url, str(clone))
    assert local_refs(git, clone) == api_refs(api, repo)

    # new commits, a branch, tags (one with a message), a deleted branch and tag
    api.upload_file(path_or_fileobj=b"more\n", path_in_repo="more.txt", repo_id=repo)
    api.create_commit(
        repo,
        [CommitOperationAdd("a.txt", b"a\n"), CommitOperationAdd("sub/dir/notes.txt", b"changed\n")],
        commit_message="two files",
        commit_description="with a body\nof two lines",
    )
    api.create_branch(repo, branch="feature")
    api.upload_file(path_or_fileobj=b"f\n", path_in_repo="f.txt", repo_id=repo, revision="feature")
    api.create_tag(repo, tag="v1")
    api.create_tag(repo, tag="v2-annotated", tag_message="a release\n", revision="feature")
    api.delete_branch(repo, branch="old")
    api.delete_tag(repo, tag="gone")

    git("fetch", "--prune", "--prune-tags", "--tags", "origin", cwd=clone)
    assert local_refs(git, clone) == api_refs(api, repo)
    git("pull", "--ff-only", cwd=clone)
    assert git_log(git, clone) == api_log(api, repo)
    assert git_log(git, clone, "origin/feature") == api_log(api, repo, "feature")
    assert (clone / "sub/dir/notes.txt").read_bytes() == b"changed\n"
    last = api.list_repo_commits(repo)[0]
    assert (last.title, last.message) == ("two files", "with a body\nof two lines")
    assert (
        git("log", "-1", "--format=%B", cwd=clone).stdout.strip() == "two files\n\nwith a body\nof two lines"
    )
    assert git("cat-file", "-t", "v2-annotated", cwd=clone).stdout.strip() in {"commit", "tag"}
    assert (
        git("rev-parse", "v2-annotated^{commit}", cwd=clone).stdout.strip()
        == api_log(api, repo, "feature")[0]
    )

    # a history rewrite: the squashed main replaces the old one on fetch (a forced update)
    before = api_log(api, repo)
    api.super_squash_history(repo, branch="main", commit_message="squashed")
    after = api_log(api, repo)
    assert len(after) == 1 and after[0] not in before
    fetched = git("fetch", "--prune", "origin", cwd=clone)
    assert "forced update" in fetched.stderr
    assert local_refs(git, clone) == api_refs(api, repo)
    assert git_log(git, clone, "origin/main") == after
    git("reset", "--hard", "origin/main", cwd=clone)
    assert (clone / "sub/dir/notes.txt").read_bytes() == b"changed\n"
    assert git("log", "-1", "--format=%s", cwd=clone).stdout.strip() == "squashed"

    # a fresh clone sees exactly the same, and the squashed commits are gone from the server
    again = tmp_path / "again"
    git("clone", url, str(again))
    assert git("fetch", "origin", before[0], cwd=again).returncode == 0  # tag v1 still names the old head
    for tag in ("v1", "v2-annotated"):
        api.delete_tag(repo, tag=tag)
    api.delete_branch(repo, branch="feature")
    git("fetch", "--prune", "--prune-tags", "origin", cwd=again)
    assert local_refs(git, again) == api_refs(api, repo) == {"refs/heads/main": after[0]}
    third = tmp_path / "third"  # (`again` has the old head already: git would not ask the server for it)
    git("clone", url, str(third))
    for sha in (before[0], before[-1]):  # now no ref reaches the old history: the server no longer has it
        r = git("fetch", "origin", sha, cwd=third, check=False)
        assert r.returncode != 0, r.stderr
    assert local_refs(git, again) == api_refs(api, repo)
    assert git_log(git, again) == after


def test_unreachable_commits_are_not_served(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    """A deleted branch's commits stay in the mirror's objects but are not fetchable by id (nor reachable)."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    api.create_branch(repo, branch="secret")
    secret = api.upload_file(
        path_or_fileobj=b"oops\n", path_in_repo="key.txt", repo_id=repo, revision="secret"
    )
    url = git_url(live_server, repo)
    assert git("ls-remote", url, cwd=tmp_path).returncode == 0  # the mirror now holds the secret commit
    api.delete_branch(repo, branch="secret")
    clone = tmp_path / "c"
    git("clone", url, str(clone))
    for version in ("0", "2"):
        r = git("-c", f"protocol.version={version}", "fetch", "origin", secret.oid, cwd=clone, check=False)
        assert r.returncode != 0, r.stderr
        assert git("cat-file", "-e", secret.oid, cwd=clone, check=False).returncode != 0


def test_history_of_deletes_copies_and_merges(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    """Every commit of a history with deleted files and folders, copies, a file that becomes a folder and a merged
    PR comes out with the API's ids and files (the export builds trees incrementally: this walks its cases)."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    url = git_url(live_server, repo)
    clone = tmp_path / "c"
    git("clone", url, str(clone))  # the mirror exists: the steps below are synced incrementally too
    steps: list[list[Any]] = [
        [CommitOperationDelete("sub/other.txt")],
        [CommitOperationCopy("config.json", "copies/config.json"), CommitOperationAdd("x", b"a file\n")],
        [CommitOperationDelete("sub/")],  # a whole folder
        [CommitOperationDelete("x")],
        [CommitOperationAdd("x/now-a-folder.txt", b"folder\n"), CommitOperationAdd("exe.sh", b"#!/bin/sh\n")],
        [CommitOperationAdd("a/b/c/d/e.txt", b"deep\n")],
        [CommitOperationDelete("a/b/c/d/e.txt"), CommitOperationAdd("a/b/f.txt", b"f\n")],
    ]
    for i, ops in enumerate(steps):
        api.create_commit(repo, ops, commit_message=f"step {i}")
        if i == 3:
            git("fetch", cwd=clone)  # a sync in the middle
    pr = api.create_commit(
        repo, [CommitOperationAdd("from-pr.txt", b"pr\n")], commit_message="pr", create_pr=True
    )
    assert pr.pr_num is not None
    api.merge_pull_request(repo, pr.pr_num)
    git("pull", "--ff-only", cwd=clone)
    history = api_log(api, repo)
    assert git_log(git, clone) == history
    git("fsck", "--strict", "--no-dangling", cwd=clone)
    for sha in history:
        tree = git("ls-tree", "-r", "--name-only", sha, cwd=clone).stdout.split("\n")
        assert sorted(p for p in tree if p) == sorted(api.list_repo_files(repo, revision=sha)), sha
    # and a fresh mirror (everything exported at once) serves the same
    svc = live_server.services
    shutil.rmtree(svc.mirrors.path(svc.repos.get(RepoType.MODEL, "alice", repo_name, None)))
    fresh = tmp_path / "fresh"
    git("clone", "--mirror", url, str(fresh))
    assert git_log(git, fresh, "main") == history
    assert (
        git("rev-parse", "main^{tree}", cwd=fresh).stdout == git("rev-parse", "HEAD^{tree}", cwd=clone).stdout
    )


def test_mirrors_of_deleted_repos_are_swept(live_server: Hub, git: Git, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    ls_remote(git, git_url(live_server, repo))
    mirrors = live_server.services.mirrors
    live = mirrors.path(live_server.services.repos.get(RepoType.MODEL, "alice", repo_name, None))
    root = live.parent
    stale = root / "987654321-1700000000000000.git"  # no such repo
    (stale / "objects").mkdir(parents=True)
    (stale / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "987654321-1700000000000000.lock").write_text("")
    half = root / f"{live.name}.deleted-1-2"  # an interrupted removal
    half.mkdir()
    assert mirrors.sweep() >= 3
    assert (
        not stale.exists() and not (root / "987654321-1700000000000000.lock").exists() and not half.exists()
    )
    assert (live / "HEAD").exists()  # the mirrors of existing repos stay
    assert ls_remote(git, git_url(live_server, repo))


def test_force_pushed_away_commits_are_not_served(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    """A forced push moves the mirror's refs itself (receive-pack): the next request still prunes what it left."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    work = tmp_path / "work"
    git("clone", git_url(live_server, repo, live_server.alice), str(work))
    (work / "leak.txt").write_text("a secret pushed by mistake\n")
    git("add", "leak.txt", cwd=work)
    git("commit", "-q", "-m", "oops", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    leaked = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert api_log(api, repo)[0] == leaked
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    (work / "fine.txt").write_text("fine\n")
    git("add", "fine.txt", cwd=work)
    git("commit", "-q", "-m", "fixed", cwd=work)
    git("push", "-q", "--force", "origin", "main", cwd=work)
    assert leaked not in api_log(api, repo)
    fresh = tmp_path / "fresh"
    git("clone", git_url(live_server, repo), str(fresh))
    assert git_log(git, fresh) == api_log(api, repo)
    for version in ("0", "2"):
        r = git("-c", f"protocol.version={version}", "fetch", "origin", leaked, cwd=fresh, check=False)
        assert r.returncode != 0, r.stderr


# --- the mirror is a cache ---------------------------------------------------------------------------------------
def test_deleted_mirror_is_rebuilt(live_server: Hub, git: Git, tmp_path: Path, repo_name: str) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    api.create_tag(repo, tag="v1")
    url = git_url(live_server, repo)
    before = ls_remote(git, url)
    svc = live_server.services
    path = svc.mirrors.path(svc.repos.get(RepoType.MODEL, "alice", repo_name, None))
    assert (path / "HEAD").exists()
    shutil.rmtree(path)
    assert ls_remote(git, url) == before  # rebuilt on the next request, the same ids
    assert (path / "HEAD").exists()
    clone = tmp_path / "c"
    git("clone", url, str(clone))
    assert git_log(git, clone) == api_log(api, repo)
    git("fsck", "--strict", cwd=clone)


def test_packs_are_consolidated(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sync writes a pack; past MAX_PACKS the mirror is repacked into one (with a bitmap)."""
    monkeypatch.setattr(mirror_mod, "MAX_PACKS", 3)
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    url = git_url(live_server, repo)
    svc = live_server.services
    packs = svc.mirrors.path(svc.repos.get(RepoType.MODEL, "alice", repo_name, None)) / "objects" / "pack"
    counts = []
    for i in range(6):
        api.upload_file(path_or_fileobj=f"{i}\n".encode(), path_in_repo="n.txt", repo_id=repo)
        ls_remote(git, url)
        counts.append(len(list(packs.glob("*.pack"))))
    assert max(counts) <= 4 and counts != sorted(counts), counts  # it grew, then dropped back
    assert list(packs.glob("*.bitmap"))
    clone = tmp_path / "c"
    git("clone", url, str(clone))
    assert git_log(git, clone) == api_log(api, repo)


def test_unchanged_repo_syncs_without_git(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request on a repo whose refs did not change runs no git process of the mirror's (only http-backend)."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    url = git_url(live_server, repo)
    ls_remote(git, url)
    svc = live_server.services
    mirror = str(svc.mirrors.path(svc.repos.get(RepoType.MODEL, "alice", repo_name, None)))
    calls: list[list[str]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def spy_run(args: Any, *a: Any, **kw: Any) -> Any:
        if any(mirror in str(x) for x in args):
            calls.append(list(map(str, args)))
        return real_run(args, *a, **kw)

    class SpyPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *a: Any, **kw: Any) -> None:
            if any(mirror in str(x) for x in args):
                calls.append(list(map(str, args)))
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(mirror_mod.subprocess, "run", spy_run)
    monkeypatch.setattr(mirror_mod.subprocess, "Popen", SpyPopen)
    for _ in range(3):
        ls_remote(git, url)
    clone = tmp_path / "c"
    git("clone", url, str(clone))
    assert calls == []
    api.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id=repo)
    git("pull", "--ff-only", cwd=clone)
    assert calls, "a changed repo is synced with git"  # the spy sees the mirror's git processes
    assert git_log(git, clone) == api_log(api, repo)


# --- concurrency, clients that go away -------------------------------------------------------------------------
def test_concurrent_clones_while_commits_land(
    live_server: Hub, git: Git, tmp_path: Path, repo_name: str
) -> None:
    api = live_server.api()
    repo = f"alice/{repo_name}"
    make_repo(api, repo)
    url = git_url(live_server, repo)
    results: dict[int, tuple[int, str, str]] = {}

    def clone(i: int) -> None:
        dest = tmp_path / f"c{i}"
        r = git("clone", url, str(dest), check=False)
        if r.returncode != 0:
            results[i] = (r.returncode, r.stderr, "")
            return
        head = git("rev-parse", "HEAD", cwd=dest).stdout.strip()
        results[i] = (0, head, (dest / "counter.txt").read_text() if (dest / "counter.txt").exists() else "")

    threads = [threading.Thread(target=clone, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    commits: dict[str, int] = {}
    for n in range(6):
        c = api.create_commit(
            repo,
            [CommitOperationAdd("counter.txt", f"{n}\n".encode()), CommitOperationAdd(f"f/{n}.txt", b"x")],
            commit_message=f"commit {n}",
        )
        commits[c.oid] = n
    for t in threads:
        t.join(timeout=300)
    history = api_log(api, repo)
    assert len(results) == 8
    for i, (code, head, counter) in results.items():
        assert code == 0, f"clone {i} failed: {head}"
        assert head in history
        dest = tmp_path / f"c{i}"
        assert git_log(git, dest) == history[history.index(head) :]  # the API's history up to that commit
        n = commits.get(head)
        files = {p for p in worktree(dest) if p.startswith("f/")}
        if n is None:
            assert counter == "" and files == set()
        else:
            assert counter == f"{n}\n" and files == {f"f/{k}.txt" for k in range(n + 1)}  # one snapshot
        git("fsck", "--no-dangling", cwd=dest)


def _git_children() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.name().startswith("git") and any(
                a in {"http-backend", "upload-pack", "git-upload-pack"} or a.endswith("git-upload-pack")
                for a in p.cmdline()
            ):
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def _wait_no_git_children(timeout: float = 20) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (
        left := [p for p in _git_children() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    ) and (time.monotonic() < deadline):
        time.sleep(0.1)
    return left


@pytest.fixture
def big_repo(live_server: Hub, repo_name: str) -> str:
    """A repo whose pack is large (incompressible text files, no LFS), so a clone takes a while."""
    api = live_server.api()
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    ops = [
        CommitOperationAdd(f"part{i}.txt", os.urandom(3_000_000).hex().encode()[:6_000_000]) for i in range(6)
    ]
    api.create_commit(repo, ops, commit_message="big")
    return repo


def test_killed_clone_leaves_no_git_processes(
    live_server: Hub, git: Git, tmp_path: Path, big_repo: str
) -> None:
    url = git_url(live_server, big_repo)
    assert git("ls-remote", url).returncode == 0  # the mirror is synced: the clone below is all upload-pack
    assert _wait_no_git_children() == []
    proc = subprocess.Popen(
        ["git", "clone", url, str(tmp_path / "c")],
        env={**git.env, "GIT_HTTP_LOW_SPEED_LIMIT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not any("upload-pack" in " ".join(p.cmdline()) for p in _git_children()):
        assert time.monotonic() < deadline, "no upload-pack ever ran"
        assert proc.poll() is None, "the clone ended before it could be killed"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _wait_no_git_children() == []


def test_client_closing_the_stream_kills_upload_pack(live_server: Hub, big_repo: str) -> None:
    """A raw HTTP client that reads a little of the pack and hangs up: the server's git processes end."""
    url = git_url(live_server, big_repo)
    with httpx.Client(timeout=30) as client:
        refs = client.get(f"{url}/info/refs", params={"service": "git-upload-pack"})
        assert refs.status_code == 200
        assert refs.headers["content-type"] == "application/x-git-upload-pack-advertisement"
        head = next(
            line for line in refs.content.split(b"\n") if b"refs/heads/main" in line
        )  # "<len><sha> refs/heads/main…"
        sha = next(tok for tok in head.replace(b"\0", b" ").split() if len(tok) >= 40)[-40:].decode()
        want = f"want {sha} ofs-delta\n".encode()
        body = b"%04x" % (len(want) + 4) + want + b"0000" + b"0009done\n"
        with client.stream(
            "POST",
            f"{url}/git-upload-pack",
            content=body,
            headers={"content-type": "application/x-git-upload-pack-request"},
        ) as r:
            assert r.status_code == 200
            first = next(r.iter_raw())
            assert first
    assert _wait_no_git_children() == []


def test_ls_remote_of_a_missing_repo(live_server: Hub, git: Git) -> None:
    r = git("ls-remote", git_url(live_server, "alice/no-such-repo-here"), check=False)
    assert r.returncode != 0
    assert "Authentication failed" in r.stderr or "could not read Username" in r.stderr
