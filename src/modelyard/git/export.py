"""Write the git objects of database commits into a bare mirror: commits, trees, blobs, annotated tags.

Every object is rebuilt from the database (hub/gitobjects.py) and checked against the id the database names
before it is written; a mismatch is an error, never a silently different history. Objects go in through dulwich
(packs of at most `PACK_BYTES`), so memory stays bounded whatever the history's size."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ShaFile, Tag, Tree

from modelyard.db import Database
from modelyard.hub import revisions
from modelyard.hub.content import Content
from modelyard.hub.gitobjects import object_sha, tree_objects
from modelyard.storage.hashing import lfs_pointer

PACK_BYTES = 32 * 1024**2  # objects buffered before a pack is written
_KINDS: dict[str, type[ShaFile]] = {"blob": Blob, "tree": Tree, "commit": Commit, "tag": Tag}


class ExportError(Exception):
    """The database and the object it names disagree (a bug or corruption): nothing is written for it."""


class ObjectProbe:
    """Which object ids a git repository already has: one `git cat-file --batch-check` process, reused."""

    def __init__(self, git_dir: Path) -> None:
        self._proc = subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch-check=%(objectname)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.known: set[str] = set()  # present, or written by this export

    def has(self, sha: str) -> bool:
        if sha in self.known:
            return True
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(sha.encode() + b"\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline().decode().strip()
        found = not line.endswith(" missing")
        if found:
            self.known.add(sha)
        return found

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)

    def __enter__(self) -> ObjectProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parents_of(raw: bytes) -> list[str]:
    """The parent ids in a commit object's header."""
    out: list[str] = []
    for line in raw.split(b"\n"):
        if not line:
            break
        if line.startswith(b"parent "):
            out.append(line[7:47].decode())
    return out


class _PackWriter:
    def __init__(self, git_dir: Path) -> None:
        self.store = DiskObjectStore(str(git_dir / "objects"))
        self.pending: list[tuple[ShaFile, None]] = []
        self.size = 0
        self.written = 0

    def add(self, kind: str, body: bytes, expect: str) -> None:
        sha = object_sha(kind, body)
        if sha != expect:
            raise ExportError(f"{kind} {expect}: the database's content hashes to {sha}")
        obj = _KINDS[kind].from_raw_string(_KINDS[kind].type_num, body)
        self.pending.append((obj, None))
        self.size += len(body)
        if self.size >= PACK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.store.add_objects(self.pending)
            self.written += len(self.pending)
        self.pending, self.size = [], 0


def _missing_commits(db: Database, repo_id: int, tips: Iterable[str], probe: ObjectProbe) -> list[str]:
    """Commits reachable from `tips` that the mirror lacks (every parent walked, merges included)."""
    out: list[str] = []
    seen: set[str] = set()
    stack = [t for t in tips]
    with db.read() as conn:
        while stack:
            sha = stack.pop()
            if sha in seen or probe.has(sha):
                continue
            seen.add(sha)
            out.append(sha)
            stack.extend(parents_of(revisions.commit_object(conn, repo_id, sha)))
    return out


def _blob_bytes(content: Content, e: revisions.FileEntry) -> bytes:
    return lfs_pointer(e.sha256, e.size) if e.lfs else content.read(e.sha256, 0, e.size)


def write_objects(
    db: Database, content: Content, repo_id: int, git_dir: Path, refs: list[revisions.Ref]
) -> int:
    """Write every object the refs need that `git_dir` lacks; the number of objects written."""
    writer = _PackWriter(git_dir)
    with ObjectProbe(git_dir) as probe:
        for sha in _missing_commits(db, repo_id, {r.commit_sha for r in refs}, probe):
            with db.read() as conn:
                raw = revisions.commit_object(conn, repo_id, sha)
                files = revisions.manifest(conn, repo_id, sha)
                tree_sha = revisions.get_commit(conn, repo_id, sha).tree_sha
            trees = tree_objects((p, e.oid, e.mode) for p, e in files.items())
            if trees[""][0] != tree_sha:
                raise ExportError(f"commit {sha}: its files hash to tree {trees[''][0]}, not {tree_sha}")
            for e in files.values():
                if not probe.has(e.oid):
                    writer.add("blob", _blob_bytes(content, e), e.oid)
                    probe.known.add(e.oid)
            for tsha, body in trees.values():
                if not probe.has(tsha):
                    writer.add("tree", body, tsha)
                    probe.known.add(tsha)
            writer.add("commit", raw, sha)
            probe.known.add(sha)
        for r in refs:
            if r.tag_raw is not None and not probe.has(r.object_sha):
                writer.add("tag", r.tag_raw, r.object_sha)
                probe.known.add(r.object_sha)
        writer.flush()
    return writer.written


def iter_ref_lines(refs: list[revisions.Ref]) -> Iterator[tuple[str, str]]:
    """(full ref name, object id) of every database ref, as the mirror must advertise them."""
    for r in refs:
        yield r.full, r.object_sha
