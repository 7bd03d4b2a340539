"""Gated repos: access requests, and who may download a gated repo's files.  owns: access_requests

A gated repo (``gated`` = ``auto`` | ``manual``, set in the repo settings) shows its metadata and its card to everyone
who may read it; its files need an accepted access request (`Repos.check_download`: members of the namespace pass
without one). A user asks with the answers to the card's form (``extra_gated_fields``): ``auto`` accepts at once,
``manual`` leaves the request pending until a maintainer accepts or rejects it. A rejected user cannot ask again to
flip it; only a maintainer changes a handled request (accept, reject, cancel = back to pending, grant).

Who handles requests: the account's right to write the repo (org ``write``/``admin``, or the user's own namespace),
with a token that allows it: listing needs ``repo.access.read`` (a ``write`` token has it; a plain ``read`` token
does not, as on the Hub), changing needs ``repo.write``. Every change writes an audit entry in its transaction.

`has_access` is what `Repos.check_download` and the Xet CAS ask; it reads through a `VersionedCache`, so an access
that is rejected or cancelled stops at the next request.
"""

from __future__ import annotations

import builtins
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from modelyard.db import Database
from modelyard.db.cache import VersionedCache
from modelyard.db.schema import access_requests, accounts
from modelyard.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    RepoNotFound,
    TokenScope,
    Unauthorized,
    UserNotFound,
)
from modelyard.hub import audit
from modelyard.hub._time import now
from modelyard.hub.access import Perm
from modelyard.hub.accounts import Account, Accounts, Principal
from modelyard.hub.repos import Repo, Repos, account_can_write, can_manage

STATUSES = ("pending", "accepted", "rejected")
FIELD_TYPES = ("text", "checkbox", "date_picker", "country", "ip_location", "select")
MAX_FIELDS = 50  # form fields read from a card, and answers accepted in a request
MAX_LABEL = 200
MAX_ANSWER = 2000  # characters of a text answer
MAX_OPTIONS = 200
MAX_REASON = 1000  # characters of a rejection reason
PAGE_SIZE = 100
_REQUEST_ID = re.compile(r"^[0-9a-f]{24}$")
_TRUE = ("true", "on", "yes", "1")
_AUDIT = {"accepted": "access.accept", "rejected": "access.reject", "pending": "access.cancel"}


@dataclass(frozen=True)
class GateField:
    """One field of the card's gate form: `label` is the key of its answer."""

    label: str
    type: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label) of a select


@dataclass(frozen=True)
class GateForm:
    """The card's gate form (`extra_gated_*` metadata), for the web page and the answer check."""

    heading: str | None
    prompt: str | None
    description: str | None
    button: str
    fields: tuple[GateField, ...]


@dataclass(frozen=True)
class AccessRequest:
    request_id: str
    repo_id: int
    user: Account
    status: str
    fields: dict[str, Any] | None
    rejection_reason: str | None
    created_at: datetime
    updated_at: datetime
    handled_by: str | None


def _text(v: object, limit: int = 10_000) -> str | None:
    return v[:limit] if isinstance(v, str) and v.strip() else None


def gate_form(card_data: dict[str, Any] | None) -> GateForm:
    """The form described by a card's metadata; malformed entries are skipped (the card is the owner's text)."""
    card = card_data or {}
    raw = card.get("extra_gated_fields")
    fields: list[GateField] = []
    if isinstance(raw, dict):
        for label, spec in list(raw.items())[:MAX_FIELDS]:
            if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
                continue
            kind = spec.get("type") if isinstance(spec, dict) else spec
            if kind not in FIELD_TYPES:
                continue
            options: list[tuple[str, str]] = []
            if kind == "select":
                opts = spec.get("options") if isinstance(spec, dict) else None
                for o in opts if isinstance(opts, list) else []:
                    if isinstance(o, str | int | float) and not isinstance(o, bool):
                        options.append((str(o), str(o)))
                    elif isinstance(o, dict) and isinstance(o.get("value"), str | int | float):
                        options.append((str(o["value"]), str(o.get("label") or o["value"])))
                options = options[:MAX_OPTIONS]
                if not options:
                    continue
            fields.append(GateField(label, str(kind), tuple(options)))
    return GateForm(
        heading=_text(card.get("extra_gated_heading"), 500),
        prompt=_text(card.get("extra_gated_prompt")),
        description=_text(card.get("extra_gated_description")),
        button=_text(card.get("extra_gated_button_content"), 200) or "Agree and access repository",
        fields=tuple(fields),
    )


