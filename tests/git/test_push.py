"""`git push` over smart HTTP: the real git (and git-lfs) CLI against the session hub, read back through the API.

Each test makes its repo with the API, clones it with git, pushes, and checks what the Hub API (huggingface_hub)
and a fresh clone then show; refused pushes must leave the database (the API's head) unchanged.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download
from tests.git.conftest import Git, has_git_lfs

from conftest import Hub
from modelyard.errors import Conflict, Forbidden, RevisionNotFound, Unauthorized
from modelyard.hub import revisions
from modelyard.hub.gitobjects import commit_body
from modelyard.hub.pushes import MainHead, RefChange
from modelyard.hub.revisions import ImportedCommit
from modelyard.types import RepoType

MB = 1024 * 1024


# --- helpers ------------------------------------------------------------------------------------------------------
def make_repo(
    hub: Hub, name: str, token: str | None = None, private: bool = False, ns: str | None = None
) -> str:
    api = hub.api(token)
    repo_id = f"{ns}/{name}" if ns else f"{api.whoami()['name']}/{name}"
    api.create_repo(repo_id, private=private)
    return repo_id


def clone(git: Git, url: str, dest: Path, **env: str) -> Path:
    git("clone", "-q", url, str(dest), env=env or None)
    return dest


def commit_file(
    git: Git, repo: Path, name: str, data: bytes, message: str | None = None, mode: int = 0
) -> str:
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if mode:
        target.chmod(mode)
    git("add", name, cwd=repo)
    git("commit", "-q", "-m", message or f"add {name}", cwd=repo)
    return head(git, repo)


def head(git: Git, repo: Path, rev: str = "HEAD") -> str:
    return git("rev-parse", rev, cwd=repo).stdout.strip()


def api_head(hub: Hub, repo_id: str, branch: str = "main") -> str:
    return str(hub.api().list_repo_commits(repo_id, revision=branch)[0].commit_id)


def push(git: Git, repo: Path, *args: str, ok: bool = True, **env: str) -> str:
    p = git("push", "origin", *args, cwd=repo, check=False, env=env or None)
    out = p.stdout + p.stderr
    assert (p.returncode == 0) == ok, f"git push {' '.join(args)} exited {p.returncode}:\n{out}"
    return out


def log(git: Git, repo: Path, rev: str = "HEAD") -> list[str]:
    return git("log", "--format=%H %T %P", rev, cwd=repo).stdout.split("\n")


@pytest.fixture
def alice_clone(
    live_server: Hub, git: Git, clone_url: Callable[..., str], repo_name: str, tmp_path: Path
) -> tuple[str, Path]:
    """A fresh repo of alice's and a clone of it with her write token in the remote URL."""
    repo_id = make_repo(live_server, repo_name)
    return repo_id, clone(git, clone_url(repo_id, live_server.alice), tmp_path / "work")


def new_member(hub: Hub, role: str) -> tuple[str, str]:
    """A new user with `role` in the org; (name, write token)."""
    acc = hub.services.accounts
    name = f"m{uuid.uuid4().hex[:8]}"
    acc.create(name, name)
    acc.add_member(hub.org, name, role)
    return name, acc.create_token(name, "push", "write")


