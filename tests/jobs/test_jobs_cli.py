"""The `hf jobs …` CLI (the official huggingface_hub binary from .venv/bin) against the jobs hub."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Hub

HF = str(Path(sys.executable).with_name("hf"))
JOB_ID = re.compile(r"\b[0-9a-f]{24}\b")


def hf(
    hub: Hub, *args: str, token: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": token if token is not None else hub.alice,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1",
        "NO_COLOR": "1",
    }
    for k in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        env.pop(k, None)
    return subprocess.run([HF, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def ok(hub: Hub, *args: str, **kw: Any) -> str:
    r = hf(hub, *args, **kw)
    assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def job_id(out: str) -> str:
    m = JOB_ID.search(out)
    assert m, out
    return m.group(0)


def test_run_logs_inspect_ps(jobs_hub: Hub) -> None:
    out = ok(
        jobs_hub, "jobs", "run", "--name", "cli-hello", "python:3.12", "python", "-c", "print('hello cli')"
    )
    assert "hello cli" in out  # attached: the CLI follows the logs until the job ends
    jid = job_id(out)
    info = json.loads(ok(jobs_hub, "jobs", "inspect", "--json", jid))
    info = info[0] if isinstance(info, list) else info
    assert info["id"] == jid and info["status"]["stage"] == "COMPLETED"
    assert "hello cli" in ok(jobs_hub, "jobs", "logs", jid)
    listed = ok(jobs_hub, "jobs", "ps", "-q", "-a", "--name", "cli-hello")
    assert listed.split() == [jid]
    assert jid not in ok(jobs_hub, "jobs", "ps", "-q")  # default: running and scheduling only
    assert "cpu-basic" in ok(jobs_hub, "jobs", "hardware")
    # bob sees nothing of it
    r = hf(jobs_hub, "jobs", "inspect", jid, "--namespace", "alice", token=jobs_hub.bob)
    assert r.returncode != 0
    r = hf(jobs_hub, "jobs", "logs", jid, "--namespace", "alice", token=jobs_hub.bob)
    assert r.returncode != 0 and "hello cli" not in r.stdout


def test_uv_run_detached_then_cancel(jobs_hub: Hub, tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        "# /// script\n# dependencies = []\n# ///\n"
        "import time\nfor i in range(600):\n    print('step', i, flush=True)\n    time.sleep(0.5)\n"
    )
    out = ok(jobs_hub, "jobs", "uv", "run", "-d", "--label", "cli=uv", str(script))
    jid = job_id(out)
    api = jobs_hub.api()
    end = time.monotonic() + 180
    while time.monotonic() < end and "step 1" not in "\n".join(api.fetch_job_logs(job_id=jid)):
        time.sleep(0.5)
    assert jid in ok(jobs_hub, "jobs", "ps", "-q", "--label", "cli=uv")
    # a read token cannot cancel
    assert hf(jobs_hub, "jobs", "cancel", jid, token=jobs_hub.alice_read).returncode != 0
    assert api.inspect_job(job_id=jid).status.stage == "RUNNING"
    ok(jobs_hub, "jobs", "cancel", jid)
    assert api.wait_for_job(jid, timeout=60).status.stage == "CANCELED"


def test_refused_image_is_a_clear_error(jobs_hub: Hub) -> None:
    r = hf(jobs_hub, "jobs", "run", "-d", "ubuntu:22.04", "echo", "hi")
    assert r.returncode != 0
    assert "container runtime" in (r.stdout + r.stderr)
    r = hf(jobs_hub, "jobs", "run", "-d", "--flavor", "a100-large", "python:3.12", "python", "-V")
    assert r.returncode != 0 and "not available" in (r.stdout + r.stderr)


def test_scheduled_cli(jobs_hub: Hub) -> None:
    out = ok(
        jobs_hub,
        "jobs",
        "scheduled",
        "run",
        "@yearly",
        "--name",
        "cli-sched",
        "python:3.12",
        "python",
        "-c",
        "print('scheduled hi')",
    )
    sid = job_id(out)
    assert sid in ok(jobs_hub, "jobs", "scheduled", "ls", "-q")
    info = json.loads(ok(jobs_hub, "jobs", "scheduled", "inspect", "--json", sid))
    info = info[0] if isinstance(info, list) else info
    assert info["schedule"] == "@yearly"
    ok(jobs_hub, "jobs", "scheduled", "suspend", sid)
    assert jobs_hub.api().inspect_scheduled_job(scheduled_job_id=sid).suspend is True
    ok(jobs_hub, "jobs", "scheduled", "resume", sid)
    assert jobs_hub.api().inspect_scheduled_job(scheduled_job_id=sid).suspend is False
    ok(jobs_hub, "jobs", "scheduled", "reschedule", sid, "0 9 * * 1")
    assert jobs_hub.api().inspect_scheduled_job(scheduled_job_id=sid).schedule == "0 9 * * 1"
    out = ok(jobs_hub, "jobs", "scheduled", "trigger", sid)
    jid = job_id(out)
    api = jobs_hub.api()
    assert api.wait_for_job(jid, timeout=300).status.stage == "COMPLETED"
    assert "scheduled hi" in list(api.fetch_job_logs(job_id=jid))
    r = hf(jobs_hub, "jobs", "scheduled", "delete", sid, "--namespace", "alice", token=jobs_hub.bob)
    assert r.returncode != 0
    ok(jobs_hub, "jobs", "scheduled", "delete", sid)
    assert sid not in ok(jobs_hub, "jobs", "scheduled", "ls", "-q")
    r = hf(jobs_hub, "jobs", "scheduled", "run", "@sometimes", "python:3.12", "true")
    assert r.returncode != 0


@pytest.mark.parametrize("schedule", ["@hourly", "*/15 * * * *"])
def test_scheduled_uv_cli(jobs_hub: Hub, tmp_path: Path, schedule: str) -> None:
    script = tmp_path / "s.py"
    script.write_text("print('uv scheduled')\n")
    sid = job_id(ok(jobs_hub, "jobs", "scheduled", "uv", "run", schedule, str(script)))
    info = jobs_hub.api().inspect_scheduled_job(scheduled_job_id=sid)
    assert info.schedule == schedule and info.job_spec.volumes
    ok(jobs_hub, "jobs", "scheduled", "delete", sid)
