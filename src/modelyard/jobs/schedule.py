"""Scheduled jobs: the schedule strings the Hub accepts (cron, `@hourly` …), when a schedule runs next, and the
Scheduler that submits the due runs (started by jobs/manager.py `start`).

A run is submitted as the scheduled job's initiator, with the role and fine-grained grants of the token that
created it (stored in the row), and only while that account may still run jobs in the namespace (own namespace,
or org role write/admin). With `concurrency` false, a run is skipped while the previous one is still going.

Every replica runs a Scheduler on the same database (issue 17): a due run is claimed in the database before it is
submitted (`TaskQueue.claim_once` with key ``schedule:<id>:<due time>``: an insert-if-absent), so it fires once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING

from croniter import croniter

from modelyard.errors import BadRequest, HubError
from modelyard.hub._time import now
from modelyard.hub.access import Grants, Perm, role_at_least
from modelyard.hub.accounts import Principal
from modelyard.hub.jobs import ScheduledRecord
from modelyard.hub.tasks import TaskQueue
from modelyard.jobs.spec import TERMINAL, new_job_id, spec_from_json

if TYPE_CHECKING:
    from modelyard.hub.jobs import JobRecord
    from modelyard.jobs.manager import JobManager

log = logging.getLogger("modelyard.jobs")

ALIASES = {
    "@annually": "0 0 1 1 *",
    "@yearly": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_SCHEDULE = 200
TICK_SECONDS = 1.0


def _cron(schedule: str) -> str:
    s = schedule.strip()
    return ALIASES.get(s.lower(), s)


def check_schedule(schedule: object) -> str:
    """The schedule as given if it is a valid cron expression (5 fields) or one of the `@…` aliases; BadRequest
    with the reason otherwise."""
    if not isinstance(schedule, str) or not schedule.strip():
        raise BadRequest("'schedule' is required: a cron expression ('*/5 * * * *') or @hourly, @daily, ...")
    if len(schedule) > MAX_SCHEDULE or "\x00" in schedule:
        raise BadRequest("'schedule' is not a valid cron expression")
    cron = _cron(schedule)
    if cron.startswith("@"):
        raise BadRequest(
            f"Unknown schedule {schedule.strip()[:40]!r}: use a cron expression or one of {', '.join(ALIASES)}"
        )
    if len(cron.split()) != 5:
        raise BadRequest(
            f"Invalid schedule {schedule.strip()[:60]!r}: a cron expression has 5 fields "
            "(minute hour day-of-month month day-of-week)"
        )
    try:
        croniter(cron, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).get_next(dt.datetime)
    except (ValueError, KeyError, TypeError, OverflowError) as e:
        raise BadRequest(f"Invalid schedule {schedule.strip()[:60]!r}: {str(e)[:200]}") from None
    return schedule.strip()


def next_run(schedule: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after `after` that the schedule fires (UTC; naive `after` is read as UTC). The
    result has the same awareness as `after` (the store keeps naive UTC datetimes)."""
    aware = after if after.tzinfo is not None else after.replace(tzinfo=dt.UTC)
    nxt: dt.datetime = croniter(_cron(schedule), aware.astimezone(dt.UTC)).get_next(dt.datetime)
    nxt = nxt.astimezone(dt.UTC)
    return nxt if after.tzinfo is not None else nxt.replace(tzinfo=None)


def principal_of(manager: JobManager, rec: ScheduledRecord) -> Principal | None:
    """The initiator as a principal with the stored token role and grants; None when the account is gone or may
    no longer run jobs in the namespace."""
    if rec.initiator_id is None:
        return None
    acc = manager.accounts.by_id(rec.initiator_id)
    owner = manager.accounts.by_id(rec.namespace_id)
    if acc is None or owner is None:
        return None
    who = manager.accounts.principal_for(acc, f"scheduled-job-{rec.id}", rec.token_role)
    if rec.token_role == "fineGrained":
        try:
            grants = Grants.load(rec.token_role, rec.token_grants)
        except HubError:
            return None
        who = dataclasses.replace(who, grants=grants)
    if not role_at_least(who.role_in(owner.name), "write"):
        return None
    if not who.allows(Perm.JOB_WRITE, owner.kind, owner.name):
        return None
    return who


async def trigger(manager: JobManager, rec: ScheduledRecord, who: Principal | None = None) -> JobRecord:
    """Submit one run of a scheduled job now (as `who`, else as its initiator) and record it as the last job."""
    if who is None:
        who = await asyncio.to_thread(principal_of, manager, rec)
        if who is None:
            raise BadRequest(f"Scheduled job {rec.id}: its creator may no longer run jobs in this namespace")
    spec = spec_from_json(rec.spec)
    secrets = await asyncio.to_thread(manager.store.scheduled_secret_values, rec.id)
    job = await manager.submit(who, rec.namespace_id, spec, secrets, scheduled_job_id=rec.id)
    await asyncio.to_thread(
        manager.store.update_scheduled, rec.id, last_job_id=job.id, last_job_at=job.created_at
    )
    return job


def _still_running(manager: JobManager, rec: ScheduledRecord) -> bool:
    if not rec.last_job_id:
        return False
    try:
        last = manager.store.get(rec.last_job_id)
    except HubError:
        return False
    return last.stage not in TERMINAL


class Scheduler:
    """Submits the due runs of scheduled jobs, about once a second. `run` ends only when cancelled."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.claims = TaskQueue(manager.store.db)  # each due run fires once across replicas

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the job scheduler failed a round")
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self, at: dt.datetime | None = None) -> list[str]:
        """Submit what is due at `at` (default now); the ids of the jobs submitted."""
        store = self.manager.store
        when = at or now()
        due = await asyncio.to_thread(store.due, when)
        out: list[str] = []
        for rec in due:
            if not await asyncio.to_thread(self.claims.claim_once, run_key(rec)):
                continue  # another replica fires this run
            nxt = next_run(rec.schedule, when)
            await asyncio.to_thread(store.update_scheduled, rec.id, next_run_at=nxt)
            if not rec.concurrency and await asyncio.to_thread(_still_running, self.manager, rec):
                log.info("scheduled job %s: the last run is still going, this run is skipped", rec.id)
                continue
            try:
                job = await trigger(self.manager, rec)
            except asyncio.CancelledError:
                raise
            except HubError as e:
                log.warning("scheduled job %s: run not submitted: %s", rec.id, e.message)
                continue
            except Exception:
                log.exception("scheduled job %s: run not submitted", rec.id)
                continue
            out.append(job.id)
        return out


def run_key(rec: ScheduledRecord) -> str:
    """The claim of one due run of a scheduled job: its id and the due time (ms)."""
    due = rec.next_run_at
    stamp = int(due.timestamp() * 1000) if due is not None else 0
    return f"schedule:{rec.id}:{stamp}"


def new_scheduled_id() -> str:
    return new_job_id()
