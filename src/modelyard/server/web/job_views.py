"""Jobs and fine-tuning in the web UI: a namespace's jobs (`/jobs/{ns}`), one job's page (`/jobs/{ns}/{id}`: its
stage, command or recipe, timing, the log and, for training jobs, the loss chart, progress bar, ETA, evaluation
metrics and result, followed live), Cancel and Run again, and the Fine-tune form on model pages
(`/{ns}/{model}/fine-tune`).

Rules: a job is seen by the members of its namespace only (the user, or the org's members: `Principal.member_of`);
anyone else gets 404, as for a job that does not exist (the API's rule, hub/jobs.py). Cancel and Run again need a
write role in the namespace and a token that can write (read members may look, not act); both are CSRF-checked
forms (`RouteKit.form`). The live streams are web routes (`…/logs/stream`, `…/events/stream`) authenticated by the
session cookie like the Spaces' log streams: an EventSource cannot send the API's X-CSRF-Token header, and these
only read. The Fine-tune form is rendered here from training/spec.py (TASKS, HYPERPARAMETERS: no JavaScript needed
to see it); its script posts the recipe to the API (`POST /api/training/{ns}`, `…/validate`) with the session's
X-CSRF-Token, like the other web scripts (server/api/_common.py `principal`); without JavaScript the form posts
here (CSRF-checked) and runs the same checks (training/plan.py).

The job runner (`app.state.job_manager`, jobs/manager.py) is async and lives on the server's event loop: these sync
views (threadpool) call it through `anyio.from_thread.run`. Without it (jobs off) the pages still show the stored jobs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard.errors import BadRequest, Forbidden, HubError, NotFound, Unauthorized
from modelyard.hub.access import Perm, role_at_least
from modelyard.hub.accounts import Account, Principal
from modelyard.hub.jobs import JobRecord
from modelyard.hub.search import Query
from modelyard.jobs.spec import STAGES, TERMINAL, parse_spec
from modelyard.server import sse
from modelyard.server.web import repo_views
from modelyard.server.web.kit import RouteKit
from modelyard.server.web.render import Pages, services, web_principal
from modelyard.server.web.views import form_fields
from modelyard.training import plan
from modelyard.training.spec import HYPERPARAMETERS, TASKS
from modelyard.types import RepoType

if TYPE_CHECKING:
    from modelyard.jobs.manager import JobManager
    from modelyard.spaces.logs import LogBook

R = TypeVar("R")
LIST_LIMIT = 200  # jobs shown on a namespace's page
LOG_TAIL = 200  # log lines on the page without JavaScript
KEEPALIVE_S = 15.0
STATUS_POLL_S = 1.0  # the events stream checks the job's stage this often
CHART_W, CHART_H = 600, 180
_TONE = {"SCHEDULING": "busy", "RUNNING": "busy", "COMPLETED": "ok", "CANCELED": "idle", "ERROR": "bad"}
# hyperparameters shown for every task; the LoRA ones only for text-generation (the form's script hides the others)
LORA_PARAMS = ("lora_r", "lora_alpha", "lora_dropout")
BASIC_PARAMS = ("epochs", "learning_rate", "batch_size", "max_length")
TASK_LABELS = {
    "text-classification": "Text classification",
    "token-classification": "Token classification (NER)",
    "sentence-similarity": "Sentence embeddings (pairs / triplets)",
    "text-generation": "Chat fine-tuning with LoRA (causal LM)",
    "image-classification": "Image classification",
}
# a model's pipeline_tag → the task the form starts with
_TASK_OF_PIPELINE = {
    "text-classification": "text-classification",
    "sentiment-analysis": "text-classification",
    "token-classification": "token-classification",
    "ner": "token-classification",
    "sentence-similarity": "sentence-similarity",
    "feature-extraction": "sentence-similarity",
    "text-generation": "text-generation",
    "image-classification": "image-classification",
}


def _manager(request: Request) -> JobManager | None:
    return getattr(request.app.state, "job_manager", None)


def _run(fn: Callable[..., Coroutine[Any, Any, R]], *args: Any) -> R:
    """Run a manager coroutine on the server's event loop from this threadpool view."""
    return anyio.from_thread.run(fn, *args)


