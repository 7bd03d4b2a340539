"""Users, organisations, access tokens and permission checks.  owns: accounts, memberships, tokens"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import accounts, memberships, tokens
from modelyard.errors import Conflict, InvalidRepoName, Unauthorized, UserNotFound
from modelyard.hub._time import now
from modelyard.types import valid_name

# The Hub's prefix: @huggingface/hub refuses tokens without it. Older "my_" tokens keep working (only the
# sha256 of a token is stored and looked up; the prefix is never checked).
TOKEN_PREFIX = "hf_"
# first path segments the server uses itself (API, sub-apps, web pages): not available as user or org names
RESERVED_NAMES = frozenset(
    {
        "api",
        "endpoints",
        "xet-cas",
        "static",
        "models",
        "datasets",
        "spaces",
        "collections",
        "login",
        "logout",
        "settings",
        "lfs-upload",
        "lfs-verify",
        "lfs-objects",
        "v1",
        "new",
        "docs",
        "search",
        "organizations",
        "users",
        "health",
        "metrics",
    }
)
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    fullname: str
    kind: str  # "user" | "org"
    is_admin: bool = False  # sees every endpoint in listings and metrics


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, the token's name and role, and the orgs the user writes to."""

    account: Account
    token_name: str
    role: str  # "read" | "write"
    orgs: tuple[Account, ...] = field(default=())

    @property
    def can_write(self) -> bool:
        return self.role == "write"

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin

    def member_of(self, namespace: str) -> bool:
        ns = namespace.lower()
        return self.account.name.lower() == ns or any(o.name.lower() == ns for o in self.orgs)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db
        # token hash -> principal, kept until the next commit anywhere (a revoked token stops at once)
        self._principals: VersionedCache[str, Principal | None] = VersionedCache(db)

    def create(self, name: str, fullname: str = "", kind: str = "user", is_admin: bool = False) -> Account:
        if not valid_name(name):
            raise InvalidRepoName(f"Invalid account name {name!r}")
        if name.lower() in RESERVED_NAMES:
            raise InvalidRepoName(f"{name!r} is reserved: pick another user or organization name")
        if kind not in {"user", "org"}:
            raise ValueError("kind must be 'user' or 'org'")
        with self.db.transaction() as conn:
            if conn.execute(select(accounts.c.id).where(accounts.c.name_lower == name.lower())).first():
                raise Conflict(f"Account {name!r} already exists")
            res = conn.execute(
                accounts.insert().values(
                    name=name,
                    name_lower=name.lower(),
                    fullname=fullname or name,
                    kind=kind,
                    created_at=now(),
                    is_admin=is_admin and kind == "user",
                )
            )
            pk = res.inserted_primary_key
            assert pk is not None
            return Account(int(pk[0]), name, fullname or name, kind, is_admin and kind == "user")

    def get(self, name: str) -> Account:
        with self.db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.name_lower == name.lower())).first()
        if row is None:
            raise UserNotFound(f"User or organization {name!r} not found")
        return Account(row.id, row.name, row.fullname, row.kind, bool(row.is_admin))

    def find(self, name: str) -> Account | None:
        try:
            return self.get(name)
        except UserNotFound:
            return None

    def by_id(self, account_id: int) -> Account | None:
        with self.db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return None if row is None else Account(row.id, row.name, row.fullname, row.kind, bool(row.is_admin))

    def list(self, kind: str | None = None) -> builtins.list[Account]:
        q = select(accounts).order_by(accounts.c.name_lower)
        if kind:
            q = q.where(accounts.c.kind == kind)
        with self.db.read() as conn:
            return [Account(r.id, r.name, r.fullname, r.kind, bool(r.is_admin)) for r in conn.execute(q)]

    def set_admin(self, user: str, is_admin: bool = True) -> Account:
        """Make `user` an admin (sees every endpoint in listings and metrics), or no longer one."""
        acc = self.get(user)
        if acc.kind != "user":
            raise ValueError("only users can be admins")
        with self.db.transaction() as conn:
            conn.execute(accounts.update().where(accounts.c.id == acc.id).values(is_admin=is_admin))
        return Account(acc.id, acc.name, acc.fullname, acc.kind, is_admin)

    def add_member(self, org: str, user: str, role: str = "write") -> None:
        o, u = self.get(org), self.get(user)
        if o.kind != "org" or u.kind != "user":
            raise ValueError("add_member needs an organization and a user")
        with self.db.transaction() as conn:
            conn.execute(
                memberships.delete().where(memberships.c.org_id == o.id, memberships.c.user_id == u.id)
            )
            conn.execute(memberships.insert().values(org_id=o.id, user_id=u.id, role=role))

    def orgs_of(self, user_id: int) -> tuple[Account, ...]:
        q = (
            select(accounts)
            .join(memberships, memberships.c.org_id == accounts.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(accounts.c.name_lower)
        )
        with self.db.read() as conn:
            return tuple(Account(r.id, r.name, r.fullname, r.kind) for r in conn.execute(q))

    # --- tokens -----------------------------------------------------------------------------------

    def create_token(self, user: str, name: str = "default", role: str = "write") -> str:
        """Create an access token; returns the plain token (shown once; only its sha256 is stored)."""
        if role not in {"read", "write"}:
            raise ValueError("role must be 'read' or 'write'")
        acc = self.get(user)
        if acc.kind != "user":
            raise ValueError("tokens belong to users, not organizations")
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self.db.transaction() as conn:
            conn.execute(
                tokens.insert().values(
                    account_id=acc.id, name=name, token_hash=hash_token(token), role=role, created_at=now()
                )
            )
        return token

    def list_tokens(self, user: str) -> builtins.list[tuple[str, str]]:
        acc = self.get(user)
        with self.db.read() as conn:
            rows = conn.execute(select(tokens.c.name, tokens.c.role).where(tokens.c.account_id == acc.id))
            return [(r.name, r.role) for r in rows]

    def revoke_token(self, user: str, name: str) -> int:
        acc = self.get(user)
        with self.db.transaction() as conn:
            res = conn.execute(tokens.delete().where(tokens.c.account_id == acc.id, tokens.c.name == name))
            return int(res.rowcount or 0)

    def authenticate(self, token: str | None) -> Principal | None:
        """None for anonymous (no token); Unauthorized for an unknown token."""
        if not token:
            return None
        return self.authenticate_hash(hash_token(token))

    def authenticate_hash(self, digest: str) -> Principal:
        """The principal of the token whose sha256 is `digest` (web sessions keep only that); Unauthorized if gone."""
        who = self._principals.get_or_load(digest, lambda: self._load_principal(digest))
        if who is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        return who

    def _load_principal(self, digest: str) -> Principal | None:
        q = (
            select(
                tokens.c.name.label("token_name"),
                tokens.c.role,
                tokens.c.token_hash,
                accounts.c.id,
                accounts.c.name,
                accounts.c.fullname,
                accounts.c.kind,
                accounts.c.is_admin,
            )
            .join(accounts, accounts.c.id == tokens.c.account_id)
            .where(tokens.c.token_hash == digest)
        )
        with self.db.read() as conn:
            row = conn.execute(q).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        acc = Account(row.id, row.name, row.fullname, row.kind, bool(row.is_admin))
        return Principal(acc, row.token_name, row.role, self.orgs_of(acc.id))
