"""``jobs_backend = "ray"``: jobs and fine-tuning recipes run as Ray jobs (Ray's Job Submission API).

The hub keeps its job records, queue, tokens, log files and SSE streams (jobs/manager.py); only the launch/wait/
cancel of a run goes to the cluster (`JobSubmissionClient(ray_dashboard_url)`):

- ``submit_job(entrypoint="python -m modelyard.jobs.ray_backend", submission_id="modelyard-<job id>",
  runtime_env={"env_vars": {...}}, entrypoint_num_cpus=1)``: the entrypoint is this module's wrapper, run by Ray on
  a node with a free CPU in the cluster's Python environment (which must hold modelyard: ``pip install
  'modelyard[ray]'`` on every node). It runs the job's command (``MODELYARD_RAY_ARGV``) in a fresh directory
  (``MODELYARD_JOB_DIR``) and, for a recipe, prints the ``result.json`` it wrote as one ``MODELYARD_RESULT {json}``
  line, which the hub stores as the job's result. The job reaches the hub at its HTTP URL (``HF_ENDPOINT``:
  ``public_url``, else the address the hub listens on) with a token of its own (``HF_TOKEN``, revoked at the end).
- stages: PENDING → SCHEDULING, RUNNING → RUNNING, SUCCEEDED → COMPLETED, STOPPED → CANCELED, FAILED → ERROR
  (with Ray's message and the driver's exit code);
- logs: ``tail_job_logs`` streams into the job's log (the same file and SSE the API serves), completed from
  ``get_job_logs`` at the end; the job's token and secret values are redacted as for local jobs;
- cancel / timeout: ``stop_job``.

What a Ray job does not get (documented in docs/scaling.md): the bubblewrap sandbox (the cluster is the isolation
boundary: run it for the hub only), volumes (refused), environments built from ``--with`` / PEP 723 dependencies
(they go to ``runtime_env["pip"]``, which needs the nodes to reach a package index), per-second metrics
(``fetch_job_metrics`` answers 406), resuming a recipe after a hub restart (it is ERROR, as local jobs are).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("modelyard.jobs")

ARGV_ENV = "MODELYARD_RAY_ARGV"
RESULT_PREFIX = "MODELYARD_RESULT "
MAX_RESULT_BYTES = 1024 * 1024
STAGES = {"PENDING": "SCHEDULING", "RUNNING": "RUNNING"}
FINAL = {"SUCCEEDED": "COMPLETED", "STOPPED": "CANCELED", "FAILED": "ERROR"}
POLL_S = 0.5


def submission_id(job_id: str) -> str:
    return f"modelyard-{job_id}"


class RayJobs:
    """Runs the jobs of one JobManager on a Ray cluster (see the module docstring)."""

    def __init__(self, dashboard_url: str) -> None:
        self.dashboard_url = dashboard_url.rstrip("/") if dashboard_url else ""
        self._client: Any = None

    def client(self) -> Any:
        """Blocking (the client checks the dashboard's version on creation)."""
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            address = (
                self.dashboard_url or os.environ.get("RAY_API_SERVER_ADDRESS") or "http://127.0.0.1:8265"
            )
            self._client = JobSubmissionClient(address)
        return self._client

    # --- one run --------------------------------------------------------------------------------------------
    async def execute(
        self, manager: Any, job: Any, rec: Any, spec: Any
    ) -> tuple[str, str | None, int | None]:
        """Run ``rec`` as a Ray job; the outcome as `JobManager._execute` returns it."""
        from modelyard.jobs.manager import JOB_STARTED, now_text
        from modelyard.jobs.uvrun import is_uv_run, parse_uv_run

        settings = manager.settings
        limit = int(min(spec.timeout or settings.jobs_timeout, settings.jobs_timeout))
        if spec.volumes:
            message = "Volumes are not supported when jobs run on Ray (jobs_backend = ray)"
            job.log.write(f"ERROR: {message}")
            return ("ERROR", message, None)
        secrets = manager.store.secret_values(job.id)
        token = manager._make_token(rec, limit)
        job.redact = tuple(v for v in [*secrets.values(), token or ""] if len(v) >= 4)
        job.log.redact(job.redact)
        argv = [*spec.command, *spec.arguments]
        runtime_env: dict[str, Any] = {}
        if spec.runtime().kind == "python" and is_uv_run(argv):
            uv = parse_uv_run(argv)
            if uv.is_url:
                message = "uv run of a script URL is not supported when jobs run on Ray"
                job.log.write(f"ERROR: {message}")
                return ("ERROR", message, None)
            argv = ["python", uv.target, *uv.args] if uv.is_script else [uv.target, *uv.args]
            if uv.with_deps:
                runtime_env["pip"] = list(uv.with_deps)
        env: dict[str, str] = {
            **spec.environment,
            **secrets,
            ARGV_ENV: json.dumps(argv),
            "JOB_ID": job.id,
            "HF_ENDPOINT": hub_url(manager),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "PYTHONUNBUFFERED": "1",
        }
        if token:
            env["HF_TOKEN"] = token
        runtime_env["env_vars"] = env
        entrypoint = "python -m modelyard.jobs.ray_backend"
        client = await asyncio.to_thread(self.client)
        sid = submission_id(job.id)
        for attempt in range(1, 4):
            try:
                await asyncio.to_thread(
                    client.submit_job,
                    entrypoint=entrypoint,
                    submission_id=sid,
                    runtime_env=runtime_env,
                    entrypoint_num_cpus=1,
                    metadata={"modelyard_job": job.id, "kind": rec.kind},
                )
                break
            except Exception as exc:
                if "already exists" in str(exc) and attempt < 3:  # run again after a hub restart
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(client.stop_job, sid)
                    sid = f"{submission_id(job.id)}-{attempt}"
                    continue
                manager._revoke_token(rec)
                message = f"The Ray cluster refused the job: {str(exc)[:500]}"
                job.log.write(f"ERROR: {message}")
                return ("ERROR", message, None)
        job.log.write(f"Submitted to Ray as {sid}: {shlex.join(argv)}")
        seen = [0]  # characters of the Ray log written to the job's log
        result: list[dict[str, Any]] = []
        tail: asyncio.Task[None] | None = None
        try:
            status = "PENDING"
            deadline = time.monotonic() + limit
            while True:
                status = str(getattr(s := await asyncio.to_thread(client.get_job_status, sid), "value", s))
                if status != "PENDING" and tail is None:  # running (or already over: a short job)
                    manager.store.set_stage(job.id, "RUNNING", started=True)
                    job.log.write(f"{JOB_STARTED} at {now_text()} =====")
                    tail = asyncio.create_task(self._tail(client, sid, job, seen, result))
                if status in FINAL:
                    break
                if time.monotonic() > deadline:
                    job.timed_out = True
                    job.log.write(f"The job ran longer than its timeout ({limit} s): stopping it.")
                    await asyncio.to_thread(client.stop_job, sid)
                    await self._settle(client, sid)
                    await self._finish_logs(client, sid, job, seen, result, tail)
                    return ("ERROR", f"Job timed out after {limit} s", None)
                await asyncio.sleep(POLL_S)
            await self._finish_logs(client, sid, job, seen, result, tail)
            info = await asyncio.to_thread(client.get_job_info, sid)
            code = getattr(info, "driver_exit_code", None)
            stage = FINAL[status]
            if stage == "COMPLETED":
                if rec.kind == "training" and result:
                    manager.store.set_result(job.id, result[-1])
                return ("COMPLETED", None, 0 if code is None else int(code))
            if stage == "CANCELED":
                return ("CANCELED", "Canceled", code)
            tail_text = _tail_message(job.log)
            message = f"Job failed with exit code {code}" if code is not None else "Job failed on Ray"
            ray_message = (getattr(info, "message", None) or "").strip()
            if tail_text:
                message += f": {tail_text}"
            elif ray_message:
                message += f": {ray_message[:500]}"
            return ("ERROR", message, code)
        except asyncio.CancelledError:  # canceled (job.cancel_requested) or the hub stops
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(client.stop_job, sid))
            raise
        finally:
            if tail is not None and not tail.done():
                tail.cancel()
            manager._revoke_token(rec)

    async def _settle(self, client: Any, sid: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = await asyncio.to_thread(client.get_job_status, sid)
            if str(getattr(s, "value", s)) in FINAL:
                return
            await asyncio.sleep(POLL_S)

    async def _tail(
        self, client: Any, sid: str, job: Any, seen: list[int], result: list[dict[str, Any]]
    ) -> None:
        try:
            async for chunk in client.tail_job_logs(sid):
                self._write(job, chunk, seen, result)
        except Exception as exc:  # the rest comes from get_job_logs at the end
            log.info("tailing the logs of Ray job %s stopped: %s", sid, exc)

    async def _finish_logs(
        self,
        client: Any,
        sid: str,
        job: Any,
        seen: list[int],
        result: list[dict[str, Any]],
        tail: asyncio.Task[None] | None,
    ) -> None:
        if tail is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(tail), 5)
            tail.cancel()
        try:
            text = await asyncio.to_thread(client.get_job_logs, sid)
        except Exception:
            return
        if len(text) > seen[0]:
            self._write(job, text[seen[0] :], seen, result)

    def _write(self, job: Any, chunk: str, seen: list[int], result: list[dict[str, Any]]) -> None:
        seen[0] += len(chunk)
        for line in chunk.splitlines():
            if line.startswith(RESULT_PREFIX):
                raw = line[len(RESULT_PREFIX) :]
                if len(raw) <= MAX_RESULT_BYTES:
                    with contextlib.suppress(ValueError):
                        data = json.loads(raw)
                        if isinstance(data, dict):
                            result.append(data)
                continue
            job.log.write(line)


