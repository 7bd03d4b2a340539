"""Scheduled jobs: schedule strings (jobs/schedule.py), the API through HfApi, and the scheduler firing runs."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError
from tests.jobs.test_jobs_api import program

from conftest import Hub
from modelyard.errors import BadRequest
from modelyard.jobs.schedule import check_schedule, next_run

PY = "python:3.12"
UTC = dt.UTC


# --- schedule strings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("@hourly", dt.datetime(2026, 1, 1, 10, 30, tzinfo=UTC), dt.datetime(2026, 1, 1, 11, 0, tzinfo=UTC)),
        ("@daily", dt.datetime(2026, 1, 1, 10, 30, tzinfo=UTC), dt.datetime(2026, 1, 2, 0, 0, tzinfo=UTC)),
        ("@midnight", dt.datetime(2026, 1, 1, 0, 0, tzinfo=UTC), dt.datetime(2026, 1, 2, 0, 0, tzinfo=UTC)),
        ("@weekly", dt.datetime(2026, 1, 1, 0, 0, tzinfo=UTC), dt.datetime(2026, 1, 4, 0, 0, tzinfo=UTC)),
        ("@monthly", dt.datetime(2026, 1, 15, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC)),
        ("@yearly", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)),
        ("@annually", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)),
        (
            "*/5 * * * *",
            dt.datetime(2026, 1, 1, 10, 2, 7, tzinfo=UTC),
            dt.datetime(2026, 1, 1, 10, 5, tzinfo=UTC),
        ),
        ("0 9 * * 1", dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
    ],
)
def test_next_run(schedule: str, after: dt.datetime, expected: dt.datetime) -> None:
    assert check_schedule(schedule) == schedule
    assert next_run(schedule, after) == expected
    naive = next_run(schedule, after.replace(tzinfo=None))
    assert naive.tzinfo is None and naive == expected.replace(tzinfo=None)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "@sometimes",
        "* * * *",
        "61 * * * *",
        "* * * * * * *",
        "a b c d e",
        "x" * 500,
        "* * *\x00 * *",
        5,
    ],
)
def test_bad_schedules(bad: Any) -> None:
    with pytest.raises(BadRequest):
        check_schedule(bad)


# --- API ------------------------------------------------------------------------------------------------------
def _raw(hub: Hub, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
    headers = hub.auth(token) if token is not None else {}
    return httpx.request(method, hub.url + path, headers=headers, timeout=30, **kw)


def test_scheduled_crud_and_permissions(live_server: Hub) -> None:
    """Without a runner the records are kept (the session hub): create, list, inspect, suspend, resume,
    reschedule, labels, delete; bob sees none of it; a read token changes nothing; bad schedules are 400."""
    hub = live_server
    api = hub.api()
    sj = api.create_scheduled_job(
        image=PY,
        command=["python", "-c", "print(1)"],
        schedule="@hourly",
        labels={"team": "a"},
        secrets={"S": "v"},
    )
    assert sj.owner.name == "alice" and sj.schedule == "@hourly" and sj.suspend is False
    assert sj.status.next_job_run_at is not None
    assert sj.job_spec.docker_image == PY
    assert [s.id for s in api.list_scheduled_jobs()] == [sj.id]
    assert [s.id for s in api.list_scheduled_jobs(labels={"team": "a"})] == [sj.id]
    assert list(api.list_scheduled_jobs(labels={"team": "b"})) == []
    assert api.inspect_scheduled_job(scheduled_job_id=sj.id).id == sj.id
    api.suspend_scheduled_job(scheduled_job_id=sj.id)
    got = api.inspect_scheduled_job(scheduled_job_id=sj.id)
    assert got.suspend is True and got.status.next_job_run_at is None
    api.resume_scheduled_job(scheduled_job_id=sj.id)
    assert api.inspect_scheduled_job(scheduled_job_id=sj.id).suspend is False
    moved = api.update_scheduled_job_schedule(scheduled_job_id=sj.id, schedule="0 9 * * 1")
    assert moved.schedule == "0 9 * * 1"
    assert api.update_scheduled_job_labels(scheduled_job_id=sj.id, labels={"team": "c"}).job_spec.labels == {
        "team": "c"
    }
    assert '"v"' not in _raw(hub, "GET", f"/api/scheduled-jobs/alice/{sj.id}", hub.alice).text

    bob = hub.api(hub.bob)
    for call in (
        lambda: bob.inspect_scheduled_job(scheduled_job_id=sj.id, namespace="alice"),
        lambda: bob.suspend_scheduled_job(scheduled_job_id=sj.id, namespace="alice"),
        lambda: bob.delete_scheduled_job(scheduled_job_id=sj.id, namespace="alice"),
        lambda: bob.trigger_scheduled_job(scheduled_job_id=sj.id, namespace="alice"),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 404
    assert _raw(hub, "GET", "/api/scheduled-jobs/alice", hub.bob).status_code == 404
    assert _raw(hub, "GET", f"/api/scheduled-jobs/bob/{sj.id}", hub.bob).status_code == 404
    body = {"jobSpec": {"dockerImage": PY, "command": ["true"]}, "schedule": "@daily"}
    assert _raw(hub, "POST", "/api/scheduled-jobs/alice", hub.bob, json=body).status_code == 403
    assert _raw(hub, "POST", f"/api/scheduled-jobs/{hub.org}", hub.bob, json=body).status_code == 403
    assert _raw(hub, "POST", "/api/scheduled-jobs/alice", hub.alice_read, json=body).status_code == 403
    assert _raw(hub, "POST", f"/api/scheduled-jobs/alice/{sj.id}/suspend", hub.alice_read).status_code == 403
    assert _raw(hub, "POST", "/api/scheduled-jobs/alice", None, json=body).status_code == 401
    for bad in ("@sometimes", "* * *", "99 * * * *", None):
        r = _raw(hub, "POST", "/api/scheduled-jobs/alice", hub.alice, json={**body, "schedule": bad})
        assert r.status_code == 400, r.text
    r = _raw(
        hub, "POST", "/api/scheduled-jobs/alice", hub.alice, json={**body, "jobSpec": {"dockerImage": "x"}}
    )
    assert r.status_code == 400
    r = _raw(hub, "POST", f"/api/scheduled-jobs/alice/{sj.id}/schedule", hub.alice, json={"schedule": "nope"})
    assert r.status_code == 400
    # trigger needs the runner: 400 here (jobs off)
    assert _raw(hub, "POST", f"/api/scheduled-jobs/alice/{sj.id}/run", hub.alice).status_code == 400
    api.delete_scheduled_job(scheduled_job_id=sj.id)
    assert list(api.list_scheduled_jobs()) == []
    with pytest.raises(HfHubHTTPError):
        api.inspect_scheduled_job(scheduled_job_id=sj.id)


def _jobs_of(api: Any, sid: str) -> list[Any]:
    return [j for j in api.list_jobs(namespace="alice") if j.labels.get("sched") == sid]


def test_trigger_and_scheduler_fire(jobs_hub: Hub, tmp_path: Path) -> None:
    api = jobs_hub.api()
    script = tmp_path / "tick.py"
    script.write_text("import os\nprint('tick', os.environ.get('S'))\n")
    sj = api.create_scheduled_uv_job(
        str(script), schedule="@yearly", secrets={"S": "sec"}, labels={"sched": "uv1"}
    )
    job = api.trigger_scheduled_job(scheduled_job_id=sj.id)
    assert api.wait_for_job(job.id, timeout=300).status.stage == "COMPLETED"
    assert program(list(api.fetch_job_logs(job_id=job.id))) == ["tick sec"]
    last = api.inspect_scheduled_job(scheduled_job_id=sj.id).status.last_job
    assert last is not None and last.id == job.id
    # the scheduler: make the next run due now; it submits one run within a few seconds
    store = jobs_hub.services.jobs
    store.update_scheduled(sj.id, next_run_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    end = time.monotonic() + 30
    while time.monotonic() < end and len(_jobs_of(api, "uv1")) < 2:
        time.sleep(0.5)
    runs = _jobs_of(api, "uv1")
    assert len(runs) == 2, runs
    fired = runs[0]
    assert store.get(fired.id).scheduled_job_id == sj.id
    assert api.wait_for_job(fired.id, timeout=300).status.stage == "COMPLETED"
    info = api.inspect_scheduled_job(scheduled_job_id=sj.id)
    assert info.status.last_job is not None and info.status.last_job.id == fired.id
    assert info.status.next_job_run_at is not None and info.status.next_job_run_at.year >= 2027
    # suspended: not fired
    api.suspend_scheduled_job(scheduled_job_id=sj.id)
    store.update_scheduled(sj.id, next_run_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    time.sleep(3)
    assert len(_jobs_of(api, "uv1")) == 2
    api.delete_scheduled_job(scheduled_job_id=sj.id)


def test_scheduler_skips_while_the_last_run_goes_on(jobs_hub: Hub) -> None:
    api = jobs_hub.api()
    sj = api.create_scheduled_job(
        image=PY,
        command=["python", "-c", "import time; time.sleep(300)"],
        schedule="@yearly",
        labels={"sched": "long1"},
    )
    first = api.trigger_scheduled_job(scheduled_job_id=sj.id)
    store = jobs_hub.services.jobs
    store.update_scheduled(sj.id, next_run_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    time.sleep(3)
    assert [j.id for j in _jobs_of(api, "long1")] == [first.id]  # concurrency false: skipped
    assert store.get_scheduled(sj.id).next_run_at is not None
    api.cancel_job(job_id=first.id)
    api.delete_scheduled_job(scheduled_job_id=sj.id)