def _login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _namespace(request: Request, ns: str) -> tuple[Account, Principal]:
    """The namespace if the web user is a member of it; 404 otherwise (anonymous too: nothing is said to exist)."""
    who = web_principal(request)
    acc = services(request).accounts.find(ns)
    if who is None or acc is None or acc.kind not in ("user", "org") or not who.member_of(acc.name):
        raise NotFound(f"No jobs found for {ns!r}")
    if who.role == "fineGrained" and not who.allows(Perm.JOB_WRITE, acc.kind, acc.name):
        raise NotFound(f"No jobs found for {ns!r}")  # the API's rule (server/api/jobs.py)
    return acc, who


def _job(request: Request, ns: str, job_id: str) -> tuple[Account, Principal, JobRecord]:
    acc, who = _namespace(request, ns)
    if not job_id or len(job_id) > 64:
        raise NotFound(f"Job {job_id[:64]} not found")
    return acc, who, services(request).jobs.find(acc.id, job_id)


def _may_act(who: Principal, acc: Account) -> bool:
    """Cancel / Run again: a write role in the namespace and a token that may write."""
    return (
        who.can_write
        and role_at_least(who.role_in(acc.name), "write")
        and who.allows(Perm.JOB_WRITE, acc.kind, acc.name)
    )


def _require_act(who: Principal, acc: Account) -> None:
    if not _may_act(who, acc):
        raise Forbidden(f"You need write access to {acc.name!r} to manage its jobs")


# ------------------------------------------------------------------------------------------------ formatting
def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def duration(seconds: float | None) -> str:
    """`1h 02m`, `3m 05s`, `12s`; empty for None."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def _seconds(rec: JobRecord) -> float | None:
    start = _aware(rec.started_at)
    if start is None:
        return None
    end = _aware(rec.finished_at) or datetime.now(UTC)
    return max(0.0, (end - start).total_seconds())


def stage_info(stage: str) -> dict[str, Any]:
    return {
        "stage": stage,
        "label": stage.capitalize(),
        "tone": _TONE.get(stage, "idle"),
        "busy": stage in ("SCHEDULING", "RUNNING"),
        "terminal": stage in TERMINAL,
    }


def _what(rec: JobRecord) -> str:
    """A list row's one-line description: the recipe's task and base model, else the image."""
    if rec.kind == "training" and rec.recipe:
        return f"{rec.recipe.get('task', '')} · {rec.recipe.get('base_model', '')}"
    return str(rec.spec.get("dockerImage") or "")


def _command(rec: JobRecord) -> str:
    import shlex

    parts = [str(p) for p in (rec.spec.get("command") or []) + (rec.spec.get("arguments") or [])]
    return shlex.join(parts)


def _row(ns: str, rec: JobRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "url": f"/jobs/{quote(ns)}/{quote(rec.id)}",
        "kind": rec.kind,
        "what": _what(rec),
        "info": stage_info(rec.stage),
        "created": _aware(rec.created_at),
        "duration": duration(_seconds(rec)),
        "labels": sorted(rec.labels.items()),
    }


# ------------------------------------------------------------------------------------------------ list page
def list_page(pages: Pages, request: Request, ns: str) -> Response:
    """`/jobs/{ns}`: the namespace's jobs, newest first; `?stage=` filters (members only)."""
    if web_principal(request) is None:
        return _login(request)
    acc, who = _namespace(request, ns)
    stage = request.query_params.get("stage", "").upper()
    stage = stage if stage in STAGES else ""
    kind = request.query_params.get("kind", "")
    kind = kind if kind in ("job", "training") else ""
    records = services(request).jobs.list(
        acc.id, stages=(stage,) if stage else (), kind=kind or None, limit=LIST_LIMIT
    )

    def link(**changes: str) -> str:
        params = {"stage": stage, "kind": kind, **changes}
        q = urlencode({k: v for k, v in params.items() if v})
        return f"/jobs/{quote(acc.name)}" + (f"?{q}" if q else "")

    namespaces = [who.account.name] + [o.name for o in who.orgs]
    return pages.render(
        request,
        "jobs/list.html",
        account=acc,
        jobs=[_row(acc.name, r) for r in records],
        stage=stage,
        kind=kind,
        stages=[s for s in STAGES if s != "DELETED"],
        link=link,
        namespaces=namespaces,
        jobs_on=_manager(request) is not None,
    )


