"""Receiving an upload body into a writer without holding it: the event loop receives while a worker thread
hashes, parses or writes the previous batch (all of which release the GIL for large buffers)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: Bytes handed to the worker thread at a time: small batches cost more per byte in hand-offs and syscalls.
BATCH = 8 * 1024 * 1024


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


async def pipe_to_writer(chunks: AsyncIterator[bytes], writer: Sink, batch: int = BATCH) -> None:
    """Feed every chunk to ``writer.write`` in batches of about ``batch`` bytes, one batch in flight in a worker
    thread while the next is received. Memory: at most two batches, whatever the body's size."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= batch:
                if pending is not None:
                    await pending
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                pending = loop.run_in_executor(None, writer.write, data)
                parts, size = [], 0
        if pending is not None:
            await pending
            pending = None
        if parts:
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            await loop.run_in_executor(None, writer.write, data)
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait({pending})  # the writer must not be aborted while a worker is writing to it


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _libc()


def tune_malloc() -> bool:
    """At most 2 glibc malloc arenas (instead of 8 per core): upload buffers freed by the worker threads stay
    in fewer heaps, which :func:`trim_heap` can give back. True when applied (glibc only). A fixed mmap threshold
    would return every buffer at once, but costs ~50 % more server CPU per uploaded byte in page faults."""
    mallopt = getattr(_LIBC, "mallopt", None)
    return bool(mallopt(-8, 2)) if mallopt is not None else False  # M_ARENA_MAX


def trim_heap() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``) after a large upload: otherwise the
    process keeps the high-water mark of all the upload buffers it ever held at once. About a millisecond."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def _sync_file_range() -> Any:
    fn = getattr(_LIBC, "sync_file_range", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Start writing [offset, offset + nbytes) of a file to disk now, without waiting (Linux
    ``sync_file_range(SYNC_FILE_RANGE_WRITE)``): the disk works while the upload goes on, so the ``fsync`` before
    publishing waits only for the last batches instead of the whole file. Does nothing where unavailable."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)


#: Hashing beside writing: a second core hashes a batch while this thread writes it (both release the GIL).
_HASHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modelyard-hash")
#: Below this, a hand-off to the hashing thread costs more than it saves.
PARALLEL_HASH_MIN = 1024 * 1024


def beside_hash(update: Callable[[Any], object], data: Any, work: Callable[[], T]) -> T:
    """``update(data)`` (a hash's update: sequential per hash, ordered since it completes before this returns)
    in a hashing thread while ``work()`` runs in this one; small data is hashed here first."""
    if len(data) < PARALLEL_HASH_MIN:
        update(data)
        return work()
    pending = _HASHERS.submit(update, data)
    try:
        return work()
    finally:
        pending.result()