# --- pushing content ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(not has_git_lfs(), reason="git-lfs is not installed")
def test_push_plain_and_lfs_files_read_back_through_the_api(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path], hf_cache: Path
) -> None:
    repo_id, work = alice_clone
    text = b"hello from git\n"
    weights = os.urandom(300 * 1024)
    (work / "hello.txt").write_bytes(text)
    (work / "weights.bin").write_bytes(weights)  # *.bin is LFS in the repo's .gitattributes
    git("lfs", "track", "*.bin", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "Add files\n\nwith a body line", cwd=work)
    out = push(git, work, "main")
    assert "1 new commit" in out
    sha = head(git, work)
    commits = live_server.api().list_repo_commits(repo_id)
    assert commits[0].commit_id == sha
    assert commits[0].title == "Add files" and commits[0].message.strip() == "with a body line"
    assert "alice" in commits[0].authors
    assert {"hello.txt", "weights.bin"} <= set(live_server.api().list_repo_files(repo_id))
    for name, data in (("hello.txt", text), ("weights.bin", weights)):
        got = Path(
            hf_hub_download(
                repo_id, name, endpoint=live_server.url, cache_dir=hf_cache, token=live_server.alice
            )
        )
        assert got.read_bytes() == data
    info = {f.path: f for f in live_server.api().list_repo_tree(repo_id)}
    assert info["weights.bin"].lfs is not None
    assert info["weights.bin"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    assert info["hello.txt"].lfs is None


def test_a_push_bigger_than_gits_post_buffer_arrives_whole(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path]
) -> None:
    """Over http.postBuffer (1 MiB) git sends the pack chunked while the server already answers: every byte must
    still reach receive-pack (a disconnect listener reading the request channel early once swallowed the body)."""
    repo_id, work = alice_clone
    for i in range(1500):
        target = work / f"part{i % 15}" / f"f{i}.txt"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(os.urandom(700).hex().encode())  # ~2 MB of incompressible text in all
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "many files", cwd=work)
    push(git, work, "main")
    assert api_head(live_server, repo_id) == head(git, work)
    files = live_server.api().list_repo_files(repo_id)
    assert sum(1 for f in files if f.startswith("part")) == 1500


def test_readme_metadata_pushed_updates_card_and_tags(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path]
) -> None:
    repo_id, work = alice_clone
    tag = f"pushed-{uuid.uuid4().hex[:6]}"
    readme = f"---\nlicense: mit\ntags:\n- {tag}\n---\n# Pushed with git\n".encode()
    commit_file(git, work, "README.md", readme)
    push(git, work, "main")
    info = live_server.api().model_info(repo_id)
    assert info.card_data is not None and info.card_data.get("license") == "mit"
    assert tag in (info.tags or [])
    assert [m.id for m in live_server.api().list_models(filter=tag)] == [repo_id]
    # a push to another branch leaves main's card alone
    git("checkout", "-q", "-b", "dev", cwd=work)
    commit_file(git, work, "README.md", b"---\nlicense: apache-2.0\n---\n")
    push(git, work, "dev")
    assert live_server.api().model_info(repo_id).card_data.get("license") == "mit"


def test_branches_tags_and_deletes(live_server: Hub, git: Git, alice_clone: tuple[str, Path]) -> None:
    repo_id, work = alice_clone
    git("checkout", "-q", "-b", "dev", cwd=work)
    dev = commit_file(git, work, "dev.txt", b"dev\n")
    git("tag", "v1", cwd=work)  # lightweight
    git("tag", "-a", "v2", "-m", "release two\n\nnotes", cwd=work)  # annotated
    push(git, work, "dev", "v1", "v2")
    refs = live_server.api().list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches}["dev"] == dev
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": dev, "v2": dev}
    assert live_server.api().list_repo_commits(repo_id, revision="v2")[0].commit_id == dev
    # the annotated tag comes back as the same tag object
    remote = git("ls-remote", "origin", cwd=work).stdout
    tag_obj = head(git, work, "refs/tags/v2")
    assert f"{tag_obj}\trefs/tags/v2" in remote and f"{dev}\trefs/tags/v2^{{}}" in remote
    # a branch at a commit the hub already has (no new objects)
    push(git, work, "main:from-main")
    assert api_head(live_server, repo_id, "from-main") == head(git, work, "main")
    # deleting by push
    push(git, work, ":dev", ":refs/tags/v1")
    refs = live_server.api().list_repo_refs(repo_id)
    assert "dev" not in {b.name for b in refs.branches}
    assert {t.name for t in refs.tags} == {"v2"}
    # main cannot be deleted
    out = push(git, work, ":main", ok=False)
    assert "the default branch cannot be deleted" in out


