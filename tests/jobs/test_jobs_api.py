"""The Jobs HTTP API (server/api/jobs.py) through huggingface_hub's HfApi and raw httpx: real jobs on the
`jobs_hub` fixture (the runner on), validation and permissions also on the session hub (jobs off: 400)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import JobStage
from huggingface_hub.errors import HfHubHTTPError

from conftest import Hub

PY = "python:3.12"


def _raw(hub: Hub, method: str, path: str, token: str | None = "alice", **kw: Any) -> httpx.Response:
    headers = {}
    if token is not None:
        headers = hub.auth(getattr(hub, token) if token in ("alice", "alice_read", "bob") else token)
    return httpx.request(method, hub.url + path, headers=headers, timeout=30, **kw)


def _spec(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "dockerImage": PY,
        "command": ["python", "-c", "print('hi')"],
        "arguments": [],
        "environment": {},
        "flavor": "cpu-basic",
    }
    spec.update(over)
    return spec


def program(lines: list[str]) -> list[str]:
    """The job's own output: the lines after the runner's preamble (sandbox, environment, limits), without the
    closing `===== Job … =====` line."""
    start = 0
    for i, line in enumerate(lines):
        if line.startswith(
            ("[sandbox]", "Limits:", "Building the environment", "Environment ready", "Using ")
        ):
            start = i + 1
    return [x for x in lines[start:] if not x.startswith("=====")]


def _wait_stage(api: Any, job_id: str, stages: set[str], timeout: float = 180, **kw: Any) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        info = api.inspect_job(job_id=job_id, **kw)
        if info.status.stage in stages:
            return info
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached {stages}: {info.status}")


# --- validation and permissions (no job needed) ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (_spec(dockerImage="ubuntu:22.04"), "JobImageNotSupported"),
        (_spec(dockerImage=None, spaceId="alice/app"), "JobImageNotSupported"),
        (_spec(command=["python", "-c", "print('a\x00b')"]), None),
        (_spec(command=["x"] * 5000), None),
        (_spec(command=[]), None),
        (_spec(environment={"BAD KEY": "v"}), None),
        (_spec(volumes=[{"type": "bucket", "source": "alice/b", "mountPath": "/"}]), None),
        (_spec(volumes=[{"type": "bucket", "source": "alice/b", "mountPath": "/x/../etc"}]), None),
        (_spec(volumes=[{"type": "model", "source": "../etc", "mountPath": "/m"}]), None),
        (_spec(volumes=[{"type": "disk", "source": "alice/b", "mountPath": "/m"}]), None),
        (_spec(flavor="a100-large"), "HardwareNotAvailable"),
        (_spec(flavor="x" * 5000), "HardwareNotAvailable"),
        (_spec(timeoutSeconds=-1), None),
        (_spec(expose={"ports": [8000], "portsPublic": []}), None),
        (_spec(ssh={"enabled": True}), None),
        ("not an object", None),
        ([1, 2], None),
    ],
)
def test_hostile_specs_are_400(live_server: Hub, spec: Any, code: str | None) -> None:
    r = _raw(live_server, "POST", "/api/jobs/alice", json=spec)
    assert r.status_code == 400, r.text
    if code:
        assert r.headers.get("x-error-code") == code or code in r.text


def test_hostile_bodies_never_500(live_server: Hub) -> None:
    for body in (b"{", b"\x00\x01", b'{"command": {"a": 1}, "dockerImage": 3}', b"[" * 10000):
        r = _raw(live_server, "POST", "/api/jobs/alice", content=body)
        assert 400 <= r.status_code < 500, (body[:20], r.status_code, r.text)


def test_auth_rules_on_submit(live_server: Hub) -> None:
    assert _raw(live_server, "POST", "/api/jobs/alice", token=None, json=_spec()).status_code == 401
    assert _raw(live_server, "GET", "/api/jobs/alice", token=None).status_code == 401
    # a read token cannot submit; bob cannot submit in alice's namespace, nor in an org he is not in
    r = _raw(live_server, "POST", "/api/jobs/alice", token="alice_read", json=_spec())
    assert r.status_code == 403, r.text
    assert _raw(live_server, "POST", "/api/jobs/alice", token="bob", json=_spec()).status_code == 403
    r = _raw(live_server, "POST", f"/api/jobs/{live_server.org}", token="bob", json=_spec())
    assert r.status_code == 403
    # bob cannot list alice's jobs nor read a job id there (404: nothing is revealed)
    assert _raw(live_server, "GET", "/api/jobs/alice", token="bob").status_code == 404
    assert (
        _raw(live_server, "GET", "/api/jobs/alice/0123456789abcdef01234567", token="bob").status_code == 404
    )
    # a namespace that does not exist
    assert _raw(live_server, "POST", "/api/jobs/nobody-here", json=_spec()).status_code == 404
    with pytest.raises(HfHubHTTPError) as e:
        live_server.api(live_server.bob).inspect_job(job_id="0123456789abcdef01234567", namespace="alice")
    assert e.value.response.status_code == 404


def test_fine_grained_tokens_and_org_roles(live_server: Hub) -> None:
    """A fine-grained token needs job.write on the namespace (to read too); an org member below write cannot run."""
    from modelyard.hub.access import Grants

    accounts = live_server.services.accounts
    jobs_on_acme = Grants.parse(
        {"scoped": [{"entity": {"type": "org", "name": "acme"}, "permissions": ["job.write"]}]}
    )
    repo_only = Grants.parse({"global": ["repo.content.read", "repo.write"]})
    t_acme = accounts.create_token("alice", "jobs-acme", "fineGrained", jobs_on_acme)
    t_repo = accounts.create_token("alice", "repo-only", "fineGrained", repo_only)
    for token, ns, status in ((t_acme, "alice", 403), (t_repo, "alice", 403), (t_repo, "acme", 403)):
        r = _raw(live_server, "POST", f"/api/jobs/{ns}", token=token, json=_spec())
        assert r.status_code == status, (ns, r.text)
        assert _raw(live_server, "GET", f"/api/jobs/{ns}", token=token).status_code == status
    # job.write on acme: past the permission check (400 here: the session hub runs no jobs)
    assert _raw(live_server, "POST", "/api/jobs/acme", token=t_acme, json=_spec()).status_code == 400
    assert _raw(live_server, "GET", "/api/jobs/acme", token=t_acme).status_code == 200
    # carol is a read member of acme: she reads its jobs, runs none; a contributor neither
    for role in ("read", "contributor"):
        name = f"carol-{role}"
        if accounts.find(name) is None:
            accounts.create(name)
            accounts.add_member("acme", name, role)
        token = accounts.create_token(name, "w", "write")
        assert _raw(live_server, "POST", "/api/jobs/acme", token=token, json=_spec()).status_code == 403
        assert _raw(live_server, "GET", "/api/jobs/acme", token=token).status_code == 200
        assert _raw(live_server, "GET", "/api/jobs/alice", token=token).status_code == 404


def test_disabled_jobs_answer_400(live_server: Hub) -> None:
    """The session hub runs no jobs: a valid submit is 400 in the Hub's format (a setting, as for Spaces), reads
    still work and the refused submit recorded nothing (other tests may have stored records of alice's)."""
    before = [j["id"] for j in _raw(live_server, "GET", "/api/jobs/alice", params={"limit": 1000}).json()]
    r = _raw(live_server, "POST", "/api/jobs/alice", json=_spec())
    assert r.status_code == 400
    assert "disabled" in r.json()["error"]
    assert [
        j["id"] for j in _raw(live_server, "GET", "/api/jobs/alice", params={"limit": 1000}).json()
    ] == before
    assert [j.id for j in live_server.api().list_jobs(namespace="alice")] == before


def test_hardware_lists_cpu_basic(live_server: Hub) -> None:
    hw = live_server.api().list_jobs_hardware()
    assert [h.name for h in hw] == ["cpu-basic"]
    assert hw[0].cpu.endswith("vCPU") and hw[0].accelerator is None
    # /api/jobs/hardware is no namespace
    assert _raw(live_server, "GET", "/api/jobs/hardware", token=None).status_code == 200


def test_bad_list_filters(live_server: Hub) -> None:
    assert _raw(live_server, "GET", "/api/jobs/alice?stage=NOPE").status_code == 400
    assert _raw(live_server, "GET", "/api/jobs/alice?limit=0").status_code == 400
    assert _raw(live_server, "GET", "/api/jobs/alice?label==x").status_code == 400


# --- real jobs ------------------------------------------------------------------------------------------------
def test_run_uv_job_logs_and_inspect(jobs_hub: Hub, tmp_path: Path) -> None:
    api = jobs_hub.api()
    script = tmp_path / "hello.py"
    script.write_text(
        "import os, sys\nprint('hello from', os.environ['JOB_ID'])\nprint('args', sys.argv[1:])\n"
    )
    job = api.run_uv_job(str(script), script_args=["one", "two"], labels={"suite": "api"})
    assert job.owner.name == "alice" and job.status.stage in ("SCHEDULING", "RUNNING")
    done = api.wait_for_job(job.id, timeout=300)
    assert done.status.stage == JobStage.COMPLETED, done.status
    lines = list(api.fetch_job_logs(job_id=job.id))
    assert program(lines) == [f"hello from {job.id}", "args ['one', 'two']"]
    assert f"hello from {job.id}" in lines
    assert "args ['one', 'two']" in lines
    assert not any(line.startswith("===== Job started") for line in lines)
    tail = list(api.fetch_job_logs(job_id=job.id, tail=1))
    assert tail == [lines[-1]]
    info = api.inspect_job(job_id=job.id)
    assert info.labels["suite"] == "api" and info.finished_at is not None
    assert info.volumes and info.volumes[0].mount_path == "/data"


def test_follow_logs_while_running_then_cancel(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    code = "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n"
    job = api.run_job(image=PY, command=["python", "-c", code], labels={"kind": "long"})
    _wait_stage(api, job.id, {"RUNNING"})
    seen: list[str] = []
    for line in api.fetch_job_logs(job_id=job.id, follow=True):
        if line.startswith("tick"):
            seen.append(line)
        if len(seen) >= 3:
            break
    assert seen[:3] == ["tick 0", "tick 1", "tick 2"]
    # not following: what is there now, and back quickly although the job goes on
    t0 = time.monotonic()
    now_lines = list(api.fetch_job_logs(job_id=job.id))
    assert time.monotonic() - t0 < 15 and "tick 0" in now_lines and "tick 2" in now_lines
    sample = next(iter(api.fetch_job_metrics(job_id=job.id)))
    assert {"cpu_usage_pct", "memory_used_bytes", "memory_total_bytes"} <= sample.keys()
    running = list(api.list_jobs(namespace="alice", status="RUNNING", labels={"kind": "long"}))
    assert [j.id for j in running] == [job.id]
    # bob sees nothing of it and cannot stop it
    bob = jobs_hub.api(jobs_hub.bob)
    for call in (
        lambda: bob.inspect_job(job_id=job.id, namespace="alice"),
        lambda: bob.cancel_job(job_id=job.id, namespace="alice"),
        lambda: list(bob.fetch_job_logs(job_id=job.id, namespace="alice")),
        lambda: bob.rerun_job(job_id=job.id, namespace="alice"),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 404
    assert _raw(jobs_hub, "GET", f"/api/jobs/bob/{job.id}", token="bob").status_code == 404
    # the read token reads but does not cancel
    reader = jobs_hub.api(jobs_hub.alice_read)
    assert reader.inspect_job(job_id=job.id, namespace="alice").status.stage == "RUNNING"
    with pytest.raises(HfHubHTTPError) as e:
        reader.cancel_job(job_id=job.id, namespace="alice")
    assert e.value.response.status_code == 403
    api.cancel_job(job_id=job.id)
    done = api.wait_for_job(job.id, timeout=60)
    assert done.status.stage == JobStage.CANCELED
    # metrics of a finished job: 406, which the client takes as the end
    assert _raw(jobs_hub, "GET", f"/api/jobs/alice/{job.id}/metrics").status_code == 406
    assert list(api.fetch_job_metrics(job_id=job.id)) == []


def test_follow_logs_until_the_job_ends(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    code = "import time\nfor i in range(4):\n    print('line', i, flush=True)\n    time.sleep(0.7)\n"
    job = api.run_job(image=PY, command=["python", "-c", code])
    lines = list(api.fetch_job_logs(job_id=job.id, follow=True))
    assert [x for x in lines if x.startswith("line")] == [f"line {i}" for i in range(4)]
    assert api.inspect_job(job_id=job.id).status.stage == "COMPLETED"


def test_list_labels_rerun_and_pagination(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    ids = []
    for i in range(3):
        job = api.run_job(
            image=PY,
            command=["python", "-c", f"print({i})"],
            labels={"batch": "p1", "i": str(i)},
            env={"X": "1"},
            secrets={"TOKENISH": "s3cret-value"},
        )
        ids.append(job.id)
    api.wait_for_job(ids, timeout=300)
    mine = list(api.list_jobs(namespace="alice", labels={"batch": "p1"}))
    assert [j.id for j in mine] == ids[::-1]  # newest first
    assert [j.id for j in api.list_jobs(namespace="alice", labels={"batch": "p1", "i": "1"})] == [ids[1]]
    assert list(api.list_jobs(namespace="alice", labels={"batch": "nope"})) == []
    assert all(j.secrets == {"TOKENISH": ""} or j.secrets == ["TOKENISH"] for j in mine)
    assert "s3cret-value" not in _raw(jobs_hub, "GET", "/api/jobs/alice?label=batch=p1").text
    # pages of one follow the Link header
    r = _raw(jobs_hub, "GET", "/api/jobs/alice?label=batch=p1&limit=1")
    assert len(r.json()) == 1 and 'rel="next"' in r.headers["link"]
    # a label key alone
    r = _raw(jobs_hub, "GET", "/api/jobs/alice?label=batch&stage=COMPLETED")
    assert {j["id"] for j in r.json()} >= set(ids)
    # labels replaced; bob cannot
    info = api.update_job_labels(job_id=ids[0], labels={"batch": "p2"})
    assert info.labels == {"batch": "p2"}
    r = _raw(jobs_hub, "PUT", f"/api/jobs/alice/{ids[0]}/labels", token="bob", json={"labels": {}})
    assert r.status_code == 404
    # rerun: the same spec (and secret) again
    again = api.rerun_job(job_id=ids[2])
    assert again.id != ids[2] and again.command == ["python", "-c", "print(2)"]
    assert api.wait_for_job(again.id, timeout=300).status.stage == "COMPLETED"
    assert program(list(api.fetch_job_logs(job_id=again.id))) == ["2"]
    # expose is refused clearly
    r = _raw(jobs_hub, "PUT", f"/api/jobs/alice/{ids[0]}/expose", json={"ports": [8000]})
    assert r.status_code == 400 and "not supported" in r.json()["error"]


def test_secrets_and_env_reach_the_job(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    code = "import os\nprint(os.environ['PLAIN'])\nprint(len(os.environ['SECRET']))\n"
    job = api.run_job(
        image=PY, command=["python", "-c", code], env={"PLAIN": "v1"}, secrets={"SECRET": "abcdef"}
    )
    api.wait_for_job(job.id, timeout=300)
    assert program(list(api.fetch_job_logs(job_id=job.id))) == ["v1", "6"]


def test_org_jobs(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    job = api.run_job(image=PY, command=["python", "-c", "print('org')"], namespace=jobs_hub.org)
    assert job.owner.name == jobs_hub.org and job.owner.type == "org"
    api.wait_for_job(job.id, namespace=jobs_hub.org, timeout=300)
    assert program(list(api.fetch_job_logs(job_id=job.id, namespace=jobs_hub.org))) == ["org"]
    r = _raw(jobs_hub, "GET", f"/api/jobs/{jobs_hub.org}/{job.id}", token="bob")
    assert r.status_code == 404
    # not under alice's own namespace either
    assert _raw(jobs_hub, "GET", f"/api/jobs/alice/{job.id}").status_code == 404


def test_events_stream(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    code = (
        "import json, time\n"
        "for s in (1, 2):\n"
        "    print('MODELYARD_PROGRESS ' + json.dumps({'step': s, 'max_steps': 2, 'loss': 1.0 / s}), flush=True)\n"
        "    time.sleep(0.3)\n"
        "print('done')\n"
    )
    job = api.run_job(image=PY, command=["python", "-c", code])
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "GET",
        f"{jobs_hub.url}/api/jobs/alice/{job.id}/events",
        headers={**jobs_hub.auth(), "accept": "text/event-stream"},
        timeout=300,
    ) as r:
        assert r.status_code == 200
        kind = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    progress = [d for k, d in events if k == "progress"]
    assert [p["step"] for p in progress] == [1, 2]
    stages = [d["stage"] for k, d in events if k == "status"]
    assert stages[-1] == "COMPLETED"
    assert program(list(api.fetch_job_logs(job_id=job.id))) == ["done"]
    r = _raw(jobs_hub, "GET", f"/api/jobs/alice/{job.id}/events", token="bob")
    assert r.status_code == 404


def test_queue_cancel_and_streams_of_a_queued_job(jobs_hub: Hub) -> None:
    """At most 2 run at once (the fixture): a third waits in SCHEDULING; cancelled there, its streams end."""
    api = jobs_hub.api()
    sleep = ["python", "-c", "import time; time.sleep(300)"]
    running = [api.run_job(image=PY, command=sleep, labels={"q": "busy"}) for _ in range(2)]
    for j in running:
        _wait_stage(api, j.id, {"RUNNING"})
    queued = api.run_job(image=PY, command=["python", "-c", "print('never')"], labels={"q": "queued"})
    time.sleep(1)
    assert api.inspect_job(job_id=queued.id).status.stage == "SCHEDULING"
    api.cancel_job(job_id=queued.id)
    assert _wait_stage(api, queued.id, {"CANCELED"}, timeout=30).status.stage == "CANCELED"
    t0 = time.monotonic()
    with httpx.stream(
        "GET", f"{jobs_hub.url}/api/jobs/alice/{queued.id}/events", headers=jobs_hub.auth(), timeout=60
    ) as r:
        body = "".join(r.iter_text())
    assert time.monotonic() - t0 < 20 and '"CANCELED"' in body
    assert "never" not in list(api.fetch_job_logs(job_id=queued.id, follow=True))
    for j in running:
        api.cancel_job(job_id=j.id)
    assert {api.wait_for_job(j.id, timeout=60).status.stage for j in running} == {"CANCELED"}
