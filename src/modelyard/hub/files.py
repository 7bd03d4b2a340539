"""Upload/download orchestration: preupload, LFS objects, commits, tree listings, resolve.  owns: lfs_objects

Rule: blobs are durable before any row names them; no write transaction is held while bytes stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import select

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import commit_files, lfs_objects
from modelyard.errors import (
    BadPayload,
    BadRequest,
    EntryNotFound,
    InvalidPath,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
)
from modelyard.hub import discussions, revisions
from modelyard.hub._time import now
from modelyard.hub.accounts import Principal
from modelyard.hub.cards import parse_card
from modelyard.hub.commits import AddFile, AddLfs, CommitRequest, Delete
from modelyard.hub.content import Content
from modelyard.hub.events import HubEvent, RefUpdate, branch_ref
from modelyard.hub.gitobjects import MODE_FILE, blob_sha1
from modelyard.hub.paths import gitignore_rules, gitignored, lfs_patterns, matches_lfs, validate_path
from modelyard.hub.repos import Repo, Repos
from modelyard.hub.revisions import Commit, FileEntry
from modelyard.storage import BlobStore
from modelyard.storage.hashing import lfs_pointer

REGULAR_MAX = 10 * 1024 * 1024
FILE_MISSING = "A file with this name doesn't exist"


@dataclass(frozen=True)
class TreeEntry:
    type: str  # "file" | "directory"
    path: str
    oid: str
    size: int = 0
    lfs: bool = False
    sha256: str = ""
    last_commit_sha: str = ""


@dataclass(frozen=True)
class CommitResult:
    commit: Commit
    pr_num: int | None


def _is_binary(sample: bytes) -> bool:
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(sample) - 4  # a multi-byte char cut at the sample's end is fine
    return False


def newest_commit(files: dict[str, FileEntry], prefix: str, order: dict[str, float]) -> str:
    """The most recent lastCommit among the files under directory `prefix` ('' = everything)."""
    base = prefix + "/" if prefix else ""
    shas = {e.last_commit_sha for p, e in files.items() if p.startswith(base)}
    return max(shas, key=lambda sha: (order.get(sha, 0.0), sha), default="")


def entries_under(
    files: dict[str, FileEntry], prefix: str, recursive: bool, trees: dict[str, str], order: dict[str, float]
) -> list[TreeEntry]:
    """Direct children (or all descendants) of directory `prefix` ('' = root), dirs and files, sorted by path."""
    base = prefix + "/" if prefix else ""
    dirs: set[str] = set()
    out: list[TreeEntry] = []
    for path, e in files.items():
        if not path.startswith(base):
            continue
        rest = path[len(base) :]
        parts = rest.split("/")
        for i in range(1, len(parts) if recursive else min(2, len(parts))):
            dirs.add(base + "/".join(parts[:i]))
        if recursive or len(parts) == 1:
            out.append(TreeEntry("file", path, e.oid, e.size, e.lfs, e.sha256, e.last_commit_sha))
    for d in dirs:
        last = newest_commit(files, d, order)
        out.append(TreeEntry("directory", d, trees.get(d, ""), last_commit_sha=last))
    out.sort(key=lambda t: (t.path.count("/") if not recursive else 0, t.path))
    return out


class Files:
    def __init__(self, db: Database, store: BlobStore, repos: Repos, content: Content) -> None:
        self.db = db
        self.store = store
        self.repos = repos
        self.content = content  # file bytes, whole blob or Xet chunks: availability only, never a permission
        # rows read by every download and model_info, kept until the next commit (db/cache.py)
        self._revs: VersionedCache[tuple[int, str], str] = VersionedCache(db)
        self._entries: VersionedCache[tuple[int, str, str], FileEntry | None] = VersionedCache(db)
        self._manifests: VersionedCache[tuple[int, str], dict[str, FileEntry]] = VersionedCache(
            db, 64, keep=lambda files: len(files) <= 5000
        )

    # --- reading ------------------------------------------------------------------------------------
    def resolve_rev(self, repo: Repo, rev: str) -> str:
        return self._revs.get_or_load((repo.id, rev), lambda: self._resolve_rev(repo.id, rev))

    def _resolve_rev(self, repo_id: int, rev: str) -> str:
        with self.db.read() as conn:
            return revisions.resolve(conn, repo_id, rev)

    def manifest(self, repo: Repo, sha: str) -> dict[str, FileEntry]:
        """Path -> entry at commit `sha` (a fresh dict: callers may change it)."""
        return dict(self._manifests.get_or_load((repo.id, sha), lambda: self._manifest(repo.id, sha)))

    def _manifest(self, repo_id: int, sha: str) -> dict[str, FileEntry]:
        with self.db.read() as conn:
            return revisions.manifest(conn, repo_id, sha)

    def file(self, repo: Repo, sha: str, path: str) -> FileEntry:
        entry = self._entries.get_or_load((repo.id, sha, path), lambda: self._file(repo.id, sha, path))
        if entry is None:
            raise EntryNotFound(f"Entry not found: {path}")
        return entry

    def _file(self, repo_id: int, sha: str, path: str) -> FileEntry | None:
        with self.db.read() as conn:
            try:
                return revisions.get_file(conn, repo_id, sha, path)
            except EntryNotFound:
                return None

    def tree(self, repo: Repo, sha: str, path: str, recursive: bool) -> list[TreeEntry]:
        files = self.manifest(repo, sha)
        path = path.strip("/")
        if path:
            if path in files:
                raise EntryNotFound(f"{path} is a file, not a directory")
            if not any(p.startswith(path + "/") for p in files):
                raise EntryNotFound(f"Entry not found: {path} does not exist at {sha}")
        return entries_under(
            files, path, recursive, revisions.tree_of(files), self._commit_order(repo, files)
        )

    def _commit_order(self, repo: Repo, files: dict[str, FileEntry]) -> dict[str, float]:
        """Commit time of every lastCommit in a manifest, to tell which one is newest."""
        shas = {e.last_commit_sha for e in files.values()}
        return {sha: c.created_at.timestamp() for sha, c in self.commits(repo, shas).items()}

    def paths_info(self, repo: Repo, sha: str, paths: list[str]) -> list[TreeEntry]:
        files = self.manifest(repo, sha)
        trees: dict[str, str] | None = None
        order: dict[str, float] | None = None
        out: list[TreeEntry] = []
        for raw in paths:
            p = raw.strip("/")
            e = files.get(p)
            if e is not None:
                out.append(TreeEntry("file", p, e.oid, e.size, e.lfs, e.sha256, e.last_commit_sha))
            elif p == "" or any(k.startswith(p + "/") for k in files):
                trees = trees or revisions.tree_of(files)
                order = order if order is not None else self._commit_order(repo, files)
                last = newest_commit(files, p, order)
                out.append(TreeEntry("directory", p, trees.get(p, ""), last_commit_sha=last))
        return out

    def commits(self, repo: Repo, shas: set[str]) -> dict[str, Commit]:
        with self.db.read() as conn:
            return revisions.commits_by_sha(conn, repo.id, shas)

    # --- preupload ----------------------------------------------------------------------------------
    def preupload(
        self, repo: Repo, rev: str, files: list[dict[str, Any]], git_ignore: str | None
    ) -> list[dict[str, Any]]:
        import base64

        with self.db.read() as conn:
            try:
                sha: str | None = revisions.resolve(conn, repo.id, rev)
            except RevisionNotFound:
                sha = None
            current = revisions.manifest(conn, repo.id, sha) if sha else {}
        attrs = current.get(".gitattributes")
        patterns = lfs_patterns(self._read_small(attrs.sha256)) if attrs else []
        if (
            git_ignore is None and ".gitignore" in current
        ):  # the commit brings none: the repo's own, as on the Hub
            git_ignore = self._read_small(current[".gitignore"].sha256)
        ignore = gitignore_rules(git_ignore or "")
        out: list[dict[str, Any]] = []
        for f in files:
            path = f.get("path") if isinstance(f, dict) else None
            if not isinstance(path, str):
                raise BadPayload("preupload: each file needs a 'path'")
            validate_path(path)
            size = f.get("size") or 0
            if not isinstance(size, int) or size < 0:
                raise BadPayload(f"preupload: 'size' of {path!r} must be a non-negative integer")
            raw_sample = f.get("sample") or ""
            if not isinstance(raw_sample, str):
                raise BadPayload(f"preupload: 'sample' of {path!r} must be a base64 string")
            try:
                sample = base64.b64decode(raw_sample)
            except ValueError:
                sample = b""
            lfs = matches_lfs(path, patterns) or size > REGULAR_MAX or _is_binary(sample)
            e = current.get(path)
            oid = (e.sha256 if e.lfs else e.oid) if e else None
            out.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": gitignored(path, ignore),
                    "oid": oid,
                }
            )
        return out

    def _read_small(self, sha256: str, limit: int = 1024 * 1024) -> str:
        return self.content.read(sha256, 0, limit).decode("utf-8", errors="replace")

    # --- LFS objects --------------------------------------------------------------------------------
    def lfs_known(self, repo: Repo, sha256: str) -> int | None:
        """Size of an LFS object this repo holds, else None.

        A repo holds an object that was uploaded to it (an LFS PUT with its ticket, or a Xet shard sent with a
        write token of this repo: both add an ``lfs_objects`` row) or that is an LFS file in its history.
        Regular files do not count, and nothing global does: this is the permission to reference the bytes.
        """
        return self._held_size(repo.id, sha256)

    def holds(self, repo_id: int, sha256: str, issued_at: int) -> bool:
        """Whether the repo with this id holds the LFS/Xet object (see `lfs_known`); for the Xet CAS.

        `issued_at` is when the asking token was issued: a repo created later (a deleted repo's id can be
        reused) is not the repo the token was issued for.
        """
        with self.db.read() as conn:
            try:
                repo = self.repos.by_id(conn, repo_id)
            except RepoNotFound:
                return False
        created = repo.created_at if repo.created_at.tzinfo else repo.created_at.replace(tzinfo=UTC)
        if int(created.timestamp()) > issued_at:
            return False
        return self._held_size(repo_id, sha256) is not None

    def _held_size(self, repo_id: int, sha256: str) -> int | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(lfs_objects.c.size).where(
                    lfs_objects.c.repo_id == repo_id, lfs_objects.c.sha256 == sha256
                )
            ).first()
            if row is None:
                row = conn.execute(
                    select(commit_files.c.size)
                    .where(
                        commit_files.c.sha256 == sha256,
                        commit_files.c.repo_id == repo_id,
                        commit_files.c.lfs.is_(True),
                    )
                    .limit(1)
                ).first()
        return None if row is None else int(row.size)

    def content_available(self, sha256: str) -> bool:
        """The bytes are stored: whole in the blob store, or as chunks in the Xet CAS (availability only)."""
        return self.content.exists(sha256)

    def referenced_blobs(self) -> set[str]:
        """Every blob a commit or an LFS upload names (for garbage collection)."""
        with self.db.read() as conn:
            keys = revisions.referenced_blobs(conn)
            keys |= {r[0] for r in conn.execute(select(lfs_objects.c.sha256).distinct())}
        return keys

    def record_lfs(self, repo_id: int, sha256: str, size: int) -> None:
        self.record_lfs_many(repo_id, [(sha256, size)])

    def record_lfs_many(self, repo_id: int, objects: Sequence[tuple[str, int]]) -> None:
        """Bind objects whose bytes were just uploaded to this repo (proof of possession was given)."""
        with self.db.transaction() as conn:
            for sha256, size in dict(objects).items():
                exists = conn.execute(
                    select(lfs_objects.c.sha256).where(
                        lfs_objects.c.repo_id == repo_id, lfs_objects.c.sha256 == sha256
                    )
                ).first()
                if not exists:
                    conn.execute(
                        lfs_objects.insert().values(
                            repo_id=repo_id, sha256=sha256, size=size, pushed_at=now()
                        )
                    )

    def list_lfs(self, repo: Repo) -> list[tuple[str, int, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(lfs_objects).where(lfs_objects.c.repo_id == repo.id).order_by(lfs_objects.c.pushed_at)
            )
            return [(r.sha256, int(r.size), r.pushed_at) for r in rows]

    # --- commits ------------------------------------------------------------------------------------
    def commit(
        self, who: Principal, repo: Repo, rev: str, req: CommitRequest, create_pr: bool = False
    ) -> CommitResult:
        """Apply a parsed commit request to branch/PR `rev`. All blobs are already in the store."""
        self.repos.check_push(who, repo, rev, create_pr)
        lfs_sizes: dict[str, int] = {}
        for op in req.operations:
            if isinstance(op, AddLfs):
                known = self.lfs_known(repo, op.sha256)
                if known is None or not self.content_available(op.sha256):
                    raise BadRequest(
                        f"LFS object {op.sha256} for {op.path!r} was not uploaded to this repository and is not in "
                        "its history; upload it first"
                    )
                if op.size is not None and op.size != known:
                    raise BadRequest(
                        f"LFS object {op.sha256}: declared size {op.size} != stored size {known}"
                    )
                lfs_sizes[op.sha256] = known
        card: dict[str, Any] | None = None
        readme_changed = any(op.path == "README.md" for op in req.operations)
        readme_text = req.readme_text
        if readme_text is None:
            added = [
                op for op in req.operations if isinstance(op, AddFile | AddLfs) and op.path == "README.md"
            ]
            if added:  # an LFS/Xet README: read its bytes now, never inside the write transaction
                readme_text = self._read_small(added[-1].sha256)
        if readme_text is not None:
            try:
                card = parse_card(readme_text)
            except BadRequest:
                card = None
        author = who.account.name
        with self.db.transaction() as conn:
            kind, name = revisions.parse_branch(rev)
            pr_num: int | None = None
            if create_pr:
                if kind != "branch" or revisions.get_ref(conn, repo.id, "branch", name) is None:
                    raise RevisionNotFound(f"Invalid rev id: {rev} (a pull request needs an existing branch)")
                base = revisions.get_ref(conn, repo.id, "branch", name)
                assert base is not None
                d = discussions.create(
                    conn, repo.id, req.summary, author, req.description, True, base_ref=name
                )
                pr_num = d.num
                revisions.set_ref(conn, repo.id, "pr", str(d.num), base.commit_sha)
                kind, name = "pr", str(d.num)
            ref = revisions.get_ref(conn, repo.id, kind, name)
            if ref is None:
                raise RevisionNotFound(f"Invalid rev id: {rev}")
            if req.parent_commit and req.parent_commit != ref.commit_sha:
                full = req.parent_commit
                if not (len(full) < 40 and ref.commit_sha.startswith(full)):
                    raise PreconditionFailed(
                        "The branch was updated since you opened this page. Please refresh and try again. "
                        f"(parentCommit {req.parent_commit} is not the head {ref.commit_sha} of {rev})"
                    )
            files = revisions.manifest(conn, repo.id, ref.commit_sha)
            changed: set[str] = set()
            for op in req.operations:
                if isinstance(op, Delete):
                    prefix = op.path + "/"
                    under = [p for p in files if p.startswith(prefix)]
                    if not op.folder and op.path in files:
                        del files[op.path]
                    elif under:
                        for p in under:
                            del files[p]
                    else:
                        raise EntryNotFound(f"{FILE_MISSING}: {op.path}", exact=True)
                    continue
                self._check_no_clash(files, op.path)
                mode = files[op.path].mode if op.path in files else MODE_FILE  # an edit keeps the mode
                if isinstance(op, AddFile):
                    files[op.path] = FileEntry(op.path, op.oid, op.sha256, op.size, False, mode=mode)
                else:
                    size = lfs_sizes[op.sha256]
                    files[op.path] = FileEntry(
                        op.path, blob_sha1(lfs_pointer(op.sha256, size)), op.sha256, size, True, mode=mode
                    )
                changed.add(op.path)
            new = revisions.write_commit(
                conn, repo.id, ref.commit_sha, files, changed, author, req.summary, req.description
            )
            revisions.set_ref(conn, repo.id, kind, name, new.sha)
            for op in req.operations:
                if isinstance(op, AddLfs):
                    exists = conn.execute(
                        select(lfs_objects.c.sha256).where(
                            lfs_objects.c.repo_id == repo.id, lfs_objects.c.sha256 == op.sha256
                        )
                    ).first()
                    if not exists:
                        conn.execute(
                            lfs_objects.insert().values(
                                repo_id=repo.id, sha256=op.sha256, size=lfs_sizes[op.sha256], pushed_at=now()
                            )
                        )
            if kind == "branch" and name == "main":
                used = sum(e.size for e in files.values())
                self.repos.record_head(conn, repo.id, new.sha, used, card, readme_changed)
            else:
                self.repos.touch(conn, repo.id)
            if pr_num is not None or kind == "pr":
                discussions.add_event(
                    conn, repo.id, int(name), "commit", author, {"subject": req.summary, "oid": new.sha}
                )
        if pr_num is not None:
            with self.db.read() as conn:
                opened = discussions.get(conn, repo.id, pr_num)
            self.repos.events.emit(HubEvent("discussion", "create", repo, discussion=opened))
        self._ref_moved(repo, kind, name, ref.commit_sha, new.sha)
        return CommitResult(new, pr_num)

    def _ref_moved(self, repo: Repo, kind: str, name: str, old: str | None, new: str | None) -> None:
        """Tell the event sink that a ref moved (after the transaction committed)."""
        update = RefUpdate(branch_ref(kind, name), old, new)
        self.repos.events.emit(HubEvent("repo.content", "update", repo, refs=(update,)))

    @staticmethod
    def _check_no_clash(files: dict[str, FileEntry], path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise InvalidPath(f"Cannot add {path!r}: {'/'.join(parts[:i])!r} is a file")
        if any(p.startswith(path + "/") for p in files):
            raise InvalidPath(f"Cannot add {path!r}: a directory with that name exists")

    # --- branches, tags, history --------------------------------------------------------------------
    def refs(self, repo: Repo) -> list[revisions.Ref]:
        with self.db.read() as conn:
            return revisions.list_refs(conn, repo.id)

    def history(self, repo: Repo, rev: str, offset: int, limit: int) -> tuple[list[Commit], bool, str]:
        with self.db.read() as conn:
            sha = revisions.resolve(conn, repo.id, rev)
            page, more = revisions.history(conn, repo.id, sha, offset, limit)
            return page, more, sha

    def create_branch(self, repo: Repo, name: str, starting_point: str | None) -> None:
        with self.db.transaction() as conn:
            revisions.create_branch(conn, repo.id, name, starting_point)
            made = revisions.get_ref(conn, repo.id, "branch", name)
        self._ref_moved(repo, "branch", name, None, made.commit_sha if made else None)

    def delete_branch(self, repo: Repo, name: str) -> None:
        with self.db.transaction() as conn:
            gone = revisions.get_ref(conn, repo.id, "branch", name)
            revisions.delete_branch(conn, repo.id, name)
        self._ref_moved(repo, "branch", name, gone.commit_sha if gone else None, None)

    def create_tag(self, repo: Repo, revision: str, tag: str, message: str | None) -> None:
        with self.db.transaction() as conn:
            revisions.create_tag(conn, repo.id, revision, tag, message)
            made = revisions.get_ref(conn, repo.id, "tag", tag)
        self._ref_moved(repo, "tag", tag, None, made.commit_sha if made else None)

    def delete_tag(self, repo: Repo, tag: str) -> None:
        if tag == "main":
            raise BadRequest("Cannot delete tag main: it is a branch")
        with self.db.transaction() as conn:
            gone = revisions.get_ref(conn, repo.id, "tag", tag)
            revisions.delete_tag(conn, repo.id, tag)
        self._ref_moved(repo, "tag", tag, gone.commit_sha if gone else None, None)

    def super_squash(self, who: Principal, repo: Repo, rev: str, message: str) -> Commit:
        with self.db.transaction() as conn:
            kind, name = revisions.parse_branch(rev)
            ref = revisions.get_ref(conn, repo.id, kind, name)
            if ref is None:
                raise RevisionNotFound(f"Invalid rev id: {rev}")
            files = revisions.manifest(conn, repo.id, ref.commit_sha)
            new = revisions.write_commit(
                conn,
                repo.id,
                None,
                {p: FileEntry(e.path, e.oid, e.sha256, e.size, e.lfs, mode=e.mode) for p, e in files.items()},
                set(files),
                who.account.name,
                message,
                "",
            )
            revisions.set_ref(conn, repo.id, kind, name, new.sha)
            if kind == "branch" and name == "main":
                self.repos.record_head(
                    conn, repo.id, new.sha, sum(e.size for e in files.values()), None, False
                )
        self._ref_moved(repo, kind, name, ref.commit_sha, new.sha)
        return new
