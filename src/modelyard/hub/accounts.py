"""Users, organisations, access tokens and permission checks.  owns: accounts, memberships, tokens"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import accounts, memberships, tokens
from modelyard.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidRepoName,
    NotFound,
    TokenScope,
    Unauthorized,
    UserNotFound,
)
from modelyard.hub import audit
from modelyard.hub._time import now
from modelyard.hub.access import ORG_ROLES, TOKEN_ROLES, Grants, Perm
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
        # web pages (issue 12)
        "new-dataset",
        "new-space",
        "join",
        "admin",
        "inference-endpoints",
        "invite",
        "reset-password",
        # jobs and training (issue 14): /jobs/{ns} pages, /api/training
        "jobs",
        "training",
        "scheduled-jobs",
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
    """Who is calling: the account, the token's name, role and grants, and the orgs the user belongs to (with roles).

    The access model is in hub/access.py: the account's role in a namespace (`role_in`) and what the token allows
    (`allows` / `require`) are both needed for an action."""

    account: Account
    token_name: str
    role: str  # "read" | "write" | "fineGrained"
    orgs: tuple[Account, ...] = field(default=())
    grants: Grants = field(default=Grants("write"))
    org_roles: tuple[tuple[str, str], ...] = field(
        default=()
    )  # (org name lower, role); missing orgs: "write"
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if (
            self.role in ("read", "write") and self.grants.role != self.role
        ):  # plain roles: grants follow the role
            object.__setattr__(self, "grants", Grants(self.role))

    @property
    def can_write(self) -> bool:
        """The token is not read-only (a fine-grained token may still lack the permission: see `allows`)."""
        return self.role != "read"

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin

    def role_in(self, namespace: str) -> str | None:
        """The account's role in a namespace: "admin" in its own, its member role in an org, else None."""
        ns = namespace.lower()
        if self.account.name.lower() == ns:
            return "admin"
        if not any(o.name.lower() == ns for o in self.orgs):
            return None
        return dict(self.org_roles).get(ns, "write")

    def member_of(self, namespace: str) -> bool:
        return self.role_in(namespace) is not None

    def allows(self, perm: str, kind: str, namespace: str, name: str | None = None) -> bool:
        """Whether the token allows `perm` on this resource (not whether the account may: see `role_in`)."""
        return self.grants.allows(perm, kind, namespace, name)

    def require(self, perm: str, kind: str, namespace: str, name: str | None = None) -> None:
        """TokenScope (403) unless the token allows `perm` on this resource."""
        if not self.allows(perm, kind, namespace, name):
            what = f"{kind} {namespace}/{name}" if name else f"{kind} {namespace}"
            raise TokenScope(
                f"This token ({self.role} token {self.token_name!r}) does not have the {perm!r} permission on {what}"
            )


MAX_TOKENS = 200  # per user


def require_token_manager(who: Principal) -> None:
    """TokenScope unless `who` may manage tokens: a plain ``write`` token or a password session."""
    if who.role != "write":
        raise TokenScope(
            f"This token ({who.role} token {who.token_name!r}) cannot manage access tokens: "
            "use a token with the 'write' role"
        )


