"""Discussions and pull requests on top of revisions (refs/pr/N).  uses: discussions, revisions"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.db import Database
from modelyard.errors import (
    BadRequest,
    BlobNotFound,
    EntryNotFound,
    Forbidden,
    RevisionNotFound,
    TokenScope,
    Unauthorized,
)
from modelyard.hub import discussions, revisions
from modelyard.hub.accounts import Principal
from modelyard.hub.cards import parse_card
from modelyard.hub.content import Content
from modelyard.hub.discussions import Discussion, Event
from modelyard.hub.events import HubEvent, RefUpdate
from modelyard.hub.repos import Repo, Repos, can_discuss, can_manage
from modelyard.hub.revisions import Commit, FileEntry


# --- who may do what (the API routes and the web pages both call these) ---------------------------------------
def check_discuss(repo: Repo, who: Principal | None) -> Principal:
    """Opening, commenting (and, for their author, retitling or closing) needs a token that may discuss
    (hub/repos.py `can_discuss`: not a read token; fine-grained: ``discussion.write`` or ``repo.write``)."""
    if who is None:
        raise Unauthorized("You must be authenticated")
    if can_discuss(repo, who):
        return who
    if not who.can_write:
        raise Forbidden(
            "This token is read-only: use a token with the 'write' role to take part in discussions"
        )
    raise TokenScope(
        f"This token ({who.role} token {who.token_name!r}) does not have the 'discussion.write' permission on "
        f"{repo.type.value} {repo.id_str}"
    )


def check_change(repo: Repo, who: Principal | None, d: Discussion) -> Principal:
    """Retitle, close or reopen: the discussion's author (with a token that may discuss) or a maintainer."""
    if who is None:
        raise Unauthorized("You must be authenticated")
    if not can_manage(repo, who):
        if who.account.name != d.author:
            raise Forbidden("Only the author or a maintainer can change this discussion")
        check_discuss(repo, who)
    return who


def check_merge(repo: Repo, who: Principal | None) -> Principal:
    """Merging a pull request: maintainers only (the right to push to the repo)."""
    if who is None:
        raise Unauthorized("You must be authenticated")
    if not can_manage(repo, who):
        raise Forbidden("Only maintainers can merge pull requests")
    return who


def allowed(check: Callable[..., object], *args: object) -> bool:
    """Whether a `check_*` passes (for pages that show only the buttons their viewer may use)."""
    try:
        check(*args)
    except (Unauthorized, Forbidden):
        return False
    return True


