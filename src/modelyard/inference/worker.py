"""The model worker process: load one model, then serve batches from the front until told to stop.

Run as ``python -m modelyard.inference.worker FD_IN FD_OUT`` (spawned by :mod:`modelyard.inference.process`).
It survives model errors (each failing request gets a ``model_error``); it never writes to stdout.

Lanes: a runtime that allows it (``lanes_safe``, e.g. embeddings) runs up to ``lanes`` batches at once, one per
lane thread, each batch on ``threads // lanes`` torch threads (torch's thread count is per calling thread). On a
CPU, two single-threaded batches of 16 do more work than one two-threaded batch of 32 (no OpenMP barrier per op,
which also stalls whenever the server's front takes one of the cores), and while one lane's answers go out and the
next requests come in, the other lane computes. Requests queued when a lane forms a batch are split between the
free lanes; a batch that runs alone with nothing queued gets every thread (latency at low load is unchanged).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from modelyard.inference import batching
from modelyard.inference.errors import InvalidInput
from modelyard.inference.protocol import STATUS_INVALID, STATUS_MODEL_ERROR, STATUS_OK, WorkerSpec
from modelyard.inference.requests import InferenceRequest


class StreamCancelled(Exception):
    pass


def classify_error(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, InvalidInput):
        return STATUS_INVALID, exc.message
    traceback.print_exception(exc, file=sys.stderr)
    return STATUS_MODEL_ERROR, f"{type(exc).__name__}: {exc}"


class Worker:
    def __init__(self, conn_in: Connection, conn_out: Connection, spec: WorkerSpec) -> None:
        self.conn_in = conn_in
        self.conn_out = conn_out
        self.spec = spec
        self.jobs: queue.Queue[batching.Job | None] = queue.Queue()
        self.cancelled: set[int] = set()
        self.outgoing: list[tuple[int, dict[str, Any]]] = []  # continuous batching: this step's token events
        self.lanes = 1
        self.send_lock = threading.Lock()  # lanes send from their own threads

    def send(self, msg: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.conn_out.send(msg)

    def receive_forever(self) -> None:
        """Pipe → queue, on its own thread, so the pipe never fills while a batch runs."""
        try:
            while True:
                msg = self.conn_in.recv()
                kind = msg[0]
                if kind == "reqs":
                    for job in msg[1]:
                        self.jobs.put(job)
                elif kind == "req":
                    self.jobs.put((msg[1], msg[2]))
                elif kind == "cancel":
                    if len(self.cancelled) > 10_000:  # rids of requests that had already finished
                        self.cancelled.clear()
                    self.cancelled.add(msg[1])
                elif kind == "stop":
                    break
        except (EOFError, OSError):
            pass
        self.jobs.put(None)

    def load(self) -> Any:
        import torch

        from modelyard.inference.runtimes import load_runtime
        from modelyard.inference.tasks import infer_task, normalize_task

        threads = self.spec.threads or os.cpu_count() or 1
        torch.set_num_threads(threads)
        started = time.monotonic()
        model_dir = self.spec.source.snapshot(self.spec.repo_id, self.spec.revision)
        if not self.spec.allow_unsafe_pickle:  # nothing of the model is loaded before its pickles are checked
            from modelyard.hub.pickles import check_snapshot_dir

            check_snapshot_dir(model_dir)
        task = normalize_task(self.spec.task) if self.spec.task else infer_task(model_dir)
        runtime = load_runtime(task, model_dir)
        precision: dict[str, Any] = {"dtype": "float32"}
        if self.spec.dtype != "float32":  # convert and check before tracing: it traces the converted model
            from modelyard.inference.runtimes.precision import apply_precision

            precision = apply_precision(runtime, self.spec.dtype, self.spec.dtype_threshold)
        use_graph = getattr(runtime, "use_graph", None)  # runtimes that can trace their forward
        if self.spec.graph and not self.spec.autocast and use_graph is not None:
            use_graph()
        self.lanes = lane_count(self.spec.lanes, threads, bool(getattr(runtime, "lanes_safe", False)))
        info = {
            "task": task,
            "lanes": self.lanes,
            "load_seconds": time.monotonic() - started,
            "pid": os.getpid(),
            **runtime.info(),
            **precision,
        }
        return runtime, info

    def _precision(self) -> Any:
        """A context for model calls: torch.autocast when the endpoint asks for it."""
        import contextlib

        if not self.spec.autocast:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type="cpu", dtype=getattr(torch, self.spec.autocast))

    def serve(self, runtime: Any) -> None:
        if getattr(runtime, "continuous", False):  # the runtime schedules requests itself, step by step
            self.serve_continuous(runtime)
            return
        batcher = batching.Batcher(
            self.jobs,
            self.spec.max_batch_size,
            self.spec.max_wait_ms / 1000.0,
            self.cancelled,
        )
        if self.lanes <= 1:
            self._lane(runtime, batcher, None, main=True)
            return
        lanes = Lanes(self.lanes, self.spec.threads or os.cpu_count() or 1)
        secondaries = [
            threading.Thread(
                target=self._lane, args=(runtime, batcher, lanes, False), name=f"lane-{n}", daemon=True
            )
            for n in range(1, self.lanes)
        ]
        for thread in secondaries:
            thread.start()
        self._lane(runtime, batcher, lanes, main=True)
        lanes.wake()  # the source closed: the secondaries see it and stop
        for thread in secondaries:
            thread.join()

    def _lane(self, runtime: Any, batcher: batching.Batcher, lanes: Lanes | None, main: bool) -> None:
        """Form a batch, run it, send its results; until the source closes. With ``lanes``, several of these run
        at once (the module doc)."""
        while True:
            if lanes is None:
                batch = batcher.next_batch()
            else:
                batch = lanes.take_main(batcher) if main else lanes.take_secondary(batcher)
            if not batch:
                return
            try:
                self._run_batch(runtime, batcher, batch)
            finally:
                if lanes is not None:
                    lanes.release(main, sum(len(r.items) for _, r in batch))

    def _run_batch(self, runtime: Any, batcher: batching.Batcher, batch: list[batching.Job]) -> None:
        if batch[0][1].stream:
            self.stream(runtime, *batch[0])
            return
        started = time.monotonic()
        outcomes: list[batching.Outcome] = []
        with self._precision():
            for group in batching.group(batch):
                outcomes.extend(
                    batching.run_group(group, runtime.run, self.spec.max_batch_size, classify_error)
                )
        elapsed = time.monotonic() - started
        items = sum(len(req.items) for _, req in batch)
        batcher.record(items, elapsed)
        self.send(("results", [(o.rid, o.status, o.payload) for o in outcomes], (items, len(batch), elapsed)))

    # ------------------------------------------------------------------------------ continuous batching
    def serve_continuous(self, runtime: Any) -> None:
        """Requests join the runtime's running batch at the next step boundary instead of forming batches.

        Between two decoding steps this takes everything queued (blocking only while nothing runs), hands it to
        ``runtime.scheduler(...)``, removes the requests cancelled since (client gone, timeout: their rows leave
        the batch and their tokens return to the budget), and runs one step. Events come back through
        :meth:`token` / :meth:`done`.
        """
        scheduler = runtime.scheduler(self, self.spec.max_batch_tokens, self.spec.max_batch_size)
        while True:
            block = scheduler.idle()
            while True:
                try:
                    job = self.jobs.get() if block else self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    return
                block = False
                rid, request = job
                if rid in self.cancelled:
                    self.cancelled.discard(rid)
                    continue
                scheduler.submit(rid, request.op, request.items, dict(request.params), request.stream)
            for rid in self.cancelled & scheduler.rids():
                self.cancelled.discard(rid)
                scheduler.cancel(rid)
            with self._precision():
                scheduler.step()
            self._send_tokens()

    def token(self, rid: int, event: dict[str, Any]) -> None:
        """Buffered: a decoding step's tokens of all its sequences leave as one ``("toks", ...)`` message."""
        self.outgoing.append((rid, event))

    def flush(self) -> None:
        self._send_tokens()

    def _send_tokens(self) -> None:
        if self.outgoing:
            events, self.outgoing = self.outgoing, []
            self.send(("toks", events))

    def done(self, rid: int, stream: bool, status: str, payload: Any, items: int, seconds: float) -> None:
        self._send_tokens()  # a request's last tokens go before its end
        if stream:
            self.send(("end", rid, status, payload, (items, 1, seconds)))
        else:
            self.send(("results", [(rid, status, payload)], (items, 1, seconds)))

    def stream(self, runtime: Any, rid: int, request: InferenceRequest) -> None:
        started = time.monotonic()

        def emit(event: dict[str, Any]) -> None:
            if rid in self.cancelled:  # the client went away: stop generating
                raise StreamCancelled
            self.send(("tok", rid, event))

        try:
            with self._precision():
                final = runtime.stream(request.op, request.items[0], dict(request.params), emit)
            status, payload = STATUS_OK, final
        except StreamCancelled:
            self.cancelled.discard(rid)
            status, payload = STATUS_MODEL_ERROR, "cancelled"
        except Exception as exc:
            status, payload = classify_error(exc)
        self.send(("end", rid, status, payload, (1, 1, time.monotonic() - started)))


