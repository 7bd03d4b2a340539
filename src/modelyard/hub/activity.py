"""A user's recent activity, for the user pages: commits they authored, discussions and pull requests they opened,
repos they liked; newest first, capped, and only in repos the viewer may read (`repos.can_read` on each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from modelyard.db import Database
from modelyard.db.schema import commits, discussions, likes, repos
from modelyard.hub.accounts import Account, Principal
from modelyard.hub.repos import Repo, can_read, row_to_repo


@dataclass(frozen=True)
class Event:
    kind: str  # "commit" | "discussion" | "pull_request" | "like"
    when: datetime
    repo: Repo
    title: str
    ref: str  # the commit sha or the discussion number ("" for likes)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


SCAN = 3  # times `limit`: the newest rows of each kind looked at (then filtered by what the viewer may read)


def recent(db: Database, account: Account, who: Principal | None, limit: int = 30) -> list[Event]:
    """The `limit` newest events of `account` (commits, discussions opened, likes) that `who` may see, among the
    SCAN * limit newest of each kind. The event rows are read first (newest first), then their repos by primary
    key, so the work follows the user's activity, not the size of the hub."""
    name = account.name
    kinds = [
        (
            select(commits.c.repo_id, commits.c.created_at, commits.c.title, commits.c.sha)
            .where(commits.c.author == name)
            .order_by(commits.c.created_at.desc())
        ),
        (
            select(discussions.c.repo_id, discussions.c.created_at, discussions.c.title, discussions.c.num)
            .add_columns(discussions.c.is_pr)
            .where(discussions.c.author == name)
            .order_by(discussions.c.created_at.desc())
        ),
        (
            select(likes.c.repo_id, likes.c.created_at)
            .where(likes.c.account_id == account.id)
            .order_by(likes.c.created_at.desc())
        ),
    ]
    with db.read() as conn:
        found = [conn.execute(stmt.limit(SCAN * limit)).all() for stmt in kinds]
        ids = {r.repo_id for rows in found for r in rows}
        by_id: dict[int, Repo] = {}
        id_list = sorted(ids)
        for i in range(0, len(id_list), 500):
            for r in conn.execute(select(repos).where(repos.c.id.in_(id_list[i : i + 500]))):
                repo = row_to_repo(r)
                if can_read(repo, who):
                    by_id[repo.id] = repo
    c_rows, d_rows, l_rows = found
    events = [
        Event("commit", _aware(r.created_at), by_id[r.repo_id], r.title, r.sha)
        for r in c_rows
        if r.repo_id in by_id
    ]
    events += [
        Event(
            "pull_request" if r.is_pr else "discussion",
            _aware(r.created_at),
            by_id[r.repo_id],
            r.title,
            str(r.num),
        )
        for r in d_rows
        if r.repo_id in by_id
    ]
    events += [
        Event("like", _aware(r.created_at), by_id[r.repo_id], "", "") for r in l_rows if r.repo_id in by_id
    ]
    events.sort(key=lambda e: e.when, reverse=True)
    return events[:limit]
