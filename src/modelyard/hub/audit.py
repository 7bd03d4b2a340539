"""Audit log: who changed what, when and from where.  owns: audit_log

Rule: an entry is written by `record` INSIDE the transaction that makes the change, so there is no change without
its entry and no entry without its change. The actor is a `Principal` (a request: the account and the name of the
token it used), an `Account`, or None (the CLI or the server itself: `system_actor`, "system" unless the CLI set
it). The client IP comes from the ContextVar `client_ip` that the server middleware sets per request
(server/audit_context.py); outside requests it is None.

Entries outlive what they name: `actor_id` has no foreign key, the actor's and target's names are stored as text.
Secrets never enter the log: `details` is scrubbed (keys that name a secret, values shaped like a token are
replaced) and bounded in size; callers pass names and ids, never a token value.

Readers (`Audit.list`) filter by namespace (the lower-cased user/org an entry belongs to: an org's admins read the
entries of their org only), actor, action and time, newest first, paged by an id cursor.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from modelyard.db import Database
from modelyard.db.schema import audit_log
from modelyard.hub._time import iso, now

#: The client IP of the request being served (server middleware sets it; None outside requests: CLI, workers).
client_ip: ContextVar[str | None] = ContextVar("modelyard_client_ip", default=None)
#: Who acts when `record` gets actor=None: "system" (the server itself), or the CLI's "cli:<os user>".
system_actor: ContextVar[str] = ContextVar("modelyard_audit_system_actor", default="system")

ACTIONS = frozenset(
    {
        "token.create",
        "token.revoke",
        "repo.create",
        "repo.delete",
        "repo.move",
        "repo.visibility",
        "repo.gated",
        "access.request",
        "access.accept",
        "access.reject",
        "access.cancel",
        "access.grant",
        "member.add",
        "member.remove",
        "member.role",
        "org.settings",
        "bucket.create",
        "bucket.delete",
        "bucket.visibility",
        "bucket.move",
        "collection.delete",
        "webhook.create",
        "webhook.delete",
        "endpoint.create",
        "endpoint.update",
        "endpoint.delete",
        "discussion.hide",
        # web accounts (hub/signup.py, hub/accounts.py)
        "user.password",
        "user.profile",
        "user.reset_link",
        "invite.create",
        "site.signup_mode",
    }
)
# targets whose second segment is the namespace they belong to ("model/acme/x", "user/bob", "bucket/acme/b")
_NAMESPACED_KINDS = frozenset({"model", "dataset", "space", "bucket", "collection", "user", "org"})
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_DETAILS = 4096  # characters of JSON
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|authorization|cookie|credential|api_?key)", re.I)
_SAFE_KEYS = frozenset({"tokenname", "token_name", "tokenrole", "token_role"})  # names and roles, not values
# the shape of an access token ("hf_" + 34..40 URL-safe characters; older "my_" ones), wherever it appears
_TOKEN_LIKE = re.compile(r"(?:hf|my)_[A-Za-z0-9_-]{30,}")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    token_name: str | None
    action: str
    target: str
    namespace: str | None
    details: dict[str, Any]
    ip: str | None


def _actor(actor: Any) -> tuple[int | None, str, str | None]:
    """(actor_id, actor_name, token_name) of a Principal, an Account or None (duck-typed: hub.accounts imports us)."""
    if actor is None:
        return None, system_actor.get(), None
    account = getattr(actor, "account", None)
    if account is not None:  # a Principal
        token = getattr(actor, "token_name", None)
        return int(account.id), str(account.name), (str(token) if token else None)
    return int(actor.id), str(actor.name), None  # an Account


def namespace_of(target: str) -> str | None:
    """The namespace a target names ("model/acme/x" -> "acme", "user/bob" -> "bob"), lower-cased; else None."""
    kind, _, rest = target.partition("/")
    ns = rest.split("/", 1)[0]
    return ns.lower() if kind in _NAMESPACED_KINDS and ns else None


def scrub(value: Any, depth: int = 0) -> Any:
    """`value` with secrets replaced: values of keys that name a secret, strings shaped like an access token."""
    if depth > 6:
        return REDACTED
    if isinstance(value, dict):
        return {
            str(k): (
                REDACTED
                if _SECRET_KEY.search(str(k)) and str(k).lower() not in _SAFE_KEYS
                else scrub(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _TOKEN_LIKE.sub(REDACTED, value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _TOKEN_LIKE.sub(REDACTED, str(value))


def _details_json(details: dict[str, Any] | None) -> str:
    clean = scrub(details or {})
    text = json.dumps(clean, sort_keys=True, default=str)
    if len(text) > MAX_DETAILS:  # too big to keep whole: which keys there were
        text = json.dumps({"truncated": True, "keys": sorted(clean)[:50]})
    return text


def record(
    conn: Connection,
    action: str,
    *,
    actor: Any,
    target: str,
    namespace: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one audit entry inside the caller's transaction (`conn` is the transaction making the change).

    actor: a Principal, an Account or None (system/CLI); target: "model/acme/x", "user/bob", "webhook/<id>"...;
    namespace: the user/org the entry belongs to (default: the one `target` names)."""
    actor_id, actor_name, token_name = _actor(actor)
    ns = namespace if namespace is not None else namespace_of(target)
    conn.execute(
        audit_log.insert().values(
            at=now(),
            actor_id=actor_id,
            actor_name=actor_name[:96],
            token_name=token_name[:100] if token_name else None,
            action=action[:32],
            target=target[:300],  # built by the caller from names and ids
            namespace=ns.lower()[:96] if ns else None,
            details=_details_json(details),
            ip=(client_ip.get() or None),
        )
    )


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _entry(r: Any) -> AuditEntry:
    try:
        details = json.loads(r.details) if r.details else {}
    except ValueError:
        details = {}
    return AuditEntry(
        id=int(r.id),
        at=_aware(r.at),
        actor_id=r.actor_id,
        actor_name=r.actor_name,
        token_name=r.token_name,
        action=r.action,
        target=r.target,
        namespace=r.namespace,
        details=details if isinstance(details, dict) else {},
        ip=r.ip,
    )


