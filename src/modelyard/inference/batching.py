"""Dynamic batching: take what is queued (greedy, no timer by default), group by (op, params), split back.

Pure Python; used by the worker process. A request is ``(rid, InferenceRequest)``.
"""

from __future__ import annotations

import json
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from modelyard.inference.requests import InferenceRequest

Job = tuple[int, InferenceRequest]


class Batcher:
    """Pulls jobs from ``source`` into batches of at most ``max_items`` items.

    The first job is awaited; everything already queued is added until the batch is full; then, if
    ``max_wait_s`` > 0, it waits at most that long for more. Streaming jobs always run alone.
    Jobs whose rid is in ``cancelled`` are dropped before they reach the model.

    Adaptive fill (no fixed timer): under sustained load, the clients of the previous batch send their next
    requests right after its answers leave, so a batch that starts with fewer items than the previous one waits
    a little (at most ``fill_fraction`` of the previous batch's run time, capped by ``max_fill_s``) for up to
    that many items. A lone client (previous batch of 1) never waits, so batch-1 latency is unchanged.
    """

    def __init__(
        self,
        source: queue.Queue[Job | None],
        max_items: int,
        max_wait_s: float = 0.0,
        cancelled: set[int] | None = None,
        fill_fraction: float = 0.5,
        max_fill_s: float = 0.05,
        fill_ratio: float = 1.0,
    ) -> None:
        self.source = source
        self.max_items = max(1, max_items)
        self.max_wait_s = max(0.0, max_wait_s)
        self.cancelled = cancelled if cancelled is not None else set()
        self.carry: deque[Job] = deque()
        self.closed = False
        self.fill_fraction = fill_fraction
        self.fill_ratio = fill_ratio
        self.max_fill_s = max_fill_s
        self.last_items = 0
        self.last_seconds = 0.0

    def record(self, items: int, seconds: float) -> None:
        """Tell the batcher how the last batch went (drives adaptive fill)."""
        self.last_items = items
        self.last_seconds = seconds

    def _get(self, timeout: float | None) -> Job | None:
        """Next live job; None on timeout (or when closed)."""
        while True:
            if self.carry:
                return self.carry.popleft()
            if self.closed:
                return None
            try:
                job = self.source.get(timeout=timeout) if timeout != 0 else self.source.get_nowait()
            except queue.Empty:
                return None
            if job is None:
                self.closed = True
                return None
            if job[0] in self.cancelled:
                self.cancelled.discard(job[0])
                continue
            return job

    def queued(self) -> int:
        """Jobs waiting (an estimate of items: most jobs carry one)."""
        return len(self.carry) + self.source.qsize()

    def top_up(self, batch: list[Job]) -> None:
        """Add what is queued now to ``batch`` (no waiting), up to ``max_items`` items."""
        size = sum(len(req.items) for _, req in batch)
        while size < self.max_items:
            job = self._get(timeout=0)
            if job is None:
                return
            if job[1].stream or size + len(job[1].items) > self.max_items:
                self.carry.appendleft(job)
                return
            batch.append(job)
            size += len(job[1].items)

    def next_batch(self, share: Callable[[], int] | None = None, min_share: int = 16) -> list[Job]:
        """Block for the next batch; an empty list means the source is closed. ``share()``, when given, says how
        many lanes (this one included) are free to take work now (worker lanes): what is queued when the first job
        arrives is split between them instead of going whole into this batch, in shares of at least
        ``min_share`` items (smaller batches lose more to each model call's fixed cost than two lanes gain)."""
        first = self._get(timeout=None)
        if first is None:
            return []
        batch = [first]
        if first[1].stream:
            return batch
        size = len(first[1].items)
        cap = self.max_items
        parts = share() if share is not None else 1
        if parts > 1:
            waiting = size + self.queued()
            parts = min(parts, waiting // max(1, min_share))
            if parts > 1:
                cap = min(cap, -(-waiting // parts))
        target = cap
        wait = self.max_wait_s
        fill = min(round(self.last_items * self.fill_ratio), cap)
        if fill > 1:
            adaptive = min(self.max_fill_s, self.fill_fraction * self.last_seconds)
            if adaptive > wait:
                wait, target = adaptive, fill
        deadline = time.monotonic() + wait
        while size < cap:
            if size >= target:
                wait = 0.0
                deadline = 0.0
            remaining = deadline - time.monotonic()
            job = self._get(timeout=0 if remaining <= 0 else remaining)
            if job is None:
                break
            if job[1].stream or size + len(job[1].items) > cap:
                self.carry.appendleft(job)
                break
            batch.append(job)
            size += len(job[1].items)
        return batch


def params_key(request: InferenceRequest) -> str:
    return request.op + json.dumps(dict(request.params), sort_keys=True, default=str)


def group(batch: list[Job]) -> Iterator[list[Job]]:
    """Jobs sharing op and params, in first-seen order (each group is one model call)."""
    groups: dict[str, list[Job]] = {}
    for job in batch:
        groups.setdefault(params_key(job[1]), []).append(job)
    yield from groups.values()


@dataclass
class Outcome:
    rid: int
    status: str  # "ok" | "invalid_input" | "model_error"
    payload: Any


RunFn = Callable[[str, list[Any], dict[str, Any]], list[Any]]
ClassifyError = Callable[[BaseException], tuple[str, str]]


def run_group(jobs: list[Job], run: RunFn, max_items: int, classify: ClassifyError) -> list[Outcome]:
    """Run one group as few model calls as possible; on failure retry job by job to isolate the culprit."""
    request = jobs[0][1]
    flat = [item for _, req in jobs for item in req.items]
    try:
        outputs: list[Any] = []
        for start in range(0, len(flat), max_items):
            chunk = flat[start : start + max_items]
            result = run(request.op, chunk, dict(request.params))
            if len(result) != len(chunk):
                raise RuntimeError(f"runtime returned {len(result)} outputs for {len(chunk)} inputs")
            outputs.extend(result)
    except Exception as exc:
        if len(jobs) > 1:
            return [o for job in jobs for o in run_group([job], run, max_items, classify)]
        status, message = classify(exc)
        return [Outcome(jobs[0][0], status, message)]
    out: list[Outcome] = []
    pos = 0
    for rid, req in jobs:
        n = len(req.items)
        out.append(Outcome(rid, "ok", outputs[pos : pos + n]))
        pos += n
    return out
