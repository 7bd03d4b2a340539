"""Web login sessions: random ids (only their sha256 stored), idle and absolute expiry, per-session CSRF secret.

owns: web_sessions

A session is created from a valid access token (the web login form) and stays bound to it: the principal is
re-read from that token on every use, so revoking the token (`modelyard tokens revoke`, a cascade on
`web_sessions.token_hash`) ends every session opened with it, and the session never has more rights than it.
The cookie value is a fresh random id (not a token, useless as a Bearer credential); logging in again rotates
it, logging out deletes the row.

A password login (migration 0014_accounts) opens a session bound to the account instead (`token_hash` NULL,
`account_id` set): its principal is a full "write" principal of the account (`Accounts.principal_for(..., "web")`),
re-read on every use, and deleting the account ends it (cascade). Changing or resetting a password ends the
account's other sessions, password and token ones alike (`end_for_account`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from modelyard.db import Database
from modelyard.db.schema import web_sessions
from modelyard.errors import HubError, Unauthorized
from modelyard.hub._time import now
from modelyard.hub.accounts import Accounts, Principal, hash_token

SESSION_PREFIX = "mys_"
# last_seen_at is written at most this often per session (a page view must not cost a write each time)
TOUCH_INTERVAL = timedelta(seconds=60)
WEB_TOKEN_NAME = "web"  # the token name a password session's principal carries (audit log: "via web")


@dataclass(frozen=True)
class Session:
    id_hash: str
    principal: Principal
    csrf_secret: str
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


class Sessions:
    def __init__(self, db: Database, accounts: Accounts, idle_timeout: int, max_age: int) -> None:
        self.db = db
        self.accounts = accounts
        self.idle = timedelta(seconds=max(1, idle_timeout))
        self.max_age = timedelta(seconds=max(1, max_age))

    def create(self, token: str, replaces: str | None = None) -> tuple[str, Session]:
        """A new session for a valid token (Unauthorized otherwise); the session `replaces` (if any) is ended."""
        principal = self.accounts.authenticate(token)
        if principal is None:
            raise Unauthorized("A token is required to log in")
        session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
        t = now()
        id_hash, csrf, expires = _hash(session_id), secrets.token_urlsafe(32), t + self.max_age
        row = {
            "id_hash": id_hash,
            "token_hash": hash_token(token),
            "csrf_secret": csrf,
            "created_at": t,
            "last_seen_at": t,
            "expires_at": expires,
        }
        with self.db.transaction() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= t))  # opportunistic purge
            if replaces:
                conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _hash(replaces)))
            conn.execute(web_sessions.insert().values(**row))
        return session_id, Session(id_hash, principal, csrf, expires)

    def create_for_account(self, account_id: int, replaces: str | None = None) -> tuple[str, Session]:
        """A new session for a user who proved their password (the caller checked it); `replaces` is ended."""
        acc = self.accounts.by_id(account_id)
        if acc is None or acc.kind != "user":
            raise Unauthorized("No such user")
        principal = self.accounts.principal_for(acc, WEB_TOKEN_NAME, "write")
        session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
        t = now()
        id_hash, csrf, expires = _hash(session_id), secrets.token_urlsafe(32), t + self.max_age
        with self.db.transaction() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= t))
            if replaces:
                conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _hash(replaces)))
            conn.execute(
                web_sessions.insert().values(
                    id_hash=id_hash,
                    token_hash=None,
                    account_id=acc.id,
                    csrf_secret=csrf,
                    created_at=t,
                    last_seen_at=t,
                    expires_at=expires,
                )
            )
        return session_id, Session(id_hash, principal, csrf, expires)

    def end_for_account(self, account_id: int, keep: str | None = None) -> int:
        """End every session of an account (password ones and those opened with its tokens) but the session whose
        id hash is `keep` (the one changing the password); returns how many ended."""
        hashes = self.accounts.token_hashes(account_id)
        with self.db.transaction() as conn:
            cond = web_sessions.c.account_id == account_id
            if hashes:
                cond = cond | web_sessions.c.token_hash.in_(hashes)
            if keep:
                cond = cond & (web_sessions.c.id_hash != keep)
            return int(conn.execute(delete(web_sessions).where(cond)).rowcount or 0)

    def get(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value, or None (unknown, expired, token revoked)."""
        if not session_id or not session_id.startswith(SESSION_PREFIX) or len(session_id) > 200:
            return None
        digest = _hash(session_id)
        with self.db.read() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.id_hash == digest)).first()
        if row is None or not hmac.compare_digest(row.id_hash, digest):
            return None
        t = now()
        last_seen, expires = _utc(row.last_seen_at), _utc(row.expires_at)
        if t >= expires or t - last_seen >= self.idle:
            self.delete(session_id)
            return None
        principal: Principal | None = None
        if row.token_hash is not None:
            try:
                principal = self.accounts.authenticate_hash(row.token_hash)
            except HubError:  # the token was revoked (the cascade normally removed the row already)
                principal = None
        elif row.account_id is not None:  # a password login: the account as it is now
            acc = self.accounts.by_id(row.account_id)
            if acc is not None and acc.kind == "user":
                principal = self.accounts.principal_for(acc, WEB_TOKEN_NAME, "write")
        if principal is None:
            self.delete(session_id)
            return None
        if t - last_seen >= TOUCH_INTERVAL or self.idle <= TOUCH_INTERVAL:
            with self.db.transaction() as conn:
                conn.execute(
                    update(web_sessions).where(web_sessions.c.id_hash == digest).values(last_seen_at=t)
                )
        return Session(digest, principal, row.csrf_secret, expires)

    def delete(self, session_id: str | None) -> None:
        if not session_id:
            return
        with self.db.transaction() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _hash(session_id)))

    def purge_expired(self) -> int:
        """Remove sessions past their absolute or idle expiry; returns how many."""
        t = now()
        with self.db.transaction() as conn:
            res = conn.execute(
                delete(web_sessions).where(
                    (web_sessions.c.expires_at <= t) | (web_sessions.c.last_seen_at <= t - self.idle)
                )
            )
            return int(res.rowcount or 0)
