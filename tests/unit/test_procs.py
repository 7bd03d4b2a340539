"""modelyard.procs: children spawned without Python at-fork handlers, pipes on the loop, exit via pidfd."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
import uvloop

from modelyard import procs

_held = threading.Lock()
_active = False


def _child_handler() -> None:  # what a library's at-fork handler may do: take a lock another thread held
    if _active:
        _held.acquire(timeout=5)


os.register_at_fork(after_in_child=_child_handler)


def test_pipes_exit_code_and_kill() -> None:
    async def main() -> None:
        p = await procs.spawn(["cat"], stdin=procs.PIPE, stdout=procs.PIPE, stderr=procs.PIPE)
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(b"hello " * 50_000)
        await p.stdin.drain()
        p.stdin.close()
        out = await p.stdout.read()
        assert out == b"hello " * 50_000
        assert await p.wait() == 0
        q = await procs.spawn(["sh", "-c", "exit 3"])
        assert await q.wait() == 3 and q.returncode == 3
        r = await procs.spawn(["sleep", "30"], stdout=procs.PIPE)
        assert r.returncode is None
        r.kill()
        assert await asyncio.wait_for(r.wait(), 5) == -9

    uvloop.run(main())


def test_no_python_runs_in_the_child_before_exec() -> None:
    """A lock held by another thread at fork time would hang an at-fork handler in the child (uvloop's spawn
    runs them): procs.spawn's child execs at once."""
    global _active
    release = threading.Event()

    def holder() -> None:
        with _held:
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    _active = True
    try:

        async def main() -> float:
            started = time.monotonic()
            p = await procs.spawn(["true"])
            assert await asyncio.wait_for(p.wait(), 10) == 0
            return time.monotonic() - started

        took = uvloop.run(main())
    finally:
        _active = False
        release.set()
        t.join()
    assert took < 2.0, f"the child ran Python at-fork handlers ({took:.1f}s)"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_wait_after_exit_and_twice(loop: str) -> None:
    async def main() -> None:
        p = await procs.spawn(["true"])
        await asyncio.sleep(0.2)
        assert await p.wait() == 0
        assert await p.wait() == 0

    (uvloop.run if loop == "uvloop" else asyncio.run)(main())


def test_pipes_are_closed_once_at_eof() -> None:
    """A finished child's pipes close with their transport at EOF: dropped unclosed, uvloop and the pipe's file
    object would each close the descriptor (the second close hit another thread's fresh descriptor: EBADF)."""
    import gc
    import warnings

    async def main() -> None:
        for _ in range(30):
            p = await procs.spawn(["echo", "hi"], stdout=procs.PIPE, stderr=procs.PIPE)
            assert p.stdout is not None and p.stderr is not None
            assert await p.stdout.read() == b"hi\n"
            await p.stderr.read()
            assert await p.wait() == 0
            await asyncio.sleep(0)
            del p
        gc.collect()

    fds = len(os.listdir("/proc/self/fd"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uvloop.run(main())
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    assert len(os.listdir("/proc/self/fd")) <= fds + 2
