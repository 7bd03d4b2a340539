"""A Space's build and run logs: lines kept in memory (the last `keep`) and appended to a file, followed live by
any number of readers (`fetch_space_logs(follow=True)`, the space page). Secret values never reach a reader:
every line is redacted before it is stored."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogLine:
    data: str
    timestamp: str  # ISO 8601, UTC, milliseconds ("2026-12-03T04:00:00.123Z")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LogBook:
    """One log (build or run). `write` may be called from any thread; readers are asyncio tasks of `loop`."""

    def __init__(self, path: Path | None = None, keep: int = 5000) -> None:
        self.path = path
        self.lines: deque[LogLine] = deque(maxlen=keep)
        self.closed = False  # no more lines until `reset` (the build or the run ended)
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._redact: tuple[str, ...] = ()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def redact(self, values: Iterable[str]) -> None:
        """Replace these strings (secret values, at least 4 characters) with *** in every later line."""
        self._redact = tuple(sorted((v for v in values if len(v) >= 4), key=len, reverse=True))

    def reset(self, banner: str | None = None) -> None:
        """A new build or run starts: forget the old lines (the file keeps them), open for writing."""
        with self._lock:
            self.lines.clear()
            self.closed = False
        if banner:
            self.write(banner)

    def write(self, text: str) -> None:
        for raw in text.splitlines() or [""]:
            line = raw
            for secret in self._redact:
                line = line.replace(secret, "***")
            item = LogLine(line, _now())
            with self._lock:
                self.lines.append(item)
                if self.path is not None:
                    with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as f:
                        f.write(f"{item.timestamp} {line}\n")
        self._wake()

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self._wake()

    def snapshot(self) -> list[LogLine]:
        with self._lock:
            return list(self.lines)

    def _wake(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the reader's loop is gone
                loop.call_soon_threadsafe(event.set)

    async def follow(self, follow: bool = True, idle_timeout: float | None = None) -> AsyncIterator[LogLine]:
        """The lines kept so far, then (with `follow`) new ones as they come, until the log closes.
        `idle_timeout`: yield nothing and return after that many seconds without a line (keep-alive for SSE
        is the caller's)."""
        seen = 0
        last: LogLine | None = None
        while True:
            with self._lock:
                lines = list(self.lines)
                closed = self.closed
                event = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), event))
            # lines is a window: find where we were (by identity of the last line we yielded)
            start = 0
            if last is not None:
                for i in range(len(lines) - 1, -1, -1):
                    if lines[i] is last:
                        start = i + 1
                        break
            elif seen:
                start = len(lines)
            for item in lines[start:]:
                last = item
                seen += 1
                yield item
            if not follow or closed:
                return
            try:
                await asyncio.wait_for(event.wait(), idle_timeout)
            except TimeoutError:
                return
