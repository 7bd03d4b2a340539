"""Repositories: create, delete, settings, visibility, move, lookup and permissions.  owns: repos, repo_redirects"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, select

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import downloads_daily, repo_redirects, repos
from modelyard.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatedRepo,
    HubError,
    InvalidRepoName,
    NotFound,
    RepoExists,
    RepoNotFound,
    TokenScope,
    Unauthorized,
)
from modelyard.hub import audit, discussions, revisions
from modelyard.hub._time import now
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.events import EventSink, HubEvent, NoEvents
from modelyard.hub.gitobjects import blob_sha1
from modelyard.hub.paths import default_gitattributes
from modelyard.storage import BlobStore, put_bytes
from modelyard.types import RepoType, valid_name

SPACE_SDKS = {"gradio", "streamlit", "docker", "static"}


_SPACE_EMOJIS = "🚀🔥🐢🦀🐨🌍📚🏃💻📊🎨🐠🦙🏆🌖"
_SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")


def space_readme(name: str, sdk: str) -> bytes:
    """The README.md the Hub writes into a new Space: title, emoji, colours, sdk (and app_file), pinned."""
    import secrets

    lines = [
        "---",
        f"title: {name}",
        f"emoji: {secrets.choice(_SPACE_EMOJIS)}",
        f"colorFrom: {secrets.choice(_SPACE_COLORS)}",
        f"colorTo: {secrets.choice(_SPACE_COLORS)}",
        f"sdk: {sdk}",
    ]
    if sdk in {"gradio", "streamlit"}:
        lines.append("app_file: app.py")
    lines += [
        "pinned: false",
        "---",
        "",
        "Check out the configuration reference at https://huggingface.co/docs/hub/spaces-config-reference",
        "",
    ]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class Repo:
    id: int
    type: RepoType
    namespace: str
    name: str
    private: bool
    gated: str | None
    sdk: str | None
    created_at: datetime
    last_modified: datetime
    downloads: int
    likes: int
    card_data: dict[str, Any] | None
    tags: list[str]
    pipeline_tag: str | None
    library_name: str | None
    head_sha: str | None
    used_storage: int
    created_by: int | None = None  # the account that created it (org contributors write to their own repos)

    @property
    def id_str(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        return key_of(self.type, self.namespace, self.name)


class DownloadCounter:
    """Downloads counted in memory until `Repos.flush_downloads` writes them. Counts being written stay visible
    (`pending`) until their transaction has committed, so a reader never sees a count go down."""

    FLUSH_SECONDS = 5.0  # how often the server's lifespan flushes

    def __init__(self) -> None:
        self._pending: dict[int, int] = {}
        self._flushing: dict[int, int] = {}
        self._lock = threading.Lock()

    def add(self, repo_id: int, n: int = 1) -> None:
        with self._lock:
            self._pending[repo_id] = self._pending.get(repo_id, 0) + n

    def pending(self, repo_id: int) -> int:
        with self._lock:
            return self._pending.get(repo_id, 0) + self._flushing.get(repo_id, 0)

    def take(self) -> dict[int, int]:
        """The pending counts, now being written (one flush at a time: `Repos.flush_downloads` holds a lock)."""
        with self._lock:
            self._flushing, self._pending = self._pending, {}
            return dict(self._flushing)

    def restore(self) -> None:
        """A failed flush: its counts become pending again."""
        with self._lock:
            for k, v in self._flushing.items():
                self._pending[k] = self._pending.get(k, 0) + v
            self._flushing = {}

    def done(self) -> None:
        with self._lock:
            self._flushing = {}


def key_of(repo_type: RepoType, namespace: str, name: str) -> str:
    return f"{repo_type.value}/{namespace}/{name}".lower()


def row_to_repo(r: Any) -> Repo:
    return Repo(
        id=r.id,
        type=RepoType(r.type),
        namespace=r.namespace,
        name=r.name,
        private=bool(r.private),
        gated=r.gated,
        sdk=r.sdk,
        created_at=r.created_at,
        last_modified=r.last_modified,
        downloads=int(r.downloads or 0),
        likes=int(r.likes or 0),
        card_data=json.loads(r.card_data) if r.card_data else None,
        tags=json.loads(r.tags) if r.tags else [],
        pipeline_tag=r.pipeline_tag,
        library_name=r.library_name,
        head_sha=r.head_sha,
        used_storage=int(r.used_storage or 0),
        created_by=r.created_by,
    )


#: files of a gated repo anyone may download: the card (the Hub shows it, licence included, before access)
GATE_FREE_PATHS = frozenset({"README.md"})


class GateLookup(Protocol):
    """Whether a user has an accepted access request for a gated repo (hub/gating.py)."""

    def has_access(self, repo: Repo, user_id: int) -> bool: ...


def can_read(repo: Repo, who: Principal | None) -> bool:
    """Metadata and (ungated) files: public repos to everyone; private ones to members of the namespace (any
    role) whose token allows ``repo.content.read`` on the repo, or ``repo.write`` (writing needs reading: preupload,
    parents, the repo it just created). The gate of a gated repo (`check_download`) still wants the former."""
    if not repo.private:
        return True
    kind = repo.type.value
    return (
        who is not None
        and who.member_of(repo.namespace)
        and (
            who.allows(Perm.REPO_CONTENT_READ, kind, repo.namespace, repo.name)
            or who.allows(Perm.REPO_WRITE, kind, repo.namespace, repo.name)
        )
    )


def account_can_write(repo: Repo, who: Principal) -> bool:
    """The account's right (whatever the token): org write/admin, or contributor on a repo it created."""
    role = who.role_in(repo.namespace)
    return role_at_least(role, "write") or (role == "contributor" and repo.created_by == who.account.id)