# ------------------------------------------------------------------------------------------------- job page
def _log_tail(request: Request, rec: JobRecord, n: int = LOG_TAIL) -> list[dict[str, str]]:
    manager = _manager(request)
    if manager is None:
        return []
    try:
        lines = manager.logs(rec.id).snapshot()[-n:]
    except (NotFound, NotImplementedError, OSError):
        return []
    return [{"time": ln.timestamp, "text": ln.data} for ln in lines]


def _progress_history(request: Request, rec: JobRecord) -> list[dict[str, Any]]:
    manager = _manager(request)
    out: list[dict[str, Any]] = []
    if manager is not None:
        try:
            lines = manager.progress(rec.id).snapshot()
        except (NotFound, NotImplementedError, OSError):
            lines = []
        for ln in lines:
            with contextlib.suppress(ValueError):
                item = json.loads(ln.data)
                if isinstance(item, dict):
                    out.append(item)
    if not out and rec.progress:
        out.append(rec.progress)
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def loss_chart(history: list[dict[str, Any]], width: int = CHART_W, height: int = CHART_H) -> dict[str, Any]:
    """Geometry of the loss chart (training loss, and eval loss as dots) drawn server-side; static/jobs.js redraws
    it the same way as progress events arrive."""
    train = [
        (s, v)
        for p in history
        if (s := _num(p.get("step"))) is not None and (v := _num(p.get("loss"))) is not None
    ]
    evals = []
    for p in history:
        ev = p.get("eval")
        if (
            isinstance(ev, dict)
            and (s := _num(p.get("step"))) is not None
            and (v := _num(ev.get("loss"))) is not None
        ):
            evals.append((s, v))
    points = train + evals
    if not points:
        return {"width": width, "height": height, "line": "", "dots": [], "empty": True}
    max_step = max(s for s, _ in points) or 1.0
    lo = min(v for _, v in points)
    hi = max(v for _, v in points)
    span = (hi - lo) or 1.0
    pad = 8.0

    def xy(s: float, v: float) -> tuple[float, float]:
        x = pad + (s / max_step) * (width - 2 * pad)
        y = pad + (1 - (v - lo) / span) * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    line = " ".join(f"{x},{y}" for x, y in (xy(s, v) for s, v in train))
    dots = [{"x": x, "y": y} for x, y in (xy(s, v) for s, v in evals)]
    return {
        "width": width,
        "height": height,
        "line": line,
        "dots": dots,
        "empty": False,
        "lo": f"{lo:.4g}",
        "hi": f"{hi:.4g}",
        "max_step": int(max_step),
        "last": f"{train[-1][1]:.4g}" if train else "",
    }


