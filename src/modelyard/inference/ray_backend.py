"""``inference_backend = "ray"``: every endpoint is its own Ray Serve application on a Ray cluster.

The hub stays the HTTP front (``/endpoints/...``, the OpenAI routes, the Hub's ``/v2/endpoint`` API): the
:class:`~modelyard.inference.manager.EndpointManager` hands each request to a :class:`RayWorker` (the Ray side of
the manager's worker seam, like :class:`~modelyard.inference.process.WorkerProcess` for the local backend), which
calls the application's ``DeploymentHandle`` from the hub process (a Ray driver: ``ray.init(address=ray_address)``).
No Serve HTTP proxy runs (``proxy_location="Disabled"``, ``route_prefix=None``): authorization, quotas and
metrics stay in the hub, and nothing reaches Ray before the hub allowed it.

The replica (:class:`EndpointReplica`) loads the model with the worker's own code
(:meth:`modelyard.inference.worker.Worker.load`: snapshot, pickle check, task runtime from
``inference/runtimes``, precision, graph) and runs batches with the worker's batching helpers
(``batching.group``/``run_group``) under ``@serve.batch(max_batch_size, batch_wait_timeout_s=max_wait_ms/1000)``.
Model files come from the hub's database and blob store (``StoreSource``): on a multi-node cluster that needs a
database and a blob store every node reaches (PostgreSQL and S3, docs/scaling.md); each node materialises the
snapshot in its own cache.

Lifecycle: loading = ``serve.run(app, name="modelyard-<endpoint>", route_prefix=None)`` (or attaching to that
application when another hub replica already deployed the same configuration); pause, scale to zero
(``unload``), update and delete = ``serve.delete``; resume = deploy again. Idle keep-alive and the hub's memory
budget do not apply (the cluster places and keeps replicas). Streaming requests run on the replica to the end
and their tokens come back together (one message), then are replayed to the client as the usual stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from modelyard.inference import batching
from modelyard.inference.config import EndpointConfig
from modelyard.inference.errors import ModelLoadFailed, WorkerCrashed
from modelyard.inference.process import StreamEvent, _error
from modelyard.inference.protocol import STATUS_OK, WorkerSpec
from modelyard.inference.requests import InferenceRequest
from ray import serve

log = logging.getLogger("modelyard.inference")

APP_PREFIX = "modelyard-"
DEPLOYMENT = "model"
DEFAULT_REPLICA_CPUS = 0.5  # a replica's Ray CPU share when the endpoint sets no `threads`
REPLICA_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
# (status, payload, batch stats or None): stats ride on the first answer of each batch
Answer = tuple[str, Any, tuple[int, int, float] | None]


def app_name(endpoint: str) -> str:
    return APP_PREFIX + endpoint


def fingerprint(config: EndpointConfig, spec: WorkerSpec) -> str:
    """What a deployed application serves: another hub replica attaches to it only if this matches."""
    # not the source: each hub replica has its own snapshot cache (the same database and blob store)
    served = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "source"}
    data = json.dumps({"config": config.to_dict(), "spec": served}, sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ replica side
class EndpointReplica:
    """One Serve replica of an endpoint: the model loaded once, batches under ``@serve.batch``.

    The constructor never raises (Serve would retry it): a load error is kept and reported by :meth:`describe`.
    """

    def __init__(self, spec: WorkerSpec, fp: str) -> None:
        from modelyard.inference.worker import Worker

        for key, value in REPLICA_ENV.items():
            os.environ.setdefault(key, value)
        self.spec = spec
        self.worker = Worker(None, None, spec)  # type: ignore[arg-type]  # load/_precision only: no pipes
        self.runtime: Any = None
        self.info: dict[str, Any] = {"fingerprint": fp}
        self.load_error: str | None = None
        self.batches: deque[int] = deque(maxlen=1000)  # items per batch, most recent last
        self.calls = 0
        try:
            self.runtime, info = self.worker.load()
            self.info.update(
                info, lanes=1
            )  # a replica runs one batch at a time (worker lanes are local only)
        except Exception as exc:
            self.load_error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        batch: Any = self.handle_batch  # the @serve.batch wrapper
        batch.set_max_batch_size(spec.max_batch_size)
        batch.set_batch_wait_timeout_s(spec.max_wait_ms / 1000.0)

    def describe(self) -> dict[str, Any]:
        import ray

        return {
            **self.info,
            "load_error": self.load_error,
            "batches": list(self.batches),
            "calls": self.calls,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
        }

    def _run_batch(self, requests: list[InferenceRequest]) -> list[Answer]:
        from modelyard.inference.worker import classify_error

        started = time.monotonic()
        jobs: list[batching.Job] = list(enumerate(requests))
        outcomes: dict[int, batching.Outcome] = {}
        with self.worker._precision():
            for group in batching.group(jobs):
                for o in batching.run_group(
                    group, self.runtime.run, self.spec.max_batch_size, classify_error
                ):
                    outcomes[o.rid] = o
        items = sum(len(r.items) for r in requests)
        self.batches.append(items)
        stats = (items, len(requests), time.monotonic() - started)
        return [
            (outcomes[i].status, outcomes[i].payload, stats if i == 0 else None) for i in range(len(requests))
        ]

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)
    async def handle_batch(self, requests: list[InferenceRequest]) -> list[Answer]:
        return await asyncio.to_thread(self._run_batch, requests)

    async def __call__(self, request: InferenceRequest) -> Answer:
        self.calls += 1
        if self.load_error is not None:
            return ("model_error", f"Model failed to load: {self.load_error}", None)
        return await self.handle_batch(request)

    def _stream(self, request: InferenceRequest) -> tuple[str, Any, list[Any], tuple[int, int, float]]:
        from modelyard.inference.worker import classify_error

        started = time.monotonic()
        events: list[Any] = []
        try:
            with self.worker._precision():
                final = self.runtime.stream(request.op, request.items[0], dict(request.params), events.append)
            status, payload = STATUS_OK, final
        except Exception as exc:
            status, payload = classify_error(exc)
        return status, payload, events, (1, 1, time.monotonic() - started)

    async def stream(self, request: InferenceRequest) -> tuple[str, Any, list[Any], tuple[int, int, float]]:
        self.calls += 1
        if self.load_error is not None:
            return ("model_error", f"Model failed to load: {self.load_error}", [], (0, 0, 0.0))
        return await asyncio.to_thread(self._stream, request)


# ---------------------------------------------------------------------------------------------- hub side
class RayBackend:
    """The manager's backend for a Ray cluster (`EndpointManager(backend=RayBackend(...))`)."""

    local = False

    def __init__(self, address: str = "", namespace: str = "modelyard") -> None:
        self.address = address
        self.namespace = namespace
        self._lock = threading.Lock()
        self._started = False

    def ensure(self) -> None:
        """Connect this process to the cluster (once) and start Serve without HTTP proxies (blocking)."""
        with self._lock:
            if self._started:
                return
            import ray

            if not ray.is_initialized():
                ray.init(
                    address=self.address or "auto",
                    namespace=self.namespace,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                    configure_logging=False,
                )
            serve.start(proxy_location="Disabled")
            self._started = True

    def worker(
        self,
        config: EndpointConfig,
        spec: WorkerSpec,
        on_batch: Callable[[tuple[int, int, float]], None],
        on_exit: Callable[[Any], None],
    ) -> RayWorker:
        return RayWorker(self, config, spec, on_batch, on_exit)

    def deploy(self, config: EndpointConfig, spec: WorkerSpec) -> tuple[Any, dict[str, Any]]:
        """Blocking: the application's handle and its replica's info (attach if it already serves this)."""
        self.ensure()
        name = app_name(config.name)
        cpus = float(config.threads) if config.threads else DEFAULT_REPLICA_CPUS
        spec = replace(spec, threads=spec.threads or max(1, int(cpus)))
        fp = fingerprint(config, spec)
        status = serve.status().applications.get(name)
        if status is not None and str(status.status) in ("RUNNING", "ApplicationStatus.RUNNING"):
            handle = serve.get_app_handle(name)
            with contextlib.suppress(Exception):
                info = handle.describe.remote().result(timeout_s=60)
                if info.get("fingerprint") == fp and not info.get("load_error"):
                    return handle, info
        min_replicas, max_replicas = config.min_replicas, config.max_replicas
        scaling: dict[str, Any] = (
            {
                "autoscaling_config": {
                    "min_replicas": min_replicas,
                    "initial_replicas": min_replicas,
                    "max_replicas": max_replicas,
                    "target_ongoing_requests": config.max_batch_size,
                }
            }
            if max_replicas > min_replicas
            else {"num_replicas": min_replicas}
        )
        deployment: Any = serve.deployment(
            EndpointReplica,
            name=DEPLOYMENT,
            ray_actor_options={"num_cpus": cpus, "runtime_env": {"env_vars": dict(REPLICA_ENV)}},
            # ≥ max_batch_size, or batches never fill
            max_ongoing_requests=max(config.max_batch_size, min(config.max_queue, 4 * config.max_batch_size)),
            health_check_period_s=10,
            graceful_shutdown_timeout_s=5,
            **scaling,
        )
        handle = serve.run(deployment.bind(spec, fp), name=name, route_prefix=None)
        info = handle.describe.remote().result(timeout_s=120)
        if info.get("load_error"):
            self.remove(config.name)
            raise ModelLoadFailed(f"Model failed to load: {info['load_error']}")
        return handle, info

    def remove(self, name: str) -> None:
        if not self._started:
            self.ensure()
        app = app_name(name)
        if app in serve.status().applications:
            serve.delete(app)

    def apps(self) -> dict[str, str]:
        """The Serve applications of endpoints: name → status (tests, `modelyard` diagnostics)."""
        self.ensure()
        return {
            name[len(APP_PREFIX) :]: str(getattr(s.status, "value", s.status))
            for name, s in serve.status().applications.items()
            if name.startswith(APP_PREFIX)
        }

    def close(self) -> None:
        """The cluster and its applications outlive this hub process (other replicas use them)."""


