"""The background task queue, in the database: every replica enqueues and claims here, so each task runs once.  owns: tasks

A task is a row (``tasks``): a kind (the handler's name), a JSON object payload and an optional unique key.
``enqueue`` with a key is idempotent (``INSERT … ON CONFLICT DO NOTHING``): periodic work that every replica
enqueues under ``<kind>:<period number>`` runs once per period, and a content queued twice is scanned once.

``claim`` leases due tasks to one worker: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` (concurrent claimers
skip each other's rows instead of waiting or taking them twice), on SQLite inside the write transaction
(``BEGIN IMMEDIATE``: one claimer at a time across processes). A claimed task is ``running`` with its lease end in
``run_at_ms``; its worker renews the lease while the handler runs. A worker that dies stops renewing: once the lease
runs out the task is claimable again (it runs again later, never twice at once while leases are renewed). ``done``
and ``fail`` only count for the claim that holds the lease (the worker and the attempt number match).
``fail`` retries after ``retry_base_s * 2**(attempts-1)`` seconds (capped) until ``max_attempts``, then the task is
``failed`` with its last error. A task is at least once: handlers must be idempotent (all of ours are).

Nothing outside the server process reaches the queue: no route exposes it, payloads are written only by code.
Rows that are not what the code writes (hostile or corrupt payloads) end ``failed`` on claim, never crash a worker.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from modelyard.db import Database
from modelyard.db.schema import tasks
from modelyard.errors import BadRequest
from modelyard.hub._time import now

log = logging.getLogger("modelyard.tasks")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
MAX_PAYLOAD = 64 * 1024  # bytes of JSON: tasks name their work (a sha256, an id), they do not carry it
MAX_KIND = 64
MAX_KEY = 200
MAX_ERROR = 1000
MAX_BACKOFF_S = 3600.0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Task:
    """One claimed task. `attempt` (1 on the first run) and `worker` identify the claim: `done`/`fail` of an older
    claim (the lease ran out and another worker took the task) change nothing."""

    id: int
    kind: str
    payload: dict[str, Any]
    key: str | None
    attempt: int
    max_attempts: int
    worker: str
    lease_until_ms: int


@dataclass(frozen=True)
class TaskRow:
    """A task as stored (tests, the admin's view)."""

    id: int
    kind: str
    key: str | None
    state: str
    attempts: int
    max_attempts: int
    run_at_ms: int
    leased_by: str | None
    last_error: str | None


@dataclass
class TaskQueue:
    db: Database
    max_attempts: int = 5
    retry_base_s: float = 10.0
    #: called (no arguments, any thread) after a task is enqueued: the local worker wakes instead of polling
    wake: Callable[[], None] | None = field(default=None, repr=False)

    # --- enqueueing -------------------------------------------------------------------------------
    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        run_at: datetime | float | None = None,
        max_attempts: int | None = None,
        conn: Connection | None = None,
    ) -> int | None:
        """Queue a task; its id, or None when `key` is already taken (the task exists: nothing is queued).
        `run_at`: not before this time (datetime or epoch seconds; default now). `conn`: join the caller's write
        transaction (the task exists exactly when the caller's rows do)."""
        values = self._values(kind, payload, key, run_at, max_attempts)
        if conn is not None:
            return self._insert(conn, values)
        with self.db.transaction() as c:
            task_id = self._insert(c, values)
        if task_id is not None:
            self.notify()
        return task_id

    def enqueue_periodic(
        self, kind: str, every_s: float, payload: Mapping[str, Any] | None = None, at: float | None = None
    ) -> int | None:
        """The task of the current period (key ``<kind>:<period number>``): every replica may call this, the work
        runs once per period. Its id, or None when this period's task exists already."""
        t = time.time() if at is None else at
        period = int(t // max(1.0, every_s))
        return self.enqueue(kind, payload, key=f"{kind}:{period}", run_at=t)

    def claim_once(self, key: str) -> bool:
        """Claim a piece of work named by `key` for this caller, once across replicas: True for the one caller whose
        marker (a ``done`` task of kind ``once``) was stored, False for every other (e.g. a scheduled job's run at
        one due time: ``jobs/schedule.py``). Markers go with `prune` after a week."""
        values = self._values("once", None, key, None, 1)
        values["state"] = DONE
        with self.db.transaction() as conn:
            return self._insert(conn, values) is not None

    def notify(self) -> None:
        wake = self.wake
        if wake is not None:
            try:
                wake()
            except Exception:  # a worker shutting down: it polls anyway
                log.debug("tasks: could not wake the worker", exc_info=True)

    def _values(
        self,
        kind: str,
        payload: Mapping[str, Any] | None,
        key: str | None,
        run_at: datetime | float | None,
        max_attempts: int | None,
    ) -> dict[str, Any]:
        if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND:
            raise BadRequest(f"A task kind is 1 to {MAX_KIND} characters")
        if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_KEY):
            raise BadRequest(f"A task key is 1 to {MAX_KEY} characters")
        body = json.dumps(dict(payload or {}), separators=(",", ":"), sort_keys=True)
        if len(body) > MAX_PAYLOAD:
            raise BadRequest(f"A task payload is at most {MAX_PAYLOAD} bytes of JSON")
        if run_at is None:
            due = now_ms()
        elif isinstance(run_at, datetime):
            due = int(run_at.timestamp() * 1000)
        else:
            due = int(float(run_at) * 1000)
        stamp = now()
        return {
            "kind": kind,
            "key": key,
            "payload": body,
            "state": QUEUED,
            "attempts": 0,
            "max_attempts": max(1, max_attempts if max_attempts is not None else self.max_attempts),
            "run_at_ms": due,
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _insert(self, conn: Connection, values: dict[str, Any]) -> int | None:
        if values["key"] is None:
            pk = conn.execute(tasks.insert().values(**values)).inserted_primary_key
            return int(pk[0]) if pk else None
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        stmt = insert(tasks).values(**values).on_conflict_do_nothing(index_elements=["key"])
        res = conn.execute(stmt.returning(tasks.c.id))
        row = res.first()
        return int(row[0]) if row is not None else None

    # --- claiming ---------------------------------------------------------------------------------
    def claim(
        self, limit: int, lease_s: float, worker_id: str, kinds: Sequence[str] | None = None
    ) -> list[Task]:
        """Lease up to `limit` due tasks (queued and due, or running with an expired lease) to `worker_id` for
        `lease_s` seconds, oldest due first. `kinds`: only these (the kinds this worker can run)."""
        if limit <= 0:
            return []
        at = now_ms()
        lease_until = at + max(1, int(lease_s * 1000))
        due = and_(tasks.c.state.in_((QUEUED, RUNNING)), tasks.c.run_at_ms <= at)
        if kinds is not None:
            due = and_(due, tasks.c.kind.in_(list(kinds)))
        query = (
            select(
                tasks.c.id, tasks.c.kind, tasks.c.key, tasks.c.payload, tasks.c.attempts, tasks.c.max_attempts
            )
            .where(due)
            .order_by(tasks.c.run_at_ms, tasks.c.id)
            .limit(limit)
            # PostgreSQL: rows another claimer holds are skipped, not waited for; SQLite renders no FOR UPDATE
            # (the claim runs in BEGIN IMMEDIATE: one writer at a time, across processes too)
            .with_for_update(skip_locked=True)
        )
        with (
            self.db.read() as conn
        ):  # the common case, nothing due: no write transaction (SQLite's write lock)
            if conn.execute(select(tasks.c.id).where(due).limit(1)).first() is None:
                return []
        out: list[Task] = []
        stamp = now()
        with self.db.transaction() as conn:
            for r in conn.execute(query).all():
                attempt = int(r.attempts) + 1
                problem = None
                payload = _payload(r.payload)
                if payload is None:
                    problem = "the payload is not a JSON object"
                elif attempt > int(r.max_attempts):  # its worker stopped (lease ran out) every time
                    problem = f"not finished after {r.attempts} attempts: the worker running it stopped"
                if problem is not None:
                    conn.execute(
                        update(tasks)
                        .where(tasks.c.id == r.id)
                        .values(state=FAILED, last_error=problem, lease_until_ms=None, updated_at=stamp)
                    )
                    log.warning("task %s (%s) failed: %s", r.id, str(r.kind)[:MAX_KIND], problem)
                    continue
                assert payload is not None
                conn.execute(
                    update(tasks)
                    .where(tasks.c.id == r.id)
                    .values(
                        state=RUNNING,
                        attempts=attempt,
                        run_at_ms=lease_until,
                        lease_until_ms=lease_until,
                        leased_by=worker_id,
                        updated_at=stamp,
                    )
                )
                out.append(
                    Task(
                        int(r.id),
                        str(r.kind),
                        payload,
                        r.key,
                        attempt,
                        int(r.max_attempts),
                        worker_id,
                        lease_until,
                    )
                )
        return out

    def renew(self, task: Task, lease_s: float) -> bool:
        """Extend the lease of a task still running here; False when the claim is no longer ours."""
        until = now_ms() + max(1, int(lease_s * 1000))
        with self.db.transaction() as conn:
            res = conn.execute(
                update(tasks)
                .where(_held(task))
                .values(run_at_ms=until, lease_until_ms=until, updated_at=now())
            )
        return bool(res.rowcount)

    def done(self, task: Task) -> bool:
        """The task succeeded; False when the claim was lost meanwhile (the lease ran out)."""
        with self.db.transaction() as conn:
            res = conn.execute(
                update(tasks)
                .where(_held(task))
                .values(state=DONE, lease_until_ms=None, last_error=None, updated_at=now())
            )
        return bool(res.rowcount)

    def fail(self, task: Task, error: str, retry: bool = True) -> str | None:
        """The task failed: queued again after the back-off while attempts remain (and `retry`), else failed with
        the error. The new state, or None when the claim was lost meanwhile."""
        message = (error or "failed")[:MAX_ERROR]
        if retry and task.attempt < task.max_attempts:
            delay = min(self.retry_base_s * 2 ** (task.attempt - 1), MAX_BACKOFF_S)
            values: dict[str, Any] = {"state": QUEUED, "run_at_ms": now_ms() + int(delay * 1000)}
        else:
            values = {"state": FAILED}
        with self.db.transaction() as conn:
            res = conn.execute(
                update(tasks)
                .where(_held(task))
                .values(**values, lease_until_ms=None, last_error=message, updated_at=now())
            )
        return str(values["state"]) if res.rowcount else None

    # --- reading and housekeeping -----------------------------------------------------------------
    def get(self, task_id: int) -> TaskRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
        return _row(r) if r is not None else None

    def by_key(self, key: str) -> TaskRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(tasks).where(tasks.c.key == key)).first()
        return _row(r) if r is not None else None

    def counts(self) -> dict[str, int]:
        """Tasks per state (all four states present)."""
        with self.db.read() as conn:
            rows = conn.execute(select(tasks.c.state, func.count()).group_by(tasks.c.state)).all()
        out = dict.fromkeys(STATES, 0)
        out.update({str(s): int(n) for s, n in rows})
        return out

    def prune(self, older_than_s: float = 7 * 86400) -> int:
        """Delete done and failed tasks last changed more than `older_than_s` ago; how many. Periodic keys of old
        periods go with them (their period is over: they are never enqueued again)."""
        cutoff = now() - timedelta(seconds=older_than_s)
        with self.db.transaction() as conn:
            res = conn.execute(
                delete(tasks).where(tasks.c.state.in_((DONE, FAILED)), tasks.c.updated_at < cutoff)
            )
        return int(res.rowcount or 0)


def _held(task: Task) -> Any:
    return and_(
        tasks.c.id == task.id,
        tasks.c.state == RUNNING,
        tasks.c.leased_by == task.worker,
        tasks.c.attempts == task.attempt,
    )


def _payload(raw: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if isinstance(raw, str | bytes) and len(raw) <= MAX_PAYLOAD else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _row(r: Any) -> TaskRow:
    return TaskRow(
        int(r.id),
        r.kind,
        r.key,
        r.state,
        int(r.attempts),
        int(r.max_attempts),
        int(r.run_at_ms),
        r.leased_by,
        r.last_error,
    )


__all__ = ["DONE", "FAILED", "QUEUED", "RUNNING", "Task", "TaskQueue", "TaskRow"]