def check_answers(form: GateForm, answers: object, client_ip: str | None = None) -> dict[str, Any]:
    """The answers to store, or BadRequest: every field answered (``ip_location`` is filled from the client's
    address), a checkbox ticked, a date as YYYY-MM-DD, a select one of its options, texts bounded, nothing else."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        raise BadRequest("'fields' must be an object: {label: answer}")
    if len(answers) > MAX_FIELDS:
        raise BadRequest(f"At most {MAX_FIELDS} answers")
    known = {f.label for f in form.fields}
    unknown = [k for k in answers if k not in known]
    if unknown:
        raise BadRequest(f"Unknown field {str(unknown[0])[:MAX_LABEL]!r}: the form has no such field")
    out: dict[str, Any] = {}
    for f in form.fields:
        value = answers.get(f.label)
        if f.type == "ip_location":
            out[f.label] = client_ip or ""
            continue
        if f.type == "checkbox":
            ticked = value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)
            if not ticked:
                raise BadRequest(f"The box {f.label!r} must be checked")
            out[f.label] = True
            continue
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"The field {f.label!r} needs an answer (a string)")
        if len(value) > MAX_ANSWER:
            raise BadRequest(f"The answer to {f.label!r} is longer than {MAX_ANSWER} characters")
        value = value.strip()
        if f.type == "select" and value not in {v for v, _ in f.options}:
            raise BadRequest(f"Invalid choice for {f.label!r}: one of {', '.join(v for v, _ in f.options)}")
        if f.type == "date_picker":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise BadRequest(f"The answer to {f.label!r} must be a date (YYYY-MM-DD)") from None
        out[f.label] = value
    return out


class Gating:
    """Access requests of gated repos; the `GateLookup` of `Repos.check_download` (set as `repos.gates`)."""

    def __init__(self, db: Database, repos: Repos, accounts: Accounts) -> None:
        self.db = db
        self.repos = repos
        self.accounts = accounts
        # (repo id, user id) -> status of the request (or None); emptied by any commit (db/cache.py)
        self._status: VersionedCache[tuple[int, int], str | None] = VersionedCache(db)

    # --- the gate -----------------------------------------------------------------------------------
    def status_of(self, repo: Repo, user_id: int) -> str | None:
        return self._status.get_or_load((repo.id, user_id), lambda: self._load_status(repo.id, user_id))

    def _load_status(self, repo_id: int, user_id: int) -> str | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(access_requests.c.status).where(
                    access_requests.c.repo_id == repo_id, access_requests.c.user_id == user_id
                )
            ).first()
        return None if row is None else str(row.status)

    def has_access(self, repo: Repo, user_id: int) -> bool:
        return self.status_of(repo, user_id) == "accepted"

    def token_passes(self, repo_id: int, user_id: int | None) -> bool:
        """For the Xet CAS: whether a token issued to `user_id` (None: a token of no user, or one issued before
        gating existed) may still read the files of repo `repo_id`: always for an ungated repo; for a gated one,
        the user must be a member of its namespace or have an accepted request, now."""
        with self.db.read() as conn:
            try:
                repo = Repos.by_id(conn, repo_id)
            except RepoNotFound:
                return False
        if not repo.gated:
            return True
        if user_id is None:
            return False
        user = self.accounts.by_id(user_id)
        if user is None:
            return False
        ns = repo.namespace.lower()
        if user.name.lower() == ns or any(o.name.lower() == ns for o in self.accounts.orgs_of(user_id)):
            return True
        return self.has_access(repo, user_id)

    # --- the user's side ----------------------------------------------------------------------------
    def request(
        self, who: Principal | None, repo: Repo, fields: object, client_ip: str | None = None
    ) -> AccessRequest:
        """Ask for access to a gated repo (`repo` was looked up for `who`). ``auto``: accepted at once;
        ``manual``: pending. Asking again returns the existing request unchanged (a rejection stays)."""
        if who is None:
            raise Unauthorized("You must be logged in to request access to a gated repo")
        if who.role == "read":
            raise Forbidden("This token is read-only: use a token with the 'write' role to request access")
        if not who.grants.can_read_gated:
            raise TokenScope(
                f"This token ({who.token_name!r}) may not read gated repos ('canReadGatedRepos')"
            )
        if not repo.gated:
            raise BadRequest(
                f"{repo.type.value} {repo.id_str} is not gated: its files need no access request"
            )
        existing = self.find(repo, who.account.id)
        if existing is not None:
            return existing
        answers = check_answers(gate_form(repo.card_data), fields, client_ip)
        status = "accepted" if repo.gated == "auto" else "pending"
        t = now()
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    access_requests.insert().values(
                        request_id=secrets.token_hex(12),
                        repo_id=repo.id,
                        user_id=who.account.id,
                        status=status,
                        fields=json.dumps(answers) if answers else None,
                        created_at=t,
                        updated_at=t,
                        handled_by="auto" if status == "accepted" else None,
                    )
                )
                audit.record(
                    conn,
                    "access.request",
                    actor=who,
                    target=repo.key,
                    namespace=repo.namespace,
                    details={"user": who.account.name, "status": status},
                )
        except IntegrityError:  # the same user's request, committed meanwhile
            pass
        found = self.find(repo, who.account.id)
        assert found is not None
        return found

    def find(self, repo: Repo, user_id: int) -> AccessRequest | None:
        with self.db.read() as conn:
            rows = self._select(conn, repo.id, user_id=user_id)
        return rows[0] if rows else None

    # --- the maintainers' side ----------------------------------------------------------------------
    def check_list(self, who: Principal | None, repo: Repo) -> Principal:
        """The right to see a repo's access requests: write access to it, with a token that allows
        ``repo.access.read`` (or ``repo.write``); a plain read token is refused, as on the Hub."""
        who = self._maintainer(who, repo)
        kind = repo.type.value
        if who.role == "read" or not (
            who.allows(Perm.REPO_ACCESS_READ, kind, repo.namespace, repo.name)
            or who.allows(Perm.REPO_WRITE, kind, repo.namespace, repo.name)
        ):
            raise TokenScope(
                f"This token ({who.role} token {who.token_name!r}) may not read the access requests of {kind} "
                f"{repo.id_str}: it needs the 'repo.access.read' permission (a read token never has it here)"
            )
        return who

    def check_handle(self, who: Principal | None, repo: Repo) -> Principal:
        """The right to accept, reject, cancel and grant: `can_manage` (write access and ``repo.write``)."""
        who = self._maintainer(who, repo)
        if not can_manage(repo, who):
            raise TokenScope(
                f"This token ({who.role} token {who.token_name!r}) may not handle the access requests of "
                f"{repo.type.value} {repo.id_str}: it needs the 'repo.write' permission"
            )
        return who

    @staticmethod
    def _maintainer(who: Principal | None, repo: Repo) -> Principal:
        if who is None:
            raise Unauthorized("You must be authenticated to manage access requests")
        if not account_can_write(repo, who):
            raise Forbidden(f"You don't have write access to {repo.type.value} {repo.id_str}")
        return who

    def list(
        self, who: Principal | None, repo: Repo, status: str, after: int = 0, limit: int = PAGE_SIZE
    ) -> tuple[builtins.list[AccessRequest], int | None]:
        """One page of the requests with `status`, oldest first, and the cursor of the next page (None: last)."""
        self.check_list(who, repo)
        if status not in STATUSES:
            raise BadRequest(f"Invalid status {status!r}: one of {', '.join(STATUSES)}")
        limit = max(1, min(limit, PAGE_SIZE))
        with self.db.read() as conn:
            rows, ids = self._select_page(conn, repo.id, status, after, limit + 1)
        if len(rows) > limit:
            return rows[:limit], ids[limit - 1]
        return rows, None

    def handle(
        self,
        who: Principal | None,
        repo: Repo,
        status: object,
        user: object = None,
        request_id: object = None,
        reason: object = None,
    ) -> AccessRequest:
        """Accept, reject (with an optional reason) or cancel (back to pending) one request of this repo, named by
        its user or by its request id (a request id of another repo is not found here)."""
        actor = self.check_handle(who, repo)
        if status not in STATUSES:
            raise BadRequest(f"Invalid 'status' {status!r}: one of {', '.join(STATUSES)}")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise BadRequest(f"'rejectionReason' must be a string of at most {MAX_REASON} characters")
        if reason is not None and status != "rejected":
            raise BadRequest("'rejectionReason' is only for rejecting a request")
        if (user is None) == (request_id is None):
            raise BadRequest("Give one of 'user' or 'requestId'")
        with self.db.transaction() as conn:
            cond = access_requests.c.repo_id == repo.id
            if user is not None:
                if not isinstance(user, str) or not user or len(user) > 96:
                    raise BadRequest("'user' must be a user name")
                cond = cond & (access_requests.c.user_id == self._user(conn, user).id)
            else:
                if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
                    raise BadRequest("'requestId' must be a request id (24 hexadecimal digits)")
                cond = cond & (access_requests.c.request_id == request_id)
            row = conn.execute(select(access_requests).where(cond)).first()
            if row is None:
                raise NotFound(
                    f"No access request of {user or request_id} for {repo.type.value} {repo.id_str}"
                )
            conn.execute(
                access_requests.update()
                .where(access_requests.c.id == row.id)
                .values(
                    status=status,
                    rejection_reason=reason if status == "rejected" else None,
                    updated_at=now(),
                    handled_by=actor.account.name,
                )
            )
            target_user = self._account(conn, row.user_id)
            audit.record(
                conn,
                _AUDIT[str(status)],
                actor=actor,
                target=repo.key,
                namespace=repo.namespace,
                details={"user": target_user.name, "from": row.status, "requestId": row.request_id},
            )
            return self._select(conn, repo.id, user_id=row.user_id)[0]

    def grant(self, who: Principal | None, repo: Repo, user: object) -> AccessRequest:
        """Give a user access without a request of theirs (or accept their pending/rejected one)."""
        actor = self.check_handle(who, repo)
        if not repo.gated:
            raise BadRequest(f"{repo.type.value} {repo.id_str} is not gated")
        if not isinstance(user, str) or not user or len(user) > 96:
            raise BadRequest("Body needs 'user': a user name")
        t = now()
        with self.db.transaction() as conn:
            acc = self._user(conn, user)
            row = conn.execute(
                select(access_requests).where(
                    access_requests.c.repo_id == repo.id, access_requests.c.user_id == acc.id
                )
            ).first()
            if row is not None and row.status == "accepted":
                raise BadRequest(f"{acc.name} already has access to {repo.type.value} {repo.id_str}")
            values = {
                "status": "accepted",
                "rejection_reason": None,
                "updated_at": t,
                "handled_by": actor.account.name,
            }
            if row is None:
                conn.execute(
                    access_requests.insert().values(
                        request_id=secrets.token_hex(12),
                        repo_id=repo.id,
                        user_id=acc.id,
                        created_at=t,
                        **values,
                    )
                )
            else:
                conn.execute(access_requests.update().where(access_requests.c.id == row.id).values(**values))
            audit.record(
                conn,
                "access.grant",
                actor=actor,
                target=repo.key,
                namespace=repo.namespace,
                details={"user": acc.name, "from": row.status if row is not None else None},
            )
            return self._select(conn, repo.id, user_id=acc.id)[0]

    # --- rows ---------------------------------------------------------------------------------------
    @staticmethod
    def _user(conn: Connection, name: str) -> Account:
        row = conn.execute(select(accounts).where(accounts.c.name_lower == name.lower())).first()
        if row is None or row.kind != "user":
            raise UserNotFound(f"User {name[:96]!r} not found")
        return Account(row.id, row.name, row.fullname, row.kind, bool(row.is_admin))

    @staticmethod
    def _account(conn: Connection, account_id: int) -> Account:
        row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        assert row is not None  # the foreign key cascades
        return Account(row.id, row.name, row.fullname, row.kind, bool(row.is_admin))

    def _select(self, conn: Connection, repo_id: int, user_id: int) -> builtins.list[AccessRequest]:
        q = self._query().where(access_requests.c.repo_id == repo_id, access_requests.c.user_id == user_id)
        return [_row(r) for r in conn.execute(q)]

    def _select_page(
        self, conn: Connection, repo_id: int, status: str, after: int, limit: int
    ) -> tuple[builtins.list[AccessRequest], builtins.list[int]]:
        q = (
            self._query()
            .where(
                access_requests.c.repo_id == repo_id,
                access_requests.c.status == status,
                access_requests.c.id > after,
            )
            .order_by(access_requests.c.id)
            .limit(limit)
        )
        rows = conn.execute(q).all()
        return [_row(r) for r in rows], [int(r.id) for r in rows]

    @staticmethod
    def _query() -> Any:
        return select(
            access_requests,
            accounts.c.name.label("u_name"),
            accounts.c.fullname.label("u_fullname"),
            accounts.c.kind.label("u_kind"),
            accounts.c.is_admin.label("u_admin"),
        ).join(accounts, accounts.c.id == access_requests.c.user_id)


def _row(r: Any) -> AccessRequest:
    return AccessRequest(
        request_id=r.request_id,
        repo_id=r.repo_id,
        user=Account(r.user_id, r.u_name, r.u_fullname, r.u_kind, bool(r.u_admin)),
        status=r.status,
        fields=json.loads(r.fields) if r.fields else None,
        rejection_reason=r.rejection_reason,
        created_at=r.created_at,
        updated_at=r.updated_at,
        handled_by=r.handled_by,
    )
