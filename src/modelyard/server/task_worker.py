"""The task worker: one per server process, started by the lifespan; runs the database task queue (hub/tasks.py).

Each round it claims due tasks of the kinds it has handlers for (up to `concurrency` in flight), runs each handler
(a plain function in a thread, or a coroutine function on the loop), then marks it done, or failed (retried with
back-off by the queue). Leases are renewed while a handler runs, so a slow task is not taken by another replica;
a replica killed mid-task stops renewing and the task runs again elsewhere once its lease ends.

It wakes when this process enqueues (`TaskQueue.wake`) and otherwise polls every ``task_poll_interval`` seconds
(tasks enqueued by other replicas are picked up within one poll). It also keeps the process's heartbeat in
``replicas`` (hub/replicas.py) and tells the rate limiter how many replicas share the limits, and enqueues the
periodic tasks: each replica enqueues ``<kind>:<period>``, the queue keeps one, one replica runs it.

Handlers registered by `build_task_worker`: ``pickle.scan`` and the periodic ``pickle.requeue``
(server/pickle_worker.py), ``gc`` every ``gc_interval_hours`` (hub/gc.py), ``tasks.prune`` daily.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.hub.replicas import HEARTBEAT_S, Replicas, new_replica_id
from modelyard.hub.tasks import Task, TaskQueue

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from modelyard.server.services import Services

log = logging.getLogger("modelyard.tasks")

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
LEASE_S = 300.0  # a claim's lease, renewed every third of it while the handler runs
CONCURRENCY = 4
DAY = 86400.0


class TaskFailed(Exception):
    """A handler's failure that retrying will not fix: the task ends failed at once with this message."""


@dataclass
class _Periodic:
    kind: str
    every_s: float
    payload: dict[str, Any]
    last_period: int | None = None


