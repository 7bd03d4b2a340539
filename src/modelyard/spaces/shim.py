"""The in-sandbox shim of a Space (stdlib only: it runs under the Space's own venv python, bound read-only).

It serves the ingress Unix socket (a listening socket the hub created and passed as a file descriptor) by
forwarding each connection to the app's 127.0.0.1 port; optionally listens on 127.0.0.1:<hub port> and forwards
each connection to the egress Unix socket (the hub side forwards that to the hub: the Space's HF_ENDPOINT);
applies the resource limits it is given; runs the app as its child in its own process group, relays SIGTERM /
SIGINT / SIGHUP to that group, stops the app (SIGTERM, then SIGKILL after the grace time) when the hub closes
the control pipe, and exits with the app's code (128 + signal number when a signal ended it).

Forwarding is a plain byte pipe in both directions, half-close aware, never buffering a whole body: HTTP
keep-alive, Server-Sent Events and WebSockets pass unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import sys
import time

CHUNK = 65536


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close the other side (write_eof) so the peer sees the end of this direction."""
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        writer.transport.abort()


async def splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    try:
        await asyncio.gather(pipe(a[0], b[1]), pipe(b[0], a[1]))
    finally:
        for w in (a[1], b[1]):
            w.close()
        for w in (a[1], b[1]):
            with contextlib.suppress(Exception):
                await w.wait_closed()


def apply_limits(args: argparse.Namespace) -> None:
    for name, value in (
        ("RLIMIT_AS", args.limit_as),
        ("RLIMIT_NOFILE", args.limit_nofile),
        ("RLIMIT_FSIZE", args.limit_fsize),
        ("RLIMIT_CORE", 0),
    ):
        if value is None or value < 0:
            continue
        kind = getattr(resource, name)
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))
    if args.nice:
        with contextlib.suppress(OSError):
            os.nice(args.nice)


def become_subreaper() -> None:
    """Orphans of the app (double forks, setsid daemons) become our children, so stopping can find them all."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_descendants() -> None:
    """SIGKILL every process below the shim, whatever group or session it moved to."""
    for _ in range(50):
        pids = descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        reap_orphans(None)
        time.sleep(0.02)


def reap_orphans(keep: int | None) -> None:
    """Collect exited orphans (we are their subreaper); never `keep` (asyncio waits for the app itself)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == keep:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.si_pid, 0)


async def main(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    servers: list[asyncio.AbstractServer] = []

    async def ingress(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await asyncio.open_connection("127.0.0.1", args.app_port)
        except OSError:  # the app does not listen (yet): the hub sees a closed connection and retries
            writer.transport.abort()
            return
        await splice((reader, writer), upstream)

    async def egress(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await asyncio.open_unix_connection(args.egress_socket)
        except OSError:
            writer.transport.abort()
            return
        await splice((reader, writer), upstream)

    if args.ingress_fd is not None:  # a Space's app; a job has no ingress
        listener = socket.socket(fileno=args.ingress_fd)
        listener.set_inheritable(False)
        servers.append(await asyncio.start_unix_server(ingress, sock=listener, limit=CHUNK))
    if args.egress_port and args.egress_socket:
        servers.append(await asyncio.start_server(egress, "127.0.0.1", args.egress_port, limit=CHUNK))

    env = dict(os.environ)
    if args.env_fd is not None:  # the app's environment (secrets included): never on a command line
        with os.fdopen(args.env_fd, "rb") as f:
            env = {str(k): str(v) for k, v in json.loads(f.read().decode()).items()}
    if args.egress_port and args.egress_socket:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{args.egress_port}"
    proc = await asyncio.create_subprocess_exec(*args.command, env=env, start_new_session=True)

    def signal_group(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, signal_group, sig)

    async def watch_control() -> None:
        """The hub closes its end of the control pipe to stop the app (or dies: the same)."""
        if args.control_fd is None:
            return
        os.set_blocking(args.control_fd, False)
        closed = asyncio.Event()
        grace = args.grace

        def readable() -> None:
            nonlocal grace
            try:
                data = os.read(args.control_fd, 64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                closed.set()
            elif data.startswith(b"stop "):  # "stop <grace seconds>": the hub's grace for this stop
                with contextlib.suppress(ValueError):
                    grace = max(0.0, min(float(data.split()[1]), 300.0))

        loop.add_reader(args.control_fd, readable)
        await closed.wait()
        loop.remove_reader(args.control_fd)
        signal_group(signal.SIGTERM)
        await asyncio.sleep(grace)
        signal_group(signal.SIGKILL)

    async def reap_forever() -> None:
        while True:
            await asyncio.sleep(5)
            reap_orphans(proc.pid)

    control = asyncio.create_task(watch_control())
    reaper = asyncio.create_task(reap_forever())
    code = await proc.wait()
    control.cancel()
    reaper.cancel()
    signal_group(signal.SIGKILL)  # what the app left behind in its group goes with it
    kill_descendants()  # ... and in any other group or session
    for server in servers:
        server.close()
    return code if code >= 0 else 128 - code


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="modelyard-space-shim")
    p.add_argument("--ingress-fd", type=int, default=None)
    p.add_argument("--app-port", type=int, default=0)
    p.add_argument("--egress-port", type=int, default=0)
    p.add_argument("--egress-socket", default="")
    p.add_argument("--control-fd", type=int, default=None)
    p.add_argument("--env-fd", type=int, default=None)
    p.add_argument("--grace", type=float, default=5.0)
    p.add_argument("--limit-as", type=int, default=None)
    p.add_argument("--limit-nofile", type=int, default=None)
    p.add_argument("--limit-fsize", type=int, default=None)
    p.add_argument("--nice", type=int, default=0)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        p.error("no app command")
    if args.ingress_fd is not None and not args.app_port:
        p.error("--ingress-fd needs --app-port")
    return args


if __name__ == "__main__":
    ns = parse(sys.argv[1:])
    apply_limits(ns)
    become_subreaper()
    sys.exit(asyncio.run(main(ns)))