def lane_count(wanted: int | None, threads: int, safe: bool) -> int:
    """Lanes for a runtime: 1 unless it is ``lanes_safe``; then ``wanted``, or 2 when there are 2+ threads; never
    more lanes than threads."""
    if not safe:
        return 1
    lanes = wanted if wanted is not None else (2 if threads >= 2 else 1)
    return max(1, min(lanes, threads))


class Lanes:
    """What the lanes share, and which batch runs where.

    The main lane (the worker's main thread, where the model was loaded) forms batches as a single lane would and
    runs them on every thread when nothing else runs. Secondary lanes (threads of their own) run on one torch
    thread each, and only beside the main lane: when it is busy and at least ``min_share`` items are queued; the
    main lane then runs on the threads left (``threads`` minus the secondaries running, or minus one while the
    load of the last ``PEAK_WINDOW_S`` was worth two batches: the rest of it is on its way back, and a secondary
    may only join a main batch that left it a core). Only the main thread ever
    runs a multi-threaded OpenMP team: a second team's pool would count against the CPUs and put GNU OpenMP into
    its throttled (sleeping) wait between parallel regions for every team, which made a two-threaded batch of 8
    run at the speed of one thread. So light load runs one batch at a time on every thread (as without lanes), and
    lanes split only loads big enough for two batches worth running apart.
    """

    POLL_S = 0.002  # how often a waiting lane looks at the queue
    PEAK_WINDOW_S = 0.25  # how long a load peak keeps a core free for a secondary lane

    def __init__(self, count: int, threads: int, min_share: int = 16) -> None:
        self.secondaries = count - 1
        self.threads = threads
        self.min_share = min_share
        self.forming = threading.Lock()
        self.main_busy = False
        self.main_threads = 0  # the main lane's torch threads for the batch it runs
        self.secondary_busy = 0
        self.secondary_items = 0
        self.peak = 0  # the most items in the worker (running or queued) seen at a main batch lately
        self.peak_at = 0.0
        self._state = threading.Condition()

    def free(self) -> int:
        """Lanes that can take work now: the (forming) main lane and the idle secondaries."""
        return 1 + self.secondaries - self.secondary_busy

    def take_main(self, batcher: batching.Batcher) -> list[batching.Job]:
        """The main lane's next batch (empty: the source closed), with its torch threads set."""
        with self.forming:
            batch = batcher.next_batch(self.free, self.min_share)
            if not batch:
                return batch
            with self._state:
                self.main_busy = True
                queued = batcher.queued()
                self._note_load(sum(len(r.items) for _, r in batch) + queued + self.secondary_items)
                others = self.secondary_busy
                if others < self.secondaries and (
                    queued >= self.min_share or self.peak >= 2 * self.min_share
                ):
                    # a secondary will take the rest at once, or the load of the last moments will be back (its
                    # answers are on their way): leave it a core, so that it may join this batch
                    others += 1
                self.main_threads = max(1, self.threads - others)
                self._state.notify_all()
        self._set_threads(self.main_threads)
        return batch

    def take_secondary(self, batcher: batching.Batcher) -> list[batching.Job]:
        """A secondary lane's next batch, formed only beside a busy main lane (empty: the source closed)."""
        while True:
            with self._state:
                while not self._secondary_may_start(batcher):
                    if batcher.closed and not batcher.carry:
                        return []
                    # idle until the main lane starts a batch (it notifies); then look at the queue now and then
                    self._state.wait(self.POLL_S if self.main_busy else None)
            batch: list[batching.Job] = []
            with self.forming, self._state:  # the main lane may have taken the work meanwhile: look again
                if self._secondary_may_start(batcher):
                    batcher.top_up(batch)
                    if batch and batch[0][1].stream:  # streams run on the main lane
                        batcher.carry.extendleft(reversed(batch))
                        batch = []
                    if batch:
                        self.secondary_busy += 1
                        self.secondary_items += sum(len(r.items) for _, r in batch)
            if batch:
                self._set_threads(1)
                return batch
            time.sleep(self.POLL_S)

    def _secondary_may_start(self, batcher: batching.Batcher) -> bool:
        """(Holding ``_state``.) Beside a busy main lane, with enough queued, and a core left: a main batch that
        runs on every thread is not joined (its OpenMP team would wait at each op for the preempted thread)."""
        return (
            self.main_busy
            and batcher.queued() >= self.min_share
            and self.main_threads + self.secondary_busy < self.threads
        )

    def wake(self) -> None:
        with self._state:
            self._state.notify_all()

    def _note_load(self, load: int) -> None:
        """(Holding ``_state``.) Keep the peak of the last ``PEAK_WINDOW_S``."""
        now = time.monotonic()
        if load >= self.peak or now - self.peak_at > self.PEAK_WINDOW_S:
            self.peak, self.peak_at = load, now

    def release(self, main: bool, items: int) -> None:
        with self._state:
            if main:
                self.main_busy = False
                self.main_threads = 0
            else:
                self.secondary_busy -= 1
                self.secondary_items -= items
            self._state.notify_all()

    @staticmethod
    def _set_threads(count: int) -> None:
        """The calling lane's thread count for its next batch. Set every batch: OpenMP's team size is per thread,
        but torch also sets MKL's, which is process-wide, so another lane may have changed that one since."""
        import torch

        torch.get_num_threads()  # a thread's first parallel op resets its team size to the process-wide value
        torch.set_num_threads(count)  # (torch's lazy per-thread init): get_num_threads runs that init first


def main(argv: list[str]) -> int:
    fd_in, fd_out = int(argv[0]), int(argv[1])
    conn_in = Connection(fd_in, writable=False)
    conn_out = Connection(fd_out, readable=False)
    init = conn_in.recv()
    spec: WorkerSpec = init[1]
    worker = Worker(conn_in, conn_out, spec)
    try:
        runtime, info = worker.load()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        conn_out.send(("load_error", message))
        return 1
    threading.Thread(target=worker.receive_forever, name="worker-recv", daemon=True).start()
    conn_out.send(("ready", info))
    worker.serve(runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