def _is_gone(exc: BaseException) -> bool:
    """A Ray error meaning the application or its replica is gone (not a model error)."""
    import ray.exceptions

    return isinstance(exc, ray.exceptions.RayError) or type(exc).__module__.startswith("ray.")


class RayWorker:
    """The manager's handle on one endpoint's Serve application (same interface as WorkerProcess)."""

    def __init__(
        self,
        backend: RayBackend,
        config: EndpointConfig,
        spec: WorkerSpec,
        on_batch: Callable[[tuple[int, int, float]], None],
        on_exit: Callable[[Any], None],
    ) -> None:
        self.backend = backend
        self.config = config
        self.spec = spec
        self.on_batch = on_batch
        self.on_exit = on_exit
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.dead = False
        self.stopping = False
        self.handle: Any = None
        self.ids = itertools.count(1)
        self.calls: dict[int, Any] = {}  # rid → DeploymentResponse
        self._pid: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid  # the replica's pid (on its node)

    @property
    def outstanding(self) -> int:
        return len(self.calls)

    def start(self) -> None:
        threading.Thread(target=self._deploy, name=f"ray-deploy-{self.config.name}", daemon=True).start()

    def _deploy(self) -> None:
        try:
            handle, info = self.backend.deploy(self.config, self.spec)
        except Exception as exc:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            failure = (
                exc
                if isinstance(exc, ModelLoadFailed)
                else ModelLoadFailed(f"Deploying on Ray failed: {message}")
            )
            self.loop.call_soon_threadsafe(self._settle, None, failure)
            return
        self.handle = handle
        self._pid = info.get("pid")
        runtime = {k: v for k, v in info.items() if k not in ("batches", "calls", "load_error", "pid")}
        self.loop.call_soon_threadsafe(self._settle, runtime, None)

    def _settle(self, info: dict[str, Any] | None, exc: BaseException | None) -> None:
        if self.ready.done():
            return
        if exc is not None:
            self.dead = True
            self.ready.set_exception(exc)
        else:
            self.ready.set_result({**(info or {}), "backend": "ray"})

    def _crashed(self, exc: BaseException) -> WorkerCrashed:
        err = WorkerCrashed(f"The Ray application of endpoint {self.config.name!r} is not serving: {exc}")
        if not self.dead and not self.stopping:
            self.dead = True
            self.on_exit(self)
        return err

    def submit(self, request: InferenceRequest) -> tuple[int, asyncio.Future[list[Any]]]:
        if self.dead or self.handle is None:
            raise WorkerCrashed("The model worker is not running")
        rid = next(self.ids)
        fut: asyncio.Future[list[Any]] = self.loop.create_future()
        response = self.handle.remote(request)
        self.calls[rid] = response
        self.loop.create_task(self._answer(rid, response, fut))
        return rid, fut

    async def _answer(self, rid: int, response: Any, fut: asyncio.Future[list[Any]]) -> None:
        try:
            status, payload, stats = await response
        except asyncio.CancelledError:
            if not fut.done():
                fut.cancel()
            return
        except Exception as exc:
            if not fut.done():
                fut.set_exception(self._crashed(exc) if _is_gone(exc) else WorkerCrashed(str(exc)))
            return
        finally:
            self.calls.pop(rid, None)
        if stats is not None:
            self.on_batch(stats)
        if fut.done():
            return
        if status == STATUS_OK:
            fut.set_result(payload)
        else:
            fut.set_exception(_error(status, payload))

    def submit_stream(self, request: InferenceRequest) -> tuple[int, asyncio.Queue[StreamEvent]]:
        if self.dead or self.handle is None:
            raise WorkerCrashed("The model worker is not running")
        rid = next(self.ids)
        events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        response = self.handle.stream.remote(request)
        self.calls[rid] = response
        self.loop.create_task(self._replay(rid, response, events))
        return rid, events

    async def _replay(self, rid: int, response: Any, events: asyncio.Queue[StreamEvent]) -> None:
        try:
            status, payload, tokens, stats = await response
        except asyncio.CancelledError:
            return
        except Exception as exc:
            err = self._crashed(exc) if _is_gone(exc) else WorkerCrashed(str(exc))
            events.put_nowait(StreamEvent("error", err))
            return
        finally:
            self.calls.pop(rid, None)
        for token in tokens:
            events.put_nowait(StreamEvent("tok", token))
        if status == STATUS_OK:
            events.put_nowait(StreamEvent("end", payload))
        else:
            events.put_nowait(StreamEvent("error", _error(status, payload)))
        self.on_batch(stats)

    def cancel(self, rid: int) -> None:
        response = self.calls.pop(rid, None)
        if response is not None:
            with contextlib.suppress(Exception):
                response.cancel()

    def stop(self, timeout: float = 5.0) -> None:
        """Release this handle (the manager deletes the application itself when the endpoint stops serving)."""
        self.stopping = True
        self.dead = True
        for rid in list(self.calls):
            self.cancel(rid)
