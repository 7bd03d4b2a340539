"""Endpoint configuration: what to serve and how (validated, JSON round-trippable)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from modelyard.inference.errors import InvalidInput
from modelyard.inference.tasks import normalize_task

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ACCESS = ("public", "authenticated", "private")
DTYPES = ("float32", "bfloat16", "int8")  # EndpointConfig.dtype (runtimes/precision.py applies them)
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def default_name(repo_id: str) -> str:
    """``user/My_Model`` → ``my-model`` (a valid endpoint name)."""
    base = repo_id.split("/")[-1].lower()
    base = re.sub(r"[^a-z0-9._-]+", "-", base).strip("-._") or "model"
    return base[:63]


MAX_REPLICAS = 64


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    repo_id: str
    revision: str = "main"
    task: str | None = None
    max_batch_size: int = 32
    # text generation (continuous batching): the running sequences' prompt + max new tokens stay within this
    max_batch_tokens: int = 16384
    max_wait_ms: float = 0.0
    max_queue: int = 128
    keep_alive_s: float | None = 300.0
    threads: int | None = None
    # batches the worker runs at once, each on threads // lanes cores (None: 2 for runtimes that allow it, such as
    # embeddings, when threads >= 2; else 1); a lone batch still gets every thread (inference/worker.py)
    lanes: int | None = None
    autocast: str | None = None
    # weight precision: "float32", "bfloat16" (weights cast) or "int8" (dynamic quantization of the Linear
    # layers), checked against float32 at load (runtimes/precision.py); dtype_threshold overrides the check's bar
    dtype: str = "float32"
    dtype_threshold: float | None = None
    graph: bool = True
    request_timeout_s: float = 300.0
    # load even if a pickle file of the snapshot is scanned unsafe (hub/pickles.py): the deployer's explicit choice
    allow_unsafe_pickle: bool = False
    # the Hub's endpoint API (server/api/inference_endpoints.py): the owner namespace (None: the model's) and who
    # may call it: "public" (whoever can read the model), "authenticated" / "private" (a token is required)
    namespace: str | None = None
    access: str = "public"
    # replicas while loaded (inference_backend = "ray": Serve autoscales between them; the local backend runs one);
    # scaling to zero is keep_alive_s
    min_replicas: int = 1
    max_replicas: int = 1

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise InvalidInput(
                f"Invalid endpoint name {self.name!r}: lowercase letters, digits, '.', '_', '-', at most 63"
            )
        if not REPO_RE.match(self.repo_id) or ".." in self.repo_id:
            raise InvalidInput(f"Invalid repo id {self.repo_id!r}")
        if self.task is not None:
            object.__setattr__(self, "task", normalize_task(self.task))
        if not 1 <= self.max_batch_size <= 1024:
            raise InvalidInput("max_batch_size must be in [1, 1024]")
        if not 16 <= self.max_batch_tokens <= 10_000_000:
            raise InvalidInput("max_batch_tokens must be in [16, 10000000]")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise InvalidInput("max_wait_ms must be in [0, 10000]")
        if not 1 <= self.max_queue <= 100_000:
            raise InvalidInput("max_queue must be in [1, 100000]")
        if self.keep_alive_s is not None and self.keep_alive_s < 0:
            object.__setattr__(self, "keep_alive_s", None)
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise InvalidInput("threads must be in [1, 1024]")
        if self.lanes is not None and not 1 <= self.lanes <= 64:
            raise InvalidInput("lanes must be in [1, 64]")
        if self.autocast not in (None, "bfloat16", "float16"):
            raise InvalidInput("autocast must be null, 'bfloat16' or 'float16'")
        if self.dtype not in DTYPES:
            raise InvalidInput(f"dtype must be one of {', '.join(DTYPES)}")
        if self.dtype_threshold is not None and not 0 <= self.dtype_threshold <= 1:
            raise InvalidInput("dtype_threshold must be in [0, 1]")
        if self.request_timeout_s <= 0:
            raise InvalidInput("request_timeout_s must be > 0")
        if self.namespace is not None and ("/" in self.namespace or not REPO_RE.match(self.namespace)):
            raise InvalidInput(f"Invalid namespace {self.namespace!r}")
        if self.access not in ACCESS:
            raise InvalidInput(f"access must be one of {', '.join(ACCESS)}")
        if not 1 <= self.min_replicas <= self.max_replicas <= MAX_REPLICAS:
            raise InvalidInput(f"replicas: 1 <= min_replicas <= max_replicas <= {MAX_REPLICAS}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> EndpointConfig:
        """Build from a JSON object (``name`` defaults from ``repo_id``); unknown keys are rejected."""
        if not isinstance(data, dict):
            raise InvalidInput("Endpoint definition must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise InvalidInput(f"Unknown endpoint fields: {', '.join(sorted(unknown))}")
        repo_id = data.get("repo_id")
        if not isinstance(repo_id, str):
            raise InvalidInput("'repo_id' is required")
        values = dict(data)
        values.setdefault("name", default_name(repo_id))
        if not values.get("name"):
            values["name"] = default_name(repo_id)
        types: dict[str, type | tuple[type, ...]] = {
            "name": str,
            "repo_id": str,
            "revision": str,
            "task": (str, type(None)),
            "max_batch_size": int,
            "max_batch_tokens": int,
            "max_wait_ms": (int, float),
            "max_queue": int,
            "keep_alive_s": (int, float, type(None)),
            "threads": (int, type(None)),
            "lanes": (int, type(None)),
            "autocast": (str, type(None)),
            "dtype": str,
            "dtype_threshold": (int, float, type(None)),
            "graph": bool,
            "request_timeout_s": (int, float),
            "allow_unsafe_pickle": bool,
            "namespace": (str, type(None)),
            "access": str,
            "min_replicas": int,
            "max_replicas": int,
        }
        for key, value in values.items():
            expected = types[key]
            # bool is an int subclass: only the bool fields take true/false, and they take nothing else
            is_bool = isinstance(value, bool)
            if is_bool != (expected is bool) or not isinstance(value, expected):
                raise InvalidInput(f"Invalid type for {key!r}")
        return cls(**values)
