"""The Hub's Jobs API (hub-protocol-2.md §7): run, inspect, list, cancel, rerun, labels, logs / metrics / events
(SSE), hardware, and scheduled jobs. Records live in hub/jobs.py (`services.jobs`), the runner is jobs/manager.py
(`app.state.job_manager`, None when jobs_enabled is off: submits and streams answer 400, reads still work).

Access (one rule, `_access`): a namespace's jobs are its members' business. Reading needs membership (the user
itself, or any role in the org) and a token that may read; a fine-grained token needs ``job.write`` on the
namespace. Submitting, cancelling, relabelling need role write or admin in the namespace and a token with
``job.write``. Someone outside the namespace gets 404 for anything about a job id (never says it exists), 403
for a submit. Secret values are never answered; request bodies are never logged.

Not offered here (400 with the reason): exposed ports and SSH into a job, Space images, container images.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import (
    BadRequest,
    Forbidden,
    HardwareNotAvailable,
    NotFound,
    Unauthorized,
)
from modelyard.hub._time import now
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Account, Principal
from modelyard.hub.jobs import JobRecord, ScheduledRecord
from modelyard.jobs import schedule as sched
from modelyard.jobs.spec import (
    MAX_LABELS,
    STAGES,
    TERMINAL,
    JobSpec,
    job_info,
    parse_spec,
    scheduled_info,
    spec_from_json,
)
from modelyard.server import sse
from modelyard.server.api._common import json_response, next_link, parse_json, principal, services
from modelyard.server.edge import read_body
from modelyard.server.routing import Router

if TYPE_CHECKING:
    from modelyard.jobs.manager import JobManager

DISABLED = "Jobs are disabled on this hub (jobs_enabled is off)"
KEEP_ALIVE_SECONDS = 30.0
POLL_SECONDS = 1.0
PAGE_SIZE = 50
MAX_PAGE = 1000
NS = r"(?P<ns>[^/]+)"
JOB = r"/api/jobs/(?P<ns>[^/]+)/(?P<job_id>[^/]+)"
SCHED = r"/api/scheduled-jobs/(?P<ns>[^/]+)/(?P<sid>[^/]+)"
MAX_LABEL_LEN = 100


@dataclass(frozen=True)
class Access:
    who: Principal
    owner: Account  # the namespace's account


def manager_of(request: Request) -> JobManager | None:
    return getattr(request.app.state, "job_manager", None)


def _manager(request: Request) -> JobManager:
    m = manager_of(request)
    if m is None:
        raise BadRequest(DISABLED)  # as Spaces: a setting of this hub, not a passing outage
    return m


def _access(request: Request, ns: str, write: bool, about_id: bool) -> Access:
    """(sync) The caller and the namespace if the caller may read (`write`: act) there; see module docstring.
    An outsider gets 404 for reads and for anything naming a job (`about_id`), 403 for a submit."""
    who = principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated to use Jobs: pass a token")
    owner = services(request).accounts.find(ns)
    role = who.role_in(ns)
    if owner is None or owner.kind not in ("user", "org") or role is None:
        if about_id or not write or owner is None:
            raise NotFound(f"Namespace {ns[:80]!r} not found, or it has no job of yours")
        raise Forbidden(f"You cannot run jobs in {ns[:80]!r}: it is not your namespace nor one of your orgs")
    if write:
        if not role_at_least(role, "write"):
            raise Forbidden(f"Your role in {owner.name!r} ({role}) cannot run jobs: write or admin is needed")
        who.require(Perm.JOB_WRITE, owner.kind, owner.name)
    elif who.role == "fineGrained":
        who.require(Perm.JOB_WRITE, owner.kind, owner.name)
    return Access(who, owner)


def _json_body(raw: bytes, request: Request) -> dict[str, Any]:
    st = services(request).settings
    body = parse_json(raw, st.max_json_body, st.max_json_depth)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, services(request).settings.max_json_body)
    return _json_body(raw, request)


def _info(request: Request, rec: JobRecord, owner: Account) -> dict[str, Any]:
    initiator = services(request).accounts.by_id(rec.initiator_id) if rec.initiator_id else None
    return job_info(rec, owner, initiator)


def _job(request: Request, ns: str, job_id: str, write: bool) -> tuple[Access, JobRecord]:
    acc = _access(request, ns, write, about_id=True)
    return acc, services(request).jobs.find(acc.owner.id, job_id)


# --- hardware -------------------------------------------------------------------------------------------------
def hardware_info(settings: Any) -> list[dict[str, Any]]:
    """What jobs may ask for: cpu-basic, a share of this machine (the job limits: jobs_cpu_cores, jobs_memory_mb).
    GPU flavours are not offered: the job sandbox does not pass GPUs through."""
    cpus = os.cpu_count() or 1
    cores = float(getattr(settings, "jobs_cpu_cores", 0.0) or 0.0)
    if 0 < cores < cpus:
        cpus = max(1, int(cores))
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = 0
    limit = int(getattr(settings, "jobs_memory_mb", 0) or 0) * 1024**2
    if limit and (not mem or limit < mem):
        mem = limit
    return [
        {
            "name": "cpu-basic",
            "prettyName": "CPU basic (this machine)",
            "cpu": f"{cpus} vCPU",
            "ram": f"{max(1, round(mem / 1024**3))} GB",
            "unitCostMicroUSD": 0,
            "unitCostUSD": 0.0,
            "unitLabel": "minute",
            "accelerator": None,
        }
    ]


def hardware(request: Request) -> Response:
    return json_response(hardware_info(services(request).settings))


def _check_flavor(request: Request, flavor: str) -> None:
    offered = [h["name"] for h in hardware_info(services(request).settings)]
    if flavor not in offered:
        shown = flavor if len(flavor) <= 40 else flavor[:37] + "..."
        raise HardwareNotAvailable(
            f"Hardware {shown!r} is not available on this hub: jobs run on {', '.join(offered)} "
            "(see list_jobs_hardware)"
        )


def _refuse_unsupported(body: dict[str, Any]) -> None:
    expose = body.get("expose")
    if isinstance(expose, dict) and (expose.get("ports") or expose.get("portsPublic")):
        raise BadRequest(
            "Exposed ports are not supported on this hub: a job cannot serve HTTP to the outside"
        )
    ssh = body.get("ssh")
    if isinstance(ssh, dict) and ssh.get("enabled"):
        raise BadRequest("SSH into a job is not supported on this hub: read its logs (fetch_job_logs)")
    if body.get("network") or body.get("resourceGroupId"):
        raise BadRequest("Network groups and resource groups are not supported on this hub")


def read_spec(request: Request, body: object) -> tuple[JobSpec, dict[str, str]]:
    """A client's JobSpec body, checked (spec, flavour, unsupported options): the spec and its secret values."""
    if isinstance(body, dict):
        _refuse_unsupported(body)
    spec, secret_values = parse_spec(body)
    _check_flavor(request, spec.flavor)
    return spec, secret_values


