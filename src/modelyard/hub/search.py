"""Listing and search of repos (filters, sort, pagination), built on the repos table."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, false, or_, select

from modelyard.db import Database
from modelyard.db.schema import repos
from modelyard.hub.accounts import Principal
from modelyard.hub.repos import Repo, row_to_repo
from modelyard.types import RepoType

SORTS = {
    "lastModified": repos.c.last_modified,
    "last_modified": repos.c.last_modified,
    "createdAt": repos.c.created_at,
    "created_at": repos.c.created_at,
    "downloads": repos.c.downloads,
    "likes": repos.c.likes,
    "trendingScore": repos.c.likes,
    "id": repos.c.key_lower,
}


@dataclass
class Query:
    repo_type: RepoType
    search: list[str] = field(default_factory=list)
    author: str | None = None
    filters: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library: str | None = None
    sort: str | None = None
    ascending: bool = False
    limit: int = 100
    offset: int = 0


class Search:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, q: Query, who: Principal | None) -> tuple[list[Repo], bool]:
        conds = [repos.c.type == q.repo_type.value]
        visible = [repos.c.private == false()]
        if who is not None:
            names = [who.account.name.lower()] + [o.name.lower() for o in who.orgs]
            visible.append(
                repos.c.key_lower.in_([])
                if not names
                else or_(*[repos.c.key_lower.like(f"{q.repo_type.value}/{n}/%") for n in names])
            )
        conds.append(or_(*visible))
        for s in q.search:
            if s:
                conds.append(repos.c.key_lower.contains(s.lower(), autoescape=True))
        if q.author:
            conds.append(repos.c.key_lower.like(f"{q.repo_type.value}/{q.author.lower()}/%"))
        for f in q.filters:
            conds.append(repos.c.tags.contains(f'"{f}"', autoescape=True))
        if q.pipeline_tag:
            conds.append(repos.c.pipeline_tag == q.pipeline_tag)
        if q.library:
            conds.append(repos.c.library_name == q.library)
        col = SORTS.get(q.sort or "")
        stmt = select(repos).where(and_(*conds))
        if col is not None:
            stmt = stmt.order_by(col.asc() if q.ascending else col.desc(), repos.c.id.desc())
        else:
            stmt = stmt.order_by(repos.c.id.desc())
        stmt = stmt.offset(q.offset).limit(q.limit + 1)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return [row_to_repo(r) for r in rows[: q.limit]], len(rows) > q.limit