def check_entities(who: Principal, grants: Grants) -> None:
    """Forbidden unless every scoped entity is the caller's namespace, one of its orgs, or a resource in them."""
    for s in grants.scoped:
        namespace = s.name if s.kind in ("user", "org") else s.name.split("/", 1)[0]
        own = namespace.lower() == who.account.name.lower()
        if (s.kind == "user" and not own) or (s.kind == "org" and own) or not who.member_of(namespace):
            raise Forbidden(
                f"Cannot scope a token to {s.kind} {s.name!r}: only your own namespace, your organizations "
                "and the resources in them"
            )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db
        # token hash -> principal, kept until the next commit anywhere (a revoked token stops at once)
        self._principals: VersionedCache[str, Principal | None] = VersionedCache(db)

    def create(
        self,
        name: str,
        fullname: str = "",
        kind: str = "user",
        is_admin: bool = False,
        password_hash: str | None = None,
        email: str = "",
    ) -> Account:
        """A new user or org. Names follow `valid_name` and are not RESERVED_NAMES (InvalidRepoName, 400); a taken
        name is a Conflict (409). `password_hash` (hub.passwords) and `email` are for users signing up."""
        if not valid_name(name):
            raise InvalidRepoName(f"Invalid account name {name!r}")
        if name.lower() in RESERVED_NAMES:
            raise InvalidRepoName(f"{name!r} is reserved: pick another user or organization name")
        if kind not in {"user", "org"}:
            raise ValueError("kind must be 'user' or 'org'")
        fullname = _check_fullname(fullname)
        email = _check_email(email)
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
                    password_hash=password_hash if kind == "user" else None,
                    email=email or None,
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

    # --- web login: password hash, profile (migration 0014_accounts) -------------------------------

    def password_hash(self, name: str) -> tuple[Account | None, str | None]:
        """The user called `name` and its argon2 password hash (None, None for unknown names; orgs have none)."""
        with self.db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.name_lower == name.lower())).first()
        if row is None or row.kind != "user":
            return None, None
        return Account(row.id, row.name, row.fullname, row.kind, bool(row.is_admin)), row.password_hash

    def set_password_hash(self, user: str, password_hash: str, actor: Principal | None = None) -> Account:
        """Store a user's new password hash (hub.passwords makes it); recorded in the audit log."""
        acc = self.get(user)
        if acc.kind != "user":
            raise BadRequest("only users have passwords")
        with self.db.transaction() as conn:
            conn.execute(accounts.update().where(accounts.c.id == acc.id).values(password_hash=password_hash))
            audit.record(conn, "user.password", actor=actor, target=f"user/{acc.name}", namespace=acc.name)
        return acc

    def profile(self, name: str) -> dict[str, Any]:
        """fullname, email, createdAt and whether a password is set, for the settings and admin pages."""
        acc = self.get(name)
        with self.db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == acc.id)).one()
        return {
            "fullname": row.fullname,
            "email": row.email or "",
            "createdAt": _iso(row.created_at),
            "hasPassword": bool(row.password_hash),
        }

    def update_profile(self, user: str, fullname: str, email: str, actor: Principal | None = None) -> None:
        fullname, email = _check_fullname(fullname), _check_email(email)
        acc = self.get(user)
        with self.db.transaction() as conn:
            conn.execute(
                accounts.update()
                .where(accounts.c.id == acc.id)
                .values(fullname=fullname or acc.name, email=email or None)
            )
            audit.record(conn, "user.profile", actor=actor, target=f"user/{acc.name}", namespace=acc.name)

    def overview(self) -> builtins.list[dict[str, Any]]:
        """Every account with its creation time and whether it has a password (the admin page)."""
        with self.db.read() as conn:
            rows = conn.execute(select(accounts).order_by(accounts.c.name_lower)).all()
        return [
            {
                "account": Account(r.id, r.name, r.fullname, r.kind, bool(r.is_admin)),
                "createdAt": _iso(r.created_at),
                "hasPassword": bool(r.password_hash),
            }
            for r in rows
        ]

    def token_hashes(self, account_id: int) -> builtins.list[str]:
        """The sha256 of every token of an account (hub.sessions ends the sessions opened with them)."""
        with self.db.read() as conn:
            return list(
                conn.execute(select(tokens.c.token_hash).where(tokens.c.account_id == account_id)).scalars()
            )

    def set_admin(self, user: str, is_admin: bool = True) -> Account:
        """Make `user` an admin (sees every endpoint in listings and metrics), or no longer one."""
        acc = self.get(user)
        if acc.kind != "user":
            raise ValueError("only users can be admins")
        with self.db.transaction() as conn:
            conn.execute(accounts.update().where(accounts.c.id == acc.id).values(is_admin=is_admin))
        return Account(acc.id, acc.name, acc.fullname, acc.kind, is_admin)

    # --- organisations: members and settings ------------------------------------------------------

    def _org_and_user(self, org: str, user: str) -> tuple[Account, Account]:
        o, u = self.get(org), self.get(user)
        if o.kind != "org":
            raise BadRequest(f"{o.name!r} is not an organization")
        if u.kind != "user":
            raise BadRequest(f"{u.name!r} is not a user: only users can be members")
        return o, u

    def require_org_admin(self, who: Principal | None, org: str, perm: str = Perm.ORG_WRITE) -> Account:
        """The org if `who` is one of its admins (or a site admin) with a token allowing `perm`; else 401/403/404."""
        if who is None:
            raise Unauthorized("You must be authenticated to manage an organization")
        o = self.get(org)
        if o.kind != "org":
            raise NotFound(f"Organization {org!r} not found")
        if who.role_in(o.name) != "admin" and not who.is_admin:
            raise Forbidden(f"You must be an admin of {o.name!r} to do this")
        who.require(perm, "org", o.name)
        return o

    def add_member(self, org: str, user: str, role: str = "write", actor: Principal | None = None) -> None:
        """Add `user` to `org` with `role`, or change the role of a member (recorded in the audit log)."""
        if role not in ORG_ROLES:
            raise BadRequest(f"Invalid role {role!r}: one of {', '.join(ORG_ROLES)}")
        o, u = self._org_and_user(org, user)
        with self.db.transaction() as conn:
            old = conn.execute(
                select(memberships.c.role).where(memberships.c.org_id == o.id, memberships.c.user_id == u.id)
            ).scalar()
            if old == role:
                return
            if old is not None:
                self._keep_an_admin(conn, o, u, role)
                conn.execute(
                    memberships.update()
                    .where(memberships.c.org_id == o.id, memberships.c.user_id == u.id)
                    .values(role=role)
                )
            else:
                conn.execute(memberships.insert().values(org_id=o.id, user_id=u.id, role=role))
            action = "member.add" if old is None else "member.role"
            details = {"user": u.name, "role": role} | ({"from": old} if old else {})
            audit.record(conn, action, actor=actor, target=f"org/{o.name}", namespace=o.name, details=details)

    def remove_member(self, org: str, user: str, actor: Principal | None = None) -> None:
        """Remove `user` from `org`; their tokens lose the org's private repos at once (NotFound if not a member)."""
        o, u = self._org_and_user(org, user)
        with self.db.transaction() as conn:
            if (
                conn.execute(
                    select(memberships.c.role).where(
                        memberships.c.org_id == o.id, memberships.c.user_id == u.id
                    )
                ).scalar()
                is None
            ):
                raise NotFound(f"{u.name!r} is not a member of {o.name!r}")
            self._keep_an_admin(conn, o, u, None)
            conn.execute(
                memberships.delete().where(memberships.c.org_id == o.id, memberships.c.user_id == u.id)
            )
            audit.record(
                conn,
                "member.remove",
                actor=actor,
                target=f"org/{o.name}",
                namespace=o.name,
                details={"user": u.name},
            )

    @staticmethod
    def _keep_an_admin(conn: Connection, org: Account, user: Account, new_role: str | None) -> None:
        """Conflict if this change would leave an org that has admins without one."""
        if new_role == "admin":
            return
        admins = [
            r.user_id
            for r in conn.execute(
                select(memberships.c.user_id).where(
                    memberships.c.org_id == org.id, memberships.c.role == "admin"
                )
            )
        ]
        if admins == [user.id]:
            raise Conflict(
                f"{user.name!r} is the last admin of {org.name!r}: make another member admin first"
            )

    def members(self, org: str) -> builtins.list[tuple[Account, str]]:
        """The members of `org` with their roles, by name."""
        o = self.get(org)
        q = (
            select(accounts, memberships.c.role)
            .join(memberships, memberships.c.user_id == accounts.c.id)
            .where(memberships.c.org_id == o.id)
            .order_by(accounts.c.name_lower)
        )
        with self.db.read() as conn:
            return [
                (Account(r.id, r.name, r.fullname, r.kind, bool(r.is_admin)), r.role) for r in conn.execute(q)
            ]

    def orgs_of(self, user_id: int) -> tuple[Account, ...]:
        return tuple(o for o, _ in self._orgs_with_roles(user_id))

    def _orgs_with_roles(self, user_id: int) -> builtins.list[tuple[Account, str]]:
        q = (
            select(accounts, memberships.c.role)
            .join(memberships, memberships.c.org_id == accounts.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(accounts.c.name_lower)
        )
        with self.db.read() as conn:
            return [(Account(r.id, r.name, r.fullname, r.kind), r.role) for r in conn.execute(q)]

    def principal_for(self, acc: Account, token_name: str, role: str = "write") -> Principal:
        """A principal for server-side work done as `acc` (seeding, webhooks), with its current org roles."""
        orgs = self._orgs_with_roles(acc.id)
        return Principal(
            acc,
            token_name,
            role,
            tuple(o for o, _ in orgs),
            Grants(role),
            tuple((o.name.lower(), r) for o, r in orgs),
        )

    def default_private(self, namespace: str) -> bool:
        """The org setting "new repos are private by default" (False for users and unknown names)."""
        with self.db.read() as conn:
            v = conn.execute(
                select(accounts.c.default_private).where(accounts.c.name_lower == namespace.lower())
            ).scalar()
        return bool(v)

    def org_settings(self, org: str) -> dict[str, Any]:
        o = self.get(org)
        if o.kind != "org":
            raise NotFound(f"Organization {org!r} not found")
        return {"defaultRepoVisibility": "private" if self.default_private(o.name) else "public"}

    def set_org_settings(self, org: str, default_private: bool, actor: Principal | None = None) -> None:
        o = self.get(org)
        if o.kind != "org":
            raise NotFound(f"Organization {org!r} not found")
        with self.db.transaction() as conn:
            conn.execute(
                accounts.update().where(accounts.c.id == o.id).values(default_private=default_private)
            )
            audit.record(
                conn,
                "org.settings",
                actor=actor,
                target=f"org/{o.name}",
                namespace=o.name,
                details={"defaultPrivate": default_private},
            )

    # --- tokens -----------------------------------------------------------------------------------

    def create_token(
        self,
        user: str,
        name: str = "default",
        role: str = "write",
        grants: Grants | None = None,
        expires_at: datetime | None = None,
        actor: Principal | None = None,
    ) -> str:
        """Create an access token; returns the plain token (shown once; only its sha256 is stored).

        `role` is "read", "write" or "fineGrained" (then `grants` lists its permissions); `expires_at` is optional.
        """
        if role not in TOKEN_ROLES:
            raise BadRequest(f"Invalid token role {role!r}: one of {', '.join(TOKEN_ROLES)}")
        if role == "fineGrained" and (grants is None or grants.role != "fineGrained"):
            raise BadRequest(
                "A fineGrained token needs its permissions ('fineGrained': {global, scoped, ...})"
            )
        if not name or len(name) > 100:
            raise BadRequest("A token name is 1 to 100 characters")
        if expires_at is not None and expires_at <= now():
            raise BadRequest("The token's expiry date is in the past")
        acc = self.get(user)
        if acc.kind != "user":
            raise BadRequest("tokens belong to users, not organizations")
        stored = grants.dumps() if grants is not None and role == "fineGrained" else None
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self.db.transaction() as conn:
            conn.execute(
                tokens.insert().values(
                    account_id=acc.id,
                    name=name,
                    token_hash=hash_token(token),
                    role=role,
                    created_at=now(),
                    scopes=json.dumps(stored) if stored is not None else None,
                    expires_at=expires_at,
                )
            )
            details: dict[str, Any] = {"name": name, "role": role}
            if stored is not None:
                details["fineGrained"] = stored
            if expires_at is not None:
                details["expiresAt"] = expires_at.isoformat()
            audit.record(
                conn,
                "token.create",
                actor=actor,
                target=f"user/{acc.name}",
                namespace=acc.name,
                details=details,
            )
        return token

    def issue_token(
        self,
        who: Principal | None,
        name: str,
        role: str,
        grants: Grants | None = None,
        expires_at: datetime | None = None,
    ) -> str:
        """A new token for the caller's own account, under the escalation guard (the API's and the web page's one
        rule): only a plain ``write`` token (or password session) manages tokens, so a read or scoped token can
        never mint a broader one; a fine-grained token may only be scoped to the caller's namespace, its orgs and
        what is in them; names are unique per user (1 to 100 characters, no '/'), at most MAX_TOKENS per user."""
        if who is None:
            raise Unauthorized("You must be authenticated to manage access tokens")
        require_token_manager(who)
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > 100 or "/" in name:
            raise BadRequest("Invalid token name: 1 to 100 characters, no '/'")
        if role not in TOKEN_ROLES:
            raise BadRequest(f"Invalid token role {role!r}: one of {', '.join(TOKEN_ROLES)}")
        if role == "fineGrained":
            if grants is None:
                raise BadRequest("A fineGrained token needs its permissions")
            check_entities(who, grants)
        elif grants is not None and grants.role == "fineGrained":
            raise BadRequest("'fineGrained' is only for tokens with the 'fineGrained' role")
        existing = self.token_infos(who.account.name)
        if any(t["displayName"] == name for t in existing):
            raise Conflict(f"You already have a token called {name!r}: revoke it or pick another name")
        if len(existing) >= MAX_TOKENS:
            raise Conflict(f"At most {MAX_TOKENS} tokens per user: revoke some first")
        return self.create_token(who.account.name, name, role, grants, expires_at, actor=who)

    def token_infos(self, user: str) -> builtins.list[dict[str, Any]]:
        """The user's tokens, without their values: name, role, createdAt, expiresAt, fineGrained."""
        acc = self.get(user)
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    tokens.c.name, tokens.c.role, tokens.c.created_at, tokens.c.expires_at, tokens.c.scopes
                )
                .where(tokens.c.account_id == acc.id)
                .order_by(tokens.c.id)
            ).all()
        out: builtins.list[dict[str, Any]] = []
        for r in rows:
            info: dict[str, Any] = {
                "displayName": r.name,
                "role": r.role,
                "createdAt": _iso(r.created_at),
                "expiresAt": _iso(r.expires_at),
            }
            if r.role == "fineGrained":
                info["fineGrained"] = json.loads(r.scopes) if r.scopes else None
            out.append(info)
        return out

    def list_tokens(self, user: str) -> builtins.list[tuple[str, str]]:
        return [(t["displayName"], t["role"]) for t in self.token_infos(user)]

    def revoke_token(self, user: str, name: str, actor: Principal | None = None) -> int:
        acc = self.get(user)
        with self.db.transaction() as conn:
            res = conn.execute(tokens.delete().where(tokens.c.account_id == acc.id, tokens.c.name == name))
            n = int(res.rowcount or 0)
            if n:
                audit.record(
                    conn,
                    "token.revoke",
                    actor=actor,
                    target=f"user/{acc.name}",
                    namespace=acc.name,
                    details={"name": name},
                )
            return n

    def authenticate(self, token: str | None) -> Principal | None:
        """None for anonymous (no token); Unauthorized for an unknown, revoked or expired token."""
        if not token:
            return None
        return self.authenticate_hash(hash_token(token))

    def authenticate_hash(self, digest: str) -> Principal:
        """The principal of the token whose sha256 is `digest` (web sessions keep only that); Unauthorized if gone
        or expired."""
        who = self._principals.get_or_load(digest, lambda: self._load_principal(digest))
        if who is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        if who.expires_at is not None and who.expires_at <= now():
            raise Unauthorized("This token has expired: create a new one")
        return who

    def _load_principal(self, digest: str) -> Principal | None:
        q = (
            select(
                tokens.c.name.label("token_name"),
                tokens.c.role,
                tokens.c.token_hash,
                tokens.c.scopes,
                tokens.c.expires_at,
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
        try:
            grants = Grants.load(row.role, json.loads(row.scopes) if row.scopes else None)
        except (BadRequest, ValueError):
            return None  # a token whose stored permissions no longer parse grants nothing
        orgs = self._orgs_with_roles(acc.id)
        expires = row.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return Principal(
            acc,
            row.token_name,
            row.role,
            tuple(o for o, _ in orgs),
            grants,
            tuple((o.name.lower(), r) for o, r in orgs),
            expires,
        )


def _check_fullname(fullname: str) -> str:
    fullname = fullname.strip()
    if len(fullname) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in fullname):
        raise BadRequest("The full name is at most 200 printable characters")
    return fullname


def _check_email(email: str) -> str:
    email = email.strip()
    if email and (
        len(email) > 254 or email.count("@") != 1 or any(c.isspace() or ord(c) < 32 for c in email)
    ):
        raise BadRequest(f"Invalid email address {email[:60]!r}")
    return email


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.isoformat().replace("+00:00", "Z")
