# ruff: noqa: F811  (the ray_cluster fixture is imported, then named as a parameter)
"""Jobs on a local Ray cluster (`jobs_backend = "ray"`): `HfApi.run_job` runs as a Ray job (its submission id is
`modelyard-<job id>`), its output comes back through the same log API, its secrets and token are redacted, a
failing job is ERROR with its exit code, cancel stops the Ray job, other users see nothing; a fine-tuning recipe
runs as a Ray job, reaches the hub at HF_ENDPOINT with its own token, pushes its model and records its result."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from _ray_cluster import ray_cluster  # noqa: F401  (the session's Ray cluster)
from huggingface_hub import JobStage
from huggingface_hub.errors import HfHubHTTPError

from conftest import Hub

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

PY = "python:3.12"


def ray_status(job_id: str, cluster: Any) -> str:
    from ray.job_submission import JobSubmissionClient

    status = JobSubmissionClient(cluster.dashboard_url).get_job_status(f"modelyard-{job_id}")
    return str(getattr(status, "value", status))


def wait_stage(api: Any, job_id: str, stages: set[str], timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        info = api.inspect_job(job_id=job_id)
        if info.status.stage in stages:
            return info
        assert time.monotonic() < deadline, info.status
        time.sleep(0.5)


@pytest.fixture(scope="module")
def ray_jobs_hub(ray_cluster: Any, hub_factory: Any) -> Hub:
    hub: Hub = hub_factory(
        jobs_enabled=True,
        jobs_backend="ray",
        ray_address=ray_cluster.address,
        ray_dashboard_url=ray_cluster.dashboard_url,
        jobs_max_running=3,
    )
    return hub


def test_run_job_on_ray_logs_secrets_failure_and_cancel(ray_cluster: Any, ray_jobs_hub: Hub) -> None:
    hub = ray_jobs_hub
    api = hub.api()
    code = (
        "import os\nprint('hello from', os.environ['JOB_ID'])\nprint('secret', os.environ['SECRET_X'])\n"
        "print('token', os.environ['HF_TOKEN'])\nprint('hub', os.environ['HF_ENDPOINT'])\n"
        "import huggingface_hub\nprint('whoami', huggingface_hub.HfApi().whoami()['name'])\n"
    )
    job = api.run_job(image=PY, command=["python", "-c", code], secrets={"SECRET_X": "very-secret-value"})
    done = wait_stage(api, job.id, {"COMPLETED", "ERROR", "CANCELED"})
    lines = list(api.fetch_job_logs(job_id=job.id))
    assert done.status.stage == JobStage.COMPLETED, (done.status, lines)
    assert ray_status(job.id, ray_cluster) == "SUCCEEDED"
    assert f"hello from {job.id}" in lines
    assert "whoami alice" in lines  # the job's own token, at the hub's URL
    assert f"hub {hub.url}" in lines
    assert "secret ***" in lines and "token ***" in lines
    assert not any("very-secret-value" in line for line in lines)

    failing = api.run_job(image=PY, command=["python", "-c", "import sys; print('bye'); sys.exit(3)"])
    done = wait_stage(api, failing.id, {"COMPLETED", "ERROR", "CANCELED"})
    assert done.status.stage == JobStage.ERROR and "exit code 3" in (done.status.message or "")
    assert ray_status(failing.id, ray_cluster) == "FAILED"

    code = "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n"
    long = api.run_job(image=PY, command=["python", "-c", code])
    wait_stage(api, long.id, {"RUNNING"})
    deadline = time.monotonic() + 120
    while not any(x.startswith("tick") for x in api.fetch_job_logs(job_id=long.id)):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    # two more: one takes the cluster's second CPU, the other waits for a CPU (Ray PENDING = SCHEDULING here)
    more = [api.run_job(image=PY, command=["python", "-c", code]) for _ in range(2)]
    deadline = time.monotonic() + 120
    while True:  # the hub polls Ray twice a second
        stages = {ray_status(j.id, ray_cluster): api.inspect_job(job_id=j.id).status.stage for j in more}
        if stages == {"PENDING": "SCHEDULING", "RUNNING": "RUNNING"}:
            break
        assert time.monotonic() < deadline, stages
        time.sleep(0.5)
    for j in more:
        api.cancel_job(job_id=j.id)
    for j in more:
        assert wait_stage(api, j.id, {"COMPLETED", "ERROR", "CANCELED"}, 60).status.stage == JobStage.CANCELED
    bob = hub.api(hub.bob)
    with pytest.raises(HfHubHTTPError) as e:
        bob.cancel_job(job_id=long.id, namespace="alice")
    assert e.value.response.status_code == 404
    assert ray_status(long.id, ray_cluster) == "RUNNING"
    api.cancel_job(job_id=long.id)
    done = wait_stage(api, long.id, {"COMPLETED", "ERROR", "CANCELED"}, timeout=60)
    assert done.status.stage == JobStage.CANCELED
    deadline = time.monotonic() + 30
    while ray_status(long.id, ray_cluster) != "STOPPED":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    # the job token is revoked once the job ended
    r = httpx.get(f"{hub.url}/api/whoami-v2", headers=hub.auth(hub.alice), timeout=30)
    assert r.status_code == 200


def test_fine_tuning_recipe_runs_as_a_ray_job(ray_cluster: Any, ray_jobs_hub: Hub) -> None:
    from tests.training._data import push_sentiment_dataset, push_tiny_bert

    hub = ray_jobs_hub
    push_tiny_bert(hub, "alice/ray-bert")
    push_sentiment_dataset(hub, "alice/ray-sentiment", n=120)
    body = {
        "task": "text-classification",
        "base_model": "alice/ray-bert",
        "dataset": "alice/ray-sentiment",
        "output_repo": "alice/ray-sentiment-bert",
        "hyperparameters": {"epochs": 1, "learning_rate": 1e-3, "batch_size": 16, "logging_steps": 2},
        "eval_fraction": 0.2,
    }
    r = httpx.post(f"{hub.url}/api/training/alice", json=body, headers=hub.auth(), timeout=60)
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    api = hub.api()
    done = wait_stage(api, job_id, {"COMPLETED", "ERROR", "CANCELED"}, timeout=480)
    lines = list(api.fetch_job_logs(job_id=job_id))
    assert done.status.stage == JobStage.COMPLETED, (done.status, lines[-30:])
    assert ray_status(job_id, ray_cluster) == "SUCCEEDED"
    info = httpx.get(f"{hub.url}/api/jobs/alice/{job_id}", headers=hub.auth(), timeout=30).json()
    assert info["result"]["repo"] == "alice/ray-sentiment-bert", info.get("result")
    files = set(api.list_repo_files("alice/ray-sentiment-bert"))
    assert {"config.json", "model.safetensors", "README.md"} <= files
    assert not any(line.startswith("MODELYARD_") for line in lines)  # progress and result lines are consumed
    assert info["status"].get("progress"), info["status"]  # the recipe's progress events, as for local jobs
