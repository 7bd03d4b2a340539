"""The pre-receive hook and its channel to the hub.

git receive-pack (started by the hub through `git http-backend`) runs the hook with the pushed ref updates on
stdin and the new objects still in a quarantine directory. The hook is a small stdlib-only script: it sends the
updates and the quarantine location over a socket the hub handed down (fd `MODELYARD_PUSH_FD`, inherited through
http-backend and receive-pack), waits for the verdict, prints the hub's messages (git shows them as
``remote: …``) and exits 0 (accept) or 1 (refuse: git then drops the quarantine). The hub checks and imports the
push meanwhile (git/receive.py), so what git accepts is exactly what the database committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FD_ENV = "MODELYARD_PUSH_FD"
#: variables of receive-pack's environment the hub needs to read the quarantined objects
GIT_VARS = ("GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")
MAX_REQUEST = 64 * 1024**2

_SCRIPT = r"""#!{python}
# ModelYard pre-receive hook (modelyard/git/hook.py): the hub decides; this only relays.
import json, os, socket, sys
fd = os.environ.get("{fd_env}")
if not fd:
    sys.stderr.write("pushes to this repository go through the hub\n")
    sys.exit(1)
env = {{}}
for key in {git_vars!r}:
    value = os.environ.get(key)
    if value:
        env[key] = ":".join(os.path.abspath(p) for p in value.split(":"))
for key, value in os.environ.items():
    if key.startswith("GIT_PUSH_OPTION"):
        env[key] = value
body = json.dumps({{"updates": sys.stdin.read(), "env": env, "git_dir": os.path.abspath(".")}}).encode()
s = socket.socket(fileno=int(fd))
s.sendall(len(body).to_bytes(8, "big") + body)
s.shutdown(socket.SHUT_WR)
chunks = []
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    chunks.append(chunk)
try:
    reply = json.loads(b"".join(chunks) or b"{{}}")
except ValueError:
    reply = {{}}
for line in reply.get("messages", []):
    sys.stderr.write(str(line) + "\n")
if not reply:
    sys.stderr.write("the hub did not answer; nothing was pushed\n")
sys.exit(0 if reply.get("ok") else 1)
"""


def install_hook(hooks_dir: Path) -> None:
    """Write the pre-receive hook (for this interpreter) into `hooks_dir`, atomically."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    text = _SCRIPT.format(python=sys.executable, fd_env=FD_ENV, git_vars=GIT_VARS)
    target = hooks_dir / "pre-receive"
    if target.exists() and target.read_text() == text:
        return
    tmp = hooks_dir / f".pre-receive.{os.getpid()}"
    tmp.write_text(text)
    tmp.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.replace(tmp, target)


@dataclass
class HookRequest:
    updates: list[tuple[str, str, str]]  # (old, new, ref) as git wrote them; zeros = create / delete
    env: dict[str, str]  # GIT_VARS and push options, absolute paths
    git_dir: str


@dataclass
class HookReply:
    ok: bool
    messages: list[str] = field(default_factory=list)


def parse_request(raw: bytes) -> HookRequest:
    data: Any = json.loads(raw)
    updates: list[tuple[str, str, str]] = []
    for line in str(data.get("updates", "")).splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    env = {str(k): str(v) for k, v in dict(data.get("env") or {}).items()}
    return HookRequest(updates, env, str(data.get("git_dir", "")))


class HookChannel:
    """One push's socket pair: the child end goes to git (`child_fd`, `env`), the hub answers on its end."""

    def __init__(self) -> None:
        self._hub, self._child = socket.socketpair()
        self._hub.setblocking(True)

    @property
    def child_fd(self) -> int:
        return self._child.fileno()

    @property
    def env(self) -> dict[str, str]:
        return {FD_ENV: str(self.child_fd)}

    def child_started(self) -> None:
        """The git process holds its copy now: drop ours, so EOF means "git is gone"."""
        self._child.close()

    def _read_request(self) -> bytes | None:
        head = b""
        while len(head) < 8:
            chunk = self._hub.recv(8 - len(head))
            if not chunk:
                return None
            head += chunk
        size = int.from_bytes(head, "big")
        if size > MAX_REQUEST:
            return None
        body = bytearray()
        while len(body) < size:
            chunk = self._hub.recv(min(65536, size - len(body)))
            if not chunk:
                return None
            body += chunk
        return bytes(body)

    def serve_once(self, handle: Callable[[HookRequest], HookReply]) -> HookReply | None:
        """Blocking: wait for the hook's request (None if git finished without running it), answer it."""
        try:
            raw = self._read_request()
            if raw is None:
                return None
            try:
                reply = handle(parse_request(raw))
            except Exception as exc:  # the hook must always hear back; the caller logs
                reply = HookReply(False, ["internal error while checking the push; nothing was pushed"])
                self._send(reply)
                raise exc
            self._send(reply)
            return reply
        finally:
            self.close()

    def _send(self, reply: HookReply) -> None:
        with contextlib.suppress(OSError):
            self._hub.sendall(json.dumps({"ok": reply.ok, "messages": reply.messages}).encode())
            self._hub.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._hub.shutdown(socket.SHUT_RDWR)  # wakes a `serve_once` blocked in recv
        for s in (self._hub, self._child):
            with contextlib.suppress(OSError):
                s.close()

    async def serve(self, handle: Callable[[HookRequest], HookReply]) -> HookReply | None:
        return await asyncio.to_thread(self.serve_once, handle)