def test_executable_bit_kept_through_api_commits_and_clones(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path], clone_url: Callable[..., str], tmp_path: Path
) -> None:
    repo_id, work = alice_clone
    commit_file(git, work, "run.sh", b"#!/bin/sh\necho hi\n", mode=0o755)
    push(git, work, "main")
    again = clone(git, clone_url(repo_id), tmp_path / "again")
    assert git("ls-files", "-s", "run.sh", cwd=again).stdout.startswith("100755 ")
    assert head(git, again) == head(git, work)
    # an API commit on top (editing the script, adding a file) keeps the mode; the clone's ids are the API's
    api = live_server.api()
    api.upload_file(path_or_fileobj=b"#!/bin/sh\necho bye\n", path_in_repo="run.sh", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"more\n", path_in_repo="more.txt", repo_id=repo_id)
    third = clone(git, clone_url(repo_id), tmp_path / "third")
    assert git("ls-files", "-s", "run.sh", cwd=third).stdout.startswith("100755 ")
    assert head(git, third) == api_head(live_server, repo_id)
    git("fsck", "--strict", "--no-dangling", cwd=third)
    # and pulling them into the first clone fast-forwards
    git("pull", "-q", "--ff-only", cwd=work)
    assert head(git, work) == api_head(live_server, repo_id)


def test_merge_commit_round_trips_with_identical_ids(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path], clone_url: Callable[..., str], tmp_path: Path
) -> None:
    repo_id, work = alice_clone
    base = head(git, work)
    git("checkout", "-q", "-b", "side", cwd=work)
    commit_file(git, work, "side.txt", b"side\n")
    git("checkout", "-q", "main", cwd=work)
    commit_file(git, work, "main.txt", b"main\n")
    git("merge", "-q", "--no-ff", "-m", "Merge side", "side", cwd=work)
    # odd but valid commit metadata kept verbatim: another author, a time zone, an empty line in the body
    git(
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "tz\n\n\nbody",
        cwd=work,
        env={"GIT_AUTHOR_NAME": "Zed", "GIT_COMMITTER_DATE": "2020-02-02T10:00:00+0530"},
    )
    push(git, work, "main", "side")
    back = clone(git, clone_url(repo_id), tmp_path / "back")
    git("fetch", "-q", "origin", "side", cwd=back)
    assert log(git, back) == log(git, work)
    assert head(git, back, "origin/side") == head(git, work, "side")
    # the API's history follows first parents
    ids = [c.commit_id for c in live_server.api().list_repo_commits(repo_id)]
    assert ids == git("log", "--first-parent", "--format=%H", cwd=work).stdout.split()
    assert ids[-1] == git("rev-list", "--max-parents=0", "HEAD", cwd=work).stdout.strip()
    assert base in ids


# --- history rules ------------------------------------------------------------------------------------------------
def test_non_fast_forward_needs_force_and_main_needs_an_admin(
    live_server: Hub, git: Git, clone_url: Callable[..., str], repo_name: str, tmp_path: Path
) -> None:
    member, token = new_member(live_server, "write")
    repo_id = make_repo(live_server, repo_name, ns=live_server.org)
    work = clone(git, clone_url(repo_id, token, user=member), tmp_path / "member")
    first = commit_file(git, work, "a.txt", b"1\n")
    push(git, work, "main")
    git("checkout", "-q", "-b", "side", cwd=work)
    commit_file(git, work, "b.txt", b"2\n")
    push(git, work, "side")
    # rewrite both: git itself refuses without --force
    git("commit", "-q", "--amend", "-m", "rewritten side", cwd=work)
    out = push(git, work, "side", ok=False)
    assert "non-fast-forward" in out or "rejected" in out
    push(git, work, "--force", "side")  # a write member may rewrite a side branch
    assert api_head(live_server, repo_id, "side") == head(git, work)
    git("checkout", "-q", "main", cwd=work)
    git("commit", "-q", "--amend", "-m", "rewritten main", cwd=work)
    out = push(git, work, "--force", "main", ok=False)
    assert f"only admins of {live_server.org} may rewrite main's history" in out
    assert api_head(live_server, repo_id) == first
    # an org admin may
    admin, admin_token = new_member(live_server, "admin")
    git("remote", "set-url", "origin", clone_url(repo_id, admin_token, user=admin), cwd=work)
    push(git, work, "--force", "main")
    assert api_head(live_server, repo_id) == head(git, work)


