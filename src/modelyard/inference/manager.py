"""Endpoint lifecycle: create/list/pause/resume/delete, load on demand, keep-alive, LRU memory budget.

All methods run on one asyncio event loop (the HTTP front's). Each loaded endpoint owns one
:class:`WorkerProcess`; unloading an endpoint ends its process, which returns its memory to the OS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelyard.errors import HubError
from modelyard.inference.config import EndpointConfig
from modelyard.inference.errors import (
    EndpointExists,
    EndpointNotFound,
    EndpointPaused,
    ModelLoadFailed,
    ModelLoading,
    QueueFull,
    WorkerCrashed,
)
from modelyard.inference.metrics import Metrics
from modelyard.inference.process import StreamEvent, WorkerProcess
from modelyard.inference.protocol import WorkerSpec
from modelyard.inference.registry import EndpointRegistry, EndpointRow
from modelyard.inference.requests import InferenceRequest
from modelyard.inference.source import ModelSource

log = logging.getLogger("modelyard.inference")

PAUSED = "paused"
UNLOADED = "unloaded"  # scaled to zero: loads on the next request
LOADING = "loading"
READY = "ready"
FAILED = "failed"
LOG_LINES = 50  # lifecycle events kept per endpoint (`Endpoint.logs`, shown on its web page)
# unload reasons that end the endpoint's model on its backend too (Ray: the Serve application is deleted); the
# others (evicted, idle, shutdown, crash) only release this hub's handle
REMOVE_REASONS = frozenset({"paused", "deleted", "updated", "manual"})


class WorkerHandle(Protocol):
    """What the manager uses of a model worker: :class:`WorkerProcess` (local backend) or a Ray Serve
    application's handle (inference/ray_backend.py)."""

    ready: asyncio.Future[dict[str, Any]]
    dead: bool

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...

    def submit(self, request: InferenceRequest) -> tuple[int, asyncio.Future[list[Any]]]: ...

    def submit_stream(self, request: InferenceRequest) -> tuple[int, asyncio.Queue[StreamEvent]]: ...

    def cancel(self, rid: int) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


class WorkerBackend(Protocol):
    """Where endpoint models run. ``local``: on this host (the memory budget and LRU eviction apply)."""

    local: bool

    def worker(
        self,
        config: EndpointConfig,
        spec: WorkerSpec,
        on_batch: Callable[[tuple[int, int, float]], None],
        on_exit: Callable[[Any], None],
    ) -> WorkerHandle: ...

    def remove(self, name: str) -> None:
        """Blocking: end what the backend keeps for endpoint ``name`` beyond its handles (Ray: the app)."""
        ...

    def close(self) -> None: ...


class LocalBackend:
    """Worker processes of this server (inference/process.py)."""

    local = True

    def worker(
        self,
        config: EndpointConfig,
        spec: WorkerSpec,
        on_batch: Callable[[tuple[int, int, float]], None],
        on_exit: Callable[[Any], None],
    ) -> WorkerHandle:
        return WorkerProcess(spec, on_batch=on_batch, on_exit=on_exit)

    def remove(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


class RequestTimeout(HubError):
    code = "RequestTimeout"
    status = 504


@dataclass
class Endpoint:
    config: EndpointConfig
    state: str = UNLOADED
    worker: WorkerHandle | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    load_started: float | None = None
    failed_at: float | None = None
    last_load_seconds: float | None = None
    memory_bytes: int = 0
    in_flight: int = 0
    item_seconds: float = 0.0
    load_task: asyncio.Task[None] | None = None
    # recent lifecycle events and failed requests: (wall time, level, message), oldest first
    logs: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=LOG_LINES))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def task(self) -> str | None:
        return self.info.get("task") or self.config.task

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repo_id": self.config.repo_id,
            "revision": self.config.revision,
            "task": self.task,
            "state": self.state,
            "error": self.error,
            "created_at": self.created_at,
            "queue_size": self.in_flight,
            "memory_bytes": self.memory_bytes,
            "last_load_seconds": self.last_load_seconds,
            "pid": self.worker.pid if self.worker and self.state in (LOADING, READY) else None,
            "config": self.config.to_dict(),
            "logs": [{"time": t, "level": level, "message": text} for t, level, text in self.logs],
        }

    def event(self, level: str, message: str) -> None:
        """Keep a log line (`logs`, at most LOG_LINES) and write it to the `modelyard.inference` logger."""
        self.logs.append((time.time(), level, message))
        log.log(
            logging.WARNING if level == "warning" else logging.INFO, "endpoint %s: %s", self.name, message
        )


