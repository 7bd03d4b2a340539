"""The job runner: a queue of jobs (SCHEDULING), at most `jobs_max_running` at once (RUNNING), each a sandboxed
process (spaces/sandbox.py) in a Python environment (spaces/build.py: uv; or the hub's own for training), with its
log (spaces/logs.py LogBook, kept in a file), its metrics (one sample a second while it runs), its progress
events (training recipes print `MODELYARD_PROGRESS {json}` lines) and a token of its own (the submitter's role,
revoked when the job ends). Stages as the Hub reports them: SCHEDULING, RUNNING, COMPLETED, CANCELED, ERROR.

Restart: jobs left RUNNING by a previous server are ERROR ("the hub restarted while the job ran"), except
training jobs, which are queued again and resume from their last checkpoint; SCHEDULING jobs are queued again.

How one job runs (`_execute`): RUNNING, the log's first line `===== Job started at <time> =====`, a token of
its own (`job-<id>`, the submitter's role and grants, redacted from the log with the secret values), volumes
written out host side (jobs/volumes.py), the environment (python images: an EnvBuilder venv from `--with` + the
script's PEP 723 dependencies, cached under data_dir/jobs-envs; `modelyard/train`: the hub's own environment,
bound read-only), then the command under the sandbox (spaces/sandbox.py `start_command`: cwd /job =
data_dir/jobs/<id>/work, kept), timeout = min(spec timeout, jobs_timeout). After the exit: read-write bucket
volumes written back, a training job's /job/result.json stored, the token revoked, the stage set once (a
finished job's stage never changes), then the on_finish hooks.

The scheduler (jobs/schedule.py) submits the runs of scheduled jobs. Hooks in `on_finish` run after a job ends
(server/api/training.py deploys a trained model there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

import modelyard
from modelyard.errors import BadRequest, ConfigError, HubError
from modelyard.hub._time import now
from modelyard.hub.access import Grants
from modelyard.hub.accounts import Accounts, Principal
from modelyard.hub.buckets import Buckets
from modelyard.hub.content import Content
from modelyard.hub.jobs import JobRecord, JobStore
from modelyard.jobs import volumes
from modelyard.jobs.metrics import Sampler
from modelyard.jobs.spec import TERMINAL, JobSpec, new_job_id, spec_from_json
from modelyard.jobs.uvrun import (
    MAX_SCRIPT_BYTES,
    inline_metadata,
    is_uv_run,
    parse_uv_run,
    python_from_requires,
)
from modelyard.spaces.build import BuildFailed, BuildSpec, EnvBuilder, requirement_lines
from modelyard.spaces.logs import LogBook, LogLine
from modelyard.spaces.sandbox import (
    JOB_DIR,
    AppProcess,
    BwrapSandbox,
    CommandSpec,
    Sandbox,
    _base_python,
    choose,
    describe_command,
    start_command,
)

log = logging.getLogger("modelyard.jobs")

PROGRESS_PREFIX = (
    "MODELYARD_PROGRESS "  # a stdout line `MODELYARD_PROGRESS {json}`: a progress event, not logged
)
JOB_STARTED = "===== Job started"  # the first log line (huggingface_hub drops lines starting with it)

FinishHook = Callable[[JobRecord], Awaitable[None]]
MAX_PROGRESS_BYTES = 16 * 1024  # a progress event's JSON
MAX_RESULT_BYTES = 1024 * 1024  # /job/result.json


class JobLog(LogBook):
    """A job's log: `MODELYARD_PROGRESS {json}` lines go to `on_progress` instead of the log."""

    def __init__(self, path: Path | None, on_progress: Callable[[str], None] | None = None) -> None:
        super().__init__(path)
        self.on_progress = on_progress

    def write(self, text: str) -> None:
        if self.on_progress is not None and text.startswith(PROGRESS_PREFIX):
            self.on_progress(text[len(PROGRESS_PREFIX) :])
            return
        super().write(text)