def test_owner_force_pushes_main_of_her_repo(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path]
) -> None:
    repo_id, work = alice_clone
    commit_file(git, work, "a.txt", b"1\n")
    push(git, work, "main")
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    new = commit_file(git, work, "b.txt", b"2\n")
    assert "rejected" in push(git, work, "main", ok=False)
    push(git, work, "--force", "main")
    assert api_head(live_server, repo_id) == new
    assert "a.txt" not in live_server.api().list_repo_files(repo_id)
    # a commit that removes every file (an empty tree)
    git("rm", "-r", "-q", ".", cwd=work)
    git("commit", "-q", "-m", "empty", cwd=work)
    push(git, work, "main")
    assert live_server.api().list_repo_files(repo_id) == []
    assert api_head(live_server, repo_id) == head(git, work)


def test_api_commit_between_fetch_and_push(live_server: Hub, git: Git, alice_clone: tuple[str, Path]) -> None:
    repo_id, work = alice_clone
    live_server.api().upload_file(path_or_fileobj=b"api\n", path_in_repo="api.txt", repo_id=repo_id)
    mine = commit_file(git, work, "mine.txt", b"mine\n")
    out = push(git, work, "main", ok=False)
    assert "fetch first" in out or "rejected" in out
    git("-c", "pull.rebase=false", "pull", "-q", "--no-edit", "origin", "main", cwd=work)
    push(git, work, "main")
    assert api_head(live_server, repo_id) == head(git, work) != mine
    assert {"api.txt", "mine.txt"} <= set(live_server.api().list_repo_files(repo_id))


# --- refused pushes -----------------------------------------------------------------------------------------------
def test_large_plain_file_refused_with_the_hubs_advice(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path]
) -> None:
    repo_id, work = alice_clone
    before = api_head(live_server, repo_id)
    commit_file(git, work, "data/big.txt", b"x" * (10 * MB + MB // 2))
    commit_file(git, work, "small.txt", b"fine\n")
    out = push(git, work, "main", ok=False)
    assert "Your push was rejected because it contains files larger than 10 MiB." in out
    assert "git-lfs" in out
    assert "- data/big.txt (ref: refs/heads/main)" in out
    assert "pre-receive hook declined" in out
    assert api_head(live_server, repo_id) == before
    assert "small.txt" not in live_server.api().list_repo_files(repo_id)
    # exactly 10 MiB is still a plain file
    git("reset", "-q", "--hard", before, cwd=work)
    commit_file(git, work, "data/edge.txt", b"y" * (10 * MB))
    push(git, work, "main")
    entry = {f.path: f for f in live_server.api().list_repo_tree(repo_id, recursive=True)}["data/edge.txt"]
    assert entry.size == 10 * MB and entry.lfs is None


def test_lfs_pointer_to_objects_the_repo_does_not_hold_refused(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path], repo_name: str
) -> None:
    repo_id, work = alice_clone
    # bob's private file: alice cannot reach its bytes by naming its hash in a pointer
    secret = os.urandom(4096)
    bob_repo = make_repo(live_server, repo_name + "-bob", token=live_server.bob, private=True)
    live_server.api(live_server.bob).upload_file(
        path_or_fileobj=secret, path_in_repo="secret.bin", repo_id=bob_repo
    )
    sha = hashlib.sha256(secret).hexdigest()
    before = api_head(live_server, repo_id)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(secret)}\n".encode()
    commit_file(git, work, "stolen.dat", pointer)  # not LFS-tracked: a plain blob that is exactly a pointer
    guessed = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'ab' * 32}\nsize 5\n".encode()
    commit_file(git, work, "guessed.dat", guessed)
    out = push(git, work, "main", ok=False, GIT_LFS_SKIP_PUSH="1")
    assert "LFS pointers to objects this repository does not hold" in out
    assert f"stolen.dat (ref: refs/heads/main): sha256:{sha}" in out
    assert "guessed.dat (ref: refs/heads/main)" in out
    assert "git lfs push" in out
    assert api_head(live_server, repo_id) == before
    # a pointer to an object of the repo's own history is fine (a copy under another name)
    git("reset", "-q", "--hard", before, cwd=work)
    own = os.urandom(2048)
    live_server.api().upload_file(path_or_fileobj=own, path_in_repo="own.bin", repo_id=repo_id)
    git("pull", "-q", "--ff-only", cwd=work, env={"GIT_LFS_SKIP_SMUDGE": "1"})
    own_sha = hashlib.sha256(own).hexdigest()
    commit_file(
        git,
        work,
        "copy.dat",
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{own_sha}\nsize 2048\n".encode(),
    )
    push(git, work, "main", GIT_LFS_SKIP_PUSH="1")
    entry = {f.path: f for f in live_server.api().list_repo_tree(repo_id)}["copy.dat"]
    assert entry.lfs is not None and entry.lfs.sha256 == own_sha


