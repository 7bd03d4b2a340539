"""The model worker process: load one model, then serve batches from the front until told to stop.

Run as ``python -m modelyard.inference.worker FD_IN FD_OUT`` (spawned by :mod:`modelyard.inference.process`).
It survives model errors (each failing request gets a ``model_error``); it never writes to stdout.
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

        torch.set_num_threads(self.spec.threads or os.cpu_count() or 1)
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
        info = {
            "task": task,
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
        while True:
            batch = batcher.next_batch()
            if not batch:
                return
            if batch[0][1].stream:
                self.stream(runtime, *batch[0])
                continue
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
            self.conn_out.send(
                ("results", [(o.rid, o.status, o.payload) for o in outcomes], (items, len(batch), elapsed))
            )

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
            self.conn_out.send(("toks", events))

    def done(self, rid: int, stream: bool, status: str, payload: Any, items: int, seconds: float) -> None:
        self._send_tokens()  # a request's last tokens go before its end
        if stream:
            self.conn_out.send(("end", rid, status, payload, (items, 1, seconds)))
        else:
            self.conn_out.send(("results", [(rid, status, payload)], (items, 1, seconds)))

    def stream(self, runtime: Any, rid: int, request: InferenceRequest) -> None:
        started = time.monotonic()

        def emit(event: dict[str, Any]) -> None:
            if rid in self.cancelled:  # the client went away: stop generating
                raise StreamCancelled
            self.conn_out.send(("tok", rid, event))

        try:
            with self._precision():
                final = runtime.stream(request.op, request.items[0], dict(request.params), emit)
            status, payload = STATUS_OK, final
        except StreamCancelled:
            self.cancelled.discard(rid)
            status, payload = STATUS_MODEL_ERROR, "cancelled"
        except Exception as exc:
            status, payload = classify_error(exc)
        self.conn_out.send(("end", rid, status, payload, (1, 1, time.monotonic() - started)))


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
