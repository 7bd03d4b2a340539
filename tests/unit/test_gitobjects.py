"""Git object ids and bodies (hub/gitobjects.py) against C git itself, and the export's incremental trees
(git/export.py `TreeBuilder`) against the from-scratch `tree_objects` over random histories."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelyard.git.export import TreeBuilder
from modelyard.git.objects import parents_of
from modelyard.hub.gitobjects import (
    MODE_EXEC,
    MODE_FILE,
    blob_sha1,
    commit_body,
    commit_sha1,
    object_sha,
    tree_objects,
    tree_shas,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=repo, input=data, capture_output=True, check=True, env=env
    ).stdout.decode()


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "r.git")], check=True)
    return tmp_path / "r.git"


def test_known_ids() -> None:
    assert blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
    assert blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert object_sha("tree", b"") == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree


@needs_git
def test_trees_and_commits_match_git(bare: Path) -> None:
    rnd = random.Random(7)
    files: list[tuple[str, str, int]] = []
    for i in range(60):
        depth = rnd.randrange(4)
        parts = [rnd.choice(["a", "a-b", "a.b", "a0", "b", "é", "sub dir"]) for _ in range(depth)]
        path = "/".join([*parts, f"f{i}{rnd.choice(['', '.txt', '-x', '.'])}"]).rstrip(".")
        data = os.urandom(rnd.randrange(40))
        oid = _git(bare, "hash-object", "-w", "--stdin", data=data).strip()
        assert oid == blob_sha1(data)
        files.append((path, oid, rnd.choice([MODE_FILE, MODE_EXEC])))
    by_path = {p: (o, m) for p, o, m in files}
    # names that sort differently as a file and as a directory ("a" < "a-b" < "a.b" < "a/" …) are included
    trees = tree_objects((p, o, m) for p, (o, m) in by_path.items())
    for d, (sha, body) in trees.items():
        assert _git(bare, "hash-object", "-w", "-t", "tree", "--stdin", data=body).strip() == sha, d
    # git's own tree of the same files (through an index) has the same id
    env_index = bare / "idx"
    info = "".join(f"{m:o} {o}\t{p}\n" for p, (o, m) in by_path.items())
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(bare),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_INDEX_FILE": str(env_index),
    }
    subprocess.run(
        ["git", "update-index", "--index-info"], cwd=bare, input=info.encode(), env=env, check=True
    )
    git_tree = subprocess.run(["git", "write-tree"], cwd=bare, env=env, capture_output=True, check=True)
    assert git_tree.stdout.decode().strip() == trees[""][0]
    assert tree_shas([(p, o, m) for p, (o, m) in by_path.items()]) == {d: s for d, (s, _) in trees.items()}

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = commit_body(trees[""][0], None, "alice", when, "first\n\nbody")
    sha = _git(bare, "hash-object", "-w", "-t", "commit", "--stdin", data=body).strip()
    assert sha == commit_sha1(trees[""][0], None, "alice", when, "first\n\nbody")
    child = commit_body(trees[""][0], sha, "alice", when, "second")
    child_sha = _git(bare, "hash-object", "-w", "-t", "commit", "--stdin", data=child).strip()
    assert parents_of(child) == [sha] and parents_of(body) == []
    _git(bare, "fsck", "--strict", "--no-dangling")  # every object well-formed
    assert _git(bare, "log", "--format=%H %an %at %s", child_sha).split("\n")[:2] == [
        f"{child_sha} alice {int(when.timestamp())} second",
        f"{sha} alice {int(when.timestamp())} first",
    ]


def test_parents_of_a_merge() -> None:
    a, b = "1" * 40, "2" * 40
    raw = f"tree {'3' * 40}\nparent {a}\nparent {b}\nauthor x <x> 1 +0000\n\nparent {'4' * 40}\n".encode()
    assert parents_of(raw) == [a, b]  # a "parent" line in the message is not a parent


def _random_history(rnd: random.Random, steps: int) -> list[dict[str, tuple[str, int]]]:
    names = ["a", "a-b", "a.b", "b", "c", "d.txt", "z"]
    files: dict[str, tuple[str, int]] = {}
    out = []
    for _ in range(steps):
        for _ in range(rnd.randrange(1, 6)):
            op = rnd.random()
            if op < 0.5 or not files:
                depth = rnd.randrange(4)
                path = "/".join(rnd.choice(names) for _ in range(depth + 1))
                # no file where a directory is, and the reverse (the database never holds both)
                if any(p.startswith(path + "/") for p in files) or any(
                    path.startswith(p + "/") for p in files
                ):
                    continue
                files[path] = (os.urandom(20).hex(), rnd.choice([MODE_FILE, MODE_EXEC]))
            elif op < 0.8:
                del files[rnd.choice(sorted(files))]
            else:
                p = rnd.choice(sorted(files))
                files[p] = (os.urandom(20).hex(), files[p][1])
        if files:
            out.append(dict(files))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_tree_builder_matches_tree_objects(seed: int) -> None:
    rnd = random.Random(seed)
    history = _random_history(rnd, 80)
    if seed % 3 == 0:
        rnd.shuffle(history)  # unrelated manifests one after the other (the export jumps between branches)
    builder = TreeBuilder()
    known: dict[str, str] = {}
    for files in history:
        built = builder.update(files)
        expected = tree_objects((p, o, m) for p, (o, m) in files.items())
        assert builder.trees[""][0] == expected[""][0]
        assert builder.trees == expected  # every live directory, no stale one
        for d, (sha, body) in built.items():
            assert expected[d] == (sha, body)
            known[sha] = d
        # whatever was not rebuilt was built before (so the export already wrote it)
        assert all(sha in known for sha, _ in expected.values())


def test_tree_builder_file_becomes_directory() -> None:
    b = TreeBuilder()
    one = {"a": ("1" * 40, MODE_FILE), "b/c": ("2" * 40, MODE_FILE)}
    two = {"a/x": ("3" * 40, MODE_FILE), "b": ("4" * 40, MODE_EXEC)}
    for files in (one, two, one, {"only": ("5" * 40, MODE_FILE)}):
        b.update(files)
        assert b.trees == tree_objects((p, o, m) for p, (o, m) in files.items())