def can_write(repo: Repo, who: Principal | None) -> bool:
    """Push to branches, change settings, delete, move: the account's right and the token's ``repo.write``."""
    return (
        who is not None
        and account_can_write(repo, who)
        and who.allows(Perm.REPO_WRITE, repo.type.value, repo.namespace, repo.name)
    )


def can_manage(repo: Repo, who: Principal | None) -> bool:
    """Settings, gating, access requests, delete and move: the same right as pushing (the Hub's write role)."""
    return can_write(repo, who)


def can_discuss(repo: Repo, who: Principal) -> bool:
    """Open discussions and pull requests, comment: anyone who reads the repo, with a token that allows it."""
    if who.role == "read":
        return False
    kind = repo.type.value
    return who.allows(Perm.DISCUSSION_WRITE, kind, repo.namespace, repo.name) or who.allows(
        Perm.REPO_WRITE, kind, repo.namespace, repo.name
    )


def _refuse_write(repo: Repo, who: Principal | None) -> HubError:
    if who is None:
        return Unauthorized("You must be authenticated to write to this repository")
    if not who.can_write:
        return Forbidden("This token is read-only: use a token with the 'write' role to push")
    if account_can_write(repo, who):
        return TokenScope(
            f"This token ({who.role} token {who.token_name!r}) does not have the 'repo.write' permission on "
            f"{repo.type.value} {repo.id_str}"
        )
    return Forbidden(f"You don't have write access to {repo.type.value} {repo.id_str}")