def test_symlinks_hostile_names_and_foreign_refs_refused(
    live_server: Hub, git: Git, alice_clone: tuple[str, Path]
) -> None:
    repo_id, work = alice_clone
    before = api_head(live_server, repo_id)
    (work / "link").symlink_to("README.md")
    git("add", "link", cwd=work)
    git("commit", "-q", "-m", "a link", cwd=work)
    out = push(git, work, "main", ok=False)
    assert "link (ref: refs/heads/main): symbolic links are not supported" in out
    git("reset", "-q", "--hard", before, cwd=work)
    # a name with a control character: git stores it, the hub refuses it (shown quoted)
    (work / "plain.txt").write_bytes(b"x\n")
    blob = git("hash-object", "-w", "plain.txt", cwd=work).stdout.strip()
    git("update-index", "--add", "--cacheinfo", f"100644,{blob},bad\tname.txt", cwd=work)
    git("commit", "-q", "-m", "hostile", cwd=work)
    out = push(git, work, "main", ok=False)
    assert "'bad\\tname.txt' (ref: refs/heads/main)" in out and "control characters" in out
    git("reset", "-q", "--hard", before, cwd=work)
    # refs that are not branches, tags or pull requests; reserved and invalid names
    commit_file(git, work, "ok.txt", b"ok\n")
    out = push(git, work, "HEAD:refs/notes/x", ok=False)
    assert "refs/notes/x: only branches" in out
    out = push(git, work, "HEAD:refs/heads/HEAD", ok=False)
    assert "refs/heads/HEAD: invalid branch name (HEAD is reserved)" in out
    out = push(git, work, "HEAD:refs/heads/a@b", ok=False)
    assert "refs/heads/a@b: invalid branch name" in out
    out = push(git, work, "HEAD:refs/pr/99", ok=False)
    assert "refs/pr/99: there is no open pull request #99" in out
    assert api_head(live_server, repo_id) == before
    assert [b.name for b in live_server.api().list_repo_refs(repo_id).branches] == ["main"]


def test_who_may_push(
    live_server: Hub,
    git: Git,
    alice_clone: tuple[str, Path],
    clone_url: Callable[..., str],
    repo_name: str,
    tmp_path: Path,
) -> None:
    repo_id, work = alice_clone
    before = api_head(live_server, repo_id)
    commit_file(git, work, "x.txt", b"x\n")
    # bob: not a member
    git("remote", "set-url", "origin", clone_url(repo_id, live_server.bob, user="bob"), cwd=work)
    out = push(git, work, "main", ok=False)
    # refused before receive-pack runs (server/git_http.py `_authorize` asks `pushes.check_entry`)
    assert "The requested URL returned error: 403" in out
    svc = live_server.services
    bob = svc.accounts.authenticate(live_server.bob)
    repo = svc.repos.get(RepoType.MODEL, *repo_id.split("/"), bob)
    with pytest.raises(Forbidden):
        svc.pushes.check_entry(bob, repo)
    svc.pushes.check_entry(svc.accounts.authenticate(live_server.alice), repo)
    with pytest.raises(Forbidden):
        svc.pushes.check_entry(svc.accounts.authenticate(live_server.alice_read), repo)
    with pytest.raises(Unauthorized):
        svc.pushes.check_entry(None, repo)
    # alice's read token
    git("remote", "set-url", "origin", clone_url(repo_id, live_server.alice_read), cwd=work)
    out = push(git, work, "main", ok=False)
    assert "The requested URL returned error: 403" in out
    # anonymous: git asks for credentials (prompts are off here)
    git("remote", "set-url", "origin", clone_url(repo_id), cwd=work)
    out = push(git, work, "main", ok=False)
    assert "could not read Username" in out or "Authentication failed" in out
    assert api_head(live_server, repo_id) == before
    # bob and alice's private repo: it does not exist for him
    private = make_repo(live_server, repo_name + "-priv", private=True)
    git("remote", "set-url", "origin", clone_url(private, live_server.bob, user="bob"), cwd=work)
    out = push(git, work, "main", ok=False)
    assert "not found" in out.lower()


