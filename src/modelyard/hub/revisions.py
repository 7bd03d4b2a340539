"""Branches, tags, PR refs, commits and tree resolution.  owns: commits, commit_files, refs

Commits are rows with a full file manifest each (commit_files). Ids are real git sha1s (blob/tree/commit),
computed from the manifest, so the history could be emitted as git objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, literal, select

from modelyard.db.schema import commit_files, commits, refs
from modelyard.errors import BadRequest, Conflict, EntryNotFound, InvalidRevisionName, RevisionNotFound
from modelyard.hub._time import now
from modelyard.hub.gitobjects import MODE_FILE, commit_body, commit_sha1, object_sha, tree_shas

_PR_RE = re.compile(r"^refs/pr/(\d+)$")
_HEX_RE = re.compile(r"^[0-9a-f]{7,40}$")
_REF_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


@dataclass(frozen=True)
class FileEntry:
    path: str
    oid: str  # git blob sha1
    sha256: str
    size: int
    lfs: bool
    last_commit_sha: str = ""
    mode: int = MODE_FILE  # git file mode: 0o100644 or 0o100755 (a pushed executable)


@dataclass(frozen=True)
class Commit:
    sha: str
    parent_sha: str | None
    tree_sha: str
    author: str
    title: str
    message: str
    created_at: datetime


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str
    commit_sha: str
    tag_raw: bytes | None = (
        None  # an annotated tag pushed with git: its tag object (the ref names that object)
    )

    @property
    def object_sha(self) -> str:
        """What the git ref names: the tag object of an annotated tag, else the commit."""
        return object_sha("tag", self.tag_raw) if self.tag_raw is not None else self.commit_sha

    @property
    def full(self) -> str:
        if self.kind == "branch":
            return f"refs/heads/{self.name}"
        if self.kind == "tag":
            return f"refs/tags/{self.name}"
        return f"refs/pr/{self.name}"


_RESERVED_REFS = {"HEAD", "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD"}


def ref_name_problem(name: str) -> str | None:
    """Why `name` cannot be a branch or tag (the rules of `git check-ref-format`, stricter charset), or None."""
    if not isinstance(name, str) or not name:
        return "empty"
    if name in _RESERVED_REFS:
        return f"{name} is reserved"
    if name.startswith("refs/"):
        return "refs/ names are reserved (refs/pr/N belongs to pull requests)"
    if not _REF_NAME_RE.match(name):
        return "only letters, digits, '.', '_', '-' and '/' (up to 200), starting with a letter or digit"
    if ".." in name or "//" in name or name.endswith(("/", ".")):
        return "no '..' or '//', and no '/' or '.' at the end"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "no component may start with '.' or end with '.lock'"
    return None


def validate_ref_name(name: str) -> str:
    problem = ref_name_problem(name)
    if problem is not None:
        raise InvalidRevisionName(f"Invalid reference name {name!r}: {problem}")
    return name


def _commit(row: object) -> Commit:
    r = row
    return Commit(r.sha, r.parent_sha, r.tree_sha, r.author, r.title, r.message, r.created_at)  # type: ignore[attr-defined]


def get_ref(conn: Connection, repo_id: int, kind: str, name: str) -> Ref | None:
    row = conn.execute(
        select(refs.c.commit_sha, refs.c.tag_raw).where(
            refs.c.repo_id == repo_id, refs.c.kind == kind, refs.c.name == name
        )
    ).first()
    return Ref(kind, name, row.commit_sha, row.tag_raw) if row else None


def parse_branch(rev: str) -> tuple[str, str]:
    """A writable ref named by a revision string: ('branch', name) or ('pr', num); HEAD is the default branch."""
    if rev == "HEAD":
        return "branch", "main"
    m = _PR_RE.match(rev)
    if m:
        return "pr", m.group(1)
    if rev.startswith("refs/heads/"):
        return "branch", rev[len("refs/heads/") :]
    return "branch", rev


def resolve(conn: Connection, repo_id: int, rev: str) -> str:
    """Branch, tag, refs/pr/N, refs/heads/x, refs/tags/x, full or short (>= 7) sha -> commit sha; ``HEAD`` is the
    default branch, as on the Hub (a ref can never be named HEAD: `_RESERVED_REFS`)."""
    if rev == "HEAD":
        rev = "main"
    candidates: list[tuple[str, str]] = []
    m = _PR_RE.match(rev)
    if m:
        candidates.append(("pr", m.group(1)))
    elif rev.startswith("refs/heads/"):
        candidates.append(("branch", rev[len("refs/heads/") :]))
    elif rev.startswith("refs/tags/"):
        candidates.append(("tag", rev[len("refs/tags/") :]))
    else:
        candidates += [("branch", rev), ("tag", rev)]
    for kind, name in candidates:
        ref = get_ref(conn, repo_id, kind, name)
        if ref:
            return ref.commit_sha
    if _HEX_RE.match(rev):
        if len(rev) == 40:
            row = conn.execute(
                select(commits.c.sha).where(commits.c.repo_id == repo_id, commits.c.sha == rev)
            ).first()
            if row:
                return str(row.sha)
        else:
            rows = conn.execute(
                select(commits.c.sha)
                .where(commits.c.repo_id == repo_id, commits.c.sha.like(rev + "%"))
                .limit(2)
            ).all()
            if len(rows) == 1:
                return str(rows[0].sha)
    raise RevisionNotFound(f"Invalid rev id: {rev}")


def get_commit(conn: Connection, repo_id: int, sha: str) -> Commit:
    row = conn.execute(select(commits).where(commits.c.repo_id == repo_id, commits.c.sha == sha)).first()
    if row is None:
        raise RevisionNotFound(f"Invalid rev id: {sha}")
    return _commit(row)


def manifest(conn: Connection, repo_id: int, sha: str) -> dict[str, FileEntry]:
    rows = conn.execute(
        select(commit_files).where(commit_files.c.repo_id == repo_id, commit_files.c.commit_sha == sha)
    )
    return {r.path: _entry(r) for r in rows}


def _entry(r: object) -> FileEntry:
    row: Any = r
    return FileEntry(
        row.path, row.oid, row.sha256, row.size, row.lfs, row.last_commit_sha, row.mode or MODE_FILE
    )


GitRow = tuple[str, str, int, str, int, bool]  # path, blob id, mode, sha256, size, lfs


def git_rows(conn: Connection, repo_id: int, sha: str, changed_only: bool = False) -> list[GitRow]:
    """The columns git needs of a commit's files (a 5,000-file commit reads in a few ms); `changed_only`: the
    files this commit itself last changed (added or modified against its first parent)."""
    c = commit_files.c
    q = select(c.path, c.oid, c.mode, c.sha256, c.size, c.lfs).where(
        c.repo_id == repo_id, c.commit_sha == sha
    )
    if changed_only:
        q = q.where(c.last_commit_sha == sha)
    return [(r[0], r[1], r[2] or MODE_FILE, r[3], int(r[4]), bool(r[5])) for r in conn.execute(q)]


def file_count(conn: Connection, repo_id: int, sha: str) -> int:
    c = commit_files.c
    q = select(func.count()).select_from(commit_files).where(c.repo_id == repo_id, c.commit_sha == sha)
    return int(conn.execute(q).scalar_one())


def get_file(conn: Connection, repo_id: int, sha: str, path: str) -> FileEntry:
    r = conn.execute(
        select(commit_files).where(
            commit_files.c.repo_id == repo_id, commit_files.c.commit_sha == sha, commit_files.c.path == path
        )
    ).first()
    if r is None:
        raise EntryNotFound(f"Entry not found: {path}")
    return _entry(r)


def commits_by_sha(conn: Connection, repo_id: int, shas: set[str]) -> dict[str, Commit]:
    out: dict[str, Commit] = {}
    sl = list(shas)
    for i in range(0, len(sl), 500):
        for r in conn.execute(
            select(commits).where(commits.c.repo_id == repo_id, commits.c.sha.in_(sl[i : i + 500]))
        ):
            out[r.sha] = _commit(r)
    return out


def history(
    conn: Connection, repo_id: int, sha: str, offset: int = 0, limit: int = 50
) -> tuple[list[Commit], bool]:
    """Commits reachable from sha, newest first: (page, has_more)."""
    out: list[Commit] = []
    cur: str | None = sha
    skipped = 0
    while cur:
        c = get_commit(conn, repo_id, cur)
        if skipped < offset:
            skipped += 1
        else:
            if len(out) == limit:
                return out, True
            out.append(c)
        cur = c.parent_sha
    return out, False


def list_refs(conn: Connection, repo_id: int) -> list[Ref]:
    rows = conn.execute(select(refs).where(refs.c.repo_id == repo_id).order_by(refs.c.kind, refs.c.name))
    return [Ref(r.kind, r.name, r.commit_sha, r.tag_raw) for r in rows]


def set_ref(
    conn: Connection,
    repo_id: int,
    kind: str,
    name: str,
    sha: str,
    message: str | None = None,
    tag_raw: bytes | None = None,
) -> None:
    if get_ref(conn, repo_id, kind, name):
        conn.execute(
            refs.update()
            .where(refs.c.repo_id == repo_id, refs.c.kind == kind, refs.c.name == name)
            .values(commit_sha=sha, tag_raw=tag_raw)
        )
    else:
        conn.execute(
            refs.insert().values(
                repo_id=repo_id, kind=kind, name=name, commit_sha=sha, message=message, tag_raw=tag_raw
            )
        )


def delete_ref(conn: Connection, repo_id: int, kind: str, name: str) -> None:
    conn.execute(refs.delete().where(refs.c.repo_id == repo_id, refs.c.kind == kind, refs.c.name == name))


def create_branch(conn: Connection, repo_id: int, name: str, starting_point: str | None) -> None:
    validate_ref_name(name)
    if get_ref(conn, repo_id, "branch", name):
        raise Conflict(f"Reference refs/heads/{name} already exists")
    sha = resolve(conn, repo_id, starting_point or "main")
    set_ref(conn, repo_id, "branch", name, sha)


def delete_branch(conn: Connection, repo_id: int, name: str) -> None:
    if name == "main":
        raise BadRequest("Cannot delete refs/heads/main")
    if not get_ref(conn, repo_id, "branch", name):
        raise BadRequest(f"Invalid rev id: {name}")
    delete_ref(conn, repo_id, "branch", name)


def create_tag(conn: Connection, repo_id: int, revision: str, tag: str, message: str | None) -> None:
    # as on the Hub: a missing revision is 404 before the tag name is checked
    sha = resolve(conn, repo_id, revision)
    problem = ref_name_problem(tag)
    if problem is not None:
        raise BadRequest(f"Invalid tag name {tag!r}: {problem}")
    if get_ref(conn, repo_id, "tag", tag):
        raise Conflict(f"Tag {tag} already exists")
    set_ref(conn, repo_id, "tag", tag, sha, message)


def delete_tag(conn: Connection, repo_id: int, tag: str) -> None:
    if not get_ref(conn, repo_id, "tag", tag):
        raise RevisionNotFound(f"Invalid rev id: {tag}")
    delete_ref(conn, repo_id, "tag", tag)


def write_commit(
    conn: Connection,
    repo_id: int,
    parent: str | None,
    new_manifest: dict[str, FileEntry],
    changed: set[str],
    author: str,
    title: str,
    message: str,
) -> Commit:
    """Insert a commit whose manifest is new_manifest; files in `changed` get this commit as lastCommit."""
    tree = tree_of(new_manifest)[""]
    when = now()
    full_message = title if not message else f"{title}\n\n{message}"
    sha = commit_sha1(tree, parent, author, when, full_message)
    while conn.execute(
        select(commits.c.sha).where(commits.c.repo_id == repo_id, commits.c.sha == sha)
    ).first():
        when = when + timedelta(seconds=1)
        sha = commit_sha1(tree, parent, author, when, full_message)
    conn.execute(
        commits.insert().values(
            repo_id=repo_id,
            sha=sha,
            parent_sha=parent,
            tree_sha=tree,
            author=author,
            title=title,
            message=message,
            created_at=when,
        )
    )
    _insert_manifest(conn, repo_id, sha, new_manifest, changed)
    return Commit(sha, parent, tree, author, title, message, when)


def _insert_manifest(
    conn: Connection, repo_id: int, sha: str, files: dict[str, FileEntry], changed: set[str]
) -> None:
    rows = [
        dict(
            repo_id=repo_id,
            commit_sha=sha,
            path=e.path,
            oid=e.oid,
            sha256=e.sha256,
            size=e.size,
            lfs=e.lfs,
            last_commit_sha=sha if (e.path in changed or not e.last_commit_sha) else e.last_commit_sha,
            mode=None if e.mode == MODE_FILE else e.mode,
        )
        for e in files.values()
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(commit_files.insert(), rows[i : i + 5000])


@dataclass(frozen=True)
class ImportedCommit:
    """A commit that arrived as a git object (a push): its exact object, its first parent and its manifest."""

    raw: bytes  # the commit object's body, verbatim
    parent_sha: str | None  # the first parent (history and lastCommit follow first parents)
    tree_sha: str
    manifest: dict[str, FileEntry]
    changed: set[str]  # paths added or modified against the first parent
    author: str  # the hub account that pushed it
    title: str
    message: str
    created_at: datetime  # the committer date
    verified: bool = False  # the caller checked that `manifest` hashes to `tree_sha` (git/receive.py does)

    @property
    def sha(self) -> str:
        return object_sha("commit", self.raw)


def import_commit(conn: Connection, repo_id: int, c: ImportedCommit) -> bool:
    """Store a pushed commit with its object and manifest; False if the repo already has it."""
    sha = c.sha
    if conn.execute(select(commits.c.sha).where(commits.c.repo_id == repo_id, commits.c.sha == sha)).first():
        return False
    if not c.verified and tree_of(c.manifest)[""] != c.tree_sha:
        raise BadRequest(f"Commit {sha}: its tree does not match its files")
    conn.execute(
        commits.insert().values(
            repo_id=repo_id,
            sha=sha,
            parent_sha=c.parent_sha,
            tree_sha=c.tree_sha,
            author=c.author,
            title=c.title,
            message=c.message,
            created_at=c.created_at,
            raw=c.raw,
        )
    )
    _insert_manifest(conn, repo_id, sha, c.manifest, c.changed)
    return True


def commit_object(conn: Connection, repo_id: int, sha: str) -> bytes:
    """The git commit object (body) of a commit: the pushed object verbatim, or rebuilt for an API commit."""
    row = conn.execute(select(commits).where(commits.c.repo_id == repo_id, commits.c.sha == sha)).first()
    if row is None:
        raise RevisionNotFound(f"Invalid rev id: {sha}")
    if row.raw is not None:
        return bytes(row.raw)
    message = row.title if not row.message else f"{row.title}\n\n{row.message}"
    return commit_body(row.tree_sha, row.parent_sha, row.author, row.created_at, message)


def tree_of(files: dict[str, FileEntry]) -> dict[str, str]:
    return tree_shas((p, e.oid, e.mode) for p, e in files.items())


def referenced_blobs(conn: Connection) -> set[str]:
    """sha256 of every file in any commit of any repo (for garbage collection)."""
    return {r[0] for r in conn.execute(select(commit_files.c.sha256).distinct())}


def copy_history(conn: Connection, src_repo_id: int, dst_repo_id: int) -> None:
    """Make `dst`'s history that of `src`: every commit and manifest, the branches and tags (not PR refs).
    Commit ids are content hashes, so they stay the same. `dst`'s own commits and refs are replaced."""
    for table in (refs, commit_files, commits):
        conn.execute(table.delete().where(table.c.repo_id == dst_repo_id))
    for table, where in (
        (commits, commits.c.repo_id == src_repo_id),
        (commit_files, commit_files.c.repo_id == src_repo_id),
        (refs, (refs.c.repo_id == src_repo_id) & refs.c.kind.in_(("branch", "tag"))),
    ):
        cols = [c for c in table.c if c.name != "repo_id"]
        conn.execute(
            table.insert().from_select(
                ["repo_id", *(c.name for c in cols)],
                select(literal(dst_repo_id).label("repo_id"), *cols).where(where),
            )
        )


def lfs_in_history(
    conn: Connection, repo_id: int, sha256s: list[str] | None = None
) -> dict[str, tuple[int, str]]:
    """LFS objects named by any commit of the repo: sha256 -> (size, a path holding it). Limited to `sha256s`
    when given."""
    q = (
        select(commit_files.c.sha256, func.max(commit_files.c.size), func.min(commit_files.c.path))
        .where(commit_files.c.repo_id == repo_id, commit_files.c.lfs.is_(True))
        .group_by(commit_files.c.sha256)
    )
    out: dict[str, tuple[int, str]] = {}
    chunks = [None] if sha256s is None else [sha256s[i : i + 500] for i in range(0, len(sha256s), 500)]
    for chunk in chunks:
        sel = q if chunk is None else q.where(commit_files.c.sha256.in_(chunk))
        for sha, size, path in conn.execute(sel):
            out[sha] = (int(size), path)
    return out
