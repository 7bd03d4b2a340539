"""The database side of a `git push`: every ref update and every pushed commit in one transaction.

git/receive.py reads and checks the pushed objects (quarantined by git until the pre-receive hook says yes) and
hands over what to write: the commits (parents first, each with its exact object and full manifest) and the
ref changes. `Pushes.apply` compares every ref with the database (the pusher's view of it must still hold: an
API commit or another push may have landed since the mirror was synced), writes the commits and moves the refs
in one transaction, or raises and writes nothing. Blobs of regular files are stored before (blobs durable before
rows). After the commit: one ``repo.content`` event naming every moved ref (webhooks, Spaces, pickle scans).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelyard.db import Database
from modelyard.errors import Conflict, NotFound
from modelyard.hub import discussions, revisions
from modelyard.hub.events import HubEvent, RefUpdate
from modelyard.hub.repos import Repo, Repos
from modelyard.hub.revisions import FileEntry, ImportedCommit

_PREFIX = {"branch": "refs/heads/", "tag": "refs/tags/", "pr": "refs/pr/"}


@dataclass(frozen=True)
class RefChange:
    """One ref a push moves. `old` is the git object id the pusher saw (an annotated tag's tag object), None for
    a ref the push creates; `new` is the commit it will point to, None for a deletion."""

    kind: str  # "branch" | "tag" | "pr" (revisions.Ref kinds)
    name: str
    old: str | None
    new: str | None
    tag_raw: bytes | None = None  # an annotated tag: its tag object (body), `new` is the commit it points to
    message: str | None = None  # an annotated tag's message (the refs row's `message`, as API tags have)

    @property
    def full(self) -> str:
        return _PREFIX[self.kind] + self.name


@dataclass(frozen=True)
class MainHead:
    """What `record_head` needs when main moves: main's new manifest and card (read before the transaction)."""

    files: dict[str, FileEntry]
    card: dict[str, Any] | None
    readme_changed: bool


@dataclass(frozen=True)
class PushResult:
    imported: int  # commits new to the database
    refs: tuple[RefUpdate, ...]  # commit shas before and after (None: created / deleted)


def stale_message(full: str) -> str:
    return f"{full} moved since you fetched: fetch and push again"


class Pushes:
    def __init__(self, db: Database, repos: Repos) -> None:
        self.db = db
        self.repos = repos

    def apply(
        self,
        author: str,
        repo: Repo,
        commits: Iterable[ImportedCommit],
        changes: list[RefChange],
        main: MainHead | None = None,
    ) -> PushResult:
        """Write the push (commits parents first, an iterable consumed inside the transaction) or raise Conflict
        (a ref moved meanwhile) with nothing written; any exception rolls everything back.

        `main` is required when the push moves refs/heads/main to a commit (card, used storage, search)."""
        updates: list[RefUpdate] = []
        imported = 0
        with self.db.transaction() as conn:
            current = {(r.kind, r.name): r for r in revisions.list_refs(conn, repo.id)}
            for ch in changes:
                ref = current.get((ch.kind, ch.name))
                if (ref.object_sha if ref else None) != ch.old:
                    raise Conflict(stale_message(ch.full))
                if ch.kind == "pr":  # the pull request may have been closed or merged meanwhile
                    try:
                        pr = discussions.get(conn, repo.id, int(ch.name))
                    except NotFound:
                        pr = None
                    if pr is None or not pr.is_pr or pr.status not in ("draft", "open"):
                        raise Conflict(f"{ch.full}: pull request #{ch.name} is not open")
                updates.append(RefUpdate(ch.full, ref.commit_sha if ref else None, ch.new))
            titles: dict[str, str] = {}
            for c in commits:  # may be built while consumed (git/receive.py): parents first
                imported += revisions.import_commit(conn, repo.id, c)
                titles[c.sha] = c.title
            for ch in changes:
                if ch.new is None:
                    revisions.delete_ref(conn, repo.id, ch.kind, ch.name)
                else:
                    revisions.get_commit(conn, repo.id, ch.new)  # the commit exists (imported or known)
                    revisions.set_ref(conn, repo.id, ch.kind, ch.name, ch.new, ch.message, tag_raw=ch.tag_raw)
            main_moved = any(ch.kind == "branch" and ch.name == "main" and ch.new for ch in changes)
            if main_moved:
                assert main is not None, "main moved: its manifest and card are needed"
                head = next(ch.new for ch in changes if ch.kind == "branch" and ch.name == "main")
                assert head is not None
                used = sum(e.size for e in main.files.values())
                self.repos.record_head(conn, repo.id, head, used, main.card, main.readme_changed)
            else:
                self.repos.touch(conn, repo.id)
            for ch in changes:
                if ch.kind == "pr" and ch.new is not None:
                    subject = titles.get(ch.new)
                    if subject is None:
                        subject = revisions.get_commit(conn, repo.id, ch.new).title
                    discussions.add_event(
                        conn, repo.id, int(ch.name), "commit", author, {"subject": subject, "oid": ch.new}
                    )
            after = self.repos.by_id(conn, repo.id)
        if updates:
            self.repos.events.emit(HubEvent("repo.content", "update", after, refs=tuple(updates)))
        return PushResult(imported, tuple(updates))
