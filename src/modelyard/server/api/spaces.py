"""The Hub's Spaces API (hub-protocol-2.md §6): runtime and control (restart, pause, sleep time, hardware), secrets
and variables, hardware list, build and run logs (SSE). The settings live in hub/spaces.py (SpaceStore), the
running apps in spaces/manager.py (`app.state.space_manager`, None when spaces_enabled is off).

Access: the runtime and the logs need read access to the Space (a private Space is a 404 to others); everything
that changes it, and the secrets list, needs write access (`Repos.get_for_write`: the one write rule, fine-grained
tokens need ``repo.write`` on the Space). Secret values are never answered, and request bodies are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, HardwareNotAvailable, NotFound
from modelyard.hub.events import HubEvent, RefUpdate
from modelyard.hub.repos import Repo
from modelyard.hub.spaces import MAX_ENTRIES, check_description, check_key, check_value
from modelyard.server import sse
from modelyard.server.api._common import json_response, parse_json, principal, services
from modelyard.server.edge import read_body
from modelyard.server.routing import REPO, Router
from modelyard.spaces.runtime import SpaceRuntime, Stage, hardware_info
from modelyard.spaces.urls import subdomain
from modelyard.types import RepoType

if TYPE_CHECKING:
    from modelyard.spaces.manager import SpaceManager

DISABLED = "Spaces are disabled on this hub"
KEEP_ALIVE_SECONDS = 15.0
MAX_SLEEP_TIME = 2**31 - 1
SPACE = rf"/api/spaces/{REPO}"


def manager_of(request: Request) -> SpaceManager | None:
    return getattr(request.app.state, "space_manager", None)


def _manager(request: Request) -> SpaceManager:
    m = manager_of(request)
    if m is None:
        raise BadRequest(f"{DISABLED} (spaces_enabled is off): Spaces only store their files")
    return m


async def _space(request: Request, ns: str, name: str, write: bool) -> Repo:
    """The Space if the caller may read it (write: and change it); RepoNotFound, Unauthorized or Forbidden."""
    repos = services(request).repos

    def look() -> Repo:
        who = principal(request)
        if write:
            return repos.get_for_write(RepoType.SPACE, ns, name, who)
        return repos.get(RepoType.SPACE, ns, name, who)

    return await run_in_threadpool(look)


async def _body(request: Request) -> dict[str, Any]:
    st = services(request).settings
    raw = await read_body(request, st.max_json_body)
    body = parse_json(raw, st.max_json_body, st.max_json_depth)
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


def runtime_of(request: Request, repo: Repo) -> SpaceRuntime:
    """The runtime `get_space_runtime` answers (sync: the settings row may be read; call it off the loop)."""
    m = manager_of(request)
    if m is not None:
        return m.runtime(repo)
    conf = services(request).spaces.get(repo.id)
    return SpaceRuntime(
        Stage.STOPPED,
        sdk=repo.sdk,
        error_message=DISABLED,
        requested_hardware=conf.hardware,
        sleep_time=conf.sleep_time if conf.sleep_time is not None and conf.sleep_time >= 0 else None,
    )


async def _changed(request: Request, repo: Repo) -> Response:
    """Settings changed: a running app restarts to see them (manager); the runtime as it is now."""
    m = manager_of(request)
    if m is not None:
        return json_response((await m.settings_changed(repo)).to_json())
    return json_response((await run_in_threadpool(runtime_of, request, repo)).to_json())


def space_fields(request: Request, repo: Repo) -> dict[str, Any]:
    """`host`, `subdomain` and `runtime` of `GET /api/spaces/{id}` (what gradio_client resolves a Space by)."""
    m = manager_of(request)
    host = ""
    if m is not None:
        host = m.urls.host(repo.namespace, repo.name)
        if m.urls.prefix(repo.namespace, repo.name):  # gradio_client joins "config" to it: keep the prefix
            host += "/"
    return {
        "host": host,
        "subdomain": subdomain(repo.namespace, repo.name),
        "runtime": runtime_of(request, repo).to_json(),
    }


# --- runtime and control ------------------------------------------------------------------------------------
def runtime(request: Request, ns: str, name: str) -> Response:
    repo = services(request).repos.get(RepoType.SPACE, ns, name, principal(request))
    return json_response(runtime_of(request, repo).to_json())


async def restart(request: Request, ns: str, name: str) -> Response:
    repo = await _space(request, ns, name, write=True)
    factory = request.query_params.get("factory", "").lower() in {"1", "true", "yes", "on"}
    return json_response((await _manager(request).restart(repo, factory=factory)).to_json())


async def pause(request: Request, ns: str, name: str) -> Response:
    repo = await _space(request, ns, name, write=True)
    return json_response((await _manager(request).pause(repo)).to_json())


def _sleep_seconds(value: Any, field: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (value == -1 or 1 <= value <= MAX_SLEEP_TIME)
    ):
        raise BadRequest(f"Invalid '{field}': whole seconds (at least 1), or -1 to never sleep")
    return value


async def sleeptime(request: Request, ns: str, name: str) -> Response:
    repo = await _space(request, ns, name, write=True)
    seconds = _sleep_seconds((await _body(request)).get("seconds"), "seconds")
    await run_in_threadpool(services(request).spaces.set_sleep_time, repo.id, seconds)
    return await _changed(request, repo)


def _check_flavor(flavor: Any) -> str:
    offered = [h["name"] for h in hardware_info()]
    if not isinstance(flavor, str) or not flavor:
        raise BadRequest(f"Body needs 'flavor': one of {', '.join(offered)}")
    if flavor not in offered:
        shown = flavor if len(flavor) <= 40 else flavor[:37] + "..."
        raise HardwareNotAvailable(
            f"Hardware {shown!r} is not available on this hub: it offers {', '.join(offered)} "
            "(see list_spaces_hardware)"
        )
    return flavor


async def hardware(request: Request, ns: str, name: str) -> Response:
    repo = await _space(request, ns, name, write=True)
    body = await _body(request)
    flavor = body.get("flavor")
    flavor = _check_flavor(flavor)
    seconds = body.get("sleepTimeSeconds")
    if seconds is not None:
        seconds = _sleep_seconds(seconds, "sleepTimeSeconds")
    store = services(request).spaces

    def save() -> None:
        store.set_hardware(repo.id, flavor)
        if seconds is not None:
            store.set_sleep_time(repo.id, seconds)

    await run_in_threadpool(save)
    return await _changed(request, repo)


async def dev_mode(request: Request, ns: str, name: str) -> Response:
    await _space(request, ns, name, write=True)
    raise BadRequest(
        "Dev mode (SSH and VS Code into the running Space) is not supported on this hub: "
        "push a commit to change the app, or read its logs (fetch_space_logs)"
    )


# --- secrets and variables ------------------------------------------------------------------------------------
def _secrets_json(request: Request, repo: Repo) -> dict[str, Any]:
    return {
        k: {"description": s.description, "updatedAt": s.updated_at}
        for k, s in services(request).spaces.secrets(repo.id).items()
    }


def _variables_json(request: Request, repo: Repo) -> dict[str, Any]:
    return {
        k: {"value": v.value, "description": v.description, "updatedAt": v.updated_at}
        for k, v in services(request).spaces.variables(repo.id).items()
    }


async def secrets(request: Request, ns: str, name: str) -> Response:
    """GET: the keys with description and date, never a value. POST {key, value, description?}: add or replace.
    DELETE {key}: remove (a key that is not there is no error). POST and DELETE answer the keys too."""
    return await _entries(request, ns, name, "secret")


async def variables(request: Request, ns: str, name: str) -> Response:
    """GET: the variables with their values. POST and DELETE as for secrets, answering the whole map."""
    return await _entries(request, ns, name, "variable")


async def _entries(request: Request, ns: str, name: str, kind: Literal["secret", "variable"]) -> Response:
    repo = await _space(request, ns, name, write=True)
    listing = _secrets_json if kind == "secret" else _variables_json
    if request.method in ("GET", "HEAD"):
        return json_response(await run_in_threadpool(listing, request, repo))
    body = await _body(request)
    store = services(request).spaces
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise BadRequest("Body needs 'key': a string")
    if request.method == "POST":
        if "value" not in body:
            raise BadRequest("Body needs 'value': a string")
        add = store.add_secret if kind == "secret" else store.add_variable
        value: Any = body["value"]  # the store checks both (a string; a string or null)
        description: Any = body.get("description")
        await run_in_threadpool(add, repo.id, key, value, description)
    else:
        drop = store.delete_secret if kind == "secret" else store.delete_variable
        await run_in_threadpool(drop, repo.id, key)
    m = manager_of(request)
    if m is not None:
        await m.settings_changed(repo)  # a running app restarts to see them, as on the Hub
    return json_response(await run_in_threadpool(listing, request, repo))


# --- duplicate_repo of a Space (server/api/repo_admin.py) ----------------------------------------------------
@dataclass(frozen=True)
class DuplicateSetup:
    hardware: str | None
    sleep_time: int | None
    secrets: list[tuple[str, str, str | None]]
    variables: list[tuple[str, str, str | None]]


def _pairs(body: dict[str, Any], field: str) -> list[tuple[str, str, str | None]]:
    items = body.get(field)
    if items is None:
        return []
    if not isinstance(items, list) or len(items) > MAX_ENTRIES:
        raise BadRequest(f"Invalid '{field}': a list of at most {MAX_ENTRIES} {{key, value, description?}}")
    out: list[tuple[str, str, str | None]] = []
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest(f"Invalid '{field}': each item is {{key, value, description?}}")
        key = check_key(item.get("key"))
        out.append((key, check_value(item.get("value")), check_description(item.get("description"))))
    if len({k for k, _, _ in out}) != len(out):
        raise BadRequest(f"Invalid '{field}': a key is given twice")
    return out


def duplicate_setup(body: dict[str, Any]) -> DuplicateSetup:
    """The Space-only fields of a duplicate request, all checked (nothing is created when one is wrong)."""
    flavor = body.get("hardware")
    if flavor is not None:
        _check_flavor(flavor)
    seconds = body.get("sleepTimeSeconds")
    if seconds is not None:
        seconds = _sleep_seconds(seconds, "sleepTimeSeconds")
    secrets, variables = _pairs(body, "secrets"), _pairs(body, "variables")
    both = {k for k, _, _ in secrets} & {k for k, _, _ in variables}
    if both:
        raise BadRequest(f"Invalid key {sorted(both)[0][:40]!r}: given as a secret and as a variable")
    if body.get("volumes"):
        raise BadRequest("Volumes are not supported on this hub")
    return DuplicateSetup(flavor, seconds, secrets, variables)


def apply_duplicate_setup(request: Request, src: Repo, dst: Repo, setup: DuplicateSetup) -> None:
    """(sync) The source's variables (not its secrets: the Hub never copies secret values), then the given
    settings, secrets and variables; then the new Space builds (a commit event on its main branch)."""
    svc = services(request)
    store = svc.spaces
    try:
        given_secrets = {k for k, _, _ in setup.secrets}
        for key, var in store.variables(src.id).items():
            if key not in given_secrets:
                store.add_variable(dst.id, key, var.value, var.description)
        for key, value, description in setup.secrets:
            store.add_secret(dst.id, key, value, description)
        for key, value, description in setup.variables:
            store.add_variable(dst.id, key, value, description)
        if setup.hardware is not None:
            store.set_hardware(dst.id, setup.hardware)
        if setup.sleep_time is not None:
            store.set_sleep_time(dst.id, setup.sleep_time)
    except Exception:
        svc.repos.delete(principal(request), dst.type, dst.namespace, dst.name)
        raise
    if dst.head_sha:
        main = RefUpdate("refs/heads/main", None, dst.head_sha)
        svc.repos.events.emit(HubEvent("repo.content", "update", dst, refs=(main,)))


# --- hardware, logs -------------------------------------------------------------------------------------------
def hardware_list(request: Request) -> Response:
    return json_response(hardware_info())


def zero_gpu_quota(request: Request) -> Response:
    raise NotFound("ZeroGPU is not available on this hub: Spaces run on cpu-basic (this machine)")


async def logs(request: Request, ns: str, name: str, kind: str) -> Response:
    """SSE (server/sse.py): the lines kept so far, then new ones while the build (or the run) goes on; a
    `: keep-alive` comment every 15 s of silence. The stream ends when that build or run ends. Non-follow readers
    (huggingface_hub) stop at the first event newer than the response's Date header + 1 s, or after 5 s of
    silence."""
    repo = await _space(request, ns, name, write=False)
    book = _manager(request).logs(repo, "build" if kind == "build" else "run")
    return sse.response(sse.log_lines(book), KEEP_ALIVE_SECONDS, request.method == "HEAD")


def register(r: Router) -> None:
    """Registered before the repo routes: `/api/spaces/zero-gpu/quota` would otherwise read as a repo id."""
    r.add("GET", r"/api/spaces/hardware", hardware_list)
    r.add("GET", r"/api/spaces/zero-gpu/quota", zero_gpu_quota)
    r.add("GET", SPACE + r"/runtime", runtime)
    r.add("POST", SPACE + r"/restart", restart)
    r.add("POST", SPACE + r"/pause", pause)
    r.add("POST", SPACE + r"/sleeptime", sleeptime)
    r.add("POST", SPACE + r"/hardware", hardware)
    r.add("POST", SPACE + r"/dev-mode", dev_mode)
    r.add("GET,POST,DELETE", SPACE + r"/secrets", secrets)
    r.add("GET,POST,DELETE", SPACE + r"/variables", variables)
    r.add("GET", SPACE + r"/logs/(?P<kind>build|run)", logs)
