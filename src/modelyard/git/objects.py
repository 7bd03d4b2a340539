"""Reading git objects with C git: one long-lived `cat-file --batch` for bodies, one `--batch-check` per lookup
of types and sizes, `diff-tree --stdin` for the changes of many commits, and the parsers of commit and tag objects
and of canonical LFS pointers. Used with receive-pack's quarantine environment by the push import (receive.py).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from modelyard.git.hook import GIT_VARS
from modelyard.storage.hashing import lfs_pointer

GIT_TIMEOUT = 600
_POINTER_RE = re.compile(
    rb"\Aversion https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n\Z"
)


@dataclass(frozen=True)
class Change:
    path: bytes
    mode: int  # 0: deleted
    oid: str


@dataclass(frozen=True)
class ParsedCommit:
    sha: str
    raw: bytes
    tree: str
    parents: list[str]
    committed_at: datetime
    title: str
    message: str


class GitObjects:
    """The objects git sees from the pre-receive hook: the quarantined push and the mirror (its alternate)."""

    def __init__(self, git_dir: Path, hook_env: dict[str, str]) -> None:
        self.git_dir = git_dir
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(git_dir.parent),  # no user config of the server account leaks in
            "GIT_CONFIG_NOSYSTEM": "1",
            **{k: v for k, v in hook_env.items() if k in GIT_VARS},
        }
        self._cat: subprocess.Popen[bytes] | None = None

    def run(
        self, *args: str, stdin: bytes = b"", codes: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        p = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=GIT_TIMEOUT,
        )
        if p.returncode not in codes:
            raise RuntimeError(f"git {args[0]} failed ({p.returncode}): {p.stderr[-2000:].decode('replace')}")
        return p

    def kinds(self, oids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """oid -> (type, size) of each object present (one `cat-file --batch-check`)."""
        wanted = list(dict.fromkeys(oids))
        if not wanted:
            return {}
        out = self.run(
            "cat-file",
            "--batch-check=%(objectname) %(objecttype) %(objectsize)",
            stdin="\n".join(wanted).encode() + b"\n",
        ).stdout.decode()
        found: dict[str, tuple[str, int]] = {}
        for line in out.splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[1] != "missing":
                found[parts[0]] = (parts[1], int(parts[2]))
        return found

    def read(self, oid: str) -> tuple[str, bytes]:
        """(type, body) of one object, through one long-lived `cat-file --batch`."""
        if self._cat is None:
            self._cat = subprocess.Popen(
                ["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self.env,
            )
        stdin: IO[bytes] | None = self._cat.stdin
        stdout: IO[bytes] | None = self._cat.stdout
        assert stdin is not None and stdout is not None
        stdin.write(oid.encode() + b"\n")
        stdin.flush()
        head = stdout.readline().decode().split()
        if len(head) != 3:
            raise RuntimeError(f"git cat-file: object {oid} is missing")
        size = int(head[2])
        body = stdout.read(size)
        stdout.read(1)  # the newline after the body
        if len(body) != size:
            raise RuntimeError(f"git cat-file: object {oid} was cut short")
        return head[1], body

    def is_ancestor(self, old: str, new: str) -> bool:
        return self.run("merge-base", "--is-ancestor", old, new, codes=(0, 1)).returncode == 0

    def new_commits(self, tip: str) -> list[str]:
        """Commits reachable from `tip` and from no ref of the mirror, parents first."""
        out = self.run("rev-list", "--topo-order", "--reverse", tip, "--not", "--all").stdout.decode()
        return out.split()

    def changes(self, pairs: Sequence[tuple[str, str | None]]) -> dict[str, list[Change]]:
        """Each commit's changed files against the given parent (None: a root commit, every file added)."""
        if not pairs:
            return {}
        lines = "".join(f"{c} {p}\n" if p else f"{c}\n" for c, p in pairs)
        out = self.run(
            "diff-tree",
            "--stdin",
            "--always",
            "--root",
            "-r",
            "-z",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            stdin=lines.encode(),
        ).stdout
        result: dict[str, list[Change]] = {c: [] for c, _ in pairs}
        tokens = out.split(b"\0")
        current: list[Change] | None = None
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.startswith(b":"):
                meta = tok[1:].split(b" ")  # old mode, new mode, old oid, new oid, status
                if current is None or len(meta) < 5 or i + 1 >= len(tokens):
                    raise RuntimeError("git diff-tree: unexpected output")
                current.append(Change(tokens[i + 1], int(meta[1], 8), meta[3].decode()))
                i += 2
                continue
            if tok:
                current = result.setdefault(tok.decode().strip(), [])
            i += 1
        return result

    def close(self) -> None:
        if self._cat is not None:
            if self._cat.stdin:
                self._cat.stdin.close()
            try:
                self._cat.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._cat.kill()
                self._cat.wait()
            if self._cat.stdout:
                self._cat.stdout.close()
            self._cat = None


def _when(ident: bytes) -> datetime:
    """The date of an author/committer line's value: ``Name <mail> 1700000000 +0100`` -> aware UTC."""
    parts = ident.rsplit(b" ", 2)
    try:
        return datetime.fromtimestamp(int(parts[-2]), UTC)
    except (ValueError, IndexError, OverflowError, OSError):
        return datetime.now(UTC)


def _headers(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    head, _, body = raw.partition(b"\n\n")
    headers: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\n"):
        if line.startswith(b" "):  # continuation (gpgsig, mergetag)
            continue
        key, _, value = line.partition(b" ")
        headers.append((key, value))
    return headers, body


def split_message(text: str) -> tuple[str, str]:
    """(title, message): the first line, and the rest without its leading blank lines."""
    first, _, rest = text.partition("\n")
    return first.strip(), rest.lstrip("\n").rstrip()


def parents_of(raw: bytes) -> list[str]:
    """The parent ids in a commit object's header."""
    return [v.decode() for k, v in _headers(raw)[0] if k == b"parent"]


def parse_commit(sha: str, raw: bytes) -> ParsedCommit:
    headers, body = _headers(raw)
    tree = next((v.decode() for k, v in headers if k == b"tree"), "")
    parents = parents_of(raw)
    committer = next((v for k, v in headers if k == b"committer"), b"")
    title, message = split_message(body.decode("utf-8", "replace"))
    return ParsedCommit(sha, raw, tree, parents, _when(committer), title, message)


def parse_tag(raw: bytes) -> tuple[str, str, str]:
    """(object id, object type, message) of an annotated tag object."""
    headers, body = _headers(raw)
    obj = next((v.decode() for k, v in headers if k == b"object"), "")
    kind = next((v.decode() for k, v in headers if k == b"type"), "")
    text = body.decode("utf-8", "replace")
    text = text.split("-----BEGIN PGP SIGNATURE-----", 1)[0].split("-----BEGIN SSH SIGNATURE-----", 1)[0]
    return obj, kind, text.strip()


def lfs_pointer_of(data: bytes) -> tuple[str, int] | None:
    """(sha256, size) if `data` is exactly a canonical LFS pointer (what git-lfs writes and the Hub serves)."""
    m = _POINTER_RE.match(data)
    if m is None:
        return None
    sha256, size = m.group(1).decode(), int(m.group(2))
    return (sha256, size) if lfs_pointer(sha256, size) == data else None