class EndpointManager:
    """Owns every endpoint of a server.

    ``memory_budget_bytes`` and ``max_loaded`` bound the loaded models: when a load would exceed them, the
    least recently used idle endpoints are unloaded first. ``state_file`` (JSON) keeps endpoint definitions
    across restarts (they come back unloaded, or paused).

    ``registry`` (the hub's database, inference/registry.py) replaces the state file: definitions live in the
    database, shared by every hub replica; a state file found at start is imported once. Changes made by another
    replica are picked up on access (at most ``sync_interval_s`` late) and by the reaper. ``backend`` runs the
    models (default: :class:`LocalBackend`, worker processes of this server).
    """

    def __init__(
        self,
        source: ModelSource,
        *,
        memory_budget_bytes: int | None = None,
        max_loaded: int | None = None,
        reap_interval_s: float = 1.0,
        default_load_estimate_s: float = 15.0,
        failed_retry_s: float = 30.0,
        state_file: Path | None = None,
        admit: Callable[[EndpointConfig], None] | None = None,
        wait_timeout_s: float = 120.0,
        registry: EndpointRegistry | None = None,
        backend: WorkerBackend | None = None,
        sync_interval_s: float = 1.0,
    ) -> None:
        self.source = source
        self.registry = registry
        self.backend: WorkerBackend = backend if backend is not None else LocalBackend()
        self.sync_interval_s = sync_interval_s
        self._seen: dict[str, float] = {}  # registry: updated_at of the row each endpoint reflects
        self._checked: dict[str, float] = {}  # registry: when each endpoint's row was last read (monotonic)
        self._synced_all = 0.0
        # how long a request that waits for its model (`wait_for_model`) is held before 503 ModelLoading
        self.wait_timeout_s = wait_timeout_s
        # a blocking check before an endpoint is created or resumed (the hub: pickle scans); raises to refuse
        self.admit = admit
        self.memory_budget_bytes = memory_budget_bytes
        self.max_loaded = max_loaded
        self.reap_interval_s = reap_interval_s
        self.default_load_estimate_s = default_load_estimate_s
        self.failed_retry_s = failed_retry_s
        self.state_file = state_file
        self.endpoints: dict[str, Endpoint] = {}
        self.metrics = Metrics()
        self.metrics.collectors.append(self._collect)
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        if registry is not None:
            if state_file is not None and state_file.is_file():
                registry.import_state_file(state_file)
            self._sync_all(registry.all())
        elif state_file is not None and state_file.is_file():
            self._restore(state_file)

    # -------------------------------------------------------------------------------------- persistence
    def _restore(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        for row in data.get("endpoints", []):
            config = EndpointConfig.from_dict(row["config"])
            self.endpoints[config.name] = Endpoint(config, state=PAUSED if row.get("paused") else UNLOADED)

    def _save(self, endpoint: Endpoint | None = None) -> None:
        """Persist: ``endpoint``'s row in the registry (``None``: nothing there), else the whole state file."""
        if self.registry is not None:
            if endpoint is not None:
                self.registry.update(endpoint.config, paused=endpoint.state == PAUSED)
                row = self.registry.get(endpoint.name)
                if row is not None:
                    self._seen[endpoint.name] = row.updated_at
            return
        if self.state_file is None:
            return
        rows = [{"config": e.config.to_dict(), "paused": e.state == PAUSED} for e in self.endpoints.values()]
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"endpoints": rows}, indent=2), encoding="utf-8")
        tmp.replace(self.state_file)

    # ------------------------------------------------------------------------------------ registry sync
    def _adopt(self, row: EndpointRow) -> Endpoint:
        endpoint = Endpoint(row.config, state=PAUSED if row.paused else UNLOADED, created_at=row.created_at)
        self.endpoints[row.config.name] = endpoint
        self._seen[row.config.name] = row.updated_at
        self._checked[row.config.name] = time.monotonic()
        return endpoint

    def _drop(self, endpoint: Endpoint, reason: str) -> None:
        """Release ``endpoint``'s worker now (its stop runs in a thread): another replica changed it."""
        worker = self._detach(endpoint, reason)
        if worker is None:
            return
        try:
            asyncio.get_running_loop().create_task(asyncio.to_thread(worker.stop))
        except RuntimeError:  # no loop (a synchronous caller)
            worker.stop()

    def _apply(self, endpoint: Endpoint, row: EndpointRow | None) -> Endpoint | None:
        """Bring ``endpoint`` in line with its registry row (None: deleted elsewhere, then forgotten)."""
        name = endpoint.name
        self._checked[name] = time.monotonic()
        if row is None:
            if self.endpoints.get(name) is endpoint:
                del self.endpoints[name]
            self._drop(endpoint, "deleted")
            self.metrics.forget(name)
            self._seen.pop(name, None)
            self._checked.pop(name, None)
            return None
        if self._seen.get(name) == row.updated_at:
            return endpoint
        self._seen[name] = row.updated_at
        if row.config != endpoint.config:
            self._drop(endpoint, "updated")
            endpoint.config = row.config
            endpoint.info = {}
            endpoint.error = None
            endpoint.state = PAUSED if row.paused else UNLOADED
            endpoint.event(
                "info", f"updated to {row.config.repo_id}@{row.config.revision} (by another replica)"
            )
        elif row.paused and endpoint.state != PAUSED:
            self._drop(endpoint, "paused")
            endpoint.state = PAUSED
            endpoint.event("info", "paused (by another replica)")
        elif not row.paused and endpoint.state == PAUSED:
            endpoint.state = UNLOADED
            endpoint.error = None
            endpoint.event("info", "resumed (by another replica)")
        return endpoint

    def _sync_all(self, rows: list[EndpointRow]) -> None:
        self._synced_all = time.monotonic()
        by_name = {row.config.name: row for row in rows}
        for name, endpoint in list(self.endpoints.items()):
            self._apply(endpoint, by_name.get(name))
        for name, row in by_name.items():
            if name not in self.endpoints:
                self._adopt(row)

    # ---------------------------------------------------------------------------------------- lifecycle
    def _ensure_reaper(self) -> None:
        if self._reaper is None and not self._closed:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    def get(self, name: str) -> Endpoint:
        """Names are lower-case (config.NAME_RE), so `All-MiniLM` finds `all-minilm`."""
        key = name.lower()
        endpoint = self.endpoints.get(key)
        if self.registry is not None:
            stale = time.monotonic() - self._checked.get(key, 0.0) >= self.sync_interval_s
            if endpoint is None or stale:  # created, changed or deleted on another replica
                row = self.registry.get(key)
                if endpoint is None:
                    endpoint = self._adopt(row) if row is not None else None
                else:
                    endpoint = self._apply(endpoint, row)
        if endpoint is None:
            raise EndpointNotFound(f"Endpoint {name!r} not found")
        return endpoint

    def list_endpoints(self) -> list[Endpoint]:
        if self.registry is not None:
            self._sync_all(self.registry.all())
        return sorted(self.endpoints.values(), key=lambda e: e.name)

    async def create(self, config: EndpointConfig, *, load: bool = True) -> Endpoint:
        self._ensure_reaper()
        if config.name in self.endpoints:
            raise EndpointExists(f"Endpoint {config.name!r} already exists")
        if self.admit is not None:
            await asyncio.to_thread(self.admit, config)
        endpoint = Endpoint(config)
        if self.registry is not None:
            if not await asyncio.to_thread(self.registry.insert, config, created_at=endpoint.created_at):
                raise EndpointExists(f"Endpoint {config.name!r} already exists")
            row = await asyncio.to_thread(self.registry.get, config.name)
            self._seen[config.name] = row.updated_at if row is not None else 0.0
            self._checked[config.name] = time.monotonic()
        if config.name in self.endpoints:  # created meanwhile on this replica
            raise EndpointExists(f"Endpoint {config.name!r} already exists")
        self.endpoints[config.name] = endpoint
        endpoint.event("info", f"created for {config.repo_id}@{config.revision}")
        self._save(endpoint)
        if load:
            self._start_load(endpoint)
        return endpoint

    async def pause(self, name: str) -> Endpoint:
        endpoint = self.get(name)
        await self._unload(endpoint, reason="paused")
        endpoint.state = PAUSED
        endpoint.event("info", "paused")
        self._save(endpoint)
        return endpoint

    async def resume(self, name: str) -> Endpoint:
        self._ensure_reaper()
        endpoint = self.get(name)
        if endpoint.state in (PAUSED, UNLOADED, FAILED):
            if self.admit is not None:
                await asyncio.to_thread(self.admit, endpoint.config)
            endpoint.state = UNLOADED
            endpoint.error = None
            endpoint.event("info", "resumed")
            self._start_load(endpoint)
            self._save(endpoint)
        return endpoint

    async def unload(self, name: str) -> Endpoint:
        endpoint = self.get(name)
        await self._unload(endpoint, reason="manual")
        return endpoint

    async def reconfigure(self, name: str, config: EndpointConfig) -> Endpoint:
        """Replace the configuration of endpoint ``name`` (same name): the model is unloaded and, unless the
        endpoint is paused, loaded again with the new configuration (the Hub's update)."""
        endpoint = self.get(name)
        if config.name != endpoint.name:
            raise EndpointExists(f"Endpoint {endpoint.name!r} cannot be renamed")
        if self.admit is not None:
            await asyncio.to_thread(self.admit, config)
        was_paused = endpoint.state == PAUSED
        await self._unload(endpoint, reason="updated")
        endpoint.config = config
        endpoint.info = {}
        endpoint.error = None
        endpoint.last_load_seconds = None
        endpoint.event("info", f"updated to {config.repo_id}@{config.revision}")
        if not was_paused:
            endpoint.state = UNLOADED
            self._ensure_reaper()
            self._start_load(endpoint)
        self._save(endpoint)
        return endpoint

    async def delete(self, name: str) -> None:
        endpoint = self.get(name)
        del self.endpoints[endpoint.name]
        if self.registry is not None:
            await asyncio.to_thread(self.registry.delete, endpoint.name)
            self._seen.pop(endpoint.name, None)
            self._checked.pop(endpoint.name, None)
        await self._unload(endpoint, reason="deleted")
        self.metrics.forget(endpoint.name)
        self._save()

    async def wait_ready(self, name: str, timeout: float | None = None) -> Endpoint:
        """Load if needed and wait until ready (raises the load error)."""
        endpoint = self.get(name)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._acquire(endpoint)
            except ModelLoading:
                task = endpoint.load_task
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if left == 0.0:
                    raise ModelLoading(
                        f"Model {endpoint.config.repo_id} is still loading after {timeout:g}s",
                        self.estimated_load_time(endpoint),
                    ) from None
                if task is not None:
                    await asyncio.wait({task}, timeout=left)
                else:
                    await asyncio.sleep(0.05 if left is None else min(0.05, left))

    async def aclose(self) -> None:
        """Stop every worker (call from the server's lifespan shutdown)."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        await asyncio.gather(*(self._unload(e, reason="shutdown") for e in self.endpoints.values()))
        await asyncio.to_thread(self.backend.close)

    # ------------------------------------------------------------------------------------------ loading
    def _start_load(self, endpoint: Endpoint) -> None:
        if endpoint.state in (LOADING, READY):
            return
        self._make_room(endpoint, endpoint.memory_bytes)
        config = endpoint.config
        spec = WorkerSpec(
            source=self.source,
            repo_id=config.repo_id,
            revision=config.revision,
            task=config.task,
            max_batch_size=config.max_batch_size,
            max_batch_tokens=config.max_batch_tokens,
            max_wait_ms=config.max_wait_ms,
            threads=config.threads,
            lanes=config.lanes,
            autocast=config.autocast,
            dtype=config.dtype,
            dtype_threshold=config.dtype_threshold,
            graph=config.graph,
            allow_unsafe_pickle=config.allow_unsafe_pickle,
        )
        worker = self.backend.worker(
            config,
            spec,
            lambda stats: self._on_batch(endpoint, stats),
            lambda w: self._on_worker_exit(endpoint, w),
        )
        endpoint.state = LOADING
        endpoint.error = None
        endpoint.load_started = time.monotonic()
        endpoint.worker = worker
        endpoint.event("info", f"loading {config.repo_id}@{config.revision}")
        self.metrics.inc("modelyard_inference_loads_total", {"endpoint": endpoint.name})
        worker.start()
        endpoint.load_task = asyncio.get_running_loop().create_task(self._finish_load(endpoint, worker))

    async def _finish_load(self, endpoint: Endpoint, worker: WorkerHandle) -> None:
        try:
            info = await worker.ready
        except HubError as exc:
            if endpoint.worker is worker:
                endpoint.state = FAILED
                endpoint.error = exc.message
                endpoint.failed_at = time.monotonic()
                endpoint.worker = None
                endpoint.event("warning", f"failed to load: {exc.message}")
            await asyncio.to_thread(worker.stop)
            return
        if endpoint.worker is not worker:  # unloaded meanwhile
            return
        endpoint.info = info
        endpoint.state = READY
        endpoint.last_used = time.monotonic()
        endpoint.memory_bytes = int(info.get("memory_bytes") or 0)
        endpoint.last_load_seconds = time.monotonic() - (endpoint.load_started or time.monotonic())
        self.metrics.set(
            "modelyard_inference_load_duration_seconds",
            {"endpoint": endpoint.name},
            endpoint.last_load_seconds,
        )
        endpoint.event("info", f"ready in {endpoint.last_load_seconds:.1f}s ({info.get('task')})")
        self._make_room(endpoint, 0)

    def _loaded(self, exclude: Endpoint) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e is not exclude and e.state in (LOADING, READY)]

    def _make_room(self, endpoint: Endpoint, incoming: int) -> None:
        """Unload least recently used idle endpoints until ``endpoint`` fits the budget."""
        if not self.backend.local:  # the models run elsewhere (a Ray cluster): its scheduler places them
            return
        others = self._loaded(endpoint)
        own = endpoint.memory_bytes if endpoint.state == READY else incoming

        def over() -> bool:
            if self.max_loaded is not None and len(others) + 1 > self.max_loaded:
                return True
            if self.memory_budget_bytes is not None:
                return sum(e.memory_bytes for e in others) + own > self.memory_budget_bytes
            return False

        for victim in sorted(others, key=lambda e: e.last_used):
            if not over():
                break
            if victim.in_flight or victim.state != READY:
                continue
            others.remove(victim)
            asyncio.get_running_loop().create_task(self._unload(victim, reason="evicted"))

    def _detach(self, endpoint: Endpoint, reason: str) -> WorkerHandle | None:
        """Take the worker off ``endpoint`` (UNLOADED if it was loading or ready); the caller stops it."""
        worker = endpoint.worker
        endpoint.worker = None
        if endpoint.load_task is not None and not endpoint.load_task.done():
            endpoint.load_task.cancel()
        endpoint.load_task = None
        if endpoint.state in (LOADING, READY):
            endpoint.state = UNLOADED
            self.metrics.inc(
                "modelyard_inference_unloads_total", {"endpoint": endpoint.name, "reason": reason}
            )
            endpoint.event("info", f"unloaded ({reason})")
        return worker

    async def _unload(self, endpoint: Endpoint, reason: str) -> None:
        worker = self._detach(endpoint, reason)
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        if reason in REMOVE_REASONS:
            await asyncio.to_thread(self.backend.remove, endpoint.name)

    def _on_worker_exit(self, endpoint: Endpoint, worker: WorkerHandle) -> None:
        if endpoint.worker is worker:
            endpoint.worker = None
            endpoint.state = UNLOADED
            endpoint.error = "The model worker exited unexpectedly; it restarts on the next request"
            self.metrics.inc(
                "modelyard_inference_unloads_total", {"endpoint": endpoint.name, "reason": "crash"}
            )
            endpoint.event("warning", f"worker {worker.pid} exited unexpectedly")

    def _on_batch(self, endpoint: Endpoint, stats: tuple[int, int, float]) -> None:
        items, _requests, seconds = stats
        labels = {"endpoint": endpoint.name}
        self.metrics.observe("modelyard_inference_batch_size", labels, items)
        self.metrics.observe("modelyard_inference_batch_duration_seconds", labels, seconds)
        per_item = seconds / max(items, 1)
        endpoint.item_seconds = (
            per_item if not endpoint.item_seconds else 0.8 * endpoint.item_seconds + 0.2 * per_item
        )

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval_s)
            now = time.monotonic()
            if self.registry is not None and now - self._synced_all >= self.sync_interval_s:
                try:
                    self._sync_all(await asyncio.to_thread(self.registry.all))
                except Exception:  # the database is away for a moment: next round
                    log.warning("endpoint registry: sync failed", exc_info=True)
            if not self.backend.local:  # a Ray app stays until scaled to zero, paused or deleted
                continue
            for endpoint in list(self.endpoints.values()):
                keep = endpoint.config.keep_alive_s
                idle = endpoint.state == READY and endpoint.in_flight == 0
                if idle and keep is not None and now - endpoint.last_used > keep:
                    await self._unload(endpoint, reason="idle")

    # ------------------------------------------------------------------------------------------ serving
    def estimated_load_time(self, endpoint: Endpoint) -> float:
        expected = endpoint.last_load_seconds or self.default_load_estimate_s
        elapsed = time.monotonic() - (endpoint.load_started or time.monotonic())
        return max(1.0, expected - elapsed)

    def acquire(self, name: str) -> Endpoint:
        """The endpoint if its model is ready; otherwise start loading and raise :class:`ModelLoading`."""
        return self._acquire(self.get(name))

    def _acquire(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint if ready; else start loading and raise ModelLoading (or the reason it cannot)."""
        self._ensure_reaper()
        if endpoint.state == READY and endpoint.worker is not None and not endpoint.worker.dead:
            return endpoint
        if endpoint.state == PAUSED:
            raise EndpointPaused(f"Endpoint {endpoint.name!r} is paused; resume it to serve requests")
        if endpoint.state == FAILED:
            if time.monotonic() - (endpoint.failed_at or 0) < self.failed_retry_s:
                raise ModelLoadFailed(f"Endpoint {endpoint.name!r} failed to load: {endpoint.error}")
            endpoint.state = UNLOADED
        if endpoint.state in (UNLOADED, READY) and self.registry is not None:
            # about to load: the row as it is now (paused or deleted on another replica, not ~1 s ago)
            name = endpoint.name
            if self._apply(endpoint, self.registry.get(name)) is None:
                raise EndpointNotFound(f"Endpoint {name!r} not found")
            if endpoint.state == PAUSED:
                raise EndpointPaused(f"Endpoint {name!r} is paused; resume it to serve requests")
        if endpoint.state in (UNLOADED, READY):
            endpoint.state = UNLOADED
            self._start_load(endpoint)
        raise ModelLoading(
            f"Model {endpoint.config.repo_id} is currently loading", self.estimated_load_time(endpoint)
        )

    async def _ready_worker(self, name: str, wait_for_model: bool) -> tuple[Endpoint, WorkerHandle]:
        endpoint = self.get(name)
        if wait_for_model:
            await self.wait_ready(name, timeout=self.wait_timeout_s)
        else:
            self._acquire(endpoint)
        if endpoint.in_flight >= endpoint.config.max_queue:
            self.metrics.inc("modelyard_inference_rejected_total", {"endpoint": name})
            retry = math.ceil(max(endpoint.in_flight * endpoint.item_seconds, 1.0))
            raise QueueFull("Model is overloaded", retry_after=min(retry, 60))
        worker = endpoint.worker
        if worker is None:
            raise WorkerCrashed("The model worker is not running")
        return endpoint, worker

    def _done(self, endpoint: Endpoint, started: float, status: int) -> None:
        endpoint.in_flight -= 1
        endpoint.last_used = time.monotonic()
        labels = {"endpoint": endpoint.name}
        self.metrics.inc("modelyard_inference_requests_total", {**labels, "status": str(status)})
        if status >= 500:  # the status only: a model's error message may quote another caller's input
            endpoint.event("warning", f"request failed with HTTP {status}")
        self.metrics.observe(
            "modelyard_inference_request_duration_seconds", labels, time.monotonic() - started
        )

    async def infer(self, name: str, request: InferenceRequest, *, wait_for_model: bool = False) -> list[Any]:
        """Run ``request`` on endpoint ``name``: one output per item (raises HubError subclasses)."""
        started = time.monotonic()
        endpoint, worker = await self._ready_worker(name, wait_for_model)
        endpoint.in_flight += 1
        status = 500
        rid = None
        try:
            rid, fut = worker.submit(request)
            async with asyncio.timeout(endpoint.config.request_timeout_s):
                result = await fut
            status = 200
            return result
        except TimeoutError:
            status = 504
            raise RequestTimeout(
                f"The model did not answer within {endpoint.config.request_timeout_s:g}s"
            ) from None
        except asyncio.CancelledError:
            status = 499
            raise
        except HubError as exc:
            status = exc.status
            raise
        finally:
            if status in (499, 504) and rid is not None:
                worker.cancel(rid)
            self._done(endpoint, started, status)

    async def stream(
        self, name: str, request: InferenceRequest, *, wait_for_model: bool = False
    ) -> AsyncIterator[StreamEvent]:
        """Start a streamed request (errors before the first event raise); iterate its events."""
        started = time.monotonic()
        endpoint, worker = await self._ready_worker(name, wait_for_model)
        endpoint.in_flight += 1
        try:
            rid, events = worker.submit_stream(request)
        except HubError as exc:
            self._done(endpoint, started, exc.status)
            raise
        return self._iterate(endpoint, worker, rid, events, started)

    async def _iterate(
        self,
        endpoint: Endpoint,
        worker: WorkerHandle,
        rid: int,
        events: asyncio.Queue[StreamEvent],
        started: float,
    ) -> AsyncIterator[StreamEvent]:
        status = 499
        try:
            while True:
                try:  # most tokens are already queued: skip wait_for's task (one per call on Python 3.11)
                    event = events.get_nowait()
                except asyncio.QueueEmpty:
                    event = await asyncio.wait_for(events.get(), endpoint.config.request_timeout_s)
                yield event
                if event.kind != "tok":
                    status = 200 if event.kind == "end" else 500
                    return
        except TimeoutError:
            status = 504
            yield StreamEvent("error", RequestTimeout("The model stopped producing tokens"))
        finally:
            if status in (499, 504):
                worker.cancel(rid)
            self._done(endpoint, started, status)

    # ------------------------------------------------------------------------------------------ metrics
    def _collect(self) -> list[tuple[str, dict[str, str], float]]:
        rows: list[tuple[str, dict[str, str], float]] = []
        for endpoint in self.endpoints.values():
            labels = {"endpoint": endpoint.name}
            rows.append(("modelyard_inference_queue_size", labels, endpoint.in_flight))
            rows.append(("modelyard_inference_loaded", labels, 1.0 if endpoint.state == READY else 0.0))
            rows.append(("modelyard_inference_memory_bytes", labels, endpoint.memory_bytes))
        return rows
