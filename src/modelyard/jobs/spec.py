"""A job as the Hub's Jobs API speaks it: the JobSpec a client sends (`parse_spec`), how its image maps to a way
of running here (`Runtime`), and the JobInfo / ScheduledJobInfo answered (`job_info`, `scheduled_info`).

Image mapping (no container runtime here):
- `ghcr.io/astral-sh/uv:…`, `astral/uv:…` and `python:3.X…`: a Python environment built with uv on this machine's
  python3.X (`Runtime.kind == "python"`); a `uv run` command is read here (`--with`, `--python`, the script's
  inline `# /// script` dependencies) and runs as `python <script>` in that environment.
- `modelyard/train` (TRAIN_IMAGE): the hub's own Python environment (torch, transformers, ...), for training
  recipes (`Runtime.kind == "hub"`).
- any other image, and `spaceId`: refused (400 JobImageNotSupported) with the reason.
"""

from __future__ import annotations

import re
import secrets as _secrets
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import BadRequest, JobImageNotSupported
from modelyard.hub._time import iso, now

TRAIN_IMAGE = "modelyard/train"
DEFAULT_UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"
STAGES = ("SCHEDULING", "RUNNING", "COMPLETED", "CANCELED", "ERROR", "DELETED")
TERMINAL = frozenset({"COMPLETED", "CANCELED", "ERROR", "DELETED"})
FLAVORS_CPU = ("cpu-basic",)
VOLUME_TYPES = ("bucket", "model", "dataset", "space")
MAX_COMMAND_ARGS = 1000
MAX_ENV = 200
MAX_LABELS = 50
MAX_TIMEOUT = 7 * 24 * 3600
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PY_TAG = re.compile(r"python:?(3\.\d{1,2})")


def new_job_id() -> str:
    return _secrets.token_hex(12)


@dataclass(frozen=True)
class Volume:
    type: str  # bucket | model | dataset | space
    source: str  # "ns/name"
    mount_path: str  # absolute, inside the job
    read_only: bool = True
    revision: str | None = None  # repos only
    path: str | None = None  # a subfolder of the source

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "source": self.source,
            "mountPath": self.mount_path,
            "readOnly": self.read_only,
        }
        if self.revision:
            out["revision"] = self.revision
        if self.path:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class Runtime:
    kind: str  # "python": an env built by uv; "hub": the hub's own environment
    python: str | None = None  # "3.12" (from the image tag or `uv run --python`), None: the default


