"""The Hub's Inference Endpoints management API (`/v2/endpoint/...`), in the shapes `huggingface_hub` sends and
reads (hub-protocol-2.md §8), over the hub's own endpoint manager.

The client sends these calls to the module constant ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT``
(no environment variable moves it): set it to ``f"{hub_url}/v2"`` before calling. ``status.url`` is the hub's
``/endpoints/{name}``, so ``InferenceEndpoint.wait()`` (polls ``{url}/health``) and ``.client`` work unchanged.

Rules (docs/inference.md "The Hub's endpoint API"):
- Endpoint names are global on a hub (one ``/endpoints/{name}`` URL each); every endpoint also has an owner
  namespace: the one it was created in here, else its model's namespace.
- Seeing (list, get) needs membership of the namespace and ``endpoint_rule(..., "view")`` on the model; anything
  else answers 404, like a name that does not exist. Listing a namespace one is not a member of is 403.
- Creating, updating, pausing, resuming, scaling to zero and deleting need write access to the namespace (own
  namespace, or org role write/admin) and ``endpoint_rule(..., "manage")`` on the model (write access to the repo
  and a token with ``inference.endpoints.write``), the rule of ``/endpoints/-/api`` and the web pages.
- CPU only: an accelerator other than ``cpu``, GPU instance types, more than one replica, custom images, commands,
  env/secrets, private links and custom routes answer 400 ("not available on this hub").
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, Forbidden, HubError, NotFound, RepoNotFound, Unauthorized
from modelyard.hub._time import iso
from modelyard.hub.access import role_at_least
from modelyard.hub.accounts import Principal
from modelyard.inference.config import EndpointConfig
from modelyard.inference.errors import EndpointNotFound, InvalidInput
from modelyard.inference.manager import FAILED, LOADING, PAUSED, READY, UNLOADED, Endpoint, EndpointManager
from modelyard.server.api._common import base_url, json_response, parse_json, principal, services
from modelyard.server.edge import read_body
from modelyard.server.endpoints import PREFIX, audit_endpoint, endpoint_rule
from modelyard.server.routing import Router
from modelyard.types import RepoId

BASE = "/v2/endpoint"
NS = r"(?P<namespace>[^/]+)"
NAME = r"(?P<name>[^/]+)"
HEALTH_ROUTE = "/health"
DEFAULT_SCALE_TO_ZERO_MIN = 15  # minutes idle before unloading when minReplica is 0 and no timeout is given
GPU_HINTS = ("gpu", "nvidia", "neuron", "inf1", "inf2", "tpu")  # in an instanceType: not CPU
STATES = {
    PAUSED: "paused",
    UNLOADED: "scaledToZero",
    LOADING: "initializing",
    READY: "running",
    FAILED: "failed",
}
_SIZE = re.compile(r"^x(\d{1,4})$")


# ------------------------------------------------------------------------------------------------ shapes
def namespace_of(config: EndpointConfig) -> str:
    """The endpoint's owner namespace: set when it was created here, else its model's namespace."""
    return config.namespace or config.repo_id.split("/", 1)[0]


def _cpus() -> int:
    return os.cpu_count() or 1


def endpoint_json(request: Request, endpoint: Endpoint) -> dict[str, Any]:
    """An Endpoint as `InferenceEndpoint._populate_from_raw` reads it (hub-protocol-2.md §8.2)."""
    c = endpoint.config
    state = STATES.get(endpoint.state, "pending")
    created = datetime.fromtimestamp(endpoint.created_at, UTC)
    updated = datetime.fromtimestamp(endpoint.logs[-1][0], UTC) if endpoint.logs else created
    url = None if endpoint.state == PAUSED else f"{base_url(request)}{PREFIX}/{endpoint.name}"
    keep = c.keep_alive_s
    running = endpoint.state == READY
    return {
        "name": endpoint.name,
        "namespace": namespace_of(c),
        "type": c.access,
        "accountId": None,
        "provider": {"vendor": "modelyard", "region": "local"},
        "compute": {
            "accelerator": "cpu",
            "instanceType": "cpu",
            "instanceSize": f"x{c.threads or _cpus()}",
            "scaling": {
                "minReplica": 0 if keep is not None else c.min_replicas,
                "maxReplica": c.max_replicas,
                "scaleToZeroTimeout": None if keep is None else max(1, math.ceil(keep / 60)),
            },
        },
        "model": {
            "repository": c.repo_id,
            "revision": c.revision,
            "task": endpoint.task,
            "framework": "pytorch",
            "image": {"huggingface": {}},
            "env": {},
            "secrets": {},
        },
        "status": {
            "state": state,
            "url": url,
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "createdBy": None,
            "updatedBy": None,
            "message": endpoint.error or f"Endpoint is {state}",
            "errorMessage": endpoint.error if endpoint.state == FAILED else None,
            "readyReplica": 1 if running else 0,
            "targetReplica": 0 if endpoint.state in (PAUSED, UNLOADED) else 1,
        },
        "healthRoute": HEALTH_ROUTE,
        "cacheHttpResponses": False,
        "tags": [],
    }


# ----------------------------------------------------------------------------------- body → EndpointConfig
def _section(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be an object")
    return value


def _opt_str(section: dict[str, Any], key: str, where: str) -> str | None:
    value = section.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"'{where}.{key}' must be a string")
    return value


def _opt_int(section: dict[str, Any], key: str, where: str, low: int) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or value > 1_000_000:
        raise InvalidInput(f"'{where}.{key}' must be an integer >= {low}")
    return value


def _unavailable(what: str) -> BadRequest:
    return BadRequest(f"{what} is not available on this hub: it serves models on CPU with its own runtime")


def _compute(compute: dict[str, Any], values: dict[str, Any], replicas: bool) -> None:
    accelerator = _opt_str(compute, "accelerator", "compute")
    if accelerator is not None and accelerator.strip().lower() != "cpu":
        raise _unavailable(f"Accelerator {accelerator!r}")
    instance_type = _opt_str(compute, "instanceType", "compute")
    if instance_type is not None and any(h in instance_type.lower() for h in GPU_HINTS):
        raise _unavailable(f"Instance type {instance_type!r}")
    size = _opt_str(compute, "instanceSize", "compute")
    if size is not None:
        m = _SIZE.match(size.strip().lower())
        if m is None or int(m[1]) < 1:
            raise InvalidInput(f"Invalid instanceSize {size!r}: x1, x2, x4, ... (CPU cores)")
        values["threads"] = min(int(m[1]), _cpus())
    scaling = _section(compute, "scaling") if "scaling" in compute else {}
    min_replica = _opt_int(scaling, "minReplica", "compute.scaling", 0)
    max_replica = _opt_int(scaling, "maxReplica", "compute.scaling", 1)
    timeout = _opt_int(scaling, "scaleToZeroTimeout", "compute.scaling", 1)
    if scaling.get("measure") is not None and not isinstance(scaling["measure"], dict):
        raise InvalidInput("'compute.scaling.measure' must be an object")
    if min_replica is not None and max_replica is not None and min_replica > max_replica:
        raise InvalidInput("'compute.scaling.minReplica' must not exceed maxReplica")
    if not replicas and ((max_replica or 1) > 1 or (min_replica or 0) > 1):
        raise _unavailable("More than one replica (inference_backend = 'ray' runs several)")
    if max_replica is not None:
        values["max_replicas"] = max(1, max_replica)
    if min_replica is not None:
        values["min_replicas"] = max(1, min_replica)
    if values.get("min_replicas", 1) > values.get("max_replicas", 1):  # a sparse update of one bound
        values["min_replicas"] = values.get("max_replicas", 1)
    keep = values.get("keep_alive_s")
    current_min = 0 if keep is not None else 1
    current_timeout = max(1, math.ceil(keep / 60)) if keep is not None else DEFAULT_SCALE_TO_ZERO_MIN
    new_min = current_min if min_replica is None else min_replica
    new_timeout = current_timeout if timeout is None else timeout
    values["keep_alive_s"] = None if new_min >= 1 else float(new_timeout * 60)


def _model(model: dict[str, Any], values: dict[str, Any], creating: bool) -> None:
    repository = _opt_str(model, "repository", "model")
    if creating and not repository:
        raise InvalidInput("'model.repository' is required")
    if repository is not None:
        values["repo_id"] = repository
    if "revision" in model:
        values["revision"] = _opt_str(model, "revision", "model") or "main"
    if "task" in model:
        values["task"] = _opt_str(model, "task", "model")
    _opt_str(model, "framework", "model")  # any framework: the runtime picks the model's PyTorch weights
    image = model.get("image")
    if image is not None and image != {"huggingface": {}}:
        kind = next(iter(image), "custom") if isinstance(image, dict) and image else "custom"
        raise _unavailable(f"The container image {kind!r}")
    for key, what in (("command", "A container command"), ("args", "Container arguments")):
        if model.get(key):
            raise _unavailable(what)
    for key in ("env", "secrets"):
        if model.get(key):
            raise _unavailable(f"Setting model.{key}")


def config_from_body(
    body: Any, namespace: str, current: EndpointConfig | None = None, replicas: bool = False
) -> EndpointConfig:
    """The Hub's create body (or, with `current`, a sparse update body) as an EndpointConfig. `replicas`: the
    backend runs several replicas of a model (Ray); otherwise more than one is 501."""
    if not isinstance(body, dict):
        raise InvalidInput("Body must be a JSON object")
    creating = current is None
    values: dict[str, Any] = current.to_dict() if current is not None else {}
    if creating:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("'name' is required")
        values.update(name=name, namespace=namespace, access="authenticated", keep_alive_s=None)
    _model(_section(body, "model"), values, creating)
    _compute(_section(body, "compute"), values, replicas)
    provider = _section(body, "provider")
    _opt_str(provider, "vendor", "provider")  # where it runs: this hub, whatever the name
    _opt_str(provider, "region", "provider")
    kind = body.get("type")
    if kind is not None:
        if kind not in ("public", "authenticated", "protected", "private"):
            raise InvalidInput("'type' must be public, authenticated or private")
        values["access"] = "authenticated" if kind == "protected" else kind
    if body.get("privateService"):
        raise _unavailable("A private link (privateService)")
    if body.get("route"):
        raise _unavailable("A custom route (domain, path)")
    if body.get("tags") is not None and not isinstance(body["tags"], list):
        raise InvalidInput("'tags' must be a list")
    return EndpointConfig.from_dict(values)


# ---------------------------------------------------------------------------------------------- plumbing
def _replicas(request: Request) -> bool:
    """Whether endpoints may run several replicas: only on Ray Serve."""
    return services(request).settings.inference_backend == "ray"


def _manager(request: Request) -> EndpointManager:
    return request.app.state.endpoint_manager  # type: ignore[no-any-return]


async def _caller(request: Request) -> Principal | None:
    return await run_in_threadpool(principal, request)


async def _signed_in(request: Request) -> Principal:
    who = await _caller(request)
    if who is None:
        raise Unauthorized("You must be authenticated to use Inference Endpoints: send a token")
    return who


def _check_namespace(who: Principal, namespace: str, write: bool) -> None:
    role = who.role_in(namespace)
    if role is None:
        raise Forbidden(f"You are not a member of namespace {namespace!r}")
    if write and not role_at_least(role, "write"):
        raise Forbidden(f"You need the write role in {namespace!r} to manage its Inference Endpoints")


def _rule(request: Request, who: Principal | None, repo_id: str, use: str) -> None:
    try:
        rid = RepoId.parse(repo_id)
    except ValueError:
        raise RepoNotFound(f"Repository {repo_id} not found") from None
    endpoint_rule(services(request), who, rid.namespace, rid.name, use)


async def _endpoint(request: Request, who: Principal, namespace: str, name: str, use: str) -> Endpoint:
    """The endpoint `name` of `namespace` if the caller may `use` it; an endpoint it may not see (another
    namespace, a model it cannot read) answers like a name that does not exist (404)."""
    try:
        endpoint = _manager(request).get(name)
    except EndpointNotFound:
        raise EndpointNotFound(f"Inference Endpoint {namespace}/{name} not found") from None
    missing = EndpointNotFound(f"Inference Endpoint {namespace}/{name} not found")
    if namespace_of(endpoint.config).lower() != namespace.lower() or who.role_in(namespace) is None:
        raise missing
    try:
        await run_in_threadpool(_rule, request, who, endpoint.config.repo_id, "view")
    except NotFound:
        raise missing from None
    if use == "manage":
        _check_namespace(who, namespace, write=True)
        await run_in_threadpool(_rule, request, who, endpoint.config.repo_id, "manage")
    return endpoint


async def _body(request: Request) -> Any:
    st = services(request).settings
    raw = await read_body(request, st.max_json_body)
    return parse_json(raw, st.max_json_body, st.max_json_depth)


def _audit(request: Request, action: str, who: Principal, endpoint: Endpoint) -> None:
    audit_endpoint(services(request), action, who, endpoint)


# ---------------------------------------------------------------------------------------------- handlers
async def list_endpoints(request: Request, namespace: str) -> Response:
    who = await _signed_in(request)
    _check_namespace(who, namespace, write=False)
    items = []
    for endpoint in _manager(request).list_endpoints():
        if namespace_of(endpoint.config).lower() != namespace.lower():
            continue
        try:
            await run_in_threadpool(_rule, request, who, endpoint.config.repo_id, "view")
        except HubError:
            continue
        items.append(endpoint_json(request, endpoint))
    return json_response({"items": items})


async def create_endpoint(request: Request, namespace: str) -> Response:
    who = await _signed_in(request)
    body = await _body(request)
    _check_namespace(who, namespace, write=True)
    accounts = (who.account, *who.orgs)  # the namespace as its account spells it
    canonical = next((a.name for a in accounts if a.name.lower() == namespace.lower()), namespace)
    config = config_from_body(body, canonical, replicas=_replicas(request))
    await run_in_threadpool(_rule, request, who, config.repo_id, "manage")
    endpoint = await _manager(request).create(config, load=True)
    await run_in_threadpool(_audit, request, "endpoint.create", who, endpoint)
    return json_response(endpoint_json(request, endpoint))


async def get_endpoint(request: Request, namespace: str, name: str) -> Response:
    who = await _signed_in(request)
    return json_response(endpoint_json(request, await _endpoint(request, who, namespace, name, "view")))


async def update_endpoint(request: Request, namespace: str, name: str) -> Response:
    who = await _signed_in(request)
    body = await _body(request)
    endpoint = await _endpoint(request, who, namespace, name, "manage")
    config = config_from_body(body, namespace, endpoint.config, replicas=_replicas(request))
    if config.repo_id != endpoint.config.repo_id:  # deploying another model needs the same right on it
        await run_in_threadpool(_rule, request, who, config.repo_id, "manage")
    if config != endpoint.config:
        endpoint = await _manager(request).reconfigure(endpoint.name, config)
        await run_in_threadpool(_audit, request, "endpoint.update", who, endpoint)
    return json_response(endpoint_json(request, endpoint))


async def delete_endpoint(request: Request, namespace: str, name: str) -> Response:
    who = await _signed_in(request)
    endpoint = await _endpoint(request, who, namespace, name, "manage")
    out = endpoint_json(request, endpoint)
    await _manager(request).delete(endpoint.name)
    await run_in_threadpool(_audit, request, "endpoint.delete", who, endpoint)
    return json_response(out)


async def endpoint_action(request: Request, namespace: str, name: str, action: str) -> Response:
    """pause (unload, refuse requests until resumed), resume (load), scale-to-zero (unload; the next request
    loads it again)."""
    who = await _signed_in(request)
    endpoint = await _endpoint(request, who, namespace, name, "manage")
    manager = _manager(request)
    if action == "pause":
        endpoint = await manager.pause(endpoint.name)
    elif action == "resume":
        endpoint = await manager.resume(endpoint.name)
    else:
        endpoint = await manager.unload(endpoint.name)
    return json_response(endpoint_json(request, endpoint))


async def hardware(request: Request, namespace: str) -> Response:
    """`list_inference_endpoints_hardware`: the one kind of compute this hub offers (its CPU cores)."""
    who = await _signed_in(request)
    _check_namespace(who, namespace, write=False)
    cpus = _cpus()
    sizes = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= cpus] or [1]
    computes = [
        {
            "id": f"modelyard-cpu-x{n}",
            "accelerator": "cpu",
            "instanceType": "cpu",
            "instanceSize": f"x{n}",
            "architecture": os.uname().machine,
            "numAccelerators": n,
            "numCpus": n,
            "memoryGb": 0,
            "gpuMemoryGb": None,
            "pricePerHour": 0,
            "status": "available",
            "quota": {"maxAccelerators": cpus, "usedAccelerators": 0},
        }
        for n in sizes
    ]
    regions = [{"name": "local", "computes": computes}]
    return json_response({"vendors": [{"name": "modelyard", "regions": regions}]})


def register(r: Router) -> None:
    r.add("GET", rf"{BASE}/{NS}", list_endpoints)
    r.add("POST", rf"{BASE}/{NS}", create_endpoint)
    r.add("GET", rf"{BASE}/{NS}/{NAME}", get_endpoint)
    r.add("PUT", rf"{BASE}/{NS}/{NAME}", update_endpoint)
    r.add("DELETE", rf"{BASE}/{NS}/{NAME}", delete_endpoint)
    r.add("POST", rf"{BASE}/{NS}/{NAME}/(?P<action>pause|resume|scale-to-zero)", endpoint_action)
    r.add("GET", rf"/v2/provider/{NS}", hardware)
