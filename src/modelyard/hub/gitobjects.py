"""Git object ids for our SQL commit model: blob sha1, tree sha1 and commit sha1, exactly as git computes them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


def _obj(kind: str, body: bytes) -> str:
    h = hashlib.sha1(f"{kind} {len(body)}\0".encode())
    h.update(body)
    return h.hexdigest()


def blob_sha1(data: bytes) -> str:
    return _obj("blob", data)


@dataclass
class _Dir:
    files: dict[str, str]
    dirs: dict[str, _Dir]


def tree_shas(files: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map every directory ('' = root) of (path, blob_sha1) pairs to its git tree sha1."""
    root = _Dir({}, {})
    for path, oid in files:
        node = root
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.dirs.setdefault(p, _Dir({}, {}))
        node.files[leaf] = oid
    out: dict[str, str] = {}

    def visit(node: _Dir, prefix: str) -> str:
        entries: list[tuple[bytes, bytes]] = []
        for name, oid in node.files.items():
            entries.append((name.encode(), b"100644 " + name.encode() + b"\0" + bytes.fromhex(oid)))
        for name, sub in node.dirs.items():
            sha = visit(sub, f"{prefix}{name}/")
            entries.append((name.encode() + b"/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(sha)))
        entries.sort(key=lambda e: e[0])
        sha = _obj("tree", b"".join(e[1] for e in entries))
        out[prefix.rstrip("/")] = sha
        return sha

    visit(root, "")
    return out


def commit_sha1(tree: str, parent: str | None, author: str, when: datetime, message: str) -> str:
    ts = int(when.timestamp())
    ident = f"{author} <{author}@users.noreply.modelyard> {ts} +0000"
    lines = [f"tree {tree}"]
    if parent:
        lines.append(f"parent {parent}")
    lines += [f"author {ident}", f"committer {ident}", "", message]
    body = "\n".join(lines)
    if not body.endswith("\n"):
        body += "\n"
    return _obj("commit", body.encode())