class TaskWorker:
    def __init__(
        self,
        queue: TaskQueue,
        replicas: Replicas | None = None,
        *,
        poll_interval: float = 1.0,
        lease_s: float = LEASE_S,
        concurrency: int = CONCURRENCY,
        worker_id: str | None = None,
        address: str | None = None,
    ) -> None:
        self.queue = queue
        self.replicas = replicas
        self.poll = max(0.01, poll_interval)
        self.lease_s = max(1.0, lease_s)
        self.concurrency = max(1, concurrency)
        self.id = worker_id or new_replica_id()
        self.address = address
        self.handlers: dict[str, Handler] = {}
        self.periodic: list[_Periodic] = []
        self.on_replicas: list[
            Callable[[int], None]
        ] = []  # called with the live replica count after a heartbeat
        self.live_replicas = 1
        self._inflight: dict[int, tuple[Task, asyncio.Task[None]]] = {}
        self._leases: dict[int, float] = {}  # task id -> monotonic time of the next renewal
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._closing = False

    # --- setup ----------------------------------------------------------------------------------------
    def register(self, kind: str, handler: Handler) -> None:
        """Run tasks of `kind` with `handler(payload)`: a function (run in a thread) or a coroutine function."""
        self.handlers[kind] = handler

    def every(self, kind: str, seconds: float, payload: dict[str, Any] | None = None) -> None:
        """Enqueue a `kind` task once per period of `seconds` (across replicas); the first at start."""
        self.periodic.append(_Periodic(kind, max(1.0, seconds), dict(payload or {})))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self.queue.wake = self.wake
        self._closing = False
        self._main = asyncio.create_task(self._run(), name="task-worker")

    async def aclose(self, grace_s: float = 5.0) -> None:
        if self.queue.wake == self.wake:
            self.queue.wake = None
        self._closing = True  # the loop's own exit, should a cancel be lost
        if self._event is not None:
            self._event.set()
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        running = [t for _, t in self._inflight.values()]
        if running:  # a short grace for tasks about to finish; the rest run again after their lease
            _, pending = await asyncio.wait(running, timeout=grace_s)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.replicas is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.replicas.leave, self.id)

    def wake(self) -> None:
        """Claim now (any thread): this process just enqueued a task."""
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(event.set)

    # --- the loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._event is not None
        next_beat = 0.0
        while True:  # cancelled by aclose; in-flight tasks are left to it
            self._event.clear()
            mono = time.monotonic()
            if self.replicas is not None and mono >= next_beat:
                next_beat = mono + HEARTBEAT_S
                await self._guard("heartbeat", self._heartbeat)
            await self._guard("periodic tasks", self._enqueue_periodic)
            await self._guard("lease renewal", self._renew)
            await self._guard("claim", self._claim)
            if self._closing:
                return
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel arriving as the event is set was swallowed by
            # wait_for (cpython gh-86296), the loop went on and aclose waited for it forever (a hung shutdown)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._event.wait()
            if self._closing:
                return

    async def _guard(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be briefly unavailable: keep the worker alive
            log.warning("tasks: %s failed this round", what, exc_info=True)

    async def _heartbeat(self) -> None:
        assert self.replicas is not None
        n = await asyncio.to_thread(self.replicas.beat, self.id, self.address)
        self.live_replicas = n
        for callback in self.on_replicas:
            callback(n)

    async def _enqueue_periodic(self) -> None:
        t = time.time()
        for p in self.periodic:
            period = int(t // p.every_s)
            if period != p.last_period:
                await asyncio.to_thread(self.queue.enqueue_periodic, p.kind, p.every_s, p.payload, t)
                p.last_period = period

    async def _renew(self) -> None:
        mono = time.monotonic()
        for task_id, when in list(self._leases.items()):
            entry = self._inflight.get(task_id)
            if entry is None or mono < when:
                continue
            self._leases[task_id] = mono + self.lease_s / 3
            if not await asyncio.to_thread(self.queue.renew, entry[0], self.lease_s):
                log.warning("tasks: lost the lease of task %s (%s)", task_id, entry[0].kind)

    async def _claim(self) -> None:
        free = self.concurrency - len(self._inflight)
        if free <= 0 or not self.handlers:
            return
        claimed = await asyncio.to_thread(
            self.queue.claim, free, self.lease_s, self.id, sorted(self.handlers)
        )
        for task in claimed:
            runner = asyncio.create_task(self._execute(task), name=f"task-{task.id}-{task.kind}")
            self._inflight[task.id] = (task, runner)
            self._leases[task.id] = time.monotonic() + self.lease_s / 3
            runner.add_done_callback(functools.partial(self._settled, task.id))
        if len(claimed) == free:  # maybe more are due
            assert self._event is not None
            self._event.set()

    def _settled(self, task_id: int, _runner: object = None) -> None:
        self._inflight.pop(task_id, None)
        self._leases.pop(task_id, None)
        if self._event is not None:
            self._event.set()  # a free slot

    async def _execute(self, task: Task) -> None:
        handler = self.handlers.get(task.kind)
        error: str | None = None
        retry = True
        try:
            if handler is None:
                raise TaskFailed(f"no handler for task kind {task.kind!r}")
            if inspect.iscoroutinefunction(handler):
                await handler(task.payload)
            else:
                result = await asyncio.to_thread(handler, task.payload)
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise  # shutdown: the task runs again after its lease
        except TaskFailed as e:
            error, retry = str(e) or "failed", False
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        try:
            if error is None:
                await asyncio.to_thread(self.queue.done, task)
            else:
                state = await asyncio.to_thread(self.queue.fail, task, error, retry)
                log.warning(
                    "task %s (%s) attempt %s: %s -> %s", task.id, task.kind, task.attempt, error, state
                )
        except Exception:  # not recorded: the lease runs out and the task runs again
            log.warning("tasks: could not record task %s", task.id, exc_info=True)


# --- the server's worker ---------------------------------------------------------------------------------
def build_task_worker(svc: Services, app: Starlette | None = None) -> TaskWorker:
    """The worker of one server process, with the hub's handlers and periodic tasks."""
    from modelyard.server import pickle_worker

    settings = svc.settings
    address = settings.public_url or f"{settings.host}:{settings.port}"
    worker = TaskWorker(
        svc.tasks, Replicas(svc.db), poll_interval=settings.task_poll_interval, address=address[:255]
    )
    pickle_worker.register(worker, svc.pickles)
    if settings.gc_interval_hours > 0:
        worker.register("gc", lambda payload: _gc(svc, payload))
        worker.every("gc", settings.gc_interval_hours * 3600)
    worker.register("tasks.prune", lambda payload: _prune(svc))
    worker.every("tasks.prune", DAY)
    if app is not None:
        worker.on_replicas.append(lambda n: _share_limits(app, n))
    return worker


def _gc(svc: Services, payload: dict[str, Any]) -> None:
    from modelyard.hub.gc import sweep
    from modelyard.storage import Sweepable

    if not isinstance(svc.store, Sweepable):
        log.info("gc: this blob store cannot list its blobs; skipped")
        return
    min_age = float(payload.get("min_age_s", DAY))
    r = sweep(svc.files, svc.xet, min_age_s=max(3600.0, min_age))
    log.info(
        "gc: %s blobs, %s referenced, %s young; removed %s (%.1f MB) and %s temp files",
        r.blobs,
        r.referenced,
        r.young,
        r.deleted,
        r.freed_bytes / 1e6,
        r.temp_deleted,
    )


def _prune(svc: Services) -> None:
    n = svc.tasks.prune()
    if n:
        log.info("tasks: pruned %s finished tasks", n)


def _share_limits(app: Starlette, live: int) -> None:
    """Each of `live` replicas enforces 1/live of every rate limit (server/ratelimit.py)."""
    from modelyard.server.ratelimit import TokenBuckets

    state = app.state
    state.live_replicas = live
    limiter = getattr(state, "rate_limiter", None)
    buckets = [getattr(limiter, name, None) for name in ("tokens", "ips", "failures")]
    buckets += list(getattr(state, "failed_logins", ()) or ())  # web logins (server/web/account_views.py)
    for b in buckets:
        if isinstance(b, TokenBuckets):
            b.set_share(live)


__all__ = ["TaskFailed", "TaskWorker", "build_task_worker"]
