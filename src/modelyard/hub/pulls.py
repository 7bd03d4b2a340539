"""Discussions and pull requests on top of revisions (refs/pr/N).  uses: discussions, revisions"""

from __future__ import annotations

from modelyard.db import Database
from modelyard.errors import BadRequest, RevisionNotFound
from modelyard.hub import discussions, revisions
from modelyard.hub.accounts import Principal
from modelyard.hub.cards import parse_card
from modelyard.hub.discussions import Discussion, Event
from modelyard.hub.repos import Repo, Repos
from modelyard.hub.revisions import Commit, FileEntry
from modelyard.storage import BlobStore


class Pulls:
    """Discussions and pull requests: open, comment, status, title, merge (3-way from the fork point)."""

    def __init__(self, db: Database, store: BlobStore, repos: Repos) -> None:
        self.db = db
        self.store = store
        self.repos = repos

    def discussions(self, repo: Repo) -> list[Discussion]:
        with self.db.read() as conn:
            return discussions.list_all(conn, repo.id)

    def discussion(self, repo: Repo, num: int) -> Discussion:
        with self.db.read() as conn:
            return discussions.get(conn, repo.id, num)

    def open_discussion(
        self, who: Principal, repo: Repo, title: str, description: str, is_pr: bool
    ) -> Discussion:
        with self.db.transaction() as conn:
            base = revisions.get_ref(conn, repo.id, "branch", "main") if is_pr else None
            d = discussions.create(
                conn, repo.id, title, who.account.name, description, is_pr, base_ref="main" if is_pr else None
            )
            if base is not None:
                revisions.set_ref(conn, repo.id, "pr", str(d.num), base.commit_sha)
            return d

    def discussion_comment(self, who: Principal, repo: Repo, num: int, text: str) -> Event:
        with self.db.transaction() as conn:
            return discussions.comment(conn, repo.id, num, who.account.name, text)

    def discussion_title(self, who: Principal, repo: Repo, num: int, title: str) -> Event:
        if not title.strip():
            raise BadRequest("The title cannot be empty")
        with self.db.transaction() as conn:
            return discussions.set_title(conn, repo.id, num, title.strip(), who.account.name)

    def discussion_status(
        self, who: Principal, repo: Repo, num: int, status: str, comment: str | None
    ) -> Event:
        with self.db.transaction() as conn:
            if comment:
                discussions.comment(conn, repo.id, num, who.account.name, comment)
            return discussions.set_status(conn, repo.id, num, status, who.account.name)

    def merge_pr(self, who: Principal, repo: Repo, num: int, comment: str | None) -> Commit:
        with self.db.transaction() as conn:
            d = discussions.get(conn, repo.id, num)
            if not d.is_pr or d.status not in {"open", "draft"}:
                raise BadRequest(f"#{num} is not an open pull request")
            base_name = d.base_ref or "main"
            base = revisions.get_ref(conn, repo.id, "branch", base_name)
            head = revisions.get_ref(conn, repo.id, "pr", str(num))
            if base is None or head is None:
                raise RevisionNotFound(f"Invalid rev id: refs/pr/{num}")
            base_hist: set[str] = set()
            cur: str | None = base.commit_sha
            while cur:
                base_hist.add(cur)
                cur = revisions.get_commit(conn, repo.id, cur).parent_sha
            fork: str | None = head.commit_sha
            while fork and fork not in base_hist:
                fork = revisions.get_commit(conn, repo.id, fork).parent_sha
            old = revisions.manifest(conn, repo.id, fork) if fork else {}
            new = revisions.manifest(conn, repo.id, head.commit_sha)
            files = revisions.manifest(conn, repo.id, base.commit_sha)
            changed: set[str] = set()
            for p in old.keys() - new.keys():
                files.pop(p, None)
            for p, e in new.items():
                if old.get(p) != e:
                    files[p] = FileEntry(p, e.oid, e.sha256, e.size, e.lfs)
                    changed.add(p)
            c = revisions.write_commit(
                conn,
                repo.id,
                base.commit_sha,
                files,
                changed,
                who.account.name,
                f"Merge pull request #{num}: {d.title}",
                comment or "",
            )
            revisions.set_ref(conn, repo.id, "branch", base_name, c.sha)
            if comment:
                discussions.comment(conn, repo.id, num, who.account.name, comment)
            discussions.set_status(conn, repo.id, num, "merged", who.account.name, merge_commit=c.sha)
            if base_name == "main":
                card = None
                readme_changed = "README.md" in changed or "README.md" not in files
                if "README.md" in files and readme_changed:
                    try:
                        with self.store.open(files["README.md"].sha256) as f:
                            card = parse_card(f.read(1024 * 1024).decode("utf-8", errors="replace"))
                    except BadRequest:
                        card = None
                self.repos.record_head(
                    conn, repo.id, c.sha, sum(e.size for e in files.values()), card, readme_changed
                )
            return c