def hub_url(manager: Any) -> str:
    """Where a job reaches the hub: `public_url`, else the address the hub listens on."""
    public = (getattr(manager.settings, "public_url", "") or "").rstrip("/")
    if public:
        return str(public)
    if manager.hub_address is None:
        return ""
    host, port = manager.hub_address
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://{host}:{port}"


def _tail_message(book: Any, n: int = 5, limit: int = 1000) -> str:
    lines = [ln.data.strip() for ln in book.snapshot() if ln.data.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Submitted to Ray", "=====", "Limits:"))]
    return " | ".join(lines[-n:])[-limit:]


# --- the entrypoint on the node ---------------------------------------------------------------------------------
def main() -> int:
    """Run the job's command (MODELYARD_RAY_ARGV) in a fresh job directory; print a recipe's result."""
    argv = json.loads(os.environ.pop(ARGV_ENV, "[]"))
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        print("ERROR: no command to run", flush=True)
        return 2
    job_dir = Path(tempfile.mkdtemp(prefix="modelyard-job-"))
    env = {**os.environ, "MODELYARD_JOB_DIR": str(job_dir)}
    if argv[0] == "python":  # the cluster's own interpreter (where modelyard is installed)
        argv = [sys.executable, *argv[1:]]
    try:
        try:
            code = subprocess.call(argv, cwd=job_dir, env=env)
        except OSError as exc:
            print(f"ERROR: {argv[0]}: {exc.strerror}", flush=True)
            return 127
        result = job_dir / "result.json"
        if (
            code == 0
            and result.is_file()
            and not result.is_symlink()
            and result.stat().st_size <= MAX_RESULT_BYTES
        ):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(result.read_text(encoding="utf-8"))
                print(RESULT_PREFIX + json.dumps(data, separators=(",", ":")), flush=True)
        return code
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
