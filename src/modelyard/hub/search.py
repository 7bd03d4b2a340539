"""Listing and search of repos (filters, sort, pagination).  owns: repo_tags

Filters go through the `repo_tags` index (one row per tag or alias, see `cards.index_keys`), the author through
a range on the unique `key_lower` index, sorts through the `(type, <sort column>)` indexes. `search` is a
substring of `namespace/name`, case-insensitive.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, false, func, or_, select, text

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import accounts, repo_tags, repos
from modelyard.hub.access import Perm
from modelyard.hub.accounts import Account, Principal
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
    "trending_score": repos.c.likes,
    "id": repos.c.key_lower,
}
Facet = list[tuple[str, int]]
FACET_CAP = 1000  # facets_within counts over at most this many matching repos (then says "≈")
FACET_PREFIXES = ("pipeline_tag:", "library:", "license:", "language:", "task_categories:")


@dataclass
class Query:
    repo_type: RepoType
    search: list[str] = field(default_factory=list)
    author: str | None = None
    filters: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library: str | None = None
    language: str | None = None
    license: str | None = None
    sort: str | None = None
    ascending: bool = False
    limit: int = 100
    offset: int = 0

    def tag_keys(self) -> list[str]:
        keys = [f for f in self.filters if f]
        if self.pipeline_tag:
            keys.append(f"pipeline_tag:{self.pipeline_tag}")
        if self.library:
            keys.append(f"library:{self.library}")
        if self.language:
            keys.append(f"language:{self.language}")
        if self.license:
            keys.append(f"license:{self.license}")
        return list(dict.fromkeys(keys))


def _prefix_range(prefix: str) -> ColumnElement[bool]:
    """key_lower starts with `prefix` (which ends in '/'), as an index range: '/' + 1 == '0'."""
    return and_(repos.c.key_lower >= prefix, repos.c.key_lower < prefix[:-1] + "0")


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _visible(repo_type: RepoType, who: Principal | None) -> ColumnElement[bool]:
    """Public repos, and the private ones of the caller's namespaces that its token may read (``repo.content.read``
    or ``repo.write`` on the namespace or globally; a fine-grained token scoped to single repos lists only those):
    the SQL form of hub/repos.py `can_read`."""
    conds: list[ColumnElement[bool]] = [repos.c.private == false()]
    if who is not None:
        kind = repo_type.value
        perms = {Perm.REPO_CONTENT_READ, Perm.REPO_WRITE}
        names = [who.account.name.lower()] + [o.name.lower() for o in who.orgs]
        conds += [_prefix_range(f"{kind}/{n}/") for n in names if any(who.allows(p, kind, n) for p in perms)]
        conds += [
            repos.c.key_lower == f"{kind}/{s.name}".lower()
            for s in who.grants.scoped
            if s.kind == kind and perms & s.perms and who.member_of(s.name.split("/", 1)[0])
        ]
    return or_(*conds)


def index_repo(conn: Connection, repo_id: int, keys: Iterable[str]) -> None:
    """Replace the searchable keys of a repo (called when the card at the main head changes)."""
    conn.execute(repo_tags.delete().where(repo_tags.c.repo_id == repo_id))
    rows = [{"repo_id": repo_id, "tag": k} for k in sorted(set(keys))]
    if rows:
        conn.execute(repo_tags.insert(), rows)


class Search:
    FTS_CAP = 2000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._fts: bool | None = None
        # (type, terms) -> the FTS ids (every repo, visible or not: callers filter), until the next commit;
        # a listing page asks twice (its rows, its facet counts)
        self._fts_cache: VersionedCache[tuple[str, tuple[str, ...]], list[int] | None] = VersionedCache(
            db, max_entries=256
        )

    def _has_fts(self) -> bool:
        if self._fts is None:
            self._fts = self.db.is_sqlite and "repo_search" in self.db.table_names()
        return self._fts

    def _fts_ids(self, repo_type: str, terms: list[str]) -> list[int] | None:
        """Ids whose key contains every term, from the SQLite FTS5 trigram index (migration 0003); None when
        there is no index, a term is too short or has LIKE metacharacters, or more than FTS_CAP repos match."""
        if not self._has_fts() or any(len(s) < 3 or set(s) & {"%", "_", "\\", "'"} for s in terms):
            return None
        return self._fts_cache.get_or_load(
            (repo_type, tuple(terms)), lambda: self._fts_query(repo_type, terms)
        )

    def _fts_query(self, repo_type: str, terms: list[str]) -> list[int] | None:
        where = " AND ".join(f"key_lower LIKE :p{i}" for i in range(len(terms)))
        params: dict[str, object] = {f"p{i}": f"{repo_type}/%{s}%" for i, s in enumerate(terms)}
        params["cap"] = self.FTS_CAP + 1
        with self.db.read() as conn:
            rows = conn.execute(text(f"SELECT rowid FROM repo_search WHERE {where} LIMIT :cap"), params).all()
        return None if len(rows) > self.FTS_CAP else [int(r[0]) for r in rows]

    def _where(self, q: Query, who: Principal | None) -> list[ColumnElement[bool]] | None:
        """The conditions of `q` for `who` (visibility included); None when nothing can match."""
        t = q.repo_type.value
        conds: list[ColumnElement[bool]] = [_visible(q.repo_type, who)]
        if q.author:  # implies the type: key_lower starts with "<type>/<author>/"
            conds.append(_prefix_range(f"{t}/{q.author.lower()}/"))
        else:
            conds.append(repos.c.type == t)
        terms = [s.lower() for s in q.search if s]
        if terms:
            ids = self._fts_ids(t, terms)
            if ids is not None:  # few matches: look them up by primary key
                if not ids:
                    return None
                conds.append(repos.c.id.in_(ids))
            else:  # common terms (or no FTS): filter while walking the sort order; matches come early
                conds += [repos.c.key_lower.like(f"{t}/%{_escape(s)}%", escape="\\") for s in terms]
        for key in q.tag_keys():
            conds.append(repos.c.id.in_(select(repo_tags.c.repo_id).where(repo_tags.c.tag == key)))
        return conds

    @staticmethod
    def _ordered(stmt: Select[Any], q: Query) -> Select[Any]:
        col = SORTS.get(q.sort or "")
        if col is not None:
            return stmt.order_by(col.asc() if q.ascending else col.desc(), repos.c.id.desc())
        return stmt.order_by(repos.c.id.desc())

    def list(self, q: Query, who: Principal | None) -> tuple[list[Repo], bool]:
        """One page of repos matching `q` that `who` may see, and whether more follow."""
        conds = self._where(q, who)
        if conds is None:
            return [], False
        stmt = self._ordered(select(repos).where(and_(*conds)), q).offset(q.offset).limit(q.limit + 1)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return [row_to_repo(r) for r in rows[: q.limit]], len(rows) > q.limit

    def facets_within(
        self, q: Query, who: Principal | None, per_prefix: int = 12, cap: int = FACET_CAP
    ) -> tuple[dict[str, Facet], bool]:
        """The most used values of each facet among the repos matching `q` that `who` may see (its page and
        offset ignored), and whether the counts are approximate: past `cap` matches, only the first `cap` in
        `q`'s sort order are counted (bounded work on a big hub)."""
        conds = self._where(q, who)
        if conds is None:
            return {}, False
        ids = self._ordered(select(repos.c.id).where(and_(*conds)), q)
        counted = ids.limit(cap).subquery()
        ranges = or_(*[and_(repo_tags.c.tag >= p, repo_tags.c.tag < p[:-1] + ";") for p in FACET_PREFIXES])
        stmt = (  # one pass: walk the matches in sort order, look up each one's tags by primary key
            select(repo_tags.c.tag, func.count().label("n"))
            .join(counted, counted.c.id == repo_tags.c.repo_id)
            .where(ranges)
            .group_by(repo_tags.c.tag)
        )
        with self.db.read() as conn:
            counts = {r.tag: int(r.n) for r in conn.execute(stmt)}
            past_cap = select(func.count()).select_from(ids.offset(cap).limit(1).subquery())
            approx = bool(conn.execute(past_cap).scalar_one())
        out: dict[str, Facet] = {}
        for prefix in FACET_PREFIXES:
            vals = sorted(
                ((k[len(prefix) :], n) for k, n in counts.items() if k.startswith(prefix)),
                key=lambda kv: (-kv[1], kv[0]),
            )[:per_prefix]
            if vals:
                out[prefix[:-1]] = vals
        return out, approx

    def accounts(self, term: str, limit: int = 10) -> tuple[builtins.list[Account], bool]:
        """Users and organisations whose name or full name contains `term` (case-insensitive), names that
        start with it first; and whether more match. Accounts are public (their private repos are not)."""
        t = term.strip().lower()
        if not t:
            return [], False
        pat = f"%{_escape(t)}%"
        starts = case((accounts.c.name_lower.like(f"{_escape(t)}%", escape="\\"), 0), else_=1)
        stmt = (
            select(accounts)
            .where(
                or_(
                    accounts.c.name_lower.like(pat, escape="\\"),
                    func.lower(accounts.c.fullname).like(pat, escape="\\"),
                )
            )
            .order_by(starts, func.length(accounts.c.name_lower), accounts.c.name_lower)
            .limit(limit + 1)
        )
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        found = [Account(r.id, r.name, r.fullname, r.kind, bool(r.is_admin)) for r in rows[:limit]]
        return found, len(rows) > limit

    def existing(self, repo_type: RepoType, ids: Iterable[str], who: Principal | None) -> dict[str, str]:
        """Which of the repo ids ("ns/name", any case) exist and `who` may see: {lower-cased id: id as stored}.
        One query (web pages use it to link card metadata only to repos on this hub)."""
        keys = sorted({f"{repo_type.value}/{i}".lower() for i in ids if i.count("/") == 1})[:500]
        if not keys:
            return {}
        stmt = select(repos.c.namespace, repos.c.name).where(
            repos.c.key_lower.in_(keys), _visible(repo_type, who)
        )
        with self.db.read() as conn:
            return {f"{r.namespace}/{r.name}".lower(): f"{r.namespace}/{r.name}" for r in conn.execute(stmt)}
