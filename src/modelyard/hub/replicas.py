"""Replicas sharing one database: their heartbeats and the server secret they share.  owns: replicas, server_secrets

Every server process registers a row in ``replicas`` and refreshes ``last_seen_ms`` from its task worker
(server/task_worker.py); the processes seen within `LIVE_WINDOW_S` are the live replicas. Rate limits are kept in
each process's memory (server/ratelimit.py) and each process enforces ``limit / live replicas``: behind a balancer
that spreads requests evenly the sum is the configured limit, with no database write per request.

The signing secret (upload URLs, Xet tokens, sessions' CSRF, derived keys) must be the same on every replica. With
``secret_key`` set, that is the secret. Otherwise it lives in ``server_secrets`` (name ``server``): generated once
with insert-if-absent, so racing replicas all end with the winner's value; a ``<data_dir>/secret`` file of an
install from before (the single-machine default) is imported on first start, so its signed URLs stay valid.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.db import Database
from modelyard.db.schema import replicas, server_secrets
from modelyard.hub._time import now

HEARTBEAT_S = 10.0  # the task worker's heartbeat period
LIVE_WINDOW_S = 3 * HEARTBEAT_S  # seen within this: live
FORGET_S = 86400.0  # rows of replicas gone this long are deleted
SERVER_SECRET = "server"


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_replica_id() -> str:
    """hostname-pid-random: unique per process start (a restarted process is a new replica)."""
    host = socket.gethostname()[:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"[:64]


@dataclass
class Replicas:
    db: Database
    live_window_s: float = LIVE_WINDOW_S

    def beat(self, replica_id: str, address: str | None = None) -> int:
        """Register or refresh this replica; the number of live replicas (at least 1: this one)."""
        at = _now_ms()
        with self.db.transaction() as conn:
            done = conn.execute(
                update(replicas).where(replicas.c.id == replica_id).values(last_seen_ms=at)
            ).rowcount
            if not done:
                conn.execute(
                    replicas.insert().values(
                        id=replica_id,
                        hostname=socket.gethostname()[:255] or "host",
                        address=(address or None) and address[:255],
                        pid=os.getpid(),
                        started_at=now(),
                        last_seen_ms=at,
                    )
                )
            conn.execute(delete(replicas).where(replicas.c.last_seen_ms < at - int(FORGET_S * 1000)))
        return max(1, self.live(at))

    def live(self, at_ms: int | None = None) -> int:
        """Replicas seen within the live window."""
        at = _now_ms() if at_ms is None else at_ms
        with self.db.read() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(replicas)
                .where(replicas.c.last_seen_ms >= at - int(self.live_window_s * 1000))
            ).scalar()
        return int(n or 0)

    def leave(self, replica_id: str) -> None:
        """A clean shutdown: the others stop counting this replica at once."""
        with self.db.transaction() as conn:
            conn.execute(delete(replicas).where(replicas.c.id == replica_id))


def has_secret_table(db: Database) -> bool:
    with db.read() as conn:
        return bool(inspect(conn).has_table("server_secrets"))


def shared_secret(db: Database, legacy_file: Path | None = None, proposed: str | None = None) -> str | None:
    """The server secret every replica uses, from the database: the stored one, else `proposed`, else the content
    of `legacy_file` (an install's ``<data_dir>/secret``), else a new random one, stored if absent (the first
    replica to store wins; the others read its value). None when the table does not exist yet (a database not
    migrated to 0019: the caller keeps its local secret and shares it once migrated)."""
    if not has_secret_table(db):
        return None
    found = _stored(db)
    if found:
        return found
    value = proposed
    if not value and legacy_file is not None:
        try:
            value = legacy_file.read_text().strip()
        except OSError:
            value = None
    value = value or secrets.token_hex(32)
    try:
        with db.transaction() as conn:
            if (
                conn.execute(
                    select(server_secrets.c.name).where(server_secrets.c.name == SERVER_SECRET)
                ).first()
                is None
            ):
                conn.execute(
                    server_secrets.insert().values(name=SERVER_SECRET, value=value, created_at=now())
                )
    except IntegrityError:  # another replica stored one meanwhile: its value it is
        pass
    return _stored(db) or value


def _stored(db: Database) -> str | None:
    with db.read() as conn:
        v = conn.execute(
            select(server_secrets.c.value).where(server_secrets.c.name == SERVER_SECRET)
        ).scalar()
    return str(v) if v else None


__all__ = ["HEARTBEAT_S", "LIVE_WINDOW_S", "Replicas", "new_replica_id", "shared_secret"]