class Pulls:
    """Discussions and pull requests: open, comment, status, title, merge (3-way from the fork point)."""

    def __init__(self, db: Database, content: Content, repos: Repos) -> None:
        self.db = db
        self.content = content
        self.repos = repos

    def discussions(self, repo: Repo) -> list[Discussion]:
        with self.db.read() as conn:
            return discussions.list_all(conn, repo.id)

    def comment_counts(self, repo: Repo) -> dict[int, int]:
        """{num: comments (the opening post included)} of the repo's discussions, for listings."""
        with self.db.read() as conn:
            return discussions.comment_counts(conn, repo.id)

    def discussion(self, repo: Repo, num: int) -> Discussion:
        with self.db.read() as conn:
            return discussions.get(conn, repo.id, num)

    def pr_revisions(self, repo: Repo, num: int) -> tuple[str | None, str]:
        """(fork point, head) of pull request `num`: its diff is fork → head, what `merge_pr` applies to the base
        (the fork point stays the same after the merge). RevisionNotFound if it has no refs/pr/{num}."""
        with self.db.read() as conn:
            d = discussions.get(conn, repo.id, num)
            head = revisions.get_ref(conn, repo.id, "pr", str(num))
            if not d.is_pr or head is None:
                raise RevisionNotFound(f"Invalid rev id: refs/pr/{num}")
            base = revisions.get_ref(conn, repo.id, "branch", d.base_ref or "main")
            base_hist: set[str] = set()
            cur: str | None = base.commit_sha if base else None
            while cur:
                base_hist.add(cur)
                cur = revisions.get_commit(conn, repo.id, cur).parent_sha
            fork: str | None = head.commit_sha
            while fork and fork not in base_hist:
                fork = revisions.get_commit(conn, repo.id, fork).parent_sha
            return fork, head.commit_sha

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
        self._tell(repo, d.num, "discussion", "create")
        return d

    def _tell(self, repo: Repo, num: int, scope: str, action: str, comment: Event | None = None) -> None:
        """Tell the event sink about a committed discussion change (the discussion as it is now)."""
        with self.db.read() as conn:
            d = discussions.get(conn, repo.id, num)
        self.repos.events.emit(HubEvent(scope, action, repo, discussion=d, comment=comment))

    def discussion_comment(self, who: Principal, repo: Repo, num: int, text: str) -> Event:
        with self.db.transaction() as conn:
            ev = discussions.comment(conn, repo.id, num, who.account.name, text)
        self._tell(repo, num, "discussion.comment", "create", ev)
        return ev

    def discussion_title(self, who: Principal, repo: Repo, num: int, title: str) -> Event:
        if not title.strip():
            raise BadRequest("The title cannot be empty")
        with self.db.transaction() as conn:
            ev = discussions.set_title(conn, repo.id, num, title.strip(), who.account.name)
        self._tell(repo, num, "discussion", "update")
        return ev

    def discussion_status(
        self, who: Principal, repo: Repo, num: int, status: str, comment: str | None
    ) -> Event:
        with self.db.transaction() as conn:
            said = discussions.comment(conn, repo.id, num, who.account.name, comment) if comment else None
            ev = discussions.set_status(conn, repo.id, num, status, who.account.name)
        if said is not None:
            self._tell(repo, num, "discussion.comment", "create", said)
        self._tell(repo, num, "discussion", "update")
        return ev

    def _head_readme(self, repo: Repo, num: int) -> tuple[str, str] | None:
        """(sha256, text) of the PR head's README.md, read before the merge's write transaction opens."""
        with self.db.read() as conn:
            head = revisions.get_ref(conn, repo.id, "pr", str(num))
            if head is None:
                return None
            try:
                e = revisions.get_file(conn, repo.id, head.commit_sha, "README.md")
            except EntryNotFound:
                return None
        try:
            return e.sha256, self._readme_text(e.sha256)
        except BlobNotFound:  # only an error if the merge needs it (then read again below, and raise)
            return None

    def _readme_text(self, sha256: str) -> str:
        return self.content.read(sha256, 0, 1024 * 1024).decode("utf-8", errors="replace")

    def merge_pr(self, who: Principal, repo: Repo, num: int, comment: str | None) -> Commit:
        readme = self._head_readme(
            repo, num
        )  # bytes (maybe Xet chunks) are never read inside the transaction
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
                    files[p] = FileEntry(p, e.oid, e.sha256, e.size, e.lfs, mode=e.mode)
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
            said = discussions.comment(conn, repo.id, num, who.account.name, comment) if comment else None
            discussions.set_status(conn, repo.id, num, "merged", who.account.name, merge_commit=c.sha)
            if base_name == "main":
                card = None
                readme_changed = "README.md" in changed or "README.md" not in files
                if "README.md" in files and readme_changed:
                    sha256 = files["README.md"].sha256
                    text = (
                        readme[1] if readme is not None and readme[0] == sha256 else self._readme_text(sha256)
                    )
                    try:
                        card = parse_card(text)
                    except BadRequest:
                        card = None
                self.repos.record_head(
                    conn, repo.id, c.sha, sum(e.size for e in files.values()), card, readme_changed
                )
        moved = RefUpdate(f"refs/heads/{base_name}", base.commit_sha, c.sha)
        self.repos.events.emit(HubEvent("repo.content", "update", repo, refs=(moved,)))
        if said is not None:
            self._tell(repo, num, "discussion.comment", "create", said)
        self._tell(repo, num, "discussion", "update")
        return c
