"""Dynamic batching logic (pure Python, no model)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from modelyard.inference.batching import Batcher, Job, group, run_group
from modelyard.inference.requests import InferenceRequest


def _job(rid: int, n: int = 1, stream: bool = False, **params: Any) -> Job:
    return rid, InferenceRequest(
        op="embed", items=tuple(f"x{rid}-{i}" for i in range(n)), params=params, stream=stream
    )


def _queue(*jobs: Job | None) -> queue.Queue[Job | None]:
    q: queue.Queue[Job | None] = queue.Queue()
    for job in jobs:
        q.put(job)
    return q


def test_greedy_batches_take_what_is_queued_up_to_the_limit() -> None:
    b = Batcher(_queue(*(_job(i) for i in range(5)), None), max_items=3)
    assert [rid for rid, _ in b.next_batch()] == [0, 1, 2]
    assert [rid for rid, _ in b.next_batch()] == [3, 4]
    assert b.next_batch() == []


def test_items_count_and_oversized_jobs_wait_for_the_next_batch() -> None:
    b = Batcher(_queue(_job(1, n=2), _job(2, n=3), _job(3, n=1), None), max_items=4)
    assert [rid for rid, _ in b.next_batch()] == [1]
    assert [rid for rid, _ in b.next_batch()] == [2, 3]


def test_streams_run_alone_and_cancelled_jobs_are_dropped() -> None:
    cancelled = {2}
    b = Batcher(
        _queue(_job(1), _job(2), _job(3, stream=True), _job(4), None), max_items=8, cancelled=cancelled
    )
    assert [rid for rid, _ in b.next_batch()] == [1]
    assert [rid for rid, _ in b.next_batch()] == [3]
    assert [rid for rid, _ in b.next_batch()] == [4]
    assert not cancelled


def test_adaptive_fill_waits_only_after_a_multi_item_batch() -> None:
    q = _queue()
    b = Batcher(q, max_items=8)

    def late() -> None:
        time.sleep(0.03)
        q.put(_job(2))

    q.put(_job(1))
    threading.Thread(target=late).start()
    assert len(b.next_batch()) == 1  # no history: greedy, no wait
    b.next_batch()  # consume job 2
    b.record(items=2, seconds=0.2)
    q.put(_job(3))
    threading.Thread(target=lambda: (time.sleep(0.03), q.put(_job(4)))).start()
    started = time.monotonic()
    assert [rid for rid, _ in b.next_batch()] == [3, 4]
    assert time.monotonic() - started < 0.09
    b.record(items=1, seconds=0.2)
    q.put(_job(5))
    started = time.monotonic()
    assert [rid for rid, _ in b.next_batch()] == [5]
    assert time.monotonic() - started < 0.02


def test_group_by_params_and_run_group_isolates_failures() -> None:
    jobs = [_job(1), _job(2, top_k=1), _job(3), _job(4)]
    groups = list(group(jobs))
    assert [[rid for rid, _ in g] for g in groups] == [[1, 3, 4], [2]]

    calls: list[int] = []

    def run(op: str, items: list[Any], params: dict[str, Any]) -> list[Any]:
        calls.append(len(items))
        if "x3-0" in items:
            raise ValueError("boom")
        return [item.upper() for item in items]

    outcomes = run_group(groups[0], run, max_items=8, classify=lambda e: ("model_error", str(e)))
    assert [(o.rid, o.status) for o in outcomes] == [(1, "ok"), (3, "model_error"), (4, "ok")]
    assert outcomes[0].payload == ["X1-0"]
    assert calls == [3, 1, 1, 1]
    outcomes = run_group([_job(9, n=5)], run, max_items=2, classify=lambda e: ("model_error", str(e)))
    assert outcomes[0].payload == [f"X9-{i}" for i in range(5)]
