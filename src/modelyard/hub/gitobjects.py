"""Git object ids for our SQL commit model: blob sha1, tree sha1 and commit sha1, exactly as git computes them.

The bodies are built here too (`tree_objects`, `commit_body`), so the history can be written out as git objects
(modelyard/git/export.py) and a commit id checked against the object it names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

MODE_FILE = 0o100644
MODE_EXEC = 0o100755
FILE_MODES = frozenset({MODE_FILE, MODE_EXEC})  # what a commit may hold (no symlinks, no submodules)


def object_sha(kind: str, body: bytes) -> str:
    """The git id of an object of `kind` ("blob", "tree", "commit", "tag") with this body."""
    h = hashlib.sha1(f"{kind} {len(body)}\0".encode())
    h.update(body)
    return h.hexdigest()


def blob_sha1(data: bytes) -> str:
    return object_sha("blob", data)


@dataclass
class _Dir:
    files: dict[str, tuple[str, int]]
    dirs: dict[str, _Dir]


def tree_objects(files: Iterable[tuple[str, str, int]]) -> dict[str, tuple[str, bytes]]:
    """Every directory ('' = root) of (path, blob sha1, mode) triples -> (its git tree sha1, the tree's body)."""
    root = _Dir({}, {})
    for path, oid, mode in files:
        node = root
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.dirs.setdefault(p, _Dir({}, {}))
        node.files[leaf] = (oid, mode)
    out: dict[str, tuple[str, bytes]] = {}

    def visit(node: _Dir, prefix: str) -> str:
        entries: list[tuple[bytes, bytes]] = []
        for name, (oid, mode) in node.files.items():
            raw = name.encode()
            entries.append((raw, b"%o " % mode + raw + b"\0" + bytes.fromhex(oid)))
        for name, sub in node.dirs.items():
            sha = visit(sub, f"{prefix}{name}/")
            raw = name.encode()
            entries.append((raw + b"/", b"40000 " + raw + b"\0" + bytes.fromhex(sha)))
        entries.sort(key=lambda e: e[0])
        body = b"".join(e[1] for e in entries)
        sha = object_sha("tree", body)
        out[prefix.rstrip("/")] = (sha, body)
        return sha

    visit(root, "")
    return out


def tree_shas(files: Iterable[tuple[str, str] | tuple[str, str, int]]) -> dict[str, str]:
    """Map every directory ('' = root) of (path, blob_sha1[, mode]) to its git tree sha1."""
    triples = ((f[0], f[1], f[2] if len(f) > 2 else MODE_FILE) for f in files)  # type: ignore[misc]
    return {d: sha for d, (sha, _) in tree_objects(triples).items()}


def _timestamp(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def commit_body(tree: str, parent: str | None, author: str, when: datetime, message: str) -> bytes:
    """The commit object of a commit made through the API (hub account `author`, UTC, one parent or none)."""
    ident = f"{author} <{author}@users.noreply.modelyard> {_timestamp(when)} +0000"
    lines = [f"tree {tree}"]
    if parent:
        lines.append(f"parent {parent}")
    lines += [f"author {ident}", f"committer {ident}", "", message]
    body = "\n".join(lines)
    if not body.endswith("\n"):
        body += "\n"
    return body.encode()


def commit_sha1(tree: str, parent: str | None, author: str, when: datetime, message: str) -> str:
    return object_sha("commit", commit_body(tree, parent, author, when, message))
