"""Run C git's `git http-backend` (CGI) for one request, streaming the body in and the answer out.

It serves the smart-HTTP protocol itself (ref advertisement, protocol v0 and v2, shallow and partial clones,
gzip request bodies, receive-pack), so no pack or protocol code is ours. Memory per request is one chunk each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from modelyard import procs

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024
SERVICES = ("info/refs", "git-upload-pack", "git-receive-pack")


@dataclass
class CgiRequest:
    git_dir: Path
    service: str  # one of SERVICES
    method: str
    query: str = ""
    content_type: str = ""
    content_encoding: str = ""
    git_protocol: str = ""
    remote_user: str = ""
    remote_addr: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    pass_fds: tuple[int, ...] = ()


@dataclass
class CgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]
    #: set once the request body has been read to its end (or git stopped reading it): only then may the server
    #: listen for the client's disconnect, which reads the same ASGI channel as the body
    request_read: asyncio.Event = field(default_factory=asyncio.Event)


def _env(req: CgiRequest) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(req.git_dir.parent),  # no user config of the server account leaks in
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROJECT_ROOT": str(req.git_dir.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{req.git_dir.name}/{req.service}",
        "REQUEST_METHOD": req.method,
        "QUERY_STRING": req.query,
        "CONTENT_TYPE": req.content_type,
        "REMOTE_USER": req.remote_user,
        "REMOTE_ADDR": req.remote_addr,
        "GATEWAY_INTERFACE": "CGI/1.1",
        **req.extra_env,
    }
    if req.content_encoding:
        env["HTTP_CONTENT_ENCODING"] = req.content_encoding
    if req.git_protocol:
        env["GIT_PROTOCOL"] = req.git_protocol
    return env


async def _feed(proc: procs.Process, body: AsyncIterator[bytes], done: asyncio.Event) -> None:
    assert proc.stdin is not None
    try:
        async for chunk in body:
            if proc.stdin.is_closing():
                break  # git stopped reading (it answers with an error of its own)
            if chunk:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError, RuntimeError):
        pass  # git stopped reading meanwhile (uvloop says so with RuntimeError: "the handler is closed")
    finally:
        done.set()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            proc.stdin.close()


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key.lower() == "status":
            status = int(value.split(" ", 1)[0])
        else:
            headers.append((key, value))
    return status, headers


async def run(req: CgiRequest, body: AsyncIterator[bytes]) -> CgiResponse:
    """Start `git http-backend`, feed it `body`, and return its status, headers and a streaming body.

    The process is killed if the body iterator is closed early (the client went away)."""
    proc = await procs.spawn(
        ["git", "http-backend"],
        stdin=procs.PIPE,
        stdout=procs.PIPE,
        stderr=procs.PIPE,
        env=_env(req),
        cwd=str(req.git_dir),
        pass_fds=req.pass_fds,
        limit=HEAD_LIMIT,
        start_new_session=True,  # its own process group: upload-pack/receive-pack die with it
    )
    request_read = asyncio.Event()
    feeder = asyncio.create_task(_feed(proc, body, request_read))
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(proc.stderr.read())
    head = b""
    try:
        while b"\r\n\r\n" not in head and b"\n\n" not in head:
            chunk = await proc.stdout.read(CHUNK)
            if not chunk:
                break
            head += chunk
            if len(head) > HEAD_LIMIT and b"\n\n" not in head and b"\r\n\r\n" not in head:
                raise RuntimeError("git http-backend sent an oversized header")
    except BaseException:
        _kill(proc)
        feeder.cancel()
        raise
    sep = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
    raw_head, _, rest = head.partition(sep)
    status, headers = _parse_head(raw_head)

    async def stream() -> AsyncIterator[bytes]:
        finished = False
        try:
            if rest:
                yield rest
            assert proc.stdout is not None
            while True:
                chunk = await proc.stdout.read(CHUNK)
                if not chunk:
                    break
                yield chunk
            with contextlib.suppress(Exception):
                await feeder  # the body git did not read is not our error
            code = await proc.wait()
            err = await stderr_task
            if code != 0 or err.strip():
                log.info(
                    "git http-backend %s exited %s: %s",
                    req.service,
                    code,
                    err[-2000:].decode("utf-8", "replace"),
                )
            finished = True
        finally:
            if not finished:
                _kill(proc)
                feeder.cancel()
                stderr_task.cancel()

    return CgiResponse(status, headers, stream(), request_read)


def _kill(proc: procs.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
