"""Front-side handle of one model worker process: spawn, submit, stream, stop.

The worker is a separate process (forked from the pre-warmed :mod:`~modelyard.inference.zygote`, or a fresh
``python -m modelyard.inference.worker``) talking over a pipe pair passed by file descriptor, so model code
never runs in (or blocks) the HTTP process. Requests submitted in the same event-loop turn travel as one
message; the worker's answers are read on the owning event loop itself (``loop.add_reader`` on the pipe), so
a batch of results costs one wake-up, not a thread hop per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from modelyard.inference.errors import InvalidInput, ModelError, ModelLoadFailed, WorkerCrashed
from modelyard.inference.framing import FrameReader, read_available
from modelyard.inference.protocol import STATUS_INVALID, STATUS_OK, WorkerSpec
from modelyard.inference.requests import InferenceRequest

BatchStats = tuple[int, int, float]
log = logging.getLogger("modelyard.inference")


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    return env


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child (the zygote reaps it) to disappear."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


class Zygote:
    """The per-process pre-warmed worker parent (see :mod:`modelyard.inference.zygote`).

    Disabled with ``MODELYARD_INFERENCE_ZYGOTE=0``; any failure falls back to a fresh interpreter per worker.
    """

    _shared: Zygote | None = None
    _shared_lock = threading.Lock()
    _failed = False

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.inference.zygote", str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            env=worker_env(),
            close_fds=True,
        )
        child.close()
        self.sock = parent
        self.lock = threading.Lock()
        self.ready = False

    @classmethod
    def shared(cls) -> Zygote | None:
        if cls._failed or os.environ.get("MODELYARD_INFERENCE_ZYGOTE", "1") == "0":
            return None
        with cls._shared_lock:
            if cls._shared is None or cls._shared.proc.poll() is not None:
                cls._shared = Zygote()
            return cls._shared

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise OSError("the zygote exited")
            data += chunk
        return data

    def spawn(self, fd_in: int, fd_out: int) -> int | None:
        """The pid of a new worker holding the two fds, or None (then the caller spawns it itself)."""
        try:
            with self.lock:
                if not self.ready:
                    self.sock.settimeout(120)
                    if self._recv_exact(5) != b"ready":
                        raise OSError("unexpected zygote greeting")
                    self.ready = True
                socket.send_fds(self.sock, [b"spawn"], [fd_in, fd_out])
                pid = int.from_bytes(self._recv_exact(8), "big")
            return pid or None
        except OSError:
            log.warning("zygote unavailable; starting workers in fresh interpreters", exc_info=True)
            type(self)._failed = True
            with contextlib.suppress(OSError):
                self.proc.kill()
            return None


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
        self.read_fd: int | None = None
        self.frames = FrameReader()
        self.outbox: list[tuple[int, InferenceRequest]] = []
        self.ready: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.pending: dict[int, asyncio.Future[list[Any]]] = {}
        self.streams: dict[int, asyncio.Queue[StreamEvent]] = {}
        self.ids = itertools.count(1)
        self.send_lock = threading.Lock()
        self.stopping = False
        self.dead = False
        self._pid: int | None = None
        self._launcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def outstanding(self) -> int:
        return len(self.pending) + len(self.streams)

    def start(self) -> None:
        """Create the pipes and launch the worker on a helper thread (never blocks the event loop)."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.conn_out = Connection(to_child_w, readable=False)
        os.set_blocking(from_child_r, False)
        self.read_fd = from_child_r
        self._send(("init", self.spec))  # buffered in the pipe until the worker reads it
        self._launcher = threading.Thread(
            target=self._launch, args=(to_child_r, from_child_w), name="worker-launch", daemon=True
        )
        self._launcher.start()
        self.loop.add_reader(from_child_r, self._on_readable)

    def _launch(self, fd_in: int, fd_out: int) -> None:
        try:
            zygote = Zygote.shared()
            pid = zygote.spawn(fd_in, fd_out) if zygote is not None else None
            if pid is None:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "modelyard.inference.worker", str(fd_in), str(fd_out)],
                    pass_fds=(fd_in, fd_out),
                    stdin=subprocess.DEVNULL,
                    env=worker_env(),
                    close_fds=True,
                )
                pid = self.proc.pid
            self._pid = pid
        except OSError:
            log.exception("could not start a model worker")
        finally:  # the child holds its ends now; if it never started, the reader sees EOF
            os.close(fd_in)
            os.close(fd_out)

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
        """Queue ``request``; it leaves with the others submitted in this event-loop turn (one pipe write)."""
        if self.conn_out is None or self.dead:
            raise WorkerCrashed("The model worker is not running")
        rid = next(self.ids)
        fut: asyncio.Future[list[Any]] = self.loop.create_future()
        self.pending[rid] = fut
        if not self.outbox:
            self.loop.call_soon(self._flush)
        self.outbox.append((rid, request))
        return rid, fut

    def _flush(self) -> None:
        """Send the queued requests as one ``("reqs", [(rid, request), ...])`` message."""
        jobs, self.outbox = self.outbox, []
        if not jobs:
            return
        try:
            self._send(("reqs", jobs))
        except WorkerCrashed as exc:
            for rid, _ in jobs:
                fut = self.pending.pop(rid, None)
                if fut is not None and not fut.done():
                    fut.set_exception(exc)

    def submit_stream(self, request: InferenceRequest) -> tuple[int, asyncio.Queue[StreamEvent]]:
        self._flush()
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
        unsent = [job for job in self.outbox if job[0] != rid]
        if len(unsent) < len(self.outbox):  # it had not left yet: just drop it
            self.outbox = unsent
            return
        if not self.dead:
            with contextlib.suppress(WorkerCrashed):
                self._send(("cancel", rid))

    # ------------------------------------------------------------------------------------------ reading
    def _on_readable(self) -> None:
        assert self.read_fd is not None
        data, eof = read_available(self.read_fd)
        for msg in self.frames.feed(data):
            self._dispatch(msg)
        if eof:
            self._close_reader()
            self._on_eof()

    def _close_reader(self) -> None:
        fd, self.read_fd = self.read_fd, None
        if fd is not None:
            with contextlib.suppress(ValueError, RuntimeError):  # loop closed
                self.loop.remove_reader(fd)
            os.close(fd)

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
        elif kind == "toks":  # one decoding step of continuous batching: (rid, event) for each sequence
            streams = self.streams
            for rid, event in msg[1]:
                queue = streams.get(rid)
                if queue is not None:
                    queue.put_nowait(StreamEvent("tok", event))
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
        if self._launcher is not None:
            self._launcher.join()
        if not self.dead:
            with contextlib.suppress(WorkerCrashed):
                self._send(("stop",))
        grace = timeout if self.ready.done() else 0.1
        if self.proc is not None:
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        elif self._pid is not None and not _wait_gone(self._pid, grace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGTERM)
            if not _wait_gone(self._pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._pid, signal.SIGKILL)
                _wait_gone(self._pid, timeout)
        if self.conn_out is not None:
            with contextlib.suppress(OSError):
                self.conn_out.close()
        # the read end stays open until the loop sees the worker's EOF (_on_readable closes it there)
