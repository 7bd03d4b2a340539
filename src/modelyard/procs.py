"""Child processes for asyncio code, spawned by `subprocess.Popen` with their pipes attached to the running loop.

Why not `asyncio.create_subprocess_exec`: under uvloop it forks the whole interpreter and runs Python's at-fork
handlers in the child before `exec`. A handler that takes a lock another thread held at fork time never gets
it: the child hangs before it ever runs the program (seen with huggingface_hub's session reset in a server
that had the client loaded). `subprocess.Popen` uses vfork/fork + exec in C and runs no Python in the child
(no `preexec_fn` here), and it is also cheaper per spawn than uvloop's fork of a large process.

`spawn` returns a `Process` with the surface the callers used from `asyncio.subprocess.Process`: `stdin`
(StreamWriter), `stdout`/`stderr` (StreamReader), `pid`, `returncode`, `wait`, `send_signal`, `terminate`,
`kill`. The exit is noticed through a pidfd on the loop (Linux >= 5.3), else by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

_POLL = 0.05  # seconds between exit checks where pidfds are missing


class Process:
    """A running child: pipes as asyncio streams, `wait()` without blocking the loop."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader | None,
        stderr: asyncio.StreamReader | None,
    ) -> None:
        self._popen = popen
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._exited: asyncio.Future[int] | None = None
        self.transports: list[asyncio.BaseTransport] = []  # the pipes' transports (see `close`)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    async def wait(self) -> int:
        """The exit status (negative: killed by that signal), once the child has exited."""
        code = self._popen.poll()
        if code is not None:
            return code
        if self._exited is None:
            self._exited = _watch_exit(self._popen)
        return await asyncio.shield(self._exited)

    def close(self) -> None:
        """Close the pipes still open (output pipes close themselves at EOF; one a leftover grandchild holds
        open does not): each descriptor is then closed once, by its transport."""
        for transport in self.transports:
            if not transport.is_closing():
                transport.close()

    def send_signal(self, sig: int) -> None:
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)


def _watch_exit(popen: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    try:
        fd = os.pidfd_open(popen.pid)
    except (AttributeError, OSError):  # no pidfds (old kernel) or the child is gone already
        fd = -1

    def check() -> bool:
        code = popen.poll()
        if code is None:
            return False
        if not done.done():
            done.set_result(code)
        return True

    if fd >= 0:

        def readable() -> None:
            if check():
                loop.remove_reader(fd)
                os.close(fd)

        loop.add_reader(fd, readable)
        if check():  # exited before the reader was armed
            loop.remove_reader(fd)
            os.close(fd)
    else:

        async def poll() -> None:
            while not check():
                await asyncio.sleep(_POLL)

        task = loop.create_task(poll())
        done.add_done_callback(lambda _f: task.cancel())
    return done


class _ReadPipe(asyncio.StreamReaderProtocol):
    """A child's output pipe: the transport closes itself (and the descriptor) at EOF."""

    def eof_received(self) -> bool:
        super().eof_received()
        return False


def _pipe_file(fd: int, mode: str, loop: asyncio.AbstractEventLoop) -> IO[bytes]:
    """A file object over `fd` for a pipe transport, arranged so that the descriptor is closed exactly once.

    asyncio's own transports close the file object (which closes the descriptor); uvloop's close the descriptor
    themselves (libuv) and then the file object too: with a file object that owned it, the second close hits
    whatever descriptor another thread opened with that number in between (seen: Popen's error pipe, EBADF)."""
    owned_by_loop = type(loop).__module__.startswith("uvloop")
    return os.fdopen(fd, mode, buffering=0, closefd=not owned_by_loop)


async def _reader(
    fd: int | None, limit: int, transports: list[asyncio.BaseTransport]
) -> asyncio.StreamReader | None:
    if fd is None:
        return None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: _ReadPipe(reader, loop=loop), _pipe_file(fd, "rb", loop)
    )
    transports.append(transport)
    return reader


async def _writer(fd: int | None, transports: list[asyncio.BaseTransport]) -> asyncio.StreamWriter | None:
    if fd is None:
        return None
    loop = asyncio.get_running_loop()
    protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), loop=loop)
    transport, _ = await loop.connect_write_pipe(lambda: protocol, _pipe_file(fd, "wb", loop))
    transports.append(transport)
    return asyncio.StreamWriter(transport, protocol, None, loop)


async def spawn(
    argv: Sequence[str],
    *,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    pass_fds: Sequence[int] = (),
    start_new_session: bool = False,
    limit: int = 2**16,
    **popen: Any,
) -> Process:
    """Start `argv` (PIPE/DEVNULL/None or a file descriptor for each stream, as for `subprocess.Popen`; STDOUT
    for stderr). The pipes are made here, not by Popen, so that each descriptor has one owner: the transport."""
    parent: dict[str, int] = {}  # our ends of the pipes
    child: list[int] = []  # the child's ends, closed here once it started

    def pipe(name: str, spec: int | None, child_reads: bool) -> int | None:
        if spec != PIPE:
            return spec
        r, w = os.pipe()
        parent[name], theirs = (w, r) if child_reads else (r, w)
        child.append(theirs)
        return theirs

    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=pipe("stdin", stdin, True),
            stdout=pipe("stdout", stdout, False),
            stderr=pipe("stderr", stderr, False),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=start_new_session,
            close_fds=True,
            **popen,
        )
    except BaseException:
        for fd in parent.values():
            os.close(fd)
        raise
    finally:
        for fd in child:
            with contextlib.suppress(OSError):
                os.close(fd)
    transports: list[asyncio.BaseTransport] = []
    try:
        w = await _writer(parent.pop("stdin", None), transports)
        out = await _reader(parent.pop("stdout", None), limit, transports)
        err = await _reader(parent.pop("stderr", None), limit, transports)
    except BaseException:
        for transport in transports:
            transport.close()
        for fd in parent.values():
            os.close(fd)
        proc.kill()
        proc.wait()
        raise
    result = Process(proc, w, out, err)
    result.transports = transports
    return result
