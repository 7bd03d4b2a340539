"""Webhooks: subscriptions, which ones an event reaches, the delivery queue and its log.
owns: webhooks, webhook_watches, webhook_deliveries, webhook_attempts

A webhook belongs to the user who created it and is seen, changed and logged for that user only (404 to anyone
else). It watches users/orgs (every repo in the namespace) or single repos, in the domains "repo" and/or
"discussion", and POSTs the Hub's payload (hub/webhook_payload.py) to its URL.

Rule: a webhook never reveals a repo its owner cannot read. Watching a repo needs read access to it when the
webhook is created or changed; every event is checked against the owner's access when it is queued (`emit`) and
again when a delivery is claimed (`claim_due`): a repo made private, a membership lost, or a namespace watch that
covers someone else's private repo queues or sends nothing (a claimed one is logged as "skipped").

Queue: one `webhook_deliveries` row per (event, webhook), bounded per webhook (`MAX_PENDING`, past it the event is
logged "dropped"); the delivery worker (server/webhook_worker.py) claims due rows with a lease, sends, and reports
back with `finish`, which schedules retries with exponential back-off up to `max_attempts`. The log keeps the last
`LOG_SIZE` finished deliveries per webhook, each with its attempts.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, func, or_, select

from modelyard.db import Database
from modelyard.db.schema import webhook_attempts, webhook_deliveries, webhook_watches, webhooks
from modelyard.errors import BadRequest, Forbidden, NotFound, RepoNotFound, Unauthorized, UserNotFound
from modelyard.hub import audit, webhook_payload
from modelyard.hub._time import now
from modelyard.hub.access import Perm
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.events import HubEvent
from modelyard.hub.repos import Repo, Repos, can_read
from modelyard.types import RepoType

log = logging.getLogger("modelyard.webhooks")

DOMAINS = ("repo", "discussion")
NAMESPACE_KINDS = ("user", "org")
REPO_KINDS = tuple(t.value for t in RepoType)
MAX_WEBHOOKS = 100  # per user
MAX_WATCHED = 100  # items per webhook
MAX_URL = 2048
MAX_SECRET = 256
MAX_PENDING = 1000  # queued deliveries per webhook; past it new events are logged "dropped"
LOG_SIZE = 100  # finished deliveries kept per webhook
MAX_BACKOFF_S = 3600.0
NO_ACCESS = "not sent: the webhook's owner cannot read this repository"


@dataclass(frozen=True)
class Watched:
    type: str  # user | org | model | dataset | space
    name: str


@dataclass(frozen=True)
class Webhook:
    id: str
    owner_id: int
    url: str
    secret: str | None
    domains: tuple[str, ...]
    disabled: bool
    watched: tuple[Watched, ...]


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class Delivery:
    id: int
    scope: str
    action: str
    state: str  # pending | delivered | failed | skipped | dropped
    attempts: tuple[Attempt, ...]
    next_attempt_ms: int | None
    created_at: datetime


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed delivery, for the worker: POST `payload` to `url` with `secret` in X-Webhook-Secret."""

    id: int
    webhook_id: str
    url: str
    secret: str | None
    payload: bytes


def _now_ms() -> int:
    return int(time.time() * 1000)


def public_address(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, reserved, multicast)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast


def _validate_url(url: Any, allow_private: bool = True) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise BadRequest(f"A webhook needs a 'url': an http(s) URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        ok = parts.scheme in {"http", "https"} and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a bad IPv6 literal or port
        ok = False
    if not ok or not url.isprintable() or " " in url:
        raise BadRequest("The webhook 'url' must be an absolute http:// or https:// URL")
    host = (parts.hostname or "").lower()
    literal = host.replace(".", "").isdigit() or ":" in host
    named_local = host == "localhost" or host.endswith(".localhost")
    if not allow_private and (named_local or (literal and not public_address(host))):
        raise BadRequest(
            "The webhook 'url' points to a non-public address (loopback, private or link-local network); "
            "the server's webhook_allow_private setting is off"
        )
    return url


def _audit_url(url: str) -> str:
    """The webhook URL for the audit log: no user info, query or fragment (they may hold credentials)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _validate_domains(domains: Any) -> tuple[str, ...]:
    if not isinstance(domains, list) or not domains or any(d not in DOMAINS for d in domains):
        raise BadRequest("'domains' must be a non-empty list of 'repo' and 'discussion'")
    return tuple(d for d in DOMAINS if d in domains)


def _validate_secret(secret: Any) -> str | None:
    if secret is None or secret == "":
        return None
    if (
        not isinstance(secret, str)
        or len(secret) > MAX_SECRET
        or not (secret.isascii() and secret.isprintable())
    ):
        raise BadRequest(
            f"'secret' must be printable ASCII (it is sent as a header), at most {MAX_SECRET} characters"
        )
    return secret


class Webhooks:
    """Webhook management for their owners, and the event sink that queues deliveries (see module doc)."""

    def __init__(
        self,
        db: Database,
        accounts: Accounts,
        base_url: str,
        max_attempts: int = 5,
        retry_base_s: float = 10.0,
        allow_private: bool = False,
    ) -> None:
        self.db = db
        self.allow_private = allow_private  # loopback/private URLs (the worker checks again on send)
        self.accounts = accounts
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max(1, max_attempts)
        self.retry_base_s = max(0.0, retry_base_s)

    # --- management -------------------------------------------------------------------------------
    def owned(self, who: Principal | None) -> list[Webhook]:
        who = self._authenticated(who)
        with self.db.read() as conn:
            ids = conn.execute(
                select(webhooks.c.id)
                .where(webhooks.c.owner_id == who.account.id)
                .order_by(webhooks.c.created_at, webhooks.c.id)
            ).scalars()
            return [self._load(conn, i) for i in ids]

    def get(self, who: Principal | None, webhook_id: str) -> Webhook:
        who = self._authenticated(who)
        with self.db.read() as conn:
            return self._owned(conn, who, webhook_id)

    def create(self, who: Principal | None, url: Any, watched: Any, domains: Any, secret: Any) -> Webhook:
        who = self._writer(who)
        items = self._parse_watched(who, watched)
        if not items:
            raise BadRequest("A webhook must watch at least one user, organization or repository")
        values = {
            "url": _validate_url(url, self.allow_private),
            "domains": ",".join(_validate_domains(list(DOMAINS) if domains is None else domains)),
            "secret": _validate_secret(secret),
        }
        webhook_id = secrets.token_hex(12)
        with self.db.transaction() as conn:
            count = conn.execute(
                select(func.count()).select_from(webhooks).where(webhooks.c.owner_id == who.account.id)
            ).scalar_one()
            if count >= MAX_WEBHOOKS:
                raise BadRequest(f"You have {MAX_WEBHOOKS} webhooks already: delete one first")
            conn.execute(
                webhooks.insert().values(
                    id=webhook_id, owner_id=who.account.id, disabled=False, created_at=now(), **values
                )
            )
            self._set_watched(conn, webhook_id, items)
            created = self._load(conn, webhook_id)
            audit.record(
                conn,
                "webhook.create",
                actor=who,
                target=f"webhook/{webhook_id}",
                namespace=who.account.name,
                details={
                    "url": _audit_url(created.url),
                    "watched": [f"{w.type}/{w.name}" for w in created.watched],
                },
            )
            return created

    def update(self, who: Principal | None, webhook_id: str, body: dict[str, Any]) -> Webhook:
        """Change url, watched, domains, secret. `watched: []` keeps the list (the client always sends it);
        `secret: ""` removes the secret."""
        who = self._writer(who)
        with self.db.read() as conn:
            self._owned(conn, who, webhook_id)
        values: dict[str, Any] = {}
        if body.get("url") is not None:
            values["url"] = _validate_url(body["url"], self.allow_private)
        if body.get("domains") is not None:
            values["domains"] = ",".join(_validate_domains(body["domains"]))
        if "secret" in body:
            values["secret"] = _validate_secret(body["secret"])
        items = self._parse_watched(who, body.get("watched") or [])
        with self.db.transaction() as conn:
            self._owned(conn, who, webhook_id)
            if values:
                conn.execute(webhooks.update().where(webhooks.c.id == webhook_id).values(**values))
            if items:
                conn.execute(webhook_watches.delete().where(webhook_watches.c.webhook_id == webhook_id))
                self._set_watched(conn, webhook_id, items)
            return self._load(conn, webhook_id)

    def set_disabled(self, who: Principal | None, webhook_id: str, disabled: bool) -> Webhook:
        who = self._writer(who)
        with self.db.transaction() as conn:
            self._owned(conn, who, webhook_id)
            conn.execute(webhooks.update().where(webhooks.c.id == webhook_id).values(disabled=disabled))
            return self._load(conn, webhook_id)

    def delete(self, who: Principal | None, webhook_id: str) -> None:
        who = self._writer(who)
        with self.db.transaction() as conn:
            self._owned(conn, who, webhook_id)
            ids = select(webhook_deliveries.c.id).where(webhook_deliveries.c.webhook_id == webhook_id)
            conn.execute(webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(ids)))
            conn.execute(webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == webhook_id))
            conn.execute(webhook_watches.delete().where(webhook_watches.c.webhook_id == webhook_id))
            conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))
            audit.record(
                conn, "webhook.delete", actor=who, target=f"webhook/{webhook_id}", namespace=who.account.name
            )

    def deliveries(self, who: Principal | None, webhook_id: str, limit: int = LOG_SIZE) -> list[Delivery]:
        """The delivery log, newest first: each event's state and every HTTP attempt."""
        who = self._authenticated(who)
        with self.db.read() as conn:
            self._owned(conn, who, webhook_id)
            rows = conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.webhook_id == webhook_id)
                .order_by(webhook_deliveries.c.id.desc())
                .limit(max(1, min(limit, LOG_SIZE + MAX_PENDING)))
            ).all()
            attempts: dict[int, list[Attempt]] = {}
            if rows:
                for a in conn.execute(
                    select(webhook_attempts)
                    .where(webhook_attempts.c.delivery_id.in_([r.id for r in rows]))
                    .order_by(webhook_attempts.c.id)
                ):
                    attempts.setdefault(a.delivery_id, []).append(
                        Attempt(a.at, a.status_code, a.error, int(a.duration_ms))
                    )
        return [
            Delivery(
                r.id,
                r.scope,
                r.action,
                r.state,
                tuple(attempts.get(r.id, [])),
                r.next_attempt_ms if r.state == "pending" else None,
                r.created_at,
            )
            for r in rows
        ]

    # --- events -----------------------------------------------------------------------------------
    def emit(self, event: HubEvent) -> None:
        """Queue a delivery of `event` for every enabled webhook that watches it and whose owner may read the repo."""
        try:
            self._emit(event)
        except Exception:  # the change is committed: a failure to queue must not fail it
            log.exception("webhooks: could not queue the %s %s event", event.scope, event.action)

    def _emit(self, event: HubEvent) -> None:
        repo = event.repo
        match = or_(
            and_(
                webhook_watches.c.kind.in_(NAMESPACE_KINDS),
                webhook_watches.c.name_lower == repo.namespace.lower(),
            ),
            and_(
                webhook_watches.c.kind == repo.type.value, webhook_watches.c.name_lower == repo.id_str.lower()
            ),
        )
        with self.db.read() as conn:
            rows = conn.execute(
                select(webhooks.c.id, webhooks.c.owner_id, webhooks.c.domains)
                .join(webhook_watches, webhook_watches.c.webhook_id == webhooks.c.id)
                .where(webhooks.c.disabled.is_(False), match)
                .distinct()
            ).all()
            hooks = [r for r in rows if event.domain in r.domains.split(",")]
            if not hooks:
                return
            if event.action not in {"delete", "move"}:
                try:  # as committed: head, tags and visibility after the change
                    event = replace(event, repo=Repos.by_id(conn, repo.id))
                except RepoNotFound:
                    return
        repo = event.repo
        owners: dict[int, Principal | None] = {}
        ids: dict[str, str] = {}

        def account_id(name: str) -> str:
            if name not in ids:
                acc = self.accounts.find(name) if name else None
                ids[name] = str(acc.id) if acc else name
            return ids[name]

        # every lookup before the write transaction: on SQLite a second connection would wait for it
        bodies: dict[str, str] = {}
        for h in hooks:
            if h.owner_id not in owners:
                owners[h.owner_id] = self._principal(h.owner_id)
            owner = owners[h.owner_id]
            if owner is not None and can_read(repo, owner):
                bodies[h.id] = json.dumps(webhook_payload.build(event, h.id, self.base_url, account_id))
        if not bodies:
            return
        ts, due = now(), _now_ms()
        with self.db.transaction() as conn:
            for hook_id, body in bodies.items():
                pending = conn.execute(
                    select(func.count())
                    .select_from(webhook_deliveries)
                    .where(
                        webhook_deliveries.c.webhook_id == hook_id, webhook_deliveries.c.state == "pending"
                    )
                ).scalar_one()
                conn.execute(
                    webhook_deliveries.insert().values(
                        webhook_id=hook_id,
                        repo_id=repo.id,
                        repo_namespace=repo.namespace,
                        repo_private=repo.private,
                        scope=event.scope,
                        action=event.action,
                        payload=body,
                        state="pending" if pending < MAX_PENDING else "dropped",
                        attempts=0,
                        next_attempt_ms=due if pending < MAX_PENDING else None,
                        created_at=ts,
                    )
                )

    # --- the worker's side ------------------------------------------------------------------------
    def pending_count(self) -> int:
        """Deliveries waiting to be sent (or retried): the admin page's queue figure."""
        with self.db.read() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(webhook_deliveries)
                .where(webhook_deliveries.c.state == "pending")
            ).scalar()
        return int(n or 0)

    def claim_due(self, limit: int = 16, lease_ms: int = 60_000) -> list[DeliveryJob]:
        """Due pending deliveries, leased for `lease_ms` (a crashed sender's rows come back after it). A delivery
        whose webhook is disabled, or whose repo its owner may no longer read, is logged as skipped instead.

        Several replicas may claim at once (issue 17): the lease is taken first, in one write transaction, with
        ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a row another claimer holds is skipped) and under SQLite's
        ``BEGIN IMMEDIATE`` (one claimer at a time): each due delivery goes to one sender."""
        at = _now_ms()
        due = and_(webhook_deliveries.c.state == "pending", webhook_deliveries.c.next_attempt_ms <= at)
        with self.db.read() as conn:  # the common case, nothing due: no write transaction
            if conn.execute(select(webhook_deliveries.c.id).where(due).limit(1)).first() is None:
                return []
        lease = at + lease_ms
        with self.db.transaction() as conn:
            ids = list(
                conn.execute(
                    select(webhook_deliveries.c.id)
                    .where(due)
                    .order_by(webhook_deliveries.c.next_attempt_ms, webhook_deliveries.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if ids:
                conn.execute(
                    webhook_deliveries.update()
                    .where(webhook_deliveries.c.id.in_(ids))
                    .values(next_attempt_ms=lease)
                )
        if not ids:
            return []
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    webhook_deliveries,
                    webhooks.c.url,
                    webhooks.c.secret,
                    webhooks.c.owner_id,
                    webhooks.c.disabled,
                )
                .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                .where(webhook_deliveries.c.id.in_(ids))
                .order_by(webhook_deliveries.c.id)
            ).all()
        if not rows:
            return []
        # lookups one connection at a time (on SQLite a second connection waits for an open one)
        owners = {o: self._principal(o) for o in {r.owner_id for r in rows}}
        with self.db.read() as conn:
            repos = {i: self._repo(conn, i) for i in {r.repo_id for r in rows if r.repo_id is not None}}
        verdicts = [(r, self._may_send(r, owners[r.owner_id], repos.get(r.repo_id))) for r in rows]
        jobs: list[DeliveryJob] = []
        skipped = [(r, problem) for r, problem in verdicts if problem is not None]
        if skipped:
            with self.db.transaction() as conn:
                for r, problem in skipped:
                    held = and_(
                        webhook_deliveries.c.id == r.id,
                        webhook_deliveries.c.state == "pending",
                        webhook_deliveries.c.next_attempt_ms == lease,
                    )
                    if conn.execute(webhook_deliveries.update().where(held).values(state="skipped")).rowcount:
                        conn.execute(
                            webhook_attempts.insert().values(
                                delivery_id=r.id, at=now(), status_code=None, error=problem, duration_ms=0
                            )
                        )
                        self._prune(conn, r.webhook_id)
        for r, verdict in verdicts:
            if verdict is None:
                jobs.append(DeliveryJob(r.id, r.webhook_id, r.url, r.secret, r.payload.encode()))
        return jobs

    @staticmethod
    def _repo(conn: Any, repo_id: int) -> Repo | None:
        try:
            return Repos.by_id(conn, repo_id)
        except RepoNotFound:
            return None

    @staticmethod
    def _may_send(row: Any, owner: Principal | None, repo: Repo | None) -> str | None:
        """None when the delivery may go out now, else why not (for the log)."""
        if row.disabled:
            return "not sent: the webhook is disabled"
        if owner is None:
            return NO_ACCESS
        if repo is not None:
            return None if can_read(repo, owner) else NO_ACCESS
        readable = not row.repo_private or owner.member_of(row.repo_namespace)  # a deleted repo, as it was
        return None if readable else NO_ACCESS

    def finish(self, delivery_id: int, status_code: int | None, error: str | None, duration_ms: int) -> str:
        """Record one attempt; 2xx delivers, anything else retries after retry_base * 2^(n-1) s until
        max_attempts. Returns the new state."""
        ok = status_code is not None and 200 <= status_code < 300
        with self.db.transaction() as conn:
            row = conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            ).first()
            if row is None:  # the webhook was deleted meanwhile
                return "deleted"
            conn.execute(
                webhook_attempts.insert().values(
                    delivery_id=delivery_id,
                    at=now(),
                    status_code=status_code,
                    error=(error or None) and str(error)[:500],
                    duration_ms=max(0, duration_ms),
                )
            )
            n = int(row.attempts) + 1
            if ok:
                state, due = "delivered", None
            elif n >= self.max_attempts:
                state, due = "failed", None
            else:
                delay = min(self.retry_base_s * 2 ** (n - 1), MAX_BACKOFF_S)
                state, due = "pending", _now_ms() + int(delay * 1000)
            conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == delivery_id)
                .values(attempts=n, state=state, next_attempt_ms=due)
            )
            if state != "pending":
                self._prune(conn, row.webhook_id)
            return state

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _prune(conn: Any, webhook_id: str) -> None:
        """Keep the newest LOG_SIZE finished deliveries of a webhook."""
        old = (
            select(webhook_deliveries.c.id)
            .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.state != "pending")
            .order_by(webhook_deliveries.c.id.desc())
            .offset(LOG_SIZE)
        )
        ids = [r[0] for r in conn.execute(old)]
        if ids:
            conn.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(ids)))
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(ids)))

    def _principal(self, account_id: int) -> Principal | None:
        """The webhook owner as a reader: membership decides which private repos it may see."""
        acc = self.accounts.by_id(account_id)
        if acc is None:
            return None
        return self.accounts.principal_for(acc, "webhook", "read")

    @staticmethod
    def _authenticated(who: Principal | None, perm: str = Perm.WEBHOOKS_READ) -> Principal:
        """The caller, with a token allowing `perm` (``user.webhooks.read``/``write``) on its own namespace."""
        if who is None:
            raise Unauthorized("You must be authenticated to manage webhooks")
        who.require(perm, "user", who.account.name)
        return who

    def _writer(self, who: Principal | None) -> Principal:
        if who is not None and not who.can_write:
            raise Forbidden("This token is read-only: use a token with the 'write' role to manage webhooks")
        return self._authenticated(who, Perm.WEBHOOKS_WRITE)

    def _owned(self, conn: Any, who: Principal, webhook_id: str) -> Webhook:
        row = conn.execute(select(webhooks.c.owner_id).where(webhooks.c.id == webhook_id)).first()
        if row is None or row.owner_id != who.account.id:
            raise NotFound(f"Webhook {webhook_id[:40]!r} not found")
        return self._load(conn, webhook_id)

    @staticmethod
    def _load(conn: Any, webhook_id: str) -> Webhook:
        w = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).one()
        watched = conn.execute(
            select(webhook_watches.c.kind, webhook_watches.c.name)
            .where(webhook_watches.c.webhook_id == webhook_id)
            .order_by(webhook_watches.c.kind, webhook_watches.c.name_lower)
        )
        return Webhook(
            w.id,
            w.owner_id,
            w.url,
            w.secret,
            tuple(w.domains.split(",")),
            bool(w.disabled),
            tuple(Watched(k, n) for k, n in watched),
        )

    @staticmethod
    def _set_watched(conn: Any, webhook_id: str, items: list[Watched]) -> None:
        for item in items:
            conn.execute(
                webhook_watches.insert().values(
                    webhook_id=webhook_id, kind=item.type, name=item.name, name_lower=item.name.lower()
                )
            )

    def _parse_watched(self, who: Principal, watched: Any) -> list[Watched]:
        """Validated watched items, names as stored. A repo must exist and be readable by `who` (the same 404 either
        way, so a webhook cannot probe for private repos); a user or org must exist."""
        if not isinstance(watched, list) or len(watched) > MAX_WATCHED:
            raise BadRequest(f"'watched' must be a list of at most {MAX_WATCHED} {{type, name}} objects")
        out: dict[tuple[str, str], Watched] = {}
        for item in watched:
            kind = item.get("type") if isinstance(item, dict) else None
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(kind, str) or not isinstance(name, str) or not name or len(name) > 200:
                raise BadRequest("Each watched item needs a 'type' and a 'name'")
            if kind in NAMESPACE_KINDS:
                acc = self.accounts.find(name) if "/" not in name else None
                if acc is None or acc.kind != kind:
                    raise UserNotFound(f"{'User' if kind == 'user' else 'Organization'} {name!r} not found")
                w = Watched(kind, acc.name)
            elif kind in REPO_KINDS:
                ns, _, rname = name.partition("/")
                with self.db.read() as conn:
                    repo = Repos.find_in(conn, RepoType(kind), ns, rname) if ns and rname else None
                if repo is None or not can_read(repo, who):
                    raise RepoNotFound(f"Repository Not Found for {kind}s {name}")
                w = Watched(kind, repo.id_str)
            elif kind == "bucket":
                raise BadRequest(
                    "Watching buckets is not supported: webhooks deliver repo and discussion events"
                )
            else:
                raise BadRequest(f"Invalid watched type {kind!r}: one of user, org, model, dataset, space")
            out[(w.type, w.name.lower())] = w
        return list(out.values())
