"""The job runner: a queue of jobs (SCHEDULING), at most `jobs_max_running` at once (RUNNING), each a sandboxed
process (spaces/sandbox.py) in a Python environment (spaces/build.py: uv; or the hub's own for training), with its
log (spaces/logs.py LogBook, kept in a file), its metrics (one sample a second while it runs), its progress
events (training recipes print `MODELYARD_PROGRESS {json}` lines) and a token of its own (the submitter's role,
revoked when the job ends). Stages as the Hub reports them: SCHEDULING, RUNNING, COMPLETED, CANCELED, ERROR.

Restart: jobs left RUNNING by a previous server are ERROR ("the hub restarted while the job ran"), except
training jobs, which are queued again and resume from their last checkpoint; SCHEDULING jobs are queued again.

The scheduler (jobs/schedule.py) submits the runs of scheduled jobs. Hooks in `on_finish` run after a job ends
(server/api/training.py deploys a trained model there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.buckets import Buckets
from modelyard.hub.content import Content
from modelyard.hub.jobs import JobRecord, JobStore
from modelyard.jobs.spec import JobSpec
from modelyard.spaces.logs import LogBook

log = logging.getLogger("modelyard.jobs")

PROGRESS_PREFIX = (
    "MODELYARD_PROGRESS "  # a stdout line `MODELYARD_PROGRESS {json}`: a progress event, not logged
)
JOB_STARTED = "===== Job started"  # the first log line (huggingface_hub drops lines starting with it)

FinishHook = Callable[[JobRecord], Awaitable[None]]


class JobManager:
    def __init__(
        self,
        settings: Any,
        db: Any,
        store: JobStore,
        accounts: Accounts,
        content: Content,
        buckets: Buckets,
        repos: Any,
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.accounts = accounts
        self.content = content
        self.buckets = buckets
        self.repos = repos
        self.root = Path(settings.data_dir) / "jobs"  # jobs/{id}/{log,progress,work,...}
        self.hub_address: tuple[str, int] | None = (
            None  # set by server/listen.py bind_hub (HF_ENDPOINT of jobs)
        )
        self.on_finish: list[FinishHook] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- life ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Recover (see module docstring), start the queue and the scheduler (jobs/schedule.py Scheduler)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Stop the scheduler and every running job (they are ERROR "the hub stopped", training jobs stay
        RUNNING so that the next start resumes them)."""
        raise NotImplementedError

    # --- jobs ---------------------------------------------------------------------------------------
    async def submit(
        self,
        who: Principal,
        namespace_id: int,
        spec: JobSpec,
        secret_values: dict[str, str],
        kind: str = "job",
        recipe: dict[str, Any] | None = None,
        scheduled_job_id: str | None = None,
    ) -> JobRecord:
        """Record the job (SCHEDULING) and queue it. The caller checked that `who` may run jobs in the namespace
        and validated the spec (volumes are checked here: `who` must be able to read each source, and write
        to a bucket mounted read-write)."""
        raise NotImplementedError

    async def cancel(self, job_id: str) -> JobRecord:
        """Stop the job's process tree (or take it off the queue): CANCELED. A finished job is unchanged."""
        raise NotImplementedError

    def logs(self, job_id: str) -> LogBook:
        """The job's log: live while it runs, read back from its file once it ended (also after a restart)."""
        raise NotImplementedError

    def progress(self, job_id: str) -> LogBook:
        """The job's progress events (each line is one JSON object), like `logs`."""
        raise NotImplementedError

    def metrics(self, job_id: str) -> AsyncIterator[dict[str, Any]] | None:
        """One sample a second while the job runs (the keys of huggingface_hub's fetch_job_metrics:
        cpu_usage_pct, cpu_millicores, memory_used_bytes, memory_total_bytes, rx_bps, tx_bps, gpus, replica);
        None when the job is not running (the API answers 406)."""
        raise NotImplementedError

    def running_count(self) -> int:
        raise NotImplementedError
