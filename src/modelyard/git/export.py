"""Write the git objects of database commits into a bare mirror: commits, trees, blobs, annotated tags.

Every object is rebuilt from the database (hub/gitobjects.py) and checked against the id the database names
before it is written; a mismatch is an error, never a silently different history. Objects go in through dulwich
(packs of at most `PACK_BYTES`), so memory stays bounded whatever the history's size.

Consecutive commits mostly differ in a few files, so the trees are built incrementally (`TreeBuilder`): only the
directories on the paths of changed files are hashed again, the rest come from the previous commit's trees."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ShaFile, Tag, Tree
from sqlalchemy import Connection

from modelyard.db import Database
from modelyard.git.objects import parents_of
from modelyard.hub import revisions
from modelyard.hub.content import Content
from modelyard.hub.gitobjects import object_sha
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


def _missing_commits(
    db: Database, repo_id: int, tips: Iterable[str], probe: ObjectProbe
) -> list[tuple[str, bytes]]:
    """Commits reachable from `tips` that the mirror lacks (every parent walked, merges included), each with its
    object (read once, here, and written as it is)."""
    out: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    stack = list(tips)
    with db.read() as conn:
        while stack:
            sha = stack.pop()
            if sha in seen or probe.has(sha):
                continue
            seen.add(sha)
            raw = revisions.commit_object(conn, repo_id, sha)
            out.append((sha, raw))
            stack.extend(parents_of(raw))
    return out


@dataclass(frozen=True)
class _File:
    oid: str  # git blob id
    mode: int
    sha256: str
    size: int
    lfs: bool


def _files(rows: list[revisions.GitRow]) -> dict[str, _File]:
    return {r[0]: _File(*r[1:]) for r in rows}


@dataclass
class _Dir:
    entries: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # name -> (sort key, tree entry)


class TreeBuilder:
    """The git trees of successive manifests, each built from the previous one: a directory is hashed again only
    when a file below it changed. `update` and `apply` answer the trees of the new manifest that were (re)built,
    the root's included ('' = root), as `gitobjects.tree_objects` would build them; `trees` holds them all."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, int]] = {}
        self.dirs: dict[str, _Dir] = {"": _Dir()}
        self.trees: dict[str, tuple[str, bytes]] = {}

    @staticmethod
    def _parent(path: str) -> tuple[str, str]:
        head, _, leaf = path.rpartition("/")
        return head, leaf

    def update(self, files: dict[str, tuple[str, int]]) -> dict[str, tuple[str, bytes]]:
        """Go to the manifest `files` (path -> (blob id, mode))."""
        changes: dict[str, tuple[str, int] | None] = {p: None for p in self.files if p not in files}
        changes.update((p, v) for p, v in files.items() if self.files.get(p) != v)
        return self.apply(changes)

    def apply(self, changes: dict[str, tuple[str, int] | None]) -> dict[str, tuple[str, bytes]]:
        """Go to the manifest that differs from the current one by `changes` (None: the path is deleted)."""
        dirty: set[str] = set()
        if not self.trees:
            dirty.add("")
        for path, value in changes.items():  # deletions first: a file may become a directory, and back
            if value is None and path in self.files:
                self._remove(path, dirty)
                del self.files[path]
        for path, value in changes.items():
            if value is not None:
                self._put(path, value, dirty)
                self.files[path] = value
        built: dict[str, tuple[str, bytes]] = {}
        for d in sorted(dirty, key=lambda x: x.count("/") if x else -1, reverse=True):  # deepest first
            node = self.dirs.get(d)
            if node is None:  # emptied and removed
                continue
            body = b"".join(e[1] for _, e in sorted(node.entries.items(), key=lambda kv: kv[1][0]))
            sha = object_sha("tree", body)
            self.trees[d] = built[d] = (sha, body)
            if d:
                parent, leaf = self._parent(d)
                raw = leaf.encode()
                self.dirs[parent].entries[leaf] = (raw + b"/", b"40000 " + raw + b"\0" + bytes.fromhex(sha))
        return built

    def _mark(self, path: str, dirty: set[str]) -> None:
        """Every directory above `path` must be hashed again."""
        d = path
        while d:
            d = self._parent(d)[0]
            dirty.add(d)

    def _put(self, path: str, value: tuple[str, int], dirty: set[str]) -> None:
        oid, mode = value
        d, leaf = self._parent(path)
        self._ensure(d)
        raw = leaf.encode()
        self.dirs[d].entries[leaf] = (raw, b"%o " % mode + raw + b"\0" + bytes.fromhex(oid))
        self._mark(path, dirty)

    def _ensure(self, d: str) -> None:
        """`d` and its missing ancestors exist (their entries in their parents come when they are built)."""
        while d not in self.dirs:
            self.dirs[d] = _Dir()
            d = self._parent(d)[0]

    def _remove(self, path: str, dirty: set[str]) -> None:
        d, leaf = self._parent(path)
        self.dirs[d].entries.pop(leaf, None)
        self._mark(path, dirty)
        while d and not self.dirs[d].entries:  # git has no empty trees: drop the directory from its parent
            del self.dirs[d]
            self.trees.pop(d, None)
            parent, name = self._parent(d)
            self.dirs[parent].entries.pop(name, None)
            d = parent


