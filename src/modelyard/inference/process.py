"""Front-side handle of one model worker process: spawn, submit, stream, stop.

The worker is a separate interpreter (``python -m modelyard.inference.worker``) talking over a pipe pair
passed by file descriptor, so model code never runs in (or blocks) the HTTP process. A reader thread turns
worker messages into asyncio future results on the owning event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from modelyard.inference.errors import InvalidInput, ModelError, ModelLoadFailed, WorkerCrashed
from modelyard.inference.protocol import STATUS_INVALID, STATUS_OK, WorkerSpec
from modelyard.inference.requests import InferenceRequest

BatchStats = tuple[int, int, float]


def _error(status: str, message: str) -> Exception:
    if status == STATUS_INVALID:
        return InvalidInput(message)
    return ModelError(message)


@dataclass
class StreamEvent:
    kind: str  # "tok" | "end" | "error"
    payload: Any


class WorkerProcess:
    """One model worker. Create and use on a running event loop."""

    def __init__(self, spec: WorkerSpec, on_batch: Any = None, on_exit: Any = None) -> None:
        self.spec = spec
        self.on_batch = on_batch  # callable(BatchStats) on the loop
        self.on_exit = on_exit  # callable(WorkerProcess) on the loop when the process dies unexpectedly
        self.loop = asyncio.get_running_loop()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn_out: Connection | None = None
        self.conn_in: Connection | None = None
        self.ready: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.pending: dict[int, asyncio.Future[list[Any]]] = {}
        self.streams: dict[int, asyncio.Queue[StreamEvent]] = {}
        self.ids = itertools.count(1)
        self.send_lock = threading.Lock()
        self.stopping = False
        self.dead = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def outstanding(self) -> int:
        return len(self.pending) + len(self.streams)

    def start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        env.setdefault("TRANSFORMERS_VERBOSITY", "error")
        env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelyard.inference.worker", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.conn_out = Connection(to_child_w, readable=False)
        self.conn_in = Connection(from_child_r, writable=False)
        self._send(("init", self.spec))
        threading.Thread(target=self._read_forever, name=f"worker-reader-{self.pid}", daemon=True).start()

    # ------------------------------------------------------------------------------------------ sending
    def _send(self, msg: tuple[Any, ...]) -> None:
        if self.conn_out is None or self.dead:
            raise WorkerCrashed("The model worker is not running")
        try:
            with self.send_lock:
                self.conn_out.send(msg)
        except (OSError, ValueError) as exc:
            raise WorkerCrashed(f"The model worker is not reachable: {exc}") from None

    def submit(self, request: InferenceRequest) -> tuple[int, asyncio.Future[list[Any]]]:
        rid = next(self.ids)
        fut: asyncio.Future[list[Any]] = self.loop.create_future()
        self.pending[rid] = fut
        try:
            self._send(("req", rid, request))
        except Exception:
            self.pending.pop(rid, None)
            raise
        return rid, fut

    def submit_stream(self, request: InferenceRequest) -> tuple[int, asyncio.Queue[StreamEvent]]:
        rid = next(self.ids)
        events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self.streams[rid] = events
        try:
            self._send(("req", rid, request))
        except Exception:
            self.streams.pop(rid, None)
            raise
        return rid, events

    def cancel(self, rid: int) -> None:
        """The client went away: drop the request if it has not started, and forget its result."""
        fut = self.pending.pop(rid, None)
        if fut is not None and not fut.done():
            fut.cancel()
        self.streams.pop(rid, None)
        if not self.dead:
            with contextlib.suppress(WorkerCrashed):
                self._send(("cancel", rid))

    # ------------------------------------------------------------------------------------------ reading
    def _read_forever(self) -> None:
        assert self.conn_in is not None
        try:
            while True:
                msg = self.conn_in.recv()
                self.loop.call_soon_threadsafe(self._dispatch, msg)
        except (EOFError, OSError):
            pass
        except RuntimeError:  # event loop closed
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._on_eof)

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "results":
            for rid, status, payload in msg[1]:
                fut = self.pending.pop(rid, None)
                if fut is None or fut.done():
                    continue
                if status == STATUS_OK:
                    fut.set_result(payload)
                else:
                    fut.set_exception(_error(status, payload))
            if self.on_batch:
                self.on_batch(msg[2])
        elif kind == "tok":
            queue = self.streams.get(msg[1])
            if queue is not None:
                queue.put_nowait(StreamEvent("tok", msg[2]))
        elif kind == "end":
            queue = self.streams.pop(msg[1], None)
            if queue is not None:
                if msg[2] == STATUS_OK:
                    queue.put_nowait(StreamEvent("end", msg[3]))
                else:
                    queue.put_nowait(StreamEvent("error", _error(msg[2], msg[3])))
            if self.on_batch:
                self.on_batch(msg[4])
        elif kind == "ready":
            if not self.ready.done():
                self.ready.set_result(msg[1])
        elif kind == "load_error" and not self.ready.done():
            self.ready.set_exception(ModelLoadFailed(f"Model failed to load: {msg[1]}"))

    def _on_eof(self) -> None:
        was_ready = self.ready.done() and not self.ready.cancelled() and self.ready.exception() is None
        self.dead = True
        code = self.proc.poll() if self.proc else None
        err = WorkerCrashed(f"The model worker exited (code {code})")
        if not self.ready.done():
            self.ready.set_exception(ModelLoadFailed(f"The model worker exited while loading (code {code})"))
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(err)
        self.pending.clear()
        for queue in self.streams.values():
            queue.put_nowait(StreamEvent("error", err))
        self.streams.clear()
        if was_ready and not self.stopping and self.on_exit:
            self.on_exit(self)

    # ----------------------------------------------------------------------------------------- stopping
    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit, then terminate/kill it (blocking, at most ~2 x timeout)."""
        self.stopping = True
        if self.proc is None:
            return
        if self.proc.poll() is None and not self.dead:
            with contextlib.suppress(WorkerCrashed):
                self._send(("stop",))
        try:
            self.proc.wait(timeout=timeout if self.ready.done() else 0.1)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for conn in (self.conn_out, self.conn_in):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
