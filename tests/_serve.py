"""`modelyard serve` (the production entry point) in a subprocess on a free loopback port, for the tests that
need the real server process rather than the in-process session hub (tests/conftest.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def modelyard_serve(
    args: Sequence[str], env: dict[str, str], output: int = subprocess.DEVNULL, timeout: float = 60
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`modelyard serve ARGS --port P` until GET /api/models answers 200; (url, process); stopped on exit.
    With output=subprocess.PIPE, a server that exits early shows its output in the failure."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard", "serve", *args, "--port", str(port)],
        env=env,
        stdout=output,
        stderr=output,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/api/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, ("modelyard serve exited", *_output(proc))
            assert time.monotonic() < deadline, "modelyard serve did not come up"
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _output(proc: subprocess.Popen[str]) -> tuple[Any, ...]:
    return proc.communicate() if proc.stdout is not None else ()