# --- jobs -----------------------------------------------------------------------------------------------------
async def run(request: Request, ns: str) -> Response:
    """run_job / run_uv_job: POST /api/jobs/{ns} with a JobSpec."""
    acc = await run_in_threadpool(_access, request, ns, True, False)
    spec, secret_values = read_spec(request, await _body(request))
    manager = _manager(request)
    rec = await manager.submit(acc.who, acc.owner.id, spec, secret_values)
    return json_response(await run_in_threadpool(_info, request, rec, acc.owner))


def inspect(request: Request, ns: str, job_id: str) -> Response:
    acc, rec = _job(request, ns, job_id, write=False)
    return json_response(_info(request, rec, acc.owner))


def _labels_filter(values: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not key or len(key) > MAX_LABEL_LEN:
            raise BadRequest(f"Invalid label filter {item[:60]!r}: key=value or key")
        out[key] = value if eq else None
    return out


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be {low} to {high}")
    return value


def list_jobs(request: Request, ns: str) -> Response:
    """list_jobs: newest first, `stage=` (repeated) and `label=k=v` / `label=k` filters, pages with a Link
    header (`limit`, default 50; `offset`)."""
    acc = _access(request, ns, write=False, about_id=False)
    q = request.query_params
    stages = [s.upper() for s in q.getlist("stage") if s]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise BadRequest(f"Unknown stage {bad[0][:30]!r}: one of {', '.join(STAGES)}")
    labels = _labels_filter(q.getlist("label"))
    limit = _int_param(request, "limit", PAGE_SIZE, 1, MAX_PAGE)
    offset = _int_param(request, "offset", 0, 0, 10**6)
    rows = services(request).jobs.list(acc.owner.id, stages, labels or None, limit=offset + limit + 1)
    page = rows[offset : offset + limit]
    headers = next_link(request, offset=offset + limit) if len(rows) > offset + limit else None
    return json_response([_info(request, r, acc.owner) for r in page], headers=headers)


async def cancel(request: Request, ns: str, job_id: str) -> Response:
    acc, rec = await run_in_threadpool(_job, request, ns, job_id, True)
    rec = await _manager(request).cancel(rec.id)
    return json_response(await run_in_threadpool(_info, request, rec, acc.owner))


async def duplicate(request: Request, ns: str, job_id: str) -> Response:
    """rerun_job: the same spec (and secrets), submitted again by the caller."""
    acc, rec = await run_in_threadpool(_job, request, ns, job_id, True)
    manager = _manager(request)
    spec = spec_from_json(rec.spec)
    secret_values = await run_in_threadpool(services(request).jobs.secret_values, rec.id)
    new = await manager.submit(acc.who, acc.owner.id, spec, secret_values, kind=rec.kind, recipe=rec.recipe)
    return json_response(await run_in_threadpool(_info, request, new, acc.owner))


def check_labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise BadRequest(f"'labels' must be an object of at most {MAX_LABELS} strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str) or not k:
            raise BadRequest("each label is a non-empty string key with a string value")
        if len(k) > MAX_LABEL_LEN or len(v) > MAX_LABEL_LEN or "\x00" in k or "\x00" in v:
            raise BadRequest(f"label keys and values are at most {MAX_LABEL_LEN} characters")
        out[k] = v
    return out


def _sync_body(request: Request) -> dict[str, Any]:
    return _json_body(request.scope.get("modelyard.body", b""), request)


def labels(request: Request, ns: str, job_id: str) -> Response:
    acc, rec = _job(request, ns, job_id, write=True)
    new = check_labels(_sync_body(request).get("labels"))
    store = services(request).jobs
    store.set_labels(rec.id, new)
    return json_response(_info(request, store.get(rec.id), acc.owner))


def expose(request: Request, ns: str, job_id: str) -> Response:
    _job(request, ns, job_id, write=True)
    raise BadRequest("Exposed ports are not supported on this hub: a job cannot serve HTTP to the outside")


# --- streams (server/sse.py) ---------------------------------------------------------------------------------
async def logs(request: Request, ns: str, job_id: str) -> Response:
    """SSE of the job's log (`data: {"data", "timestamp"}`): the lines so far (`tail=N`: the last N), then new ones
    while the job runs; the stream ends when the job ends."""
    _, rec = await run_in_threadpool(_job, request, ns, job_id, False)
    tail = _int_param(request, "tail", -1, 0, 10**6) if "tail" in request.query_params else None
    book = _manager(request).logs(rec.id)
    return sse.response(sse.log_lines(book, tail), KEEP_ALIVE_SECONDS, request.method == "HEAD")


async def metrics(request: Request, ns: str, job_id: str) -> Response:
    """SSE `event: metric` + `data: {...}` once a second while the job runs; 406 when it does not."""
    _, rec = await run_in_threadpool(_job, request, ns, job_id, False)
    samples = _manager(request).metrics(rec.id)
    if samples is None:
        return json_response({"error": f"Job {rec.id} is not running"}, status=406)

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for sample in samples:
                yield sse.event(sample, "metric")
        finally:
            with contextlib.suppress(BaseException):
                await samples.aclose()  # type: ignore[attr-defined]

    return sse.response(stream(), KEEP_ALIVE_SECONDS, request.method == "HEAD")


async def events(request: Request, ns: str, job_id: str) -> Response:
    """SSE of a job's progress (`event: progress` + `data: {json}`, the training runner's events, history first)
    and stage changes (`event: status` + `data: {"stage", "message"}`, the current one first). Ends after the
    job ended and its progress is drained."""
    _, rec = await run_in_threadpool(_job, request, ns, job_id, False)
    book = _manager(request).progress(rec.id)
    stage_of = functools.partial(services(request).jobs.stage, rec.id)
    stream = sse.job_events(stage_of, (rec.stage, rec.message), book, TERMINAL, POLL_SECONDS)
    return sse.response(stream, KEEP_ALIVE_SECONDS, request.method == "HEAD")


# --- scheduled jobs -------------------------------------------------------------------------------------------
def _sched_info(request: Request, rec: ScheduledRecord, owner: Account) -> dict[str, Any]:
    return scheduled_info(rec, owner)


def _scheduled(request: Request, ns: str, sid: str, write: bool) -> tuple[Access, ScheduledRecord]:
    acc = _access(request, ns, write, about_id=True)
    return acc, services(request).jobs.get_scheduled(sid, acc.owner.id)


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"'{key}' must be true or false")
    return value


def create_scheduled(request: Request, ns: str) -> Response:
    acc = _access(request, ns, write=True, about_id=False)
    body = _sync_body(request)
    schedule = sched.check_schedule(body.get("schedule"))
    spec, secret_values = read_spec(request, body.get("jobSpec", body.get("job_spec")))
    suspend = _bool(body, "suspend", False)
    concurrency = _bool(body, "concurrency", False)
    rec = services(request).jobs.create_scheduled(
        sched.new_scheduled_id(),
        acc.owner.id,
        acc.who.account.id,
        acc.who.role,
        acc.who.grants.dumps(),
        spec.to_json(),
        secret_values,
        schedule,
        sched.next_run(schedule, now()),
        suspend=suspend,
        concurrency=concurrency,
    )
    return json_response(_sched_info(request, rec, acc.owner))


def list_scheduled(request: Request, ns: str) -> Response:
    """A bare array (the client sends only the first label filter and filters the rest itself)."""
    acc = _access(request, ns, write=False, about_id=False)
    wanted = _labels_filter(request.query_params.getlist("label"))
    rows = services(request).jobs.list_scheduled(acc.owner.id)
    rows = [
        r for r in rows if all(k in r.labels and (v is None or r.labels[k] == v) for k, v in wanted.items())
    ]
    return json_response([_sched_info(request, r, acc.owner) for r in rows])


def inspect_scheduled(request: Request, ns: str, sid: str) -> Response:
    if request.method == "DELETE":
        acc, rec = _scheduled(request, ns, sid, write=True)
        services(request).jobs.delete_scheduled(rec.id)
        return json_response(_sched_info(request, rec, acc.owner))
    acc, rec = _scheduled(request, ns, sid, write=False)
    return json_response(_sched_info(request, rec, acc.owner))


def _update(request: Request, ns: str, sid: str, **values: Any) -> Response:
    acc, rec = _scheduled(request, ns, sid, write=True)
    store = services(request).jobs
    store.update_scheduled(rec.id, **values)
    return json_response(_sched_info(request, store.get_scheduled(rec.id), acc.owner))


def suspend_scheduled(request: Request, ns: str, sid: str) -> Response:
    return _update(request, ns, sid, suspend=True)


def resume_scheduled(request: Request, ns: str, sid: str) -> Response:
    _, rec = _scheduled(request, ns, sid, write=True)
    return _update(request, ns, sid, suspend=False, next_run_at=sched.next_run(rec.schedule, now()))


def schedule_scheduled(request: Request, ns: str, sid: str) -> Response:
    _scheduled(request, ns, sid, write=True)
    schedule = sched.check_schedule(_sync_body(request).get("schedule"))
    return _update(request, ns, sid, schedule=schedule, next_run_at=sched.next_run(schedule, now()))


def labels_scheduled(request: Request, ns: str, sid: str) -> Response:
    acc, rec = _scheduled(request, ns, sid, write=True)
    new = check_labels(_sync_body(request).get("labels"))
    spec = dict(rec.spec)
    spec["labels"] = new
    store = services(request).jobs
    store.update_scheduled(rec.id, labels=new, spec=json.dumps(spec))
    return json_response(_sched_info(request, store.get_scheduled(rec.id), acc.owner))


async def trigger_scheduled(request: Request, ns: str, sid: str) -> Response:
    """trigger_scheduled_job: one run now, submitted by the caller; answers its JobInfo."""
    acc, rec = await run_in_threadpool(_scheduled, request, ns, sid, True)
    rec_job = await sched.trigger(_manager(request), rec, acc.who)
    return json_response(await run_in_threadpool(_info, request, rec_job, acc.owner))


def register(r: Router) -> None:
    """Before the repo routes; `/api/jobs/hardware` before `/api/jobs/{ns}` (it is no namespace)."""
    r.add("GET", r"/api/jobs/hardware", hardware)
    r.add("POST", rf"/api/jobs/{NS}", run)
    r.add("GET", rf"/api/jobs/{NS}", list_jobs)
    r.add("GET", JOB, inspect)
    r.add("POST", JOB + r"/cancel", cancel)
    r.add("POST", JOB + r"/duplicate", duplicate)
    r.add("PUT", JOB + r"/labels", labels)
    r.add("PUT", JOB + r"/expose", expose)
    r.add("GET", JOB + r"/logs", logs)
    r.add("GET", JOB + r"/metrics", metrics)
    r.add("GET", JOB + r"/events", events)
    r.add("POST", rf"/api/scheduled-jobs/{NS}", create_scheduled)
    r.add("GET", rf"/api/scheduled-jobs/{NS}", list_scheduled)
    r.add("GET,DELETE", SCHED, inspect_scheduled)
    r.add("POST", SCHED + r"/suspend", suspend_scheduled)
    r.add("POST", SCHED + r"/resume", resume_scheduled)
    r.add("POST", SCHED + r"/schedule", schedule_scheduled)
    r.add("POST", SCHED + r"/run", trigger_scheduled)
    r.add("PUT", SCHED + r"/labels", labels_scheduled)
