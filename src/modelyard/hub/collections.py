"""Collections: curated, ordered lists of repos, papers and other collections.  owns: collections, collection_items

Visibility: a private collection exists only for members of its namespace (everyone else gets NotFound, as for a
missing one). Items are filtered per viewer: a repo item shows only to those who may read the repo, a collection item
only to those who may see that collection, so a public collection never reveals a private repo's name. Writes need a
write-role token of a member of the namespace.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, false, func, or_, select

from modelyard.db import Database
from modelyard.db.schema import collection_items, collections
from modelyard.errors import BadRequest, Conflict, Forbidden, NotFound, RepoNotFound, Unauthorized
from modelyard.hub import audit
from modelyard.hub import buckets as bucket_rules
from modelyard.hub._time import now
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.buckets import Bucket, Buckets
from modelyard.hub.repos import Repo, Repos, can_read
from modelyard.types import RepoType

THEMES = ("orange", "blue", "green", "purple", "pink", "indigo")
ITEM_TYPES = ("model", "dataset", "space", "paper", "collection", "bucket")
SORTS = ("lastModified", "trending", "upvotes")
MAX_TITLE = 60
MAX_DESCRIPTION = 150
MAX_NOTE = 500
MAX_ITEMS = 1000
LISTING_ITEMS = 4  # a listing carries the first items of each collection only, as on the Hub
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_PAPER_ID = re.compile(r"^\d{4}\.\d{4,5}$")
_PLURALS = {
    "models": "model",
    "datasets": "dataset",
    "spaces": "space",
    "papers": "paper",
    "collections": "collection",
    "buckets": "bucket",
}


@dataclass(frozen=True)
class Collection:
    id: int
    object_id: str
    namespace: str
    title: str
    description: str | None
    private: bool
    theme: str
    position: int
    upvotes: int
    created_at: datetime
    last_updated: datetime

    @property
    def slug(self) -> str:
        return f"{self.namespace}/{slugify(self.title)}-{self.object_id}"


@dataclass(frozen=True)
class Item:
    object_id: str
    item_type: str
    position: int
    note: str | None
    added_at: datetime
    repo: Repo | None = None
    collection: Collection | None = None
    paper_id: str | None = None
    bucket: Bucket | None = None

    @property
    def item_id(self) -> str:
        if self.repo is not None:
            return self.repo.id_str
        if self.collection is not None:
            return self.collection.slug
        if self.bucket is not None:
            return self.bucket.id_str
        return self.paper_id or ""


def slugify(title: str) -> str:
    """The title part of a slug: lower-case ASCII letters and digits, runs of anything else as one '-'."""
    s = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return s[:60].strip("-") or "collection"


def _row(r: Any) -> Collection:
    return Collection(
        r.id,
        r.object_id,
        r.namespace,
        r.title,
        r.description,
        bool(r.private),
        r.theme,
        int(r.position or 0),
        int(r.upvotes or 0),
        r.created_at,
        r.last_updated,
    )


def _short(c: Collection) -> str:
    """The slug without its namespace: a `collection` token scope names the whole slug."""
    return c.slug.split("/", 1)[1]


def can_see(c: Collection, who: Principal | None) -> bool:
    """Public collections to everyone; private ones to members whose token allows ``collection.read`` on it."""
    return not c.private or (
        who is not None
        and who.member_of(c.namespace)
        and who.allows(Perm.COLLECTION_READ, "collection", c.namespace, _short(c))
    )


def can_edit(c: Collection, who: Principal | None) -> bool:
    """Org members with the write or admin role (the user in their own namespace) whose token allows
    ``collection.write`` on it (collections record no creator: contributors and read members only read them)."""
    return (
        who is not None
        and who.can_write
        and role_at_least(who.role_in(c.namespace), "write")
        and who.allows(Perm.COLLECTION_WRITE, "collection", c.namespace, _short(c))
    )


def _object_id() -> str:
    return secrets.token_hex(12)


def _text(value: object, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(
            f"Invalid {field!r}: a non-empty string" if required else f"Invalid {field!r}: a string"
        )
    if len(value) > limit:
        raise BadRequest(f"Invalid {field!r}: at most {limit} characters")
    return value.strip() if required else value


def _int(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise BadRequest(f"Invalid {field!r}: a non-negative integer")
    return value


def _bool(value: object, field: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"Invalid {field!r}: true or false")
    return value


def _move(conn: Connection, table: Table, scope: ColumnElement[bool], row_id: int, position: int) -> None:
    """Put row `row_id` at `position` among the rows of `scope` (by position, then id), renumbering them 0..n."""
    ids = [r.id for r in conn.execute(select(table.c.id).where(scope).order_by(table.c.position, table.c.id))]
    ids.remove(row_id)
    ids.insert(min(position, len(ids)), row_id)
    for i, rid in enumerate(ids):
        conn.execute(table.update().where(table.c.id == rid).values(position=i))


class Collections:
    def __init__(
        self, db: Database, repos: Repos, accounts: Accounts, buckets: Buckets | None = None
    ) -> None:
        self.db = db
        self.repos = repos
        self.accounts = accounts
        self.buckets = buckets

    # --- lookup -------------------------------------------------------------------------------------
    @staticmethod
    def _find(conn: Connection, slug: str) -> Collection | None:
        """The collection a slug names: by its trailing object id, the namespace must match (title part is free)."""
        ns, _, rest = slug.partition("/")
        oid = rest.rsplit("-", 1)[-1]
        if not ns or not _OBJECT_ID.match(oid):
            return None
        row = conn.execute(select(collections).where(collections.c.object_id == oid)).first()
        if row is None or row.namespace.lower() != ns.lower():
            return None
        return _row(row)

    def get(self, slug: str, who: Principal | None) -> Collection:
        """The collection if `who` may see it; NotFound otherwise (private ones are 404 to others)."""
        with self.db.read() as conn:
            c = self._find(conn, slug)
        if c is None or not can_see(c, who):
            raise NotFound(f"Collection {slug[:200]} not found")
        return c

    def get_for_write(self, slug: str, who: Principal | None) -> Collection:
        c = self.get(slug, who)
        if who is None:
            raise Unauthorized("You must be authenticated to change a collection")
        if not can_edit(c, who):
            if who.member_of(c.namespace):
                who.require(Perm.COLLECTION_WRITE, "collection", c.namespace, _short(c))
            raise Forbidden(f"You don't have write access to collection {c.slug}")
        return c

    def items(self, c: Collection, who: Principal | None, limit: int | None = None) -> list[Item]:
        """The items of `c` that `who` may see, in order."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(collection_items)
                .where(collection_items.c.collection_id == c.id)
                .order_by(collection_items.c.position, collection_items.c.id)
            ).all()
            out: list[Item] = []
            for r in rows:
                item = self._item(conn, r, who)
                if item is not None:
                    out.append(item)
                    if limit is not None and len(out) >= limit:
                        break
        return out

    def _item(self, conn: Connection, r: Any, who: Principal | None) -> Item | None:
        base = Item(r.object_id, r.item_type, int(r.position), r.note, r.added_at)
        if r.repo_id is not None:
            try:
                repo = self.repos.by_id(conn, r.repo_id)
            except RepoNotFound:
                return None
            return Item(**{**base.__dict__, "repo": repo}) if can_read(repo, who) else None
        if r.ref_collection_id is not None:
            row = conn.execute(select(collections).where(collections.c.id == r.ref_collection_id)).first()
            ref = _row(row) if row is not None else None
            if ref is None or not can_see(ref, who):
                return None
            return Item(**{**base.__dict__, "collection": ref})
        if r.bucket_id is not None:
            bucket = Buckets.by_id(conn, r.bucket_id)
            if bucket is None or not bucket_rules.can_read(bucket, who):
                return None
            return Item(**{**base.__dict__, "bucket": bucket})
        return Item(**{**base.__dict__, "paper_id": r.paper_id})

    # --- collections --------------------------------------------------------------------------------
    def create(
        self,
        who: Principal | None,
        title: object,
        namespace: object = None,
        private: object = None,
        description: object = None,
    ) -> Collection:
        if who is None:
            raise Unauthorized("You must be authenticated to create a collection")
        name = _text(title, "title", MAX_TITLE, required=True)
        assert name is not None
        desc = _text(description, "description", MAX_DESCRIPTION)
        priv = bool(_bool(private, "private"))
        if namespace is not None and not isinstance(namespace, str):
            raise BadRequest("Invalid 'namespace': a user or organization name")
        ns = namespace or who.account.name
        owner = self.accounts.find(ns)
        if owner is None or not role_at_least(who.role_in(ns), "write"):
            raise Forbidden(f"You don't have the rights to create a collection under the namespace {ns!r}")
        if not who.can_write:
            raise Forbidden("This token is read-only: use a token with the 'write' role")
        who.require(Perm.COLLECTION_WRITE, owner.kind, owner.name)
        ts = now()
        with self.db.transaction() as conn:
            mine = conn.execute(select(collections).where(collections.c.owner_id == owner.id)).all()
            for r in mine:
                if slugify(r.title) == slugify(name):
                    c = _row(r)
                    raise Conflict(f"You already have a collection called {r.title!r}", slug=c.slug)
            conn.execute(
                collections.update()
                .where(collections.c.owner_id == owner.id)
                .values(position=collections.c.position + 1)
            )
            oid = _object_id()
            conn.execute(
                collections.insert().values(
                    object_id=oid,
                    owner_id=owner.id,
                    namespace=owner.name,
                    title=name,
                    description=desc,
                    private=priv,
                    theme=THEMES[0],
                    position=0,
                    upvotes=0,
                    created_at=ts,
                    last_updated=ts,
                )
            )
            row = conn.execute(select(collections).where(collections.c.object_id == oid)).one()
        return _row(row)

    def update(self, who: Principal | None, slug: str, changes: dict[str, object]) -> Collection:
        c = self.get_for_write(slug, who)
        values: dict[str, Any] = {}
        title = _text(
            changes.get("title"),
            "title",
            MAX_TITLE,
            required="title" in changes and changes["title"] is not None,
        )
        if title is not None:
            values["title"] = title
        if changes.get("description") is not None:
            values["description"] = _text(changes["description"], "description", MAX_DESCRIPTION)
        private = _bool(changes.get("private"), "private")
        if private is not None:
            values["private"] = private
        theme = changes.get("theme")
        if theme is not None:
            if theme not in THEMES:
                raise BadRequest(f"Invalid 'theme': one of {', '.join(THEMES)}")
            values["theme"] = theme
        position = _int(changes.get("position"), "position")
        with self.db.transaction() as conn:
            if title is not None:
                clash = conn.execute(
                    select(collections.c.title).where(
                        collections.c.namespace == c.namespace, collections.c.id != c.id
                    )
                ).all()
                if any(slugify(r.title) == slugify(title) for r in clash):
                    raise Conflict(f"You already have a collection called {title!r}")
            values["last_updated"] = now()
            conn.execute(collections.update().where(collections.c.id == c.id).values(**values))
            if position is not None:
                _move(conn, collections, collections.c.namespace == c.namespace, c.id, position)
            row = conn.execute(select(collections).where(collections.c.id == c.id)).one()
        return _row(row)

    def delete(self, who: Principal | None, slug: str) -> None:
        c = self.get_for_write(slug, who)
        with self.db.transaction() as conn:
            conn.execute(collections.delete().where(collections.c.id == c.id))
            audit.record(
                conn,
                "collection.delete",
                actor=who,
                target=f"collection/{c.slug}",
                namespace=c.namespace,
                details={"title": c.title, "private": c.private},
            )

    # --- items --------------------------------------------------------------------------------------
    def _resolve(self, who: Principal | None, item_type: str, item_id: str) -> dict[str, Any]:
        """Column values naming the item; RepoNotFound/NotFound for what `who` cannot see (or that is missing)."""
        if item_type in ("model", "dataset", "space"):
            ns, _, name = item_id.partition("/")
            if not ns or not name or "/" in name:
                raise BadRequest(f"Invalid {item_type} id {item_id[:200]!r}: 'namespace/name'")
            repo = self.repos.get(RepoType(item_type), ns, name, who)
            return {"repo_id": repo.id}
        if item_type == "collection":
            ref = self.get(item_id, who)
            return {"ref_collection_id": ref.id}
        if item_type == "bucket" and self.buckets is not None:
            ns, _, name = item_id.partition("/")
            if not ns or not name or "/" in name:
                raise BadRequest(f"Invalid bucket id {item_id[:200]!r}: 'namespace/name'")
            return {"bucket_id": self.buckets.get(who, ns, name).id}
        if item_type == "paper":
            if not _PAPER_ID.match(item_id):
                raise BadRequest(f"Invalid paper id {item_id[:40]!r}: an arXiv id such as 2307.09288")
            return {"paper_id": item_id}
        raise BadRequest(f"Invalid item type {item_type!r}: one of {', '.join(ITEM_TYPES)}")

    def add_item(
        self, who: Principal | None, slug: str, item_type: object, item_id: object, note: object = None
    ) -> Collection:
        c = self.get_for_write(slug, who)
        if not isinstance(item_type, str) or not isinstance(item_id, str) or not item_id:
            raise BadRequest("Body needs 'item': {'id': ..., 'type': ...}")
        text = _text(note, "note", MAX_NOTE)
        target = self._resolve(who, item_type, item_id)
        if target.get("ref_collection_id") == c.id:
            raise BadRequest("A collection cannot contain itself")
        key = [getattr(collection_items.c, k) == v for k, v in target.items()]
        with self.db.transaction() as conn:
            if conn.execute(
                select(collection_items.c.id).where(collection_items.c.collection_id == c.id, *key)
            ).first():
                raise Conflict(f"{item_id[:200]} is already in collection {c.slug}")
            count = conn.execute(
                select(func.count()).where(collection_items.c.collection_id == c.id)
            ).scalar_one()
            if count >= MAX_ITEMS:
                raise BadRequest(f"A collection holds at most {MAX_ITEMS} items")
            last = conn.execute(
                select(func.max(collection_items.c.position)).where(collection_items.c.collection_id == c.id)
            ).scalar()
            conn.execute(
                collection_items.insert().values(
                    object_id=_object_id(),
                    collection_id=c.id,
                    item_type=item_type,
                    position=0 if last is None else int(last) + 1,
                    note=text,
                    added_at=now(),
                    **target,
                )
            )
            conn.execute(collections.update().where(collections.c.id == c.id).values(last_updated=now()))
        return c

    def update_item(
        self,
        who: Principal | None,
        slug: str,
        item_object_id: str,
        note: object = None,
        position: object = None,
    ) -> None:
        c = self.get_for_write(slug, who)
        text = _text(note, "note", MAX_NOTE)
        pos = _int(position, "position")
        with self.db.transaction() as conn:
            row = self._item_row(conn, c, item_object_id, who)
            if text is not None:
                conn.execute(
                    collection_items.update().where(collection_items.c.id == row.id).values(note=text or None)
                )
            if pos is not None:
                _move(conn, collection_items, collection_items.c.collection_id == c.id, row.id, pos)
            conn.execute(collections.update().where(collections.c.id == c.id).values(last_updated=now()))

    def delete_item(self, who: Principal | None, slug: str, item_object_id: str) -> None:
        c = self.get_for_write(slug, who)
        with self.db.transaction() as conn:
            row = self._item_row(conn, c, item_object_id, who)
            conn.execute(collection_items.delete().where(collection_items.c.id == row.id))
            conn.execute(collections.update().where(collections.c.id == c.id).values(last_updated=now()))

    def _item_row(self, conn: Connection, c: Collection, item_object_id: str, who: Principal | None) -> Any:
        row = conn.execute(
            select(collection_items).where(
                collection_items.c.collection_id == c.id,
                collection_items.c.object_id == item_object_id.lower(),
            )
        ).first()
        if row is None:
            raise NotFound(f"Item {item_object_id[:40]} not found in collection {c.slug}")
        return row

    # --- listing ------------------------------------------------------------------------------------
    def search(
        self,
        who: Principal | None,
        owners: list[str],
        items: list[str],
        sort: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[Collection], bool]:
        """Collections `who` may see, filtered by owner names and by contained items ('models/ns/name',
        'papers/2307.09288', 'collections/<slug>'): an item `who` cannot see matches nothing."""
        if sort is not None and sort not in SORTS:
            raise BadRequest(f"Invalid sort {sort!r}: one of {', '.join(SORTS)}")
        q = select(collections)
        visible: ColumnElement[bool] = collections.c.private.is_(False)
        if who is not None:
            names = [who.account.name.lower(), *(o.name.lower() for o in who.orgs)]
            visible = or_(visible, func.lower(collections.c.namespace).in_(names))
        q = q.where(visible)
        if owners:
            q = q.where(func.lower(collections.c.namespace).in_([o.lower() for o in owners]))
        for spec in items:
            plural, _, ident = spec.partition("/")
            kind = _PLURALS.get(plural)
            try:
                target = self._resolve(who, kind, ident) if kind else None
            except (NotFound, BadRequest):
                target = None
            if target is None:
                q = q.where(false())
                continue
            ((col, val),) = target.items()
            q = q.where(
                collections.c.id.in_(
                    select(collection_items.c.collection_id).where(getattr(collection_items.c, col) == val)
                )
            )
        if sort in ("upvotes", "trending"):
            q = q.order_by(collections.c.upvotes.desc(), collections.c.last_updated.desc(), collections.c.id)
        else:
            q = q.order_by(collections.c.last_updated.desc(), collections.c.id)
        with self.db.read() as conn:
            rows = conn.execute(q.offset(offset).limit(limit + 1)).all()
        out = [_row(r) for r in rows]
        more = len(out) > limit
        # private ones the SQL let through for members: the token must also allow collection.read on each
        return [c for c in out[:limit] if can_see(c, who)], more

    def of_owner(self, namespace: str, who: Principal | None) -> list[Collection]:
        """An owner's collections that `who` may see, in the owner's order (for the web pages)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(collections)
                .where(func.lower(collections.c.namespace) == namespace.lower())
                .order_by(collections.c.position, collections.c.id)
            ).all()
        return [c for c in (_row(r) for r in rows) if can_see(c, who)]