@dataclass(frozen=True)
class JobSpec:
    image: str  # dockerImage as sent
    command: list[str]
    arguments: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()  # names only: values are stored encrypted (hub/jobs.py)
    flavor: str = "cpu-basic"
    timeout: int | None = None  # seconds
    labels: dict[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()
    attempts: int | None = None

    def runtime(self) -> Runtime:
        return runtime_of(self.image)

    def to_json(self) -> dict[str, Any]:
        """As stored and answered (camelCase; secrets as names only)."""
        out: dict[str, Any] = {
            "dockerImage": self.image,
            "command": list(self.command),
            "arguments": list(self.arguments),
            "environment": dict(self.environment),
            "secrets": {k: "" for k in self.secret_keys} if self.secret_keys else None,
            "flavor": self.flavor,
            "labels": dict(self.labels),
            "volumes": [v.to_json() for v in self.volumes],
        }
        if self.timeout is not None:
            out["timeoutSeconds"] = self.timeout
            out["timeout"] = self.timeout
        if out["secrets"] is None:
            del out["secrets"]
        return out


def runtime_of(image: str) -> Runtime:
    """How an image runs here; BadRequest (JobImageNotSupported) when it cannot."""
    low = image.strip().lower()
    if low == TRAIN_IMAGE:
        return Runtime("hub")
    m = _PY_TAG.search(low)
    if low.startswith(("ghcr.io/astral-sh/uv", "astral/uv", "astral-sh/uv")) or low.startswith(
        ("python:", "docker.io/python:", "docker.io/library/python:", "library/python:")
    ):
        return Runtime("python", m.group(1) if m else None)
    if low in {"python", "uv"}:
        return Runtime("python")
    raise JobImageNotSupported(
        f"The image {image!r} needs a container runtime, which this hub does not have. Jobs run in a Python "
        f"environment built with uv: use a python:3.X image, {DEFAULT_UV_IMAGE} (hf jobs uv run), or "
        f"{TRAIN_IMAGE} (the hub's own environment: torch, transformers, ...)."
    )


def _str_list(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{what}' must be a list of strings")
    if len(value) > MAX_COMMAND_ARGS:
        raise BadRequest(f"'{what}' has more than {MAX_COMMAND_ARGS} items")
    if any("\x00" in v for v in value):
        raise BadRequest(f"'{what}' holds a NUL character")
    return list(value)


def _str_map(value: object, what: str, keys_are_env: bool = True) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{what}' must be an object of strings")
    if len(value) > MAX_ENV:
        raise BadRequest(f"'{what}' has more than {MAX_ENV} entries")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or (keys_are_env and not _ENV_KEY.match(k)):
            raise BadRequest(f"Invalid name {str(k)[:60]!r} in '{what}'")
        if v is None:
            v = ""
        if not isinstance(v, str | int | float | bool):
            raise BadRequest(f"'{what}.{k}' must be a string")
        v = str(v)
        if "\x00" in v or len(v) > 64 * 1024:
            raise BadRequest(f"'{what}.{k}' is not a valid value")
        out[k] = v
    return out


def _volumes(value: object) -> tuple[Volume, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 20:
        raise BadRequest("'volumes' must be a list (at most 20)")
    out: list[Volume] = []
    mounts: set[str] = set()
    for raw in value:
        if not isinstance(raw, dict):
            raise BadRequest("each volume must be an object")
        vtype = raw.get("type")
        source = raw.get("source")
        mount = raw.get("mountPath") or raw.get("mount_path")
        if vtype not in VOLUME_TYPES:
            raise BadRequest(f"volume type must be one of {', '.join(VOLUME_TYPES)}")
        if not isinstance(source, str) or source.count("/") != 1 or ".." in source:
            raise BadRequest("volume source must be 'namespace/name'")
        if (
            not isinstance(mount, str)
            or not mount.startswith("/")
            or ".." in mount.split("/")
            or "\x00" in mount
        ):
            raise BadRequest("volume mountPath must be an absolute path")
        mount = "/" + mount.strip("/")
        if (
            mount in {"/", "/usr", "/proc", "/dev", "/tmp", "/etc", "/opt", "/bin", "/lib", "/run"}
            or mount in mounts
        ):
            raise BadRequest(f"volume mountPath {mount!r} is reserved or used twice")
        mounts.add(mount)
        sub = raw.get("path")
        if sub is not None and (not isinstance(sub, str) or ".." in sub.split("/") or "\x00" in sub):
            raise BadRequest("volume path must be a relative folder")
        rev = raw.get("revision")
        if rev is not None and not isinstance(rev, str):
            raise BadRequest("volume revision must be a string")
        read_only = raw.get("readOnly", raw.get("read_only", True))
        if vtype != "bucket":
            read_only = True  # repos are mounted read-only (a job pushes with the API, like on the Hub)
        out.append(Volume(vtype, source, mount, bool(read_only), rev, (sub or "").strip("/") or None))
    return tuple(out)


def parse_spec(body: object) -> tuple[JobSpec, dict[str, str]]:
    """A JobSpec from a client body (camelCase or snake_case), and the secret values (kept apart: they are stored
    encrypted and never answered). BadRequest with the field at fault."""
    if not isinstance(body, dict):
        raise BadRequest("The job spec must be a JSON object")
    if body.get("spaceId") or body.get("space_id"):
        raise JobImageNotSupported(
            "Jobs from a Space's image need a container runtime, which this hub does not have"
        )
    image = body.get("dockerImage") or body.get("docker_image")
    if not isinstance(image, str) or not image.strip():
        raise BadRequest("'dockerImage' is required")
    runtime_of(image)
    command = _str_list(body.get("command"), "command")
    if not command:
        raise BadRequest("'command' must not be empty")
    flavor = body.get("flavor") or "cpu-basic"
    if not isinstance(flavor, str):
        raise BadRequest("'flavor' must be a string")
    timeout = body.get("timeoutSeconds", body.get("timeout"))
    if timeout is not None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_TIMEOUT
        ):
            raise BadRequest(f"'timeoutSeconds' must be 1 to {MAX_TIMEOUT} seconds")
        timeout = int(timeout)
    labels = _str_map(body.get("labels"), "labels", keys_are_env=False)
    if len(labels) > MAX_LABELS:
        raise BadRequest(f"at most {MAX_LABELS} labels")
    secret_values = _str_map(body.get("secrets"), "secrets")
    attempts = body.get("attempts")
    if attempts is not None and (
        not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 10
    ):
        raise BadRequest("'attempts' must be 1 to 10")
    spec = JobSpec(
        image=image.strip(),
        command=command,
        arguments=_str_list(body.get("arguments"), "arguments"),
        environment=_str_map(body.get("environment") or body.get("env"), "environment"),
        secret_keys=tuple(sorted(secret_values)),
        flavor=flavor,
        timeout=timeout,
        labels=labels,
        volumes=_volumes(body.get("volumes")),
        attempts=attempts,
    )
    return spec, secret_values


def spec_from_json(data: dict[str, Any]) -> JobSpec:
    """A stored spec (JobSpec.to_json) back."""
    spec, _ = parse_spec({k: v for k, v in data.items() if k != "secrets"})
    keys = tuple(sorted((data.get("secrets") or {}).keys()))
    return JobSpec(**{**spec.__dict__, "secret_keys": keys})


def _owner(acc: Any) -> dict[str, Any]:
    return {"id": str(acc.id), "name": acc.name, "type": acc.kind}


def job_info(rec: Any, owner: Any, initiator: Any | None) -> dict[str, Any]:
    """JobInfo (huggingface_hub `_jobs_api.JobInfo`) from a hub/jobs.py JobRecord and the accounts
    (modelyard.hub.accounts.Account) of its namespace and initiator."""
    spec = rec.spec
    status: dict[str, Any] = {"stage": rec.stage, "message": rec.message}
    if rec.progress:
        status["progress"] = rec.progress  # ModelYard: the last training progress event
    running = None
    if rec.started_at is not None:
        end = rec.finished_at or now()
        running = max(0.0, (end - rec.started_at).total_seconds())
    scheduling = None
    if rec.created_at is not None:
        start = rec.started_at or rec.finished_at or now()
        scheduling = max(0.0, (start - rec.created_at).total_seconds())
    out: dict[str, Any] = {
        "id": rec.id,
        "createdAt": iso(rec.created_at),
        "startedAt": iso(rec.started_at),
        "finishedAt": iso(rec.finished_at),
        "dockerImage": spec.get("dockerImage"),
        "command": spec.get("command") or [],
        "arguments": spec.get("arguments") or [],
        "environment": spec.get("environment") or {},
        "secrets": spec.get("secrets") or {},
        "flavor": spec.get("flavor") or "cpu-basic",
        "labels": rec.labels,
        "volumes": spec.get("volumes") or [],
        "status": status,
        "owner": _owner(owner),
        "durations": {
            "schedulingSecs": scheduling,
            "runningSecs": running,
            "totalSecs": (scheduling or 0) + (running or 0),
        },
    }
    if spec.get("timeoutSeconds") is not None:
        out["timeout"] = spec["timeoutSeconds"]
    if initiator is not None:
        out["initiator"] = {"type": "user", "id": str(initiator.id), "name": initiator.name}
    if rec.kind != "job":
        out["kind"] = rec.kind  # ModelYard: "training" for recipe runs
        out["recipe"] = rec.recipe
        out["result"] = rec.result
    if rec.exit_code is not None:
        out["exitCode"] = rec.exit_code
    return out


def scheduled_info(rec: Any, owner: Any, last_job_at: Any = None) -> dict[str, Any]:
    """ScheduledJobInfo from a hub/jobs.py ScheduledRecord."""
    last = {"id": rec.last_job_id, "at": iso(rec.last_job_at)} if rec.last_job_id else None
    return {
        "id": rec.id,
        "createdAt": iso(rec.created_at),
        "jobSpec": rec.spec,
        "schedule": rec.schedule,
        "suspend": rec.suspend,
        "concurrency": rec.concurrency,
        "labels": rec.labels,
        "owner": _owner(owner),
        "status": {"lastJob": last, "nextJobRunAt": iso(rec.next_run_at) if not rec.suspend else None},
    }