class Repos:
    def __init__(
        self, db: Database, store: BlobStore, accounts: Accounts, events: EventSink | None = None
    ) -> None:
        self.db = db
        self.store = store
        self.accounts = accounts
        self.events: EventSink = events or NoEvents()  # told after each committed change (hub/events.py)
        # repo rows by key (db/cache.py); access is still checked on every call, with the caller's principal
        self._by_key: VersionedCache[str, Repo | None] = VersionedCache(db)
        self.downloads = DownloadCounter()
        self._flush_lock = threading.Lock()
        self.gates: GateLookup | None = (
            None  # accepted access requests (hub/gating.py); None: gated = members only
        )
        self.public_url = ""  # base URL named in the gated-repo message

    # --- lookup -------------------------------------------------------------------------------------
    def find(self, conn: Connection, repo_type: RepoType, namespace: str, name: str) -> Repo | None:
        return self.find_in(conn, repo_type, namespace, name)

    @staticmethod
    def find_in(conn: Connection, repo_type: RepoType, namespace: str, name: str) -> Repo | None:
        row = conn.execute(
            select(repos).where(repos.c.key_lower == key_of(repo_type, namespace, name))
        ).first()
        return row_to_repo(row) if row else None

    def redirect_target(self, repo_type: RepoType, namespace: str, name: str) -> Repo | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(repos)
                .join(repo_redirects, repo_redirects.c.repo_id == repos.c.id)
                .where(repo_redirects.c.key_lower == key_of(repo_type, namespace, name))
            ).first()
        return row_to_repo(row) if row else None

    def get(self, repo_type: RepoType, namespace: str, name: str, who: Principal | None) -> Repo:
        """The repo if `who` may read it; RepoNotFound otherwise (private repos are 404 to others)."""
        repo = self._by_key.get_or_load(
            key_of(repo_type, namespace, name), lambda: self._find(repo_type, namespace, name)
        )
        if repo is None or not can_read(repo, who):
            raise RepoNotFound(f"Repository Not Found for {repo_type.plural} {namespace}/{name}")
        pending = self.downloads.pending(repo.id)
        return replace(repo, downloads=repo.downloads + pending) if pending else repo

    def _find(self, repo_type: RepoType, namespace: str, name: str) -> Repo | None:
        with self.db.read() as conn:
            return self.find(conn, repo_type, namespace, name)

    def get_for_write(self, repo_type: RepoType, namespace: str, name: str, who: Principal | None) -> Repo:
        repo = self.get(repo_type, namespace, name, who)
        if not can_write(repo, who):
            raise _refuse_write(repo, who)
        return repo

    def get_for_download(
        self, repo_type: RepoType, namespace: str, name: str, who: Principal | None, path: str | None = None
    ) -> Repo:
        """The repo if `who` may download its files (every route that returns file bytes uses this; metadata
        routes use `get`): readable, and past the gate of a gated repo. GatedRepo (401/403) or RepoNotFound."""
        repo = self.get(repo_type, namespace, name, who)
        self.check_download(repo, who, path)
        return repo

    def check_download(self, repo: Repo, who: Principal | None, path: str | None = None) -> None:
        """The gate (see `get_for_download`) for a repo already looked up with `get`.

        Members of the namespace pass; others need an accepted access request (`gates`). The token must be able
        to read gated repos (`canReadGatedRepos`) or have ``repo.content.read`` on this one."""
        if not repo.gated or path in GATE_FREE_PATHS:
            return
        what = f"{repo.type.value} {repo.id_str}"
        if who is None:
            raise GatedRepo(
                f"Access to {what} is restricted. You must have access to it and be authenticated to access it. "
                "Please log in.",
                anonymous=True,
            )
        kind = repo.type.value
        if not (
            who.grants.can_read_gated or who.allows(Perm.REPO_CONTENT_READ, kind, repo.namespace, repo.name)
        ):
            raise GatedRepo(
                f"Access to {what} is restricted: this token ({who.token_name!r}) may not read gated repos. "
                "Use a token with 'canReadGatedRepos' or the 'repo.content.read' permission on this repo."
            )
        if who.member_of(repo.namespace):
            return
        if self.gates is not None and self.gates.has_access(repo, who.account.id):
            return
        raise GatedRepo(
            f"Access to {what} is restricted and you are not in the authorized list. "
            f"Visit {self.public_url}/{repo.type.url_prefix}{repo.id_str} to ask for access."
        )

    def check_push(self, who: Principal | None, repo: Repo, rev: str | None, create_pr: bool) -> Principal:
        """The one push rule (commits, preupload, LFS batch uploads and verify, Xet write tokens).

        `who` must be authenticated with a write-role token and able to read `repo`. Members with write access
        push anywhere; anyone else may only open a pull request (`create_pr`, or an upload with no ref, which is
        how huggingface_hub uploads for a new PR) or push to an open pull request they authored (`refs/pr/N`).
        Raises Unauthorized, RepoNotFound, or Forbidden.
        """
        if who is None:
            raise Unauthorized("You must be authenticated to write to this repository")
        if not can_read(repo, who):
            raise RepoNotFound(f"Repository Not Found for {repo.type.plural} {repo.id_str}")
        if not who.can_write:
            raise Forbidden("This token is read-only: use a token with the 'write' role to push")
        if can_write(repo, who):
            return who
        if not can_discuss(repo, who):  # a PR is a discussion: its token needs discussion.write or repo.write
            raise _refuse_write(repo, who)
        if create_pr:
            return who
        kind, name = revisions.parse_branch(rev or "")
        if kind == "pr" and name.isdigit():
            with self.db.read() as conn:
                try:
                    pr = discussions.get(conn, repo.id, int(name))
                except NotFound:
                    pr = None
            mine = pr is not None and pr.is_pr and pr.author == who.account.name
            if mine and pr is not None and pr.status in ("draft", "open"):
                return who
        raise _refuse_write(repo, who)

    @staticmethod
    def identities(conn: Connection) -> list[tuple[int, datetime]]:
        """(id, created_at) of every repo: what caches keyed by repo (git mirrors) check their entries against."""
        return [(int(r.id), r.created_at) for r in conn.execute(select(repos.c.id, repos.c.created_at))]

    @staticmethod
    def by_id(conn: Connection, repo_id: int) -> Repo:
        row = conn.execute(select(repos).where(repos.c.id == repo_id)).first()
        if row is None:
            raise RepoNotFound(f"Repository {repo_id} not found")
        return row_to_repo(row)

    # --- create / delete ----------------------------------------------------------------------------
    def create(
        self,
        who: Principal | None,
        repo_type: RepoType,
        name: str,
        namespace: str | None = None,
        private: bool | None = None,
        sdk: str | None = None,
    ) -> Repo:
        if who is None:
            raise Unauthorized("You must be authenticated to create a repository")
        ns = namespace or who.account.name
        if not valid_name(name) or not valid_name(ns):
            raise InvalidRepoName(
                f"Invalid repo name {ns}/{name}: use 1-96 of letters, digits, '.', '_' and '-', "
                "no '--' or '..', not ending in '.git'"
            )
        owner = self.accounts.find(ns)
        with self.db.read() as conn:
            existing = self.find(conn, repo_type, ns, name)
        if existing is not None and can_read(existing, who):
            raise RepoExists(f"You already created this {repo_type.value} repo", repo=existing)
        if owner is None:
            raise Forbidden(f"Namespace {ns!r} does not exist or you are not a member")
        if not who.can_write or not role_at_least(who.role_in(ns), "contributor"):
            raise Forbidden(
                f"You don't have the rights to create a {repo_type.value} under the namespace {ns!r}"
            )
        who.require(Perm.REPO_WRITE, owner.kind, owner.name)
        if private is None:
            private = self.accounts.default_private(owner.name)
        if existing is not None:
            raise RepoExists(
                f"A {repo_type.value} repository called {ns}/{name} already exists", repo=existing
            )
        if repo_type is RepoType.SPACE:
            if not sdk:
                raise BadRequest("Space SDK is required: one of " + ", ".join(sorted(SPACE_SDKS)))
            if sdk not in SPACE_SDKS:
                raise BadRequest(f"Invalid space sdk {sdk!r}: one of " + ", ".join(sorted(SPACE_SDKS)))
        attrs = default_gitattributes(repo_type.value)
        info = put_bytes(self.store, attrs)  # blob before rows
        entry = revisions.FileEntry(".gitattributes", blob_sha1(attrs), info.sha256, info.size, False)
        initial = {".gitattributes": entry}
        card: dict[str, Any] | None = None
        # the Hub's first commit of a Space also writes its README (sdk metadata)
        if repo_type is RepoType.SPACE:
            readme = space_readme(name, str(sdk))
            rinfo = put_bytes(self.store, readme)
            initial["README.md"] = revisions.FileEntry(
                "README.md", blob_sha1(readme), rinfo.sha256, rinfo.size, False
            )
            from modelyard.hub.cards import parse_card

            card = parse_card(readme.decode())
        ts = now()
        with self.db.transaction() as conn:
            if self.find(conn, repo_type, ns, name):
                raise RepoExists(f"A {repo_type.value} repository called {ns}/{name} already exists")
            res = conn.execute(
                repos.insert().values(
                    type=repo_type.value,
                    namespace=owner.name,
                    name=name,
                    key_lower=key_of(repo_type, ns, name),
                    owner_id=owner.id,
                    private=bool(private),
                    gated=None,
                    sdk=sdk,
                    created_at=ts,
                    last_modified=ts,
                    downloads=0,
                    likes=0,
                    tags="[]",
                    used_storage=sum(e.size for e in initial.values()),
                    created_by=who.account.id,
                )
            )
            pk = res.inserted_primary_key
            assert pk is not None
            repo_id = int(pk[0])
            conn.execute(
                repo_redirects.delete().where(repo_redirects.c.key_lower == key_of(repo_type, ns, name))
            )
            c = revisions.write_commit(
                conn,
                repo_id,
                None,
                initial,
                set(initial),
                who.account.name,
                "initial commit",
                "",
            )
            revisions.set_ref(conn, repo_id, "branch", "main", c.sha)
            conn.execute(repos.update().where(repos.c.id == repo_id).values(head_sha=c.sha))
            if card is not None:
                self.record_head(conn, repo_id, c.sha, sum(e.size for e in initial.values()), card, True)
            created = self.by_id(conn, repo_id)
            audit.record(
                conn,
                "repo.create",
                actor=who,
                target=created.key,
                namespace=created.namespace,
                details={"private": created.private},
            )
        self.events.emit(HubEvent("repo", "create", created))
        return created

    def delete(self, who: Principal | None, repo_type: RepoType, namespace: str, name: str) -> None:
        repo = self.get_for_write(repo_type, namespace, name, who)
        with self.db.transaction() as conn:
            conn.execute(repos.delete().where(repos.c.id == repo.id))
            # rows of other owners cascade through foreign keys; commit_files has none, clean it here
            from modelyard.db.schema import commit_files, discussion_events

            conn.execute(commit_files.delete().where(commit_files.c.repo_id == repo.id))
            conn.execute(discussion_events.delete().where(discussion_events.c.repo_id == repo.id))
            audit.record(conn, "repo.delete", actor=who, target=repo.key, namespace=repo.namespace)
        self.events.emit(HubEvent("repo", "delete", repo))

    def update_settings(
        self, who: Principal | None, repo: Repo, private: bool | None = None, gated: str | bool | None = None
    ) -> Repo:
        if not can_manage(repo, who):
            raise _refuse_write(repo, who)
        values: dict[str, Any] = {}
        if private is not None:
            values["private"] = bool(private)
        if gated is not None:
            if gated is False or gated in {"false", "False"}:
                values["gated"] = None
            elif gated in {"auto", "manual"}:
                values["gated"] = gated
            else:
                raise BadRequest(f"Invalid gated value {gated!r}: 'auto', 'manual' or false")
        if values:
            with self.db.transaction() as conn:
                conn.execute(repos.update().where(repos.c.id == repo.id).values(**values))
                if "private" in values and values["private"] != repo.private:
                    audit.record(
                        conn,
                        "repo.visibility",
                        actor=who,
                        target=repo.key,
                        namespace=repo.namespace,
                        details={"private": values["private"]},
                    )
                if "gated" in values and values["gated"] != repo.gated:
                    audit.record(
                        conn,
                        "repo.gated",
                        actor=who,
                        target=repo.key,
                        namespace=repo.namespace,
                        details={"gated": values["gated"] or False, "from": repo.gated or False},
                    )
        with self.db.read() as conn:
            updated = self.by_id(conn, repo.id)
        if values:
            self.events.emit(HubEvent("repo.config", "update", updated))
        return updated

    def move(self, who: Principal | None, repo_type: RepoType, src: str, dst: str) -> Repo:
        try:
            s_ns, s_name = src.split("/")
            d_ns, d_name = dst.split("/")
        except ValueError:
            raise InvalidRepoName("fromRepo and toRepo must be 'namespace/name'") from None
        repo = self.get_for_write(repo_type, s_ns, s_name, who)
        assert who is not None
        if not valid_name(d_ns) or not valid_name(d_name):
            raise InvalidRepoName(f"Invalid repo name {dst}")
        owner = self.accounts.find(d_ns)
        if owner is None or not role_at_least(who.role_in(d_ns), "write"):
            raise Forbidden(f"You don't have the rights to move a repository to the namespace {d_ns!r}")
        who.require(Perm.REPO_WRITE, owner.kind, owner.name)
        new_key = key_of(repo_type, d_ns, d_name)
        with self.db.transaction() as conn:
            other = self.find(conn, repo_type, d_ns, d_name)
            if other is not None and other.id != repo.id:
                raise Conflict(f"A {repo_type.value} repository called {dst} already exists")
            conn.execute(
                repos.update()
                .where(repos.c.id == repo.id)
                .values(namespace=owner.name, name=d_name, key_lower=new_key, owner_id=owner.id)
            )
            conn.execute(repo_redirects.delete().where(repo_redirects.c.key_lower == new_key))
            conn.execute(repo_redirects.delete().where(repo_redirects.c.key_lower == repo.key))
            conn.execute(repo_redirects.insert().values(key_lower=repo.key, repo_id=repo.id))
            moved = self.by_id(conn, repo.id)
            for ns in sorted({repo.namespace.lower(), moved.namespace.lower()}):  # both namespaces' logs
                audit.record(
                    conn, "repo.move", actor=who, target=repo.key, namespace=ns, details={"to": moved.key}
                )
        self.events.emit(HubEvent("repo", "move", repo, moved_to=moved.id_str))
        return moved

    # --- metadata updated by commits ----------------------------------------------------------------
    @staticmethod
    def record_head(
        conn: Connection,
        repo_id: int,
        head_sha: str,
        used_storage: int,
        card: dict[str, Any] | None,
        card_changed: bool,
    ) -> None:
        values: dict[str, Any] = {"head_sha": head_sha, "last_modified": now(), "used_storage": used_storage}
        if card_changed:
            from modelyard.hub.cards import derive_tags

            values["card_data"] = json.dumps(card) if card else None
            tags, pipeline_tag, library = derive_tags(card or {})
            values["tags"] = json.dumps(tags)
            values["pipeline_tag"] = pipeline_tag
            values["library_name"] = library
            from modelyard.hub.cards import index_keys
            from modelyard.hub.search import index_repo

            index_repo(conn, repo_id, index_keys(tags, card, pipeline_tag, library))
        conn.execute(repos.update().where(repos.c.id == repo_id).values(**values))

    @staticmethod
    def adjust_likes(conn: Connection, repo_id: int, delta: int) -> None:
        conn.execute(repos.update().where(repos.c.id == repo_id).values(likes=repos.c.likes + delta))

    @staticmethod
    def touch(conn: Connection, repo_id: int) -> None:
        conn.execute(repos.update().where(repos.c.id == repo_id).values(last_modified=now()))

    def add_download(self, repo_id: int) -> None:
        """Count a download in memory (no database write on the request path): `flush_downloads` writes the
        counts, every few seconds from the server's lifespan and once on close. `get` adds the pending ones."""
        self.downloads.add(repo_id)

    def _add_daily(self, conn: Connection, repo_id: int, day: date, n: int) -> None:
        """downloads_daily += n for (repo, day): an upsert (SQLite and PostgreSQL both have ON CONFLICT)."""
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        stmt = insert(downloads_daily).values(repo_id=repo_id, day=day, count=n)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["repo_id", "day"], set_={"count": downloads_daily.c.count + n}
            )
        )

    def downloads_by_day(self, repo: Repo, days: int = 30) -> list[tuple[date, int]]:
        """Downloads of the last `days` UTC days (today last; days without downloads count 0), the pending ones
        of today included."""
        today = now().date()
        first = today - timedelta(days=days - 1)
        with self.db.read() as conn:
            rows = conn.execute(
                select(downloads_daily.c.day, downloads_daily.c.count).where(
                    downloads_daily.c.repo_id == repo.id, downloads_daily.c.day >= first
                )
            ).all()
        counts = {r[0]: int(r[1]) for r in rows}
        counts[today] = counts.get(today, 0) + self.downloads.pending(repo.id)
        return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)]

    def flush_downloads(self) -> int:
        """Write the pending download counts in one transaction; the number of repos updated. On failure (a full
        disk: InsufficientStorage) the counts stay pending for the next flush and the error is raised."""
        with self._flush_lock:
            batch = self.downloads.take()
            if not batch:
                return 0
            try:
                day = now().date()
                with self.db.transaction() as conn:
                    for repo_id, n in batch.items():
                        more = repos.c.downloads + n
                        upd = repos.update().where(repos.c.id == repo_id).values(downloads=more)
                        if conn.execute(upd).rowcount:  # a repo deleted meanwhile has no row to count in
                            self._add_daily(conn, repo_id, day, n)
            except BaseException:
                self.downloads.restore()
                raise
            self.downloads.done()
            return len(batch)
