"""Read ``multiprocessing.connection.Connection`` messages from a non-blocking pipe, on the event loop.

The worker writes with ``Connection.send`` (a 4-byte big-endian signed length, or -1 followed by an 8-byte
length for messages over 2 GiB, then the pickle). :class:`FrameReader` takes whatever bytes a read returns and
yields the complete messages, so the front can watch the pipe with ``loop.add_reader`` instead of a thread
that hops every message over to the loop.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Iterator
from typing import Any

READ_CHUNK = 1 << 18


class FrameReader:
    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Any]:
        """Append ``data``; yield each message that is now complete."""
        self.buffer += data
        buf = self.buffer
        pos = 0
        try:
            while True:
                if len(buf) - pos < 4:
                    return
                (size,) = struct.unpack_from("!i", buf, pos)
                head = 4
                if size == -1:
                    if len(buf) - pos < 12:
                        return
                    (size,) = struct.unpack_from("!Q", buf, pos + 4)
                    head = 12
                end = pos + head + size
                if len(buf) < end:
                    return
                message = pickle.loads(buf[pos + head : end])
                pos = end
                yield message
        finally:
            del buf[:pos]


def read_available(fd: int) -> tuple[bytes, bool]:
    """All bytes a non-blocking ``fd`` has now, and whether the writer has closed it (EOF)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError:
            return b"".join(chunks), True
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        if len(chunk) < READ_CHUNK:
            return b"".join(chunks), False