def test_pull_request_author_pushes_to_the_pr_ref(
    live_server: Hub, git: Git, clone_url: Callable[..., str], repo_name: str, tmp_path: Path
) -> None:
    repo_id = make_repo(live_server, repo_name)
    bob_api = live_server.api(live_server.bob)
    pr = bob_api.create_pull_request(repo_id, title="Bob's change")
    work = clone(git, clone_url(repo_id, live_server.bob, user="bob"), tmp_path / "bob")
    git("fetch", "-q", "origin", f"refs/pr/{pr.num}", cwd=work)
    git("checkout", "-q", "FETCH_HEAD", cwd=work)
    sha = commit_file(git, work, "bob.txt", b"bob\n", message="Bob's file")
    svc = live_server.services
    bob = svc.accounts.authenticate(live_server.bob)
    svc.pushes.check_entry(
        bob, svc.repos.get(RepoType.MODEL, *repo_id.split("/"), bob)
    )  # his open PR lets him in
    push(git, work, f"HEAD:refs/pr/{pr.num}")
    assert live_server.api().list_repo_commits(repo_id, revision=f"refs/pr/{pr.num}")[0].commit_id == sha
    details = live_server.api().get_discussion_details(repo_id, pr.num)
    assert any(e.type == "commit" and getattr(e, "oid", None) == sha for e in details.events)
    # but not to main, and not to a tag
    out = push(git, work, "HEAD:main", "HEAD:refs/tags/bob", ok=False)
    assert (
        "refs/heads/main: You don't have write access" in out
        and "refs/tags/bob: you don't have write access" in out
    )
    assert "bob.txt" not in live_server.api().list_repo_files(repo_id)


def test_apply_is_all_or_nothing_when_a_ref_moved(live_server: Hub, repo_name: str) -> None:
    """The database side alone: a push whose view of one ref is stale writes no commit and moves no ref."""

    svc = live_server.services
    repo_id = make_repo(live_server, repo_name)
    alice = svc.accounts.authenticate(live_server.alice)
    repo = svc.repos.get(RepoType.MODEL, *repo_id.split("/"), alice)
    old = api_head(live_server, repo_id)
    files = svc.files.manifest(repo, old)
    tree = revisions.tree_of(files)[""]
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    raw = commit_body(tree, old, "someone", when, "same files\n\nagain")
    c = ImportedCommit(raw, old, tree, files, set(), "alice", "same files", "again", when)
    main = MainHead(files, None, False)
    stale = [RefChange("branch", "main", old, c.sha), RefChange("branch", "dev", "1" * 40, c.sha)]
    with pytest.raises(Conflict, match="refs/heads/dev moved since you fetched"):
        svc.pushes.pushes.apply("alice", repo, [c], stale, main)
    assert api_head(live_server, repo_id) == old
    with svc.db.read() as conn, pytest.raises(RevisionNotFound):
        revisions.get_commit(conn, repo.id, c.sha)
    result = svc.pushes.pushes.apply(
        "alice",
        repo,
        [c],
        [RefChange("branch", "main", old, c.sha), RefChange("branch", "dev", None, c.sha)],
        main,
    )
    assert result.imported == 1
    assert api_head(live_server, repo_id) == api_head(live_server, repo_id, "dev") == c.sha
    with svc.db.read() as conn:
        assert revisions.commit_object(conn, repo.id, c.sha) == raw


def test_push_to_a_dataset(
    live_server: Hub, git: Git, clone_url: Callable[..., str], repo_name: str, tmp_path: Path
) -> None:
    api = live_server.api()
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id, repo_type="dataset")
    work = clone(git, clone_url(repo_id, live_server.alice, repo_type="dataset"), tmp_path / "ds")
    sha = commit_file(git, work, "data/train.csv", b"a,b\n1,2\n")
    push(git, work, "main")
    assert api.list_repo_commits(repo_id, repo_type="dataset")[0].commit_id == sha
    assert "data/train.csv" in api.list_repo_files(repo_id, repo_type="dataset")