def _blob_bytes(content: Content, f: _File) -> bytes:
    return lfs_pointer(f.sha256, f.size) if f.lfs else content.read(f.sha256, 0, f.size)


def _delta(
    conn: Connection, repo_id: int, sha: str, parent: dict[str, _File]
) -> dict[str, _File | None] | None:
    """The files of commit `sha` that differ from its parent's (`parent`, its manifest), read without reading the
    whole manifest: the rows the commit itself last changed. None when files were deleted (read it all then)."""
    count = revisions.file_count(conn, repo_id, sha)
    changed = _files(revisions.git_rows(conn, repo_id, sha, changed_only=True))
    if len(parent) + sum(1 for p in changed if p not in parent) != count:
        return None
    return {p: f for p, f in changed.items() if parent.get(p) != f}  # (no None: nothing was deleted)


class _Export:
    """Walks commits, parents before children where it can, keeping the last commit's manifest and trees."""

    def __init__(self, db: Database, content: Content, repo_id: int, probe: ObjectProbe, writer: _PackWriter):
        self.db, self.content, self.repo_id, self.probe, self.writer = db, content, repo_id, probe, writer
        self.trees = TreeBuilder()
        self.files: dict[str, _File] = {}  # the manifest of `self.commit`
        self.commit: str | None = None

    def write_commit(self, sha: str, raw: bytes) -> None:
        with self.db.read() as conn:
            tree_sha = revisions.get_commit(conn, self.repo_id, sha).tree_sha
            changes: dict[str, _File | None] | None = None
            if self.commit is not None and parents_of(raw)[:1] == [self.commit]:
                changes = _delta(conn, self.repo_id, sha, self.files)
            built = self._go(changes) if changes is not None else {}
            if changes is None or self.trees.trees[""][0] != tree_sha:
                # a first commit, another line of history, deleted files (or rows the shortcut misread): all of it
                if changes is not None:  # the shortcut went wrong: start again from nothing
                    self.trees, self.files = TreeBuilder(), {}
                changes = self._full_changes(conn, sha)
                built = self._go(changes)
        root = self.trees.trees[""][0]
        if root != tree_sha:
            raise ExportError(f"commit {sha}: its files hash to tree {root}, not {tree_sha}")
        for f in changes.values():
            if f is not None and not self.probe.has(f.oid):
                self.writer.add("blob", _blob_bytes(self.content, f), f.oid)
                self.probe.known.add(f.oid)
        for tsha, body in built.values():
            if not self.probe.has(tsha):
                self.writer.add("tree", body, tsha)
                self.probe.known.add(tsha)
        self.writer.add("commit", raw, sha)
        self.probe.known.add(sha)
        self.commit = sha

    def _full_changes(self, conn: Connection, sha: str) -> dict[str, _File | None]:
        files = _files(revisions.git_rows(conn, self.repo_id, sha))
        changes: dict[str, _File | None] = {p: None for p in self.files if p not in files}
        changes.update((p, f) for p, f in files.items() if self.files.get(p) != f)
        return changes

    def _go(self, changes: Mapping[str, _File | None]) -> dict[str, tuple[str, bytes]]:
        for path, f in changes.items():
            if f is None:
                self.files.pop(path, None)
            else:
                self.files[path] = f
        return self.trees.apply({p: (f.oid, f.mode) if f else None for p, f in changes.items()})


def write_objects(
    db: Database, content: Content, repo_id: int, git_dir: Path, refs: list[revisions.Ref]
) -> int:
    """Write every object the refs need that `git_dir` lacks; the number of objects written."""
    writer = _PackWriter(git_dir)
    with ObjectProbe(git_dir) as probe:
        export = _Export(db, content, repo_id, probe, writer)
        for sha, raw in reversed(_missing_commits(db, repo_id, {r.commit_sha for r in refs}, probe)):
            export.write_commit(sha, raw)
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
