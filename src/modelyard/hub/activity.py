"""A user's recent activity, for the user pages: commits they authored, discussions and pull requests they opened,
repos they liked; newest first, capped, and only in repos the viewer may read (the SQL form of `can_read`, checked
again on each row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, or_, select

from modelyard.db import Database
from modelyard.db.schema import commits, discussions, likes, repos
from modelyard.hub.accounts import Account, Principal
from modelyard.hub.repos import Repo, can_read, row_to_repo
from modelyard.hub.search import _visible
from modelyard.types import RepoType


@dataclass(frozen=True)
class Event:
    kind: str  # "commit" | "discussion" | "pull_request" | "like"
    when: datetime
    repo: Repo
    title: str
    ref: str  # the commit sha or the discussion number ("" for likes)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _readable(who: Principal | None) -> ColumnElement[bool]:
    return or_(*[and_(repos.c.type == t.value, _visible(t, who)) for t in RepoType])


def recent(db: Database, account: Account, who: Principal | None, limit: int = 30) -> list[Event]:
    """The `limit` newest events of `account` (commits, discussions opened, likes) that `who` may see."""
    seen = _readable(who)
    events: list[Event] = []
    name = account.name
    with db.read() as conn:
        rows = conn.execute(
            select(repos, commits.c.sha.label("ev_sha"), commits.c.title.label("ev_title"))
            .add_columns(commits.c.created_at.label("ev_at"))
            .join(commits, commits.c.repo_id == repos.c.id)
            .where(commits.c.author == name, seen)
            .order_by(commits.c.created_at.desc())
            .limit(limit)
        ).all()
        events += [Event("commit", _aware(r.ev_at), row_to_repo(r), r.ev_title, r.ev_sha) for r in rows]
        rows = conn.execute(
            select(repos, discussions.c.num.label("ev_num"), discussions.c.title.label("ev_title"))
            .add_columns(discussions.c.is_pr.label("ev_pr"), discussions.c.created_at.label("ev_at"))
            .join(discussions, discussions.c.repo_id == repos.c.id)
            .where(discussions.c.author == name, seen)
            .order_by(discussions.c.created_at.desc())
            .limit(limit)
        ).all()
        events += [
            Event(
                "pull_request" if r.ev_pr else "discussion",
                _aware(r.ev_at),
                row_to_repo(r),
                r.ev_title,
                str(r.ev_num),
            )
            for r in rows
        ]
        rows = conn.execute(
            select(repos, likes.c.created_at.label("ev_at"))
            .join(likes, likes.c.repo_id == repos.c.id)
            .where(likes.c.account_id == account.id, seen)
            .order_by(likes.c.created_at.desc())
            .limit(limit)
        ).all()
        events += [Event("like", _aware(r.ev_at), row_to_repo(r), "", "") for r in rows]
    events = [e for e in events if can_read(e.repo, who)]
    events.sort(key=lambda e: e.when, reverse=True)
    return events[:limit]
