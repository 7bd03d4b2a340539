"""No-code fine-tuning: a recipe (training/spec.py RecipeSpec) checked against the hub and run as a job.

- `POST /api/training/{namespace}`: body = the recipe → 200 JobInfo (kind "training"), after every check of
  training/plan.py (the same answers as `/validate`).
- `POST /api/training/{namespace}/validate`: the checks only → {"ok": true, "columns", "splits", "num_rows",
  "recipe"} (the recipe with its defaults filled in), or the 4xx the submit would answer.
- `GET /api/training/tasks`: the tasks with their column roles and the hyperparameters with their defaults.

`install_deploy_hook(app)` (called by the app's lifespan once the job manager runs): when a training job whose
recipe says `deploy` completes, an inference endpoint is created (unloaded: the first call loads it) for the
pushed repo, and its name is recorded in the job's result (`"endpoint"`).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, HubError
from modelyard.hub.jobs import JobRecord
from modelyard.jobs.spec import job_info
from modelyard.server.api._common import json_response, parse_json, principal, services
from modelyard.server.edge import read_body
from modelyard.server.routing import Router
from modelyard.training import plan
from modelyard.training.spec import HYPERPARAMETERS, TASKS

log = logging.getLogger("modelyard.training")

NS = r"(?P<namespace>[^/]+)"

#: recipe task → the inference endpoint's task
ENDPOINT_TASK = {
    "text-classification": "text-classification",
    "token-classification": "token-classification",
    "sentence-similarity": "sentence-similarity",
    "text-generation": "text-generation",
    "image-classification": "image-classification",
}


async def _body(request: Request) -> Any:
    st = services(request).settings
    raw = await read_body(request, st.max_json_body)
    return parse_json(raw, st.max_json_body, st.max_json_depth)


async def validate(request: Request, namespace: str) -> Response:
    body = await _body(request)
    svc = services(request)
    who = await run_in_threadpool(principal, request)
    checked = await run_in_threadpool(plan.check, svc, who, namespace, body)
    return json_response(checked.to_json())


async def submit(request: Request, namespace: str) -> Response:
    body = await _body(request)
    svc = services(request)
    who = await run_in_threadpool(principal, request)
    checked = await run_in_threadpool(plan.check, svc, who, namespace, body)
    manager = getattr(request.app.state, "job_manager", None)
    if manager is None:
        raise BadRequest("Jobs are disabled on this hub (jobs_enabled is off): training cannot run")
    assert who is not None  # plan.check refused anonymous callers
    timeout = svc.settings.jobs_timeout or None
    spec = plan.job_spec(checked.recipe, int(timeout) if timeout else None)
    rec = await manager.submit(
        who, checked.namespace.id, spec, {}, kind="training", recipe=checked.recipe.to_json()
    )
    return json_response(job_info(rec, checked.namespace, who.account))


def tasks(request: Request) -> Response:
    return json_response(
        {
            "tasks": [
                {
                    "task": task,
                    "columns": {"required": list(required), "optional": list(optional)},
                    "endpoint_task": ENDPOINT_TASK[task],
                }
                for task, (required, optional) in TASKS.items()
            ],
            "hyperparameters": {
                name: {"type": kind.__name__, "default": default, "min": lo, "max": hi}
                for name, (kind, default, lo, hi) in HYPERPARAMETERS.items()
            },
            "defaults": {
                "train_split": "train",
                "eval_split": None,
                "eval_fraction": 0.1,
                "early_stopping_patience": None,
                "seed": 42,
            },
        }
    )


def register(r: Router) -> None:
    r.add("GET", r"/api/training/tasks", tasks)
    r.add("POST", rf"/api/training/{NS}/validate", validate)
    r.add("POST", rf"/api/training/{NS}", submit)


# ---------------------------------------------------------------------------------------------- deploy hook
def _free_name(manager: Any, base: str) -> str:
    taken = set(getattr(manager, "endpoints", {}) or {})
    if base not in taken:
        return base
    for i in range(2, 1000):
        name = f"{base[: 63 - len(str(i)) - 1]}-{i}"
        if name not in taken:
            return name
    return base


async def deploy_trained(app: Any, rec: JobRecord) -> str | None:
    """Create the endpoint of a completed training job whose recipe says `deploy`; its name (None: nothing
    to do). The name is recorded in the job's result; a refusal is recorded as `endpoint_error`. When the
    repo's endpoint exists already (the model was trained again), it is unloaded: its next call loads the new
    weights."""
    recipe = rec.recipe or {}
    if rec.kind != "training" or rec.stage != "COMPLETED" or not recipe.get("deploy"):
        return None
    from modelyard.inference.config import EndpointConfig, default_name

    store = app.state.services.jobs
    fresh = await run_in_threadpool(store.get, rec.id)  # the result the manager stored
    result = dict(fresh.result or {})
    # the recipe's output repo (checked at submit: the submitter may push there), never the job's own word
    repo = str(recipe.get("output_repo") or "")
    if not repo or result.get("repo") not in (None, repo):
        return None
    manager = app.state.endpoint_manager
    base = default_name(repo)
    existing = (getattr(manager, "endpoints", None) or {}).get(base)
    task = ENDPOINT_TASK.get(str(recipe.get("task")))
    try:
        if existing is not None and existing.config.repo_id == repo:  # trained again: the next call loads it
            await manager.unload(base)
            name = base
        else:
            name = _free_name(manager, base)
            await manager.create(
                EndpointConfig(name, repo, task=task, namespace=repo.split("/", 1)[0]), load=False
            )
        result["endpoint"] = name
    except HubError as e:
        log.warning("training job %s: endpoint for %s not created: %s", rec.id, repo, e.message)
        result["endpoint_error"] = e.message
        name = ""
    await run_in_threadpool(store.set_result, rec.id, result)
    return name or None


def install_deploy_hook(app: Any) -> None:
    """Hook `deploy_trained` into the job manager (no-op when jobs are off)."""
    manager = getattr(app.state, "job_manager", None)
    if manager is None:
        return

    async def hook(rec: JobRecord) -> None:
        try:
            await deploy_trained(app, rec)
        except Exception:  # a hook must not break the runner
            log.exception("training job %s: deploy hook failed", rec.id)

    manager.on_finish.append(hook)