def _progress_view(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The last values of the stream: step / max_steps, percent, ETA, phase, learning rate, eval metrics."""
    last: dict[str, Any] = {}
    evals: dict[str, Any] = {}
    for p in history:
        for k, val in p.items():
            if k == "eval" and isinstance(val, dict):
                evals = val
            elif val is not None:
                last[k] = val
    step, max_steps = _num(last.get("step")), _num(last.get("max_steps"))
    pct = None
    if step is not None and max_steps:
        pct = max(0.0, min(100.0, step / max_steps * 100))
    eval_rows = []
    for k, val in sorted(evals.items()):
        n = _num(val)
        eval_rows.append((str(k), f"{n:.4g}" if n is not None else str(val)))
    return {
        "step": int(step) if step is not None else None,
        "max_steps": int(max_steps) if max_steps else None,
        "pct": round(pct, 1) if pct is not None else None,
        "eta": duration(_num(last.get("eta_seconds"))),
        "phase": str(last.get("phase") or ""),
        "epoch": f"{n:.2f}" if (n := _num(last.get("epoch"))) is not None else "",
        "lr": f"{n:.3g}" if (n := _num(last.get("learning_rate"))) is not None else "",
        "eval": eval_rows,
    }


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def _result_view(rec: JobRecord) -> dict[str, Any] | None:
    res = rec.result
    if not isinstance(res, dict):
        return None
    # the job wrote result.json: only the recipe's own output repo is shown as a link (a job cannot point it away)
    repo = res.get("repo")
    wanted = (rec.recipe or {}).get("output_repo")
    repo = repo if isinstance(repo, str) and repo == wanted and _REPO_ID.match(repo) else None
    raw = res.get("metrics")
    metrics: dict[str, Any] = raw if isinstance(raw, dict) else {}
    endpoint = res.get("endpoint")
    return {
        "repo": repo,
        "repo_url": f"/{repo}" if repo else None,
        "revision": str(res.get("revision") or "")[:40],
        "adapter": bool(res.get("adapter")),
        "metrics": [
            (str(k), f"{n:.4g}" if (n := _num(v)) is not None else str(v)) for k, v in sorted(metrics.items())
        ],
        "endpoint": str(endpoint) if isinstance(endpoint, str) and endpoint else None,
    }


def _job_response(
    pages: Pages, request: Request, acc: Account, who: Principal, rec: JobRecord, error: str | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    history = _progress_history(request, rec) if rec.kind == "training" else []
    base = f"/jobs/{quote(acc.name)}/{quote(rec.id)}"
    rerun = None
    if rec.kind == "training" and rec.recipe and isinstance(rec.recipe.get("base_model"), str):
        rerun = f"/{rec.recipe['base_model']}/fine-tune?{urlencode({'from': f'{acc.name}/{rec.id}'})}"
    response = pages.render(
        request,
        "jobs/job.html",
        status,
        account=acc,
        job=rec,
        job_url=base,
        info=stage_info(rec.stage),
        command=_command(rec),
        recipe_json=json.dumps(rec.recipe, indent=2, ensure_ascii=False) if rec.recipe else "",
        created=_aware(rec.created_at),
        started=_aware(rec.started_at),
        finished=_aware(rec.finished_at),
        duration=duration(_seconds(rec)),
        log_lines=_log_tail(request, rec),
        chart=loss_chart(history),
        progress=_progress_view(history),
        result=_result_view(rec),
        can_act=_may_act(who, acc),
        rerun_url=rerun,
        environment=sorted((rec.spec.get("environment") or {}).items()),
        secret_names=sorted(rec.spec.get("secrets") or {}),
        labels=sorted(rec.labels.items()),
        error=error,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def job_page(pages: Pages, request: Request, ns: str, job_id: str) -> Response:
    if web_principal(request) is None:
        return _login(request)
    acc, who, rec = _job(request, ns, job_id)
    return _job_response(pages, request, acc, who, rec)


# ------------------------------------------------------------------------------------------------ streams
def _stream_source(request: Request, ns: str, job_id: str, kind: str) -> tuple[JobRecord, LogBook | None]:
    """The job (members only; a signed-out caller gets 404) and its log or progress book (None: no runner)."""
    if web_principal(request) is None:
        raise NotFound("Page not found")
    _, _, rec = _job(request, ns, job_id)
    manager = _manager(request)
    book = None
    if manager is not None:
        with contextlib.suppress(NotFound, NotImplementedError, OSError):
            book = manager.logs(rec.id) if kind == "logs" else manager.progress(rec.id)
    return rec, book


def logs_stream(pages: Pages, request: Request, ns: str, job_id: str) -> Response:
    """`/jobs/{ns}/{id}/logs/stream`: the job's log for the page's EventSource (session cookie; members only)."""
    _, book = _stream_source(request, ns, job_id, "logs")
    return sse.response(sse.log_lines(book, page=True), KEEPALIVE_S)


def events_stream(pages: Pages, request: Request, ns: str, job_id: str) -> Response:
    """`/jobs/{ns}/{id}/events/stream`: progress and stage changes for the page's EventSource (members only)."""
    rec, book = _stream_source(request, ns, job_id, "progress")
    stage_of = functools.partial(services(request).jobs.stage, rec.id)
    stream = sse.job_events(stage_of, (rec.stage, rec.message), book, TERMINAL, STATUS_POLL_S, page=True)
    return sse.response(stream, KEEPALIVE_S)


# ------------------------------------------------------------------------------------------------ controls
def _control_manager(request: Request) -> JobManager:
    manager = _manager(request)
    if manager is None:
        raise NotFound("Jobs are not enabled on this hub")
    return manager


def cancel(pages: Pages, request: Request, ns: str, job_id: str) -> Response:
    """POST: cancel the job (writers of the namespace), then back to its page."""
    who = web_principal(request)
    if who is None:
        raise Unauthorized("Log in to manage jobs")
    acc, who, rec = _job(request, ns, job_id)
    _require_act(who, acc)
    if rec.stage not in TERMINAL:
        _run(_control_manager(request).cancel, rec.id)
    return RedirectResponse(f"/jobs/{quote(acc.name)}/{quote(rec.id)}", status_code=303)


def run_again(pages: Pages, request: Request, ns: str, job_id: str) -> Response:
    """POST: a plain job runs again with the same spec and secrets (a training job's page links to the Fine-tune
    form filled with its recipe instead: its checks run again there)."""
    who = web_principal(request)
    if who is None:
        raise Unauthorized("Log in to manage jobs")
    acc, who, rec = _job(request, ns, job_id)
    _require_act(who, acc)
    if rec.kind != "job":
        raise BadRequest("Start a training job again from its Fine-tune form")
    spec, _ = parse_spec(rec.spec)
    secrets = services(request).jobs.secret_values(rec.id)
    manager = _control_manager(request)
    new = _run(manager.submit, who, acc.id, spec, secrets)
    return RedirectResponse(f"/jobs/{quote(acc.name)}/{quote(new.id)}", status_code=303)


# ------------------------------------------------------------------------------------------------ fine-tune
def _hp_rows() -> list[dict[str, Any]]:
    rows = []
    for name, (kind, default, lo, hi) in HYPERPARAMETERS.items():
        rows.append(
            {
                "name": name,
                "label": name.replace("_", " ").capitalize(),
                "default": default if kind is int else f"{default:g}",
                "min": f"{lo:g}" if lo is not None else "",
                "max": f"{hi:g}" if hi is not None else "",
                "step": "1" if kind is int else "any",
                "lora": name in LORA_PARAMS,
                "basic": name in BASIC_PARAMS,
            }
        )
    return rows


def _suggested_datasets(request: Request, who: Principal) -> list[str]:
    svc = services(request)
    out: list[str] = []
    for owner in [who.account.name] + [o.name for o in who.orgs]:
        repos, _ = svc.search.list(Query(RepoType.DATASET, author=owner, sort="lastModified", limit=50), who)
        out += [r.id_str for r in repos]
    return out[:200]


def _from_job(request: Request, who: Principal, ref: str) -> dict[str, Any] | None:
    """The recipe of `ns/id` (Run again on a training job's page) if the user is a member of its namespace."""
    ns, _, job_id = ref.partition("/")
    acc = services(request).accounts.find(ns) if ns else None
    if acc is None or not job_id or not who.member_of(acc.name):
        return None
    try:
        rec = services(request).jobs.find(acc.id, job_id)
    except NotFound:
        return None
    return rec.recipe if rec.kind == "training" and isinstance(rec.recipe, dict) else None


def _default_values(request: Request, who: Principal, repo: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "task": _TASK_OF_PIPELINE.get(repo.pipeline_tag or "", "text-classification"),
        "dataset": "",
        "output_repo": f"{who.account.name}/{repo.name}-finetuned",
        "namespace": who.account.name,
        "train_split": "train",
        "eval_split": "",
        "eval_fraction": "0.1",
        "dataset_config": "",
        "early_stopping_patience": "",
        "seed": "42",
        "private": False,
        "merge_adapter": False,
        "deploy": False,
        "columns": {},
        "hyperparameters": {},
    }
    ref = request.query_params.get("from", "")
    prior = _from_job(request, who, ref)
    if prior and str(prior.get("base_model", "")).lower() == repo.id_str.lower():
        for key in (
            "task",
            "dataset",
            "output_repo",
            "train_split",
            "seed",
            "private",
            "merge_adapter",
            "deploy",
        ):
            if prior.get(key) is not None:
                values[key] = prior[key]
        for key in ("eval_split", "dataset_config", "early_stopping_patience"):
            values[key] = "" if prior.get(key) is None else prior[key]
        values["eval_fraction"] = prior.get("eval_fraction", 0.1)
        values["columns"] = prior.get("columns") or {}
        values["hyperparameters"] = prior.get("hyperparameters") or {}
        values["namespace"] = ref.partition("/")[0]
    return values


def _fine_tune_response(
    pages: Pages,
    request: Request,
    ns: str,
    name: str,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    who = web_principal(request)
    if who is None:
        return _login(request)
    repo = services(request).repos.get(RepoType.MODEL, ns, name, who)
    ctx = repo_views.repo_context(request, repo, "main", "fine-tune")
    namespaces = [who.account.name] + [
        o.name for o in who.orgs if role_at_least(who.role_in(o.name), "write")
    ]
    roles = {
        task_name: [{"role": r, "required": True} for r in req]
        + [{"role": r, "required": False} for r in opt]
        for task_name, (req, opt) in TASKS.items()
    }
    response = pages.render(
        request,
        "jobs/fine_tune.html",
        status,
        **ctx,
        values=values or _default_values(request, who, repo),
        tasks=[(t, TASK_LABELS.get(t, t)) for t in TASKS],
        roles=roles,
        hyperparameters=_hp_rows(),
        datasets=_suggested_datasets(request, who),
        namespaces=namespaces,
        jobs_on=_manager(request) is not None,
        error=error,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def fine_tune_form(pages: Pages, request: Request, ns: str, name: str) -> Response:
    """`/{ns}/{model}/fine-tune`: the recipe form for a model the user can read (log in first); `?from=ns/id`
    fills it with that training job's recipe (Run again)."""
    return _fine_tune_response(pages, request, ns, name)


def _form_number(raw: str, what: str, kind: type) -> Any:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{what} must be a number") from None
    if kind is int:
        if not value.is_integer():
            raise BadRequest(f"{what} must be a whole number")
        return int(value)
    return value


def _recipe_from_form(fields: dict[str, str], base_model: str) -> dict[str, Any]:
    """The recipe body (as the page's script sends it to the API) from the form's fields (no JavaScript)."""
    task = (fields.get("task") or "").strip()
    body: dict[str, Any] = {
        "task": task,
        "base_model": base_model,
        "dataset": (fields.get("dataset") or "").strip(),
        "output_repo": (fields.get("output_repo") or "").strip(),
        "train_split": (fields.get("train_split") or "").strip() or "train",
        "eval_split": (fields.get("eval_split") or "").strip() or None,
        "dataset_config": (fields.get("dataset_config") or "").strip() or None,
        "private": fields.get("private") == "on",
        "merge_adapter": task == "text-generation" and fields.get("merge_adapter") == "on",
        "deploy": fields.get("deploy") == "on",
    }
    required, optional = TASKS.get(task, ((), ()))
    body["columns"] = {
        role: value
        for role in required + optional
        if (value := (fields.get(f"col.{task}.{role}") or "").strip())
    }
    hp: dict[str, Any] = {}
    for hp_name, (kind, _, _, _) in HYPERPARAMETERS.items():
        if hp_name in LORA_PARAMS and task != "text-generation":
            continue
        raw = (fields.get(f"hp.{hp_name}") or "").strip()
        if raw:
            hp[hp_name] = _form_number(raw, hp_name.replace("_", " ").capitalize(), kind)
    body["hyperparameters"] = hp
    if raw := (fields.get("eval_fraction") or "").strip():
        body["eval_fraction"] = _form_number(raw, "Evaluation fraction", float)
    raw = (fields.get("early_stopping_patience") or "").strip()
    body["early_stopping_patience"] = _form_number(raw, "Early stopping patience", int) if raw else None
    raw = (fields.get("seed") or "").strip()
    body["seed"] = _form_number(raw, "Seed", int) if raw else 42
    return body


def fine_tune_submit(pages: Pages, request: Request, ns: str, name: str) -> Response:
    """POST (the form without JavaScript): the same checks as `POST /api/training/{namespace}` (training/plan.py),
    then the job's page; a refused recipe shows the form again with the reason."""
    who = web_principal(request)
    if who is None:
        raise Unauthorized("Log in to fine-tune a model")
    repo = services(request).repos.get(RepoType.MODEL, ns, name, who)
    fields = form_fields(request)
    namespace = (fields.get("namespace") or who.account.name).strip()
    try:
        body = _recipe_from_form(fields, repo.id_str)
        checked = plan.check(services(request), who, namespace, body)
        manager = _manager(request)
        if manager is None:
            raise BadRequest("Jobs are not enabled on this hub: a fine-tune cannot start")
        timeout = services(request).settings.jobs_timeout or None
        spec = plan.job_spec(checked.recipe, int(timeout) if timeout else None)
        rec = _run(manager.submit, who, checked.namespace.id, spec, {}, "training", checked.recipe.to_json())
    except HubError as e:
        if e.status >= 500 or e.status == 401:
            raise
        values = _default_values(request, who, repo)
        values.update(
            {k: v for k, v in fields.items() if k in values and k not in ("columns", "hyperparameters")}
        )
        for key in ("private", "merge_adapter", "deploy"):
            values[key] = fields.get(key) == "on"
        task = fields.get("task") or ""
        values["columns"] = {
            k.split(".", 2)[2]: v
            for k, v in fields.items()
            if k.startswith(f"col.{task}.") and k.count(".") == 2
        }
        values["hyperparameters"] = {k[3:]: v for k, v in fields.items() if k.startswith("hp.")}
        return _fine_tune_response(pages, request, ns, name, values, e.message, e.status)
    return RedirectResponse(f"/jobs/{quote(checked.namespace.name)}/{quote(rec.id)}", status_code=303)


def can_fine_tune(who: Principal | None, repo: Any) -> bool:
    """The model page's Fine-tune button: a signed-in user who may write somewhere (a model repo they can read)."""
    return who is not None and who.can_write and getattr(repo, "type", None) is RepoType.MODEL


# ------------------------------------------------------------------------------------------------ routes
def routes(kit: RouteKit) -> list[BaseRoute]:
    """Fixed paths (before /{user} and the repo pages)."""
    kit.pages.env.globals["can_fine_tune"] = can_fine_tune
    kit.pages.env.globals["job_stage_info"] = stage_info
    g, form = kit.page, kit.form
    return [
        Route("/jobs/{ns}", g(list_page), methods=["GET"]),
        Route("/jobs/{ns}/{job_id}", g(job_page), methods=["GET"]),
        Route("/jobs/{ns}/{job_id}/logs/stream", g(logs_stream), methods=["GET"]),
        Route("/jobs/{ns}/{job_id}/events/stream", g(events_stream), methods=["GET"]),
        Route("/jobs/{ns}/{job_id}/cancel", form(cancel), methods=["POST"]),
        Route("/jobs/{ns}/{job_id}/run-again", form(run_again), methods=["POST"]),
    ]


def repo_routes(kit: RouteKit, base: str, prefix: str | None) -> list[BaseRoute]:
    """`{repo_url}/fine-tune` for models."""
    if prefix is not None:
        return []
    return [
        Route(base + "/fine-tune", kit.page(fine_tune_form), methods=["GET"]),
        Route(base + "/fine-tune", kit.form(fine_tune_submit), methods=["POST"]),
    ]


__all__ = ["can_fine_tune", "duration", "loss_chart", "repo_routes", "routes", "stage_info"]
