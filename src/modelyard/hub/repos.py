"""Repositories: create, delete, settings, visibility, move, lookup and permissions.  owns: repos, repo_redirects"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from modelyard.db import Database
from modelyard.db.schema import repo_redirects, repos
from modelyard.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidRepoName,
    RepoExists,
    RepoNotFound,
    Unauthorized,
)
from modelyard.hub import revisions
from modelyard.hub._time import now
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.gitobjects import blob_sha1
from modelyard.hub.paths import default_gitattributes
from modelyard.storage import BlobStore
from modelyard.types import RepoType, valid_name

SPACE_SDKS = {"gradio", "streamlit", "docker", "static"}


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

    @property
    def id_str(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        return key_of(self.type, self.namespace, self.name)


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
    )


def can_read(repo: Repo, who: Principal | None) -> bool:
    return not repo.private or (who is not None and who.member_of(repo.namespace))


def can_write(repo: Repo, who: Principal | None) -> bool:
    return who is not None and who.can_write and who.member_of(repo.namespace)


class Repos:
    def __init__(self, db: Database, store: BlobStore, accounts: Accounts) -> None:
        self.db = db
        self.store = store
        self.accounts = accounts

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
        with self.db.read() as conn:
            repo = self.find(conn, repo_type, namespace, name)
        if repo is None or not can_read(repo, who):
            raise RepoNotFound(f"Repository Not Found for {repo_type.plural} {namespace}/{name}")
        return repo

    def get_for_write(self, repo_type: RepoType, namespace: str, name: str, who: Principal | None) -> Repo:
        repo = self.get(repo_type, namespace, name, who)
        if who is None:
            raise Unauthorized("You must be authenticated to write to this repository")
        if not can_write(repo, who):
            raise Forbidden(f"You don't have write access to {repo_type.value} {repo.id_str}")
        return repo

    def by_id(self, conn: Connection, repo_id: int) -> Repo:
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
        if not who.can_write or not who.member_of(ns):
            raise Forbidden(
                f"You don't have the rights to create a {repo_type.value} under the namespace {ns!r}"
            )
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
        info = self.store.put_bytes(attrs)  # blob before rows
        entry = revisions.FileEntry(".gitattributes", blob_sha1(attrs), info.sha256, info.size, False)
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
                    used_storage=info.size,
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
                {".gitattributes": entry},
                {".gitattributes"},
                who.account.name,
                "initial commit",
                "",
            )
            revisions.set_ref(conn, repo_id, "branch", "main", c.sha)
            conn.execute(repos.update().where(repos.c.id == repo_id).values(head_sha=c.sha))
            return self.by_id(conn, repo_id)

    def delete(self, who: Principal | None, repo_type: RepoType, namespace: str, name: str) -> None:
        repo = self.get_for_write(repo_type, namespace, name, who)
        with self.db.transaction() as conn:
            conn.execute(repos.delete().where(repos.c.id == repo.id))
            # rows of other owners cascade through foreign keys; commit_files has none, clean it here
            from modelyard.db.schema import commit_files, discussion_events

            conn.execute(commit_files.delete().where(commit_files.c.repo_id == repo.id))
            conn.execute(discussion_events.delete().where(discussion_events.c.repo_id == repo.id))

    def update_settings(
        self, who: Principal | None, repo: Repo, private: bool | None = None, gated: str | bool | None = None
    ) -> Repo:
        if not can_write(repo, who):
            raise Forbidden(f"You don't have write access to {repo.type.value} {repo.id_str}")
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
        with self.db.read() as conn:
            return self.by_id(conn, repo.id)

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
        if owner is None or not who.member_of(d_ns):
            raise Forbidden(f"You don't have the rights to move a repository to the namespace {d_ns!r}")
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
            return self.by_id(conn, repo.id)

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
        with self.db.transaction() as conn:
            conn.execute(repos.update().where(repos.c.id == repo_id).values(downloads=repos.c.downloads + 1))
