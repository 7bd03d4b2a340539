"""Sign-up: the site's sign-up mode, invite links and admin-issued password reset links; creating accounts with a
password.  owns: site_settings, invites, password_resets

Sign-up modes (site setting ``signup_mode``, default ``closed``):

- ``open``: anyone creates an account;
- ``invite``: only with a valid invite (made by a site admin, or by an org admin for their org);
- ``closed``: no self sign-up; an invite made by a site admin still works (how a closed hub onboards people).

Invite and reset codes are 32 random bytes (URL-safe); only their sha256 is stored. Each expires and is single
use: redeeming is one conditional UPDATE (``used_at IS NULL AND expires_at > now``), so two concurrent uses cannot
both succeed. Unknown, used and expired codes answer the same NotFound. An invite may carry an org and a role:
redeeming it (at sign-up, or later by a logged-in user) adds that membership.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from modelyard.db import Database
from modelyard.db.schema import invites, password_resets, site_settings
from modelyard.errors import BadRequest, Conflict, Forbidden, NotFound
from modelyard.hub import audit, passwords
from modelyard.hub._time import now
from modelyard.hub.access import ORG_ROLES
from modelyard.hub.accounts import Account, Accounts, Principal

SIGNUP_MODES = ("open", "invite", "closed")
DEFAULT_MODE = "closed"
INVITE_DAYS = 7
MAX_INVITE_DAYS = 90
RESET_HOURS = 24
CODE_BYTES = 32
INVALID_LINK = "This link is invalid, was already used or has expired"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _plausible(code: str | None) -> bool:
    return bool(code) and len(code or "") <= 100


@dataclass(frozen=True)
class Invite:
    code_hash: str
    org: Account | None
    role: str | None
    by_site_admin: bool
    expires_at: datetime


@dataclass(frozen=True)
class Reset:
    code_hash: str
    account: Account
    expires_at: datetime


class Signup:
    def __init__(self, db: Database, accounts: Accounts) -> None:
        self.db = db
        self.accounts = accounts

    # --- site settings ----------------------------------------------------------------------------
    def mode(self) -> str:
        with self.db.read() as conn:
            v = conn.execute(
                select(site_settings.c.value).where(site_settings.c.key == "signup_mode")
            ).scalar()
        return v if v in SIGNUP_MODES else DEFAULT_MODE

    def set_mode(self, who: Principal | None, mode: str) -> None:
        """Site admins only (Forbidden otherwise); recorded in the audit log."""
        _require_site_admin(who)
        if mode not in SIGNUP_MODES:
            raise BadRequest(f"Invalid sign-up mode {mode!r}: one of {', '.join(SIGNUP_MODES)}")
        with self.db.transaction() as conn:
            found = conn.execute(
                update(site_settings).where(site_settings.c.key == "signup_mode").values(value=mode)
            ).rowcount
            if not found:
                conn.execute(site_settings.insert().values(key="signup_mode", value=mode))
            audit.record(
                conn, "site.signup_mode", actor=who, target="site", namespace=None, details={"mode": mode}
            )

    # --- invites ----------------------------------------------------------------------------------
    def create_invite(
        self,
        who: Principal | None,
        org: str | None = None,
        role: str | None = None,
        days: int = INVITE_DAYS,
        *,
        system: bool = False,
    ) -> str:
        """A new invite code (shown once). Without an org: site admins only. With an org: that org's admins (or a
        site admin); the invitee joins it with `role`. `system`: made by the server's operator (the CLI), who
        counts as a site admin."""
        if who is None and not system:
            raise Forbidden("You must be logged in to invite people")
        if not 1 <= days <= MAX_INVITE_DAYS:
            raise BadRequest(f"An invite lasts 1 to {MAX_INVITE_DAYS} days")
        org_acc: Account | None = None
        if org:
            if system:
                org_acc = self.accounts.get(org)
                if org_acc.kind != "org":
                    raise NotFound(f"Organization {org!r} not found")
            else:
                org_acc = self.accounts.require_org_admin(who, org)
            role = role or "read"
            if role not in ORG_ROLES:
                raise BadRequest(f"Invalid role {role!r}: one of {', '.join(ORG_ROLES)}")
        else:
            if not system:
                _require_site_admin(who)
            role = None
        code = secrets.token_urlsafe(CODE_BYTES)
        t = now()
        with self.db.transaction() as conn:
            conn.execute(
                invites.insert().values(
                    code_hash=_digest(code),
                    created_by=who.account.id if who is not None else None,
                    by_site_admin=system or (who is not None and who.is_admin),
                    org_id=org_acc.id if org_acc else None,
                    role=role,
                    created_at=t,
                    expires_at=t + timedelta(days=days),
                )
            )
            audit.record(
                conn,
                "invite.create",
                actor=who,
                target=f"org/{org_acc.name}" if org_acc else "site",
                namespace=org_acc.name if org_acc else None,
                details={"role": role, "days": days},
            )
        return code

    def invite(self, code: str | None) -> Invite:
        """The valid (unused, unexpired) invite of `code`; NotFound otherwise."""
        if not _plausible(code):
            raise NotFound(INVALID_LINK)
        with self.db.read() as conn:
            row = conn.execute(select(invites).where(invites.c.code_hash == _digest(str(code)))).first()
        if row is None or row.used_at is not None or _utc(row.expires_at) <= now():
            raise NotFound(INVALID_LINK)
        org = self.accounts.by_id(row.org_id) if row.org_id is not None else None
        if row.org_id is not None and org is None:
            raise NotFound(INVALID_LINK)
        return Invite(row.code_hash, org, row.role, bool(row.by_site_admin), _utc(row.expires_at))

    def _claim(self, inv: Invite, user: Account | None) -> None:
        """Mark the invite used (NotFound if someone used it meanwhile): one conditional UPDATE."""
        t = now()
        with self.db.transaction() as conn:
            n = conn.execute(
                update(invites)
                .where(
                    invites.c.code_hash == inv.code_hash,
                    invites.c.used_at.is_(None),
                    invites.c.expires_at > t,
                )
                .values(used_at=t, used_by=user.id if user else None)
            ).rowcount
        if not n:
            raise NotFound(INVALID_LINK)

    def _release(self, inv: Invite) -> None:
        """Give a claimed invite back (the sign-up it was claimed for failed)."""
        with self.db.transaction() as conn:
            conn.execute(update(invites).where(invites.c.code_hash == inv.code_hash).values(used_at=None))

    def accept_invite(self, who: Principal | None, code: str) -> Invite:
        """A logged-in user redeems an org invite (joins the org with its role)."""
        if who is None:
            raise Forbidden("Log in (or sign up) to accept an invitation")
        inv = self.invite(code)
        if inv.org is None:
            raise BadRequest("This invite is for creating an account: you already have one")
        if who.member_of(inv.org.name):
            raise Conflict(f"You are already a member of {inv.org.name!r}")
        self._claim(inv, who.account)
        self.accounts.add_member(inv.org.name, who.account.name, inv.role or "read")
        return inv

    # --- sign-up ----------------------------------------------------------------------------------
    def may_sign_up(self, invite_code: str | None) -> Invite | None:
        """The invite that allows this sign-up (None in open mode without one); Forbidden when sign-up is closed
        to this caller, NotFound for a bad invite code."""
        mode = self.mode()
        inv = self.invite(invite_code) if invite_code else None
        if mode == "open":
            return inv
        if inv is None:
            raise Forbidden(
                "Sign-up is by invitation only on this hub: ask an admin for an invite link"
                if mode == "invite"
                else "Sign-up is closed on this hub: ask an admin for an account or an invite link"
            )
        if mode == "closed" and not inv.by_site_admin:
            raise Forbidden("Sign-up is closed on this hub: only invites made by a site admin work")
        return inv

    def sign_up(
        self,
        username: str,
        password: str,
        fullname: str = "",
        email: str = "",
        invite_code: str | None = None,
    ) -> Account:
        """Create a user with a password (argon2) under the sign-up mode; an invite is used up and its org
        membership added. The name rules and reserved names are Accounts.create's."""
        inv = self.may_sign_up(invite_code)
        username = username.strip()
        if not username or len(username) > 96:
            raise BadRequest("A username is 1 to 96 characters: letters, digits, '-', '_' and '.'")
        digest = passwords.hash_password(password, username)
        if inv is not None:
            self._claim(inv, None)  # first, so two sign-ups cannot share one invite
        try:
            acc = self.accounts.create(username, fullname, password_hash=digest, email=email)
        except Exception:
            if inv is not None:
                self._release(inv)
            raise
        if inv is not None:
            with self.db.transaction() as conn:
                conn.execute(
                    update(invites).where(invites.c.code_hash == inv.code_hash).values(used_by=acc.id)
                )
            if inv.org is not None:
                self.accounts.add_member(inv.org.name, acc.name, inv.role or "read")
        return acc

    # --- password resets --------------------------------------------------------------------------
    def create_reset(self, who: Principal | None, user: str, hours: int = RESET_HOURS) -> str:
        """A password reset code for `user` (site admins only); shown once, single use, expires in `hours`."""
        _require_site_admin(who)
        assert who is not None
        acc = self.accounts.get(user)
        if acc.kind != "user":
            raise BadRequest(f"{acc.name!r} is an organization: only users have passwords")
        code = secrets.token_urlsafe(CODE_BYTES)
        t = now()
        with self.db.transaction() as conn:
            conn.execute(
                password_resets.insert().values(
                    code_hash=_digest(code),
                    account_id=acc.id,
                    created_by=who.account.id,
                    created_at=t,
                    expires_at=t + timedelta(hours=hours),
                )
            )
            audit.record(conn, "user.reset_link", actor=who, target=f"user/{acc.name}", namespace=acc.name)
        return code

    def reset(self, code: str | None) -> Reset:
        """The valid reset of `code`; NotFound otherwise."""
        if not _plausible(code):
            raise NotFound(INVALID_LINK)
        with self.db.read() as conn:
            row = conn.execute(
                select(password_resets).where(password_resets.c.code_hash == _digest(str(code)))
            ).first()
        if row is None or row.used_at is not None or _utc(row.expires_at) <= now():
            raise NotFound(INVALID_LINK)
        acc = self.accounts.by_id(row.account_id)
        if acc is None:
            raise NotFound(INVALID_LINK)
        return Reset(row.code_hash, acc, _utc(row.expires_at))

    def use_reset(self, code: str, new_password: str) -> Account:
        """Set the password of the reset's account and use the code up (the caller ends the account's sessions)."""
        r = self.reset(code)
        digest = passwords.hash_password(new_password, r.account.name)
        t = now()
        with self.db.transaction() as conn:
            n = conn.execute(
                update(password_resets)
                .where(
                    password_resets.c.code_hash == r.code_hash,
                    password_resets.c.used_at.is_(None),
                    password_resets.c.expires_at > t,
                )
                .values(used_at=t)
            ).rowcount
        if not n:
            raise NotFound(INVALID_LINK)
        return self.accounts.set_password_hash(r.account.name, digest)


def _require_site_admin(who: Principal | None) -> None:
    if who is None or not who.is_admin:
        raise Forbidden("Only site admins may do this")
    if who.role != "write":
        raise Forbidden(f"This session ({who.role} token {who.token_name!r}) is read-only")
