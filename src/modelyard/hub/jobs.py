"""The hub's record of jobs and scheduled jobs (tables jobs, scheduled_jobs: migration 0017).

A job row holds its spec (JSON, secret names only), its secret values encrypted with AES-GCM (the job id as
associated data: a ciphertext moved to another row does not decrypt), the stage the runner reported and, for
training recipes, the recipe and its result. The runner (jobs/manager.py) is the only writer of stages; the API
reads. Rows are never hard-deleted by the API (the Hub has no delete for jobs); a namespace's deletion drops them.

Who may see or act on a job: members of its namespace (the user, or the org's members): `JobStore.check`.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row

from modelyard.db import Database
from modelyard.db.schema import jobs, scheduled_jobs
from modelyard.errors import NotFound
from modelyard.hub._time import now

log = logging.getLogger("modelyard.jobs")

_NONCE = 12
_AAD = b"modelyard job secrets"


@dataclass(frozen=True)
class JobRecord:
    id: str
    namespace_id: int
    initiator_id: int | None
    token_role: str  # the submitting token's role ("read" | "write" | "fineGrained"): the job's token gets it
    token_grants: dict[str, Any] | None  # and its fine-grained permissions (Grants.dumps())
    kind: str  # "job" | "training"
    spec: dict[str, Any]  # JobSpec.to_json()
    stage: str
    message: str | None
    exit_code: int | None
    labels: dict[str, str]
    scheduled_job_id: str | None
    recipe: dict[str, Any] | None
    result: dict[str, Any] | None
    progress: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class ScheduledRecord:
    id: str
    namespace_id: int
    initiator_id: int | None
    token_role: str
    token_grants: dict[str, Any] | None
    spec: dict[str, Any]
    schedule: str
    suspend: bool
    concurrency: bool
    labels: dict[str, str]
    last_job_id: str | None
    last_job_at: datetime | None
    next_run_at: datetime | None
    created_at: datetime


@overload
def _utc(dt: datetime) -> datetime: ...
@overload
def _utc(dt: None) -> None: ...
def _utc(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: they are UTC (helper A, issue 14: job_info subtracts them from now())."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _job(r: Row[Any]) -> JobRecord:
    return JobRecord(
        id=r.id,
        namespace_id=r.namespace_id,
        initiator_id=r.initiator_id,
        token_role=r.token_role,
        token_grants=_loads(r.token_grants),
        kind=r.kind,
        spec=json.loads(r.spec),
        stage=r.stage,
        message=r.message,
        exit_code=r.exit_code,
        labels=json.loads(r.labels or "{}"),
        scheduled_job_id=r.scheduled_job_id,
        recipe=_loads(r.recipe),
        result=_loads(r.result),
        progress=_loads(r.progress),
        created_at=_utc(r.created_at),
        started_at=_utc(r.started_at),
        finished_at=_utc(r.finished_at),
    )


def _scheduled(r: Row[Any]) -> ScheduledRecord:
    return ScheduledRecord(
        id=r.id,
        namespace_id=r.namespace_id,
        initiator_id=r.initiator_id,
        token_role=r.token_role,
        token_grants=_loads(r.token_grants),
        spec=json.loads(r.spec),
        schedule=r.schedule,
        suspend=bool(r.suspend),
        concurrency=bool(r.concurrency),
        labels=json.loads(r.labels or "{}"),
        last_job_id=r.last_job_id,
        last_job_at=_utc(r.last_job_at),
        next_run_at=_utc(r.next_run_at),
        created_at=_utc(r.created_at),
    )


class JobStore:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self._aead = AESGCM(key[:32])

    # --- secrets ------------------------------------------------------------------------------------
    def _seal(self, row_id: str, values: dict[str, str]) -> tuple[bytes | None, bytes | None]:
        if not values:
            return None, None
        nonce = os.urandom(_NONCE)
        data = self._aead.encrypt(nonce, json.dumps(values).encode(), _AAD + row_id.encode())
        return nonce, data

    def _open(self, row_id: str, nonce: bytes | None, data: bytes | None) -> dict[str, str]:
        if not nonce or not data:
            return {}
        try:
            plain = self._aead.decrypt(bytes(nonce), bytes(data), _AAD + row_id.encode())
        except InvalidTag:
            log.warning("the secrets of job %s do not decrypt (the server secret changed?)", row_id)
            return {}
        out: dict[str, str] = json.loads(plain)
        return out

    # --- jobs ---------------------------------------------------------------------------------------
    def create(
        self,
        job_id: str,
        namespace_id: int,
        initiator_id: int | None,
        token_role: str,
        token_grants: dict[str, Any] | None,
        spec: dict[str, Any],
        secret_values: dict[str, str],
        kind: str = "job",
        recipe: dict[str, Any] | None = None,
        scheduled_job_id: str | None = None,
    ) -> JobRecord:
        nonce, data = self._seal(job_id, secret_values)
        labels = spec.get("labels") or {}
        with self.db.transaction() as conn:
            conn.execute(
                insert(jobs).values(
                    id=job_id,
                    namespace_id=namespace_id,
                    initiator_id=initiator_id,
                    token_role=token_role,
                    token_grants=json.dumps(token_grants) if token_grants is not None else None,
                    kind=kind,
                    spec=json.dumps(spec),
                    secret_nonce=nonce,
                    secret_data=data,
                    stage="SCHEDULING",
                    labels=json.dumps(labels),
                    scheduled_job_id=scheduled_job_id,
                    recipe=json.dumps(recipe) if recipe is not None else None,
                    created_at=now(),
                )
            )
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        with self.db.read() as conn:
            r = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if r is None:
            raise NotFound(f"Job {job_id} not found")
        return _job(r)

    def stage(self, job_id: str) -> tuple[str, str | None]:
        """The job's stage and message (what a status stream polls)."""
        with self.db.read() as conn:
            r = conn.execute(select(jobs.c.stage, jobs.c.message).where(jobs.c.id == job_id)).first()
        if r is None:
            raise NotFound(f"Job {job_id} not found")
        return r.stage, r.message

    def find(self, namespace_id: int, job_id: str) -> JobRecord:
        """The job if it belongs to that namespace; NotFound otherwise (never says it exists elsewhere)."""
        with self.db.read() as conn:
            r = conn.execute(
                select(jobs).where(jobs.c.id == job_id, jobs.c.namespace_id == namespace_id)
            ).first()
        if r is None:
            raise NotFound(f"Job {job_id} not found")
        return _job(r)

    def secret_values(self, job_id: str) -> dict[str, str]:
        with self.db.read() as conn:
            r = conn.execute(
                select(jobs.c.secret_nonce, jobs.c.secret_data).where(jobs.c.id == job_id)
            ).first()
        return {} if r is None else self._open(job_id, r.secret_nonce, r.secret_data)

    def list(
        self,
        namespace_id: int,
        stages: Sequence[str] = (),
        labels: dict[str, str | None] | None = None,
        scheduled_job_id: str | None = None,
        kind: str | None = None,
        limit: int = 1000,
        before: datetime | None = None,
    ) -> list[JobRecord]:
        """Newest first. `labels`: key → value (None: the key only); filtered here, labels are JSON."""
        q = select(jobs).where(jobs.c.namespace_id == namespace_id)
        if stages:
            q = q.where(jobs.c.stage.in_(list(stages)))
        if scheduled_job_id is not None:
            q = q.where(jobs.c.scheduled_job_id == scheduled_job_id)
        if kind is not None:
            q = q.where(jobs.c.kind == kind)
        if before is not None:
            q = q.where(jobs.c.created_at < before)
        q = q.order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        out: list[JobRecord] = []
        with self.db.read() as conn:
            for r in conn.execute(q):
                rec = _job(r)
                if labels and not all(
                    k in rec.labels and (v is None or rec.labels[k] == v) for k, v in labels.items()
                ):
                    continue
                out.append(rec)
                if len(out) >= limit:
                    break
        return out

    def in_stages(self, stages: Iterable[str]) -> builtins.list[JobRecord]:
        """All jobs (any namespace) in these stages, oldest first: the runner's queue and its restart check."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.stage.in_(list(stages))).order_by(jobs.c.created_at, jobs.c.id)
            ).all()
        return [_job(r) for r in rows]

    def set_stage(
        self,
        job_id: str,
        stage: str,
        message: str | None = None,
        exit_code: int | None = None,
        started: bool = False,
        finished: bool = False,
    ) -> None:
        values: dict[str, Any] = {"stage": stage, "message": message}
        if exit_code is not None:
            values["exit_code"] = exit_code
        if started:
            values["started_at"] = now()
        if finished:
            values["finished_at"] = now()
        with self.db.transaction() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    def set_labels(self, job_id: str, labels: dict[str, str]) -> None:
        with self.db.transaction() as conn:
            r = conn.execute(select(jobs.c.spec).where(jobs.c.id == job_id)).first()
            if r is None:
                raise NotFound(f"Job {job_id} not found")
            spec = json.loads(r.spec)
            spec["labels"] = labels
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(labels=json.dumps(labels), spec=json.dumps(spec))
            )

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(progress=json.dumps(progress)))

    def set_result(self, job_id: str, result: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(result=json.dumps(result)))

    # --- scheduled jobs -----------------------------------------------------------------------------
    def create_scheduled(
        self,
        sched_id: str,
        namespace_id: int,
        initiator_id: int | None,
        token_role: str,
        token_grants: dict[str, Any] | None,
        spec: dict[str, Any],
        secret_values: dict[str, str],
        schedule: str,
        next_run_at: datetime | None,
        suspend: bool = False,
        concurrency: bool = False,
    ) -> ScheduledRecord:
        nonce, data = self._seal(sched_id, secret_values)
        with self.db.transaction() as conn:
            conn.execute(
                insert(scheduled_jobs).values(
                    id=sched_id,
                    namespace_id=namespace_id,
                    initiator_id=initiator_id,
                    token_role=token_role,
                    token_grants=json.dumps(token_grants) if token_grants is not None else None,
                    spec=json.dumps(spec),
                    secret_nonce=nonce,
                    secret_data=data,
                    schedule=schedule,
                    suspend=suspend,
                    concurrency=concurrency,
                    labels=json.dumps(spec.get("labels") or {}),
                    next_run_at=next_run_at,
                    created_at=now(),
                )
            )
        return self.get_scheduled(sched_id)

    def get_scheduled(self, sched_id: str, namespace_id: int | None = None) -> ScheduledRecord:
        q = select(scheduled_jobs).where(scheduled_jobs.c.id == sched_id)
        if namespace_id is not None:
            q = q.where(scheduled_jobs.c.namespace_id == namespace_id)
        with self.db.read() as conn:
            r = conn.execute(q).first()
        if r is None:
            raise NotFound(f"Scheduled job {sched_id} not found")
        return _scheduled(r)

    def scheduled_secret_values(self, sched_id: str) -> dict[str, str]:
        with self.db.read() as conn:
            r = conn.execute(
                select(scheduled_jobs.c.secret_nonce, scheduled_jobs.c.secret_data).where(
                    scheduled_jobs.c.id == sched_id
                )
            ).first()
        return {} if r is None else self._open(sched_id, r.secret_nonce, r.secret_data)

    def list_scheduled(self, namespace_id: int) -> builtins.list[ScheduledRecord]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(scheduled_jobs)
                .where(scheduled_jobs.c.namespace_id == namespace_id)
                .order_by(scheduled_jobs.c.created_at.desc())
            ).all()
        return [_scheduled(r) for r in rows]

    def update_scheduled(self, sched_id: str, **values: Any) -> None:
        """Columns: schedule, suspend, next_run_at, last_job_id, last_job_at, labels (a dict)."""
        if "labels" in values:
            values["labels"] = json.dumps(values["labels"])
        with self.db.transaction() as conn:
            done = conn.execute(
                update(scheduled_jobs).where(scheduled_jobs.c.id == sched_id).values(**values)
            ).rowcount
        if not done:
            raise NotFound(f"Scheduled job {sched_id} not found")

    def delete_scheduled(self, sched_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(delete(scheduled_jobs).where(scheduled_jobs.c.id == sched_id))

    def due(self, at: datetime) -> builtins.list[ScheduledRecord]:
        """Scheduled jobs (not suspended) whose next run is at or before `at`."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(scheduled_jobs).where(
                    and_(
                        or_(scheduled_jobs.c.suspend.is_(False), scheduled_jobs.c.suspend.is_(None)),
                        scheduled_jobs.c.next_run_at.is_not(None),
                        scheduled_jobs.c.next_run_at <= at,
                    )
                )
            ).all()
        return [_scheduled(r) for r in rows]