def read_book(path: Path, keep: int = 5000) -> LogBook:
    """A closed LogBook holding the last `keep` lines of a log file (`<timestamp> <line>` per line)."""
    book = LogBook(None, keep=keep)
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            ts, _, data = raw.rstrip("\n").partition(" ")
            book.lines.append(LogLine(data, ts))
    book.closed = True
    return book


@dataclass
class _Plan:
    argv: list[str]
    env: dict[str, str]
    binds: list[tuple[str, str, bool]]
    shim_python: str


class _Job:
    def __init__(self, rec: JobRecord, log_book: JobLog, progress: LogBook) -> None:
        self.id = rec.id
        self.kind = rec.kind
        self.log = log_book
        self.progress = progress
        self.task: asyncio.Task[None] | None = None
        self.proc: AppProcess | None = None
        self.sampler: Sampler | None = None
        self.running = False
        self.cancel_requested = False
        self.timed_out = False
        self.resume = False
        self.redact: tuple[str, ...] = ()
        self.last_progress: dict[str, Any] | None = None
        self.progress_saved_at = 0.0
        self.progress_dirty = False
        self.done = asyncio.Event()


def _tail_message(book: LogBook, n: int = 5, limit: int = 1000) -> str:
    lines = [ln.data.strip() for ln in book.snapshot() if ln.data.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Limits:", "[sandbox]"))]
    return " | ".join(lines[-n:])[-limit:]


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
        self._live: dict[str, _Job] = {}
        self._slots: asyncio.Semaphore | None = None
        self._sandbox: Sandbox | None = None
        self._sandbox_error: str | None = None
        self._builder: EnvBuilder | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._stopping = False
        self._ray: Any = None  # jobs_backend = "ray": jobs/ray_backend.py RayJobs (set in start)

    # --- life ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Recover (see module docstring), start the queue and the scheduler (jobs/schedule.py Scheduler)."""
        self.loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(max(1, int(self.settings.jobs_max_running)))
        backend = getattr(self.settings, "jobs_backend", "local") or "local"
        if backend == "ray":  # launch/wait/cancel on a Ray cluster (jobs/ray_backend.py)
            from modelyard.jobs.ray_backend import RayJobs

            self._ray = RayJobs(self.settings.ray_dashboard_url)
        elif backend != "local":
            raise ConfigError(f"jobs_backend must be 'local' or 'ray', not {backend!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        mode = (self.settings.jobs_sandbox or self.settings.spaces_sandbox or "auto").strip()
        try:
            self._sandbox = await asyncio.to_thread(choose, mode)
        except ConfigError as e:
            reason = (
                e.message.replace("spaces_sandbox", "jobs_sandbox")
                .replace("spaces_enabled", "jobs_enabled")
                .replace("Spaces need", "Jobs need")
                .replace("their apps", "their processes")
                .replace("docs/spaces.md", "docs/training.md")
            )
            self._sandbox_error = f"Jobs cannot run on this hub: {reason}"
            log.error("%s", self._sandbox_error)
        self._builder = EnvBuilder(
            Path(self.settings.data_dir) / "jobs-envs",
            float(self.settings.spaces_build_timeout),
            self.settings.spaces_python,
        )
        for rec in self.store.in_stages(["RUNNING"]):
            if rec.kind == "training":
                self.store.set_stage(rec.id, "SCHEDULING", "Queued again: the hub restarted while it ran.")
                self._enqueue(self.store.get(rec.id), resume=True)
            else:
                self.store.set_stage(
                    rec.id, "ERROR", "The hub restarted while the job was running.", finished=True
                )
                self._revoke_token(rec)
                with contextlib.suppress(OSError), open(self.root / rec.id / "log", "a") as f:
                    f.write(f"{now_text()} The hub restarted while the job was running.\n")
        for rec in self.store.in_stages(["SCHEDULING"]):
            if rec.id not in self._live:
                self._enqueue(rec)
        from modelyard.jobs.schedule import Scheduler

        self._scheduler = asyncio.create_task(Scheduler(self).run())

    async def aclose(self) -> None:
        """Stop the scheduler and every running job (they are ERROR "the hub stopped", training jobs stay
        RUNNING so that the next start resumes them)."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(BaseException):
                await self._scheduler
        tasks = [j.task for j in self._live.values() if j.task is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=30)

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
        volumes.check(who, spec.volumes, self.buckets, self.repos)
        command = [*spec.command]
        if spec.runtime().kind == "python" and is_uv_run(command):
            uv = parse_uv_run(command)
            try:
                requirement_lines("\n".join(uv.with_deps))
            except BuildFailed as e:
                raise BadRequest(e.message.replace("requirements.txt", "--with")) from None
            if uv.is_url and not self._own_url(uv.target):
                raise BadRequest(
                    "Jobs have no internet access: a script URL must be one of this hub's own "
                    "(upload the script, or run a local file: it is shipped through a bucket)"
                )
        rec = self.store.create(
            new_job_id(),
            namespace_id,
            who.account.id,
            who.role,
            who.grants.dumps(),
            spec.to_json(),
            secret_values,
            kind=kind,
            recipe=recipe,
            scheduled_job_id=scheduled_job_id,
        )
        self._enqueue(rec)
        return rec

    async def cancel(self, job_id: str) -> JobRecord:
        """Stop the job's process tree (or take it off the queue): CANCELED. A finished job is unchanged."""
        job = self._live.get(job_id)
        rec = self.store.get(job_id)
        if job is None or rec.stage in TERMINAL:
            if job is None and rec.stage == "SCHEDULING":  # queued, but not by this runner (should not be)
                self.store.set_stage(job_id, "CANCELED", "Canceled", finished=True)
            return self.store.get(job_id)
        job.cancel_requested = True
        if job.proc is not None:
            await job.proc.stop(grace=3.0)
        elif job.task is not None:
            job.task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.done.wait(), 30)
        return self.store.get(job_id)

    def logs(self, job_id: str) -> LogBook:
        """The job's log: live while it runs, read back from its file once it ended (also after a restart)."""
        job = self._live.get(job_id)
        if job is not None:
            return job.log
        return read_book(self.root / job_id / "log")

    def progress(self, job_id: str) -> LogBook:
        """The job's progress events (each line is one JSON object), like `logs`."""
        job = self._live.get(job_id)
        if job is not None:
            return job.progress
        return read_book(self.root / job_id / "progress")

    def metrics(self, job_id: str) -> AsyncIterator[dict[str, Any]] | None:
        """One sample a second while the job runs (the keys of huggingface_hub's fetch_job_metrics:
        cpu_usage_pct, cpu_millicores, memory_used_bytes, memory_total_bytes, rx_bps, tx_bps, gpus, replica);
        None when the job is not running (the API answers 406)."""
        job = self._live.get(job_id)
        if job is None or job.proc is None or job.sampler is None or job.proc.returncode is not None:
            return None
        return self._samples(job)

    async def _samples(self, job: _Job) -> AsyncIterator[dict[str, Any]]:
        sampler = job.sampler
        while sampler is not None and job.proc is not None and job.proc.returncode is None:
            sample = await asyncio.to_thread(sampler.sample)
            sample["replica"] = job.id[:8]
            yield sample
            await asyncio.sleep(1.0)

    def running_count(self) -> int:
        return sum(1 for j in self._live.values() if j.running)

    # --- the queue ----------------------------------------------------------------------------------
    def _enqueue(self, rec: JobRecord, resume: bool = False) -> None:
        job_dir = self.root / rec.id
        job_dir.mkdir(parents=True, exist_ok=True)
        progress = LogBook(job_dir / "progress")
        book = JobLog(job_dir / "log")
        if resume:  # a training job run again after a restart: its earlier lines stay readable
            book.lines.extend(read_book(job_dir / "log").lines)
            progress.lines.extend(read_book(job_dir / "progress").lines)
        job = _Job(rec, book, progress)
        job.resume = resume
        book.on_progress = lambda raw: self._on_progress(job, raw)
        self._live[rec.id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{rec.id}")

    async def _run(self, job: _Job) -> None:
        outcome: tuple[str, str | None, int | None] | None = None
        try:
            assert self._slots is not None
            async with self._slots:
                rec = self.store.get(job.id)
                if rec.stage in TERMINAL or job.cancel_requested:
                    return
                job.running = True
                outcome = await self._execute(job, rec)
        except asyncio.CancelledError:
            outcome = None
        except Exception as e:  # the runner never crashes on one job
            log.exception("job %s failed to run", job.id)
            msg = e.message if isinstance(e, HubError) else f"{type(e).__name__}: {e}"
            job.log.write(f"ERROR: {msg}")
            outcome = ("ERROR", f"The job could not run: {msg}"[:2000], None)
        finally:
            job.running = False
            await self._conclude(job, outcome)

    async def _conclude(self, job: _Job, outcome: tuple[str, str | None, int | None] | None) -> None:
        try:
            self._flush_progress(job)
            rec = self.store.get(job.id)
            final: tuple[str, str | None, int | None] | None = None
            if rec.stage not in TERMINAL:
                if job.cancel_requested:
                    final = ("CANCELED", "Canceled", outcome[2] if outcome else None)
                elif outcome is not None:
                    final = outcome
                elif self._stopping:
                    if rec.stage == "RUNNING" and rec.kind != "training":
                        final = ("ERROR", "The hub stopped while the job was running.", None)
                else:
                    final = ("ERROR", "The job was stopped.", None)
            if final is not None:
                stage, message, code = final
                job.log.write(f"===== Job {stage.lower()}" + (f": {message}" if message else "") + " =====")
                self.store.set_stage(job.id, stage, message, exit_code=code, finished=True)
            job.log.close()
            job.progress.close()
            if final is not None:
                done = self.store.get(job.id)
                for hook in list(self.on_finish):
                    try:
                        await hook(done)
                    except Exception:
                        log.exception("an on_finish hook failed for job %s", job.id)
        except Exception:
            log.exception("finishing job %s failed", job.id)
        finally:
            self._live.pop(job.id, None)
            job.done.set()

    async def _execute(self, job: _Job, rec: JobRecord) -> tuple[str, str | None, int | None]:
        spec = spec_from_json(rec.spec)
        if self._ray is not None:  # jobs_backend = "ray": the run is a Ray job (stages, logs, cancel there)
            outcome: tuple[str, str | None, int | None] = await self._ray.execute(self, job, rec, spec)
            return outcome
        self.store.set_stage(job.id, "RUNNING", started=True)
        job.log.write(f"{JOB_STARTED} at {now_text()} =====")
        if self._sandbox is None:
            reason = self._sandbox_error or "Jobs cannot run on this hub: no sandbox"
            job.log.write(reason)
            return ("ERROR", reason, None)
        limit = int(min(spec.timeout or self.settings.jobs_timeout, self.settings.jobs_timeout))
        secrets = self.store.secret_values(job.id)
        token = self._make_token(rec, limit)
        job.redact = tuple(v for v in [*secrets.values(), token or ""] if len(v) >= 4)
        job.log.redact(job.redact)
        run_dir = Path(tempfile.mkdtemp(prefix="myj-"))
        proc: AppProcess | None = None
        try:
            for line in describe_command(self._sandbox):
                job.log.write(f"[sandbox] {line}")
            plan = await self._plan(job, rec, spec, secrets, token)
            cspec = CommandSpec(
                name=f"job-{job.id}",
                argv=plan.argv,
                env=plan.env,
                work_dir=self.root / job.id / "work",
                run_dir=run_dir,
                shim_python=plan.shim_python,
                binds=tuple(plan.binds),
                hub_address=self.hub_address,
                memory_mb=int(self.settings.jobs_memory_mb),
                cpu_cores=float(self.settings.jobs_cpu_cores),
            )
            proc = await start_command(self._sandbox, cspec, job.log)
            job.proc = proc
            job.sampler = Sampler(
                proc.pid, int(self.settings.jobs_memory_mb) * 1024 * 1024, float(self.settings.jobs_cpu_cores)
            )
            if job.cancel_requested:
                await proc.stop(grace=1.0)
            waiter = asyncio.ensure_future(proc.wait())
            done, _ = await asyncio.wait({waiter}, timeout=limit)
            if not done:
                job.timed_out = True
                job.log.write(f"The job ran longer than its timeout ({limit} s): stopping it.")
                await proc.stop(grace=3.0)
            code = await waiter
            await proc.drain()
            await self._write_back(job, spec, token)
            if job.timed_out:
                return ("ERROR", f"Job timed out after {limit} s", code)
            if job.cancel_requested:
                return ("CANCELED", "Canceled", code)
            if code == 0:
                if rec.kind == "training":
                    self._read_result(job)
                return ("COMPLETED", None, 0)
            tail = _tail_message(job.log)
            return ("ERROR", f"Job failed with exit code {code}" + (f": {tail}" if tail else ""), code)
        except BuildFailed as e:
            return ("ERROR", f"The job's environment could not be built: {e.message}", None)
        except HubError as e:
            job.log.write(f"ERROR: {e.message}")
            return ("ERROR", e.message, None)
        finally:
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(proc.stop(grace=2.0))
            self._revoke_token(rec)
            await asyncio.to_thread(shutil.rmtree, run_dir, True)

    # --- preparing a run ----------------------------------------------------------------------------
    async def _plan(
        self, job: _Job, rec: JobRecord, spec: JobSpec, secrets: dict[str, str], token: str | None
    ) -> _Plan:
        sandboxed = isinstance(self._sandbox, BwrapSandbox)
        job_dir = self.root / job.id
        work = job_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        binds: list[tuple[str, str, bool]] = []
        mounts: dict[str, Path] = {JOB_DIR: work}  # inside path -> host path
        for i, v in enumerate(spec.volumes):
            host = await asyncio.to_thread(
                volumes.materialize_volume,
                self.db,
                self.content,
                self.buckets,
                v,
                job_dir,
                Path(self.settings.data_dir) / "jobs-snapshots",
                i,
            )
            binds.append((str(host), v.mount_path, not v.read_only))
            mounts[v.mount_path] = host
            job.log.write(
                f"Mounted {v.type} {v.source} at {v.mount_path}" + (" (read-only)" if v.read_only else "")
            )

        def host_path(inside: str) -> Path | None:
            for mount, host in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
                if inside == mount or inside.startswith(mount + "/"):
                    return host / inside[len(mount) :].lstrip("/")
            return None

        def outside(arg: str) -> str:  # NoSandbox: paths as the host sees them
            if sandboxed or not arg.startswith("/"):
                return arg
            found = host_path(arg)
            return str(found) if found is not None else arg

        command = [*spec.command, *spec.arguments]
        runtime = spec.runtime()
        env: dict[str, str] = {**spec.environment, **secrets}
        if runtime.kind == "hub":
            prefix = sys.prefix
            binds.append((prefix, prefix, False))
            base = _base_python(Path(prefix))
            if base is not None:
                binds.append((str(base), str(base), False))
            src = Path(modelyard.__file__).resolve().parent.parent
            if not str(src).startswith(prefix + "/"):
                binds.append((str(src), str(src), False))
            shim_python = sys.executable
            env["PATH"] = f"{prefix}/bin:/usr/bin:/bin"
            env["VIRTUAL_ENV"] = prefix
            argv = command
        else:
            reqs: list[str] = []
            python_version = runtime.python
            argv = command
            if is_uv_run(command):
                uv = parse_uv_run(command)
                for note in uv.notes:
                    job.log.write(note)
                reqs += uv.with_deps
                python_version = uv.python or python_version
                if uv.is_script:
                    if uv.is_url:
                        text, inside = await self._fetch_script(uv.target, work, token)
                    else:
                        inside = uv.target if uv.target.startswith("/") else f"{JOB_DIR}/{uv.target}"
                        found = host_path(inside)
                        if found is None or not found.is_file():
                            raise BadRequest(f"uv run: the script {uv.target} is not in the job (mount it)")
                        if found.stat().st_size > MAX_SCRIPT_BYTES:
                            raise BadRequest(f"uv run: the script {uv.target} is too large")
                        text = found.read_text(encoding="utf-8", errors="replace")
                    meta = inline_metadata(text)
                    deps = list(meta.get("dependencies", []))
                    if deps:
                        job.log.write(f"Inline script dependencies: {', '.join(deps)}")
                    reqs += deps
                    if uv.python is None:
                        python_version = python_from_requires(meta.get("requires-python")) or python_version
                    argv = ["python", inside, *uv.args]
                else:
                    argv = [uv.target, *uv.args]
            assert self._builder is not None
            # shielded: cancelling this job must not interrupt a build another job shares (EnvBuilder)
            build = asyncio.ensure_future(
                self._builder.build(BuildSpec("", None, python_version, "\n".join(reqs)), job.log)
            )
            env_dir = await asyncio.shield(build)
            venv = "/opt/venv" if sandboxed else str(env_dir)
            if sandboxed:
                binds.append((str(env_dir), venv, False))
                base = _base_python(env_dir)
                if base is not None:
                    binds.append((str(base), str(base), False))
            shim_python = f"{venv}/bin/python"
            env["PATH"] = f"{venv}/bin:/usr/bin:/bin"
            env["VIRTUAL_ENV"] = venv
        env.update(
            JOB_ID=job.id,
            MODELYARD_JOB_DIR=JOB_DIR if sandboxed else str(work),
            HF_HUB_DISABLE_TELEMETRY="1",
        )
        if token:
            env["HF_TOKEN"] = token
        if job.resume:
            env["MODELYARD_RESUME"] = "1"
        data_dir = Path(self.settings.data_dir).resolve()
        for bound, _inside, _w in binds:
            if data_dir.is_relative_to(Path(bound).resolve()):
                raise ConfigError(
                    f"The job would see the hub's data directory ({bound} holds it): move data_dir out of the "
                    "hub's Python environment and source tree"
                )
        return _Plan([outside(a) for a in argv], env, binds, shim_python)

    async def _write_back(self, job: _Job, spec: JobSpec, token: str | None) -> None:
        """Upload what the job added or changed in its read-write bucket volumes (volumes.py)."""
        for i, v in enumerate(spec.volumes):
            if v.type != "bucket" or v.read_only:
                continue
            changed = await asyncio.to_thread(volumes.changed_files, self.root / job.id, i)
            if not changed:
                continue
            if token is None or self.hub_address is None:
                job.log.write(f"Not written back to bucket {v.source}: the job has no token")
                continue
            prefix = (v.path + "/") if v.path else ""
            job.log.write(f"Writing {len(changed)} file(s) back to bucket {v.source}...")
            host, port = self.hub_address
            host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
            endpoint = f"http://{host}:{port}"

            def upload(
                items: list[tuple[Path, str]] = changed,
                prefix: str = prefix,
                bucket: str = v.source,
                endpoint: str = endpoint,
            ) -> None:
                from huggingface_hub import HfApi

                api = HfApi(endpoint=endpoint, token=token)
                for n in range(0, len(items), 500):
                    api.batch_bucket_files(
                        bucket, add=[(local, prefix + rel) for local, rel in items[n : n + 500]]
                    )

            try:
                await asyncio.to_thread(upload)
                job.log.write(f"Wrote {len(changed)} file(s) back to bucket {v.source}.")
            except Exception as e:
                log.warning("job %s: write-back to bucket %s failed: %s", job.id, v.source, e)
                job.log.write(f"ERROR: writing back to bucket {v.source} failed: {str(e)[:300]}")

    def _own_url(self, url: str) -> bool:
        parts = urlsplit(url)
        netloc = parts.netloc.lower()
        allowed: set[str] = set()
        if self.hub_address is not None:
            host, port = self.hub_address
            for h in {host, "127.0.0.1", "localhost"}:
                allowed.add(f"{h}:{port}")
        if self.settings.public_url:
            allowed.add(urlsplit(self.settings.public_url).netloc.lower())
        return parts.scheme in ("http", "https") and netloc in allowed

    async def _fetch_script(self, url: str, work: Path, token: str | None) -> tuple[str, str]:
        """A script at one of this hub's URLs, fetched host side (the job's own token) into /job/.scripts."""
        if not self._own_url(url) or self.hub_address is None:
            raise BadRequest("Jobs have no internet access: a script URL must be one of this hub's own")
        parts = urlsplit(url)
        host, port = self.hub_address
        host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        target = f"http://{host}:{port}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(timeout=60, follow_redirects=False)
        async with client, client.stream("GET", target, headers=headers) as r:
            if r.status_code != 200:
                raise BadRequest(f"uv run: fetching the script {url} answered {r.status_code}")
            data = b""
            async for chunk in r.aiter_bytes():
                data += chunk
                if len(data) > MAX_SCRIPT_BYTES:
                    raise BadRequest(f"uv run: the script {url} is too large")
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(parts.path).name or "script.py")[:100]
        if not name.endswith(".py"):
            name += ".py"
        folder = work / ".scripts"
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
        return data.decode("utf-8", "replace"), f"{JOB_DIR}/.scripts/{name}"

    # --- tokens, progress, result -------------------------------------------------------------------
    def _token_name(self, rec: JobRecord) -> str:
        return f"job-{rec.id}"

    def _make_token(self, rec: JobRecord, limit: int) -> str | None:
        initiator = self.accounts.by_id(rec.initiator_id) if rec.initiator_id is not None else None
        if initiator is None or initiator.kind != "user":
            return None
        self._revoke_token(rec)
        return self.accounts.create_token(
            initiator.name,
            self._token_name(rec),
            role=rec.token_role,
            grants=Grants.load(rec.token_role, rec.token_grants),
            expires_at=now() + timedelta(seconds=limit + 3600),
        )

    def _revoke_token(self, rec: JobRecord) -> None:
        initiator = self.accounts.by_id(rec.initiator_id) if rec.initiator_id is not None else None
        if initiator is None or initiator.kind != "user":
            return
        try:
            self.accounts.revoke_token(initiator.name, self._token_name(rec))
        except Exception:
            log.exception("revoking the token of job %s failed", rec.id)

    def _on_progress(self, job: _Job, raw: str) -> None:
        if len(raw) > MAX_PROGRESS_BYTES:
            return
        try:
            data = json.loads(raw)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        text = json.dumps(data, separators=(",", ":"))
        for secret in job.redact:
            if secret in text:
                return  # a progress event never carries a secret
        job.progress.write(text)
        job.last_progress = data
        t = time.monotonic()
        if t - job.progress_saved_at >= 1.0:
            job.progress_saved_at = t
            job.progress_dirty = False
            self.store.set_progress(job.id, data)
        else:
            job.progress_dirty = True

    def _flush_progress(self, job: _Job) -> None:
        if job.progress_dirty and job.last_progress is not None:
            job.progress_dirty = False
            self.store.set_progress(job.id, job.last_progress)

    def _read_result(self, job: _Job) -> None:
        path = self.root / job.id / "work" / "result.json"
        try:
            if path.is_symlink() or not path.is_file():
                job.log.write("Note: the training job wrote no /job/result.json")
                return
            if path.stat().st_size > MAX_RESULT_BYTES:
                job.log.write("Note: /job/result.json is too large: ignored")
                return
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            job.log.write(f"Note: /job/result.json could not be read: {e}")
            return
        if isinstance(data, dict):
            self.store.set_result(job.id, data)
        else:
            job.log.write("Note: /job/result.json is not a JSON object: ignored")


def now_text() -> str:
    return now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
