"""Discussions and pull requests (refs/pr/N share the numbering).  owns: discussions, discussion_events"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from modelyard.db.schema import discussion_events, discussions
from modelyard.errors import BadRequest, Forbidden, NotFound
from modelyard.hub._time import now


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    author: str | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Discussion:
    num: int
    title: str
    author: str
    is_pr: bool
    status: str
    base_ref: str | None
    merge_commit: str | None
    created_at: datetime
    events: list[Event] = field(default_factory=list)


def _row(r: Any) -> Discussion:
    return Discussion(
        r.num, r.title, r.author, bool(r.is_pr), r.status, r.base_ref, r.merge_commit, r.created_at
    )


def add_event(
    conn: Connection, repo_id: int, num: int, type_: str, author: str | None, data: dict[str, Any]
) -> Event:
    ts = now()
    res = conn.execute(
        discussion_events.insert().values(
            repo_id=repo_id, num=num, type=type_, author=author, data=json.dumps(data), created_at=ts
        )
    )
    pk = res.inserted_primary_key
    assert pk is not None
    return Event(int(pk[0]), type_, author, data, ts)


def _comment_event(conn: Connection, repo_id: int, num: int, author: str, text: str) -> Event:
    latest = {"raw": text, "html": text, "updatedAt": now().isoformat()}
    return add_event(
        conn, repo_id, num, "comment", author, {"edited": False, "hidden": False, "latest": latest}
    )


def create(
    conn: Connection,
    repo_id: int,
    title: str,
    author: str,
    description: str,
    is_pr: bool,
    base_ref: str | None = None,
) -> Discussion:
    if not title or not title.strip():
        raise BadRequest("A discussion needs a title")
    num = (
        int(
            conn.execute(
                select(func.coalesce(func.max(discussions.c.num), 0)).where(discussions.c.repo_id == repo_id)
            ).scalar()
            or 0
        )
        + 1
    )
    ts = now()
    conn.execute(
        discussions.insert().values(
            repo_id=repo_id,
            num=num,
            title=title.strip(),
            author=author,
            is_pr=is_pr,
            status="draft" if is_pr else "open",
            base_ref=base_ref,
            created_at=ts,
        )
    )
    _comment_event(conn, repo_id, num, author, description or "")

    return get(conn, repo_id, num)


def get(conn: Connection, repo_id: int, num: int) -> Discussion:
    r = conn.execute(
        select(discussions).where(discussions.c.repo_id == repo_id, discussions.c.num == num)
    ).first()
    if r is None:
        raise NotFound(f"Discussion #{num} not found")
    d = _row(r)
    evs = conn.execute(
        select(discussion_events)
        .where(discussion_events.c.repo_id == repo_id, discussion_events.c.num == num)
        .order_by(discussion_events.c.id)
    )
    d.events.extend(Event(e.id, e.type, e.author, json.loads(e.data), e.created_at) for e in evs)
    return d


def list_all(conn: Connection, repo_id: int) -> list[Discussion]:
    rows = conn.execute(
        select(discussions).where(discussions.c.repo_id == repo_id).order_by(discussions.c.num.desc())
    )
    return [_row(r) for r in rows]


def comment_counts(conn: Connection, repo_id: int) -> dict[int, int]:
    """Number of comments (the opening post included) of each discussion of a repo: {num: count}."""
    rows = conn.execute(
        select(discussion_events.c.num, func.count())
        .where(discussion_events.c.repo_id == repo_id, discussion_events.c.type == "comment")
        .group_by(discussion_events.c.num)
    )
    return {int(num): int(n) for num, n in rows}


def set_status(
    conn: Connection, repo_id: int, num: int, status: str, author: str, merge_commit: str | None = None
) -> Event:
    values: dict[str, Any] = {"status": status}
    if merge_commit:
        values["merge_commit"] = merge_commit
    conn.execute(
        discussions.update()
        .where(discussions.c.repo_id == repo_id, discussions.c.num == num)
        .values(**values)
    )
    return add_event(conn, repo_id, num, "status-change", author, {"status": status})


def set_title(conn: Connection, repo_id: int, num: int, title: str, author: str) -> Event:
    old = get(conn, repo_id, num).title
    conn.execute(
        discussions.update()
        .where(discussions.c.repo_id == repo_id, discussions.c.num == num)
        .values(title=title)
    )
    return add_event(conn, repo_id, num, "title-change", author, {"from": old, "to": title})


def comment(conn: Connection, repo_id: int, num: int, author: str, text: str) -> Event:
    get(conn, repo_id, num)
    if not text or not text.strip():
        raise BadRequest("A comment cannot be empty")
    return _comment_event(conn, repo_id, num, author, text)


def _comment_row(conn: Connection, repo_id: int, num: int, event_id: str) -> Any:
    row = None
    if event_id.isdigit() and len(event_id) < 10:
        row = conn.execute(
            select(discussion_events).where(
                discussion_events.c.id == int(event_id),
                discussion_events.c.repo_id == repo_id,
                discussion_events.c.num == num,
                discussion_events.c.type == "comment",
            )
        ).first()
    if row is None:
        raise NotFound(f"Comment {event_id[:40]} not found in discussion #{num}")
    return row


def _set_comment(conn: Connection, row: Any, data: dict[str, Any]) -> Event:
    conn.execute(
        discussion_events.update().where(discussion_events.c.id == row.id).values(data=json.dumps(data))
    )
    return Event(row.id, row.type, row.author, data, row.created_at)


def comment_author(conn: Connection, repo_id: int, num: int, event_id: str) -> str | None:
    """The author of a comment (NotFound when the discussion has no such comment)."""
    return _comment_row(conn, repo_id, num, event_id).author  # type: ignore[no-any-return]


def edit_comment(conn: Connection, repo_id: int, num: int, event_id: str, text: str) -> Event:
    """Replace a comment's text (the caller checked it is the author's). A hidden comment cannot be edited."""
    if not text or not text.strip():
        raise BadRequest("A comment cannot be empty")
    row = _comment_row(conn, repo_id, num, event_id)
    data = json.loads(row.data)
    if data.get("hidden"):
        raise Forbidden("This comment is hidden and cannot be edited")
    data.update(edited=True, latest={"raw": text, "html": text, "updatedAt": now().isoformat()})
    return _set_comment(conn, row, data)


def hide_comment(conn: Connection, repo_id: int, num: int, event_id: str, by: str) -> Event:
    """Hide a comment for good: its text is erased (never returned again), `hidden` and who hid it stay."""
    row = _comment_row(conn, repo_id, num, event_id)
    data = json.loads(row.data)
    data.update(hidden=True, hiddenBy=by, latest={"raw": "", "html": "", "updatedAt": now().isoformat()})
    return _set_comment(conn, row, data)