class Audit:
    """Reads the audit log (writes go through `record`, inside the changing transaction)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(
        self,
        namespace: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: int | None = None,
    ) -> tuple[list[AuditEntry], int | None]:
        """Entries newest first, and the cursor of the next page (None on the last one).

        namespace/actor: exact, case-insensitive; action: exact, or a prefix given as "repo." or "repo.*";
        since: entries at or after this time; cursor: entries with an id below it (from a previous page)."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
        if namespace is not None:
            q = q.where(audit_log.c.namespace == namespace.lower())
        if actor is not None:
            q = q.where(func.lower(audit_log.c.actor_name) == actor.lower())
        if action:
            if action.endswith(".*") or action.endswith("."):
                prefix = action.rstrip("*")
                q = q.where(audit_log.c.action.startswith(prefix, autoescape=True))
            else:
                q = q.where(audit_log.c.action == action)
        if since is not None:
            q = q.where(audit_log.c.at >= _aware(since).astimezone(UTC))
        if cursor is not None and cursor <= 2**31 - 1:  # above: every id (PostgreSQL's INTEGER) is below it
            q = q.where(audit_log.c.id < cursor)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        entries = [_entry(r) for r in rows[:limit]]
        return entries, (entries[-1].id if len(rows) > limit else None)

    def record(
        self,
        action: str,
        *,
        actor: Any,
        target: str,
        namespace: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """An entry in its own short transaction: for changes made outside this database (inference endpoints),
        right after the change succeeded."""
        with self.db.transaction() as conn:
            record(conn, action, actor=actor, target=target, namespace=namespace, details=details)


def entry_json(e: AuditEntry) -> dict[str, Any]:
    """The API shape of an entry (also the CLI's --format json)."""
    return {
        "id": e.id,
        "time": iso(e.at),
        "actor": e.actor_name,
        "tokenName": e.token_name,
        "action": e.action,
        "target": e.target,
        "namespace": e.namespace,
        "details": e.details,
        "ip": e.ip,
    }
