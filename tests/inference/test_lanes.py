"""Worker lanes (inference/worker.py): under load an embedding worker runs a second, single-threaded batch beside
the main lane; light load keeps one batch at a time on every thread. Scheduler tests drive a real ``Worker`` with a
recording runtime; the end-to-end tests use the real server and the official client, and check that answers under
concurrent load (both lanes, both truncation sides at once) equal the answers one request at a time."""

from __future__ import annotations

import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from huggingface_hub import InferenceClient

from inference.conftest import EndpointServer
from modelyard.inference.batching import Batcher, Job
from modelyard.inference.protocol import WorkerSpec
from modelyard.inference.requests import InferenceRequest
from modelyard.inference.worker import Worker, lane_count


def _job(rid: int, n: int = 1, stream: bool = False) -> Job:
    return rid, InferenceRequest(
        op="embed", items=tuple(f"x{rid}-{i}" for i in range(n)), params={}, stream=stream
    )


# --- the batcher's share of the queue -------------------------------------------------------------------------
def test_a_burst_is_split_between_free_lanes_in_shares_of_at_least_min_share() -> None:
    q: queue.Queue[Job | None] = queue.Queue()
    for rid in range(32):
        q.put(_job(rid))
    b = Batcher(q, max_items=64)
    assert len(b.next_batch(lambda: 2, min_share=16)) == 16  # two free lanes, 32 queued: half each
    assert b.queued() == 16
    assert len(b.next_batch(lambda: 1, min_share=16)) == 16  # one free lane: all that is left

    for rid in range(20):
        q.put(_job(rid))
    assert len(b.next_batch(lambda: 2, min_share=16)) == 20  # 20 < 2 x 16: not worth two batches


def test_top_up_takes_what_is_queued_and_stops_before_a_stream() -> None:
    q: queue.Queue[Job | None] = queue.Queue()
    for job in (_job(1), _job(2, n=3), _job(3, stream=True), _job(4)):
        q.put(job)
    b = Batcher(q, max_items=8)
    batch: list[Job] = []
    b.top_up(batch)
    assert [rid for rid, _ in batch] == [1, 2]
    assert [rid for rid, _ in b.next_batch()] == [3]  # the stream was kept for the next batch, alone


def test_lane_count() -> None:
    assert lane_count(None, 2, safe=True) == 2
    assert lane_count(None, 1, safe=True) == 1
    assert lane_count(4, 2, safe=True) == 2  # never more lanes than threads
    assert lane_count(None, 8, safe=False) == 1 and lane_count(2, 8, safe=False) == 1


# --- the lanes, on a real Worker with a recording runtime -------------------------------------------------------
@dataclass
class Call:
    thread: str
    threads: int
    items: int
    start: float
    end: float


@dataclass
class Recorder:
    """A runtime whose model call sleeps 20 ms per call plus 1 ms per item and records where it ran."""

    lanes_safe = True
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, op: str, items: list[Any], params: dict[str, Any]) -> list[Any]:
        start = time.monotonic()
        time.sleep(0.02 + 0.001 * len(items))
        call = Call(
            threading.current_thread().name, torch.get_num_threads(), len(items), start, time.monotonic()
        )
        with self.lock:
            self.calls.append(call)
        return [f"out:{item}" for item in items]


class Pipe:
    def __init__(self) -> None:
        self.messages: queue.Queue[tuple[Any, ...]] = queue.Queue()

    def send(self, msg: tuple[Any, ...]) -> None:
        self.messages.put(msg)


@pytest.fixture
def lanes_worker() -> Any:
    pipe = Pipe()
    spec = WorkerSpec(source=None, repo_id="tests/recorder", max_batch_size=64, threads=2)  # type: ignore[arg-type]
    worker = Worker(None, pipe, spec)  # type: ignore[arg-type]
    worker.lanes = lane_count(None, 2, safe=True)
    runtime = Recorder()
    serving = threading.Thread(target=worker.serve, args=(runtime,), name="serve-main")
    serving.start()
    yield worker, pipe, runtime
    worker.jobs.put(None)
    serving.join(10)
    assert not serving.is_alive(), "the worker did not stop when its source closed"


def _answers(pipe: Pipe, count: int, timeout: float = 10.0) -> dict[int, Any]:
    out: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(out) < count:
        msg = pipe.messages.get(timeout=max(0.01, deadline - time.monotonic()))
        assert msg[0] == "results"
        for rid, status, payload in msg[1]:
            assert rid not in out, f"request {rid} answered twice"
            assert status == "ok"
            out[rid] = payload
    return out


def test_light_load_runs_one_batch_at_a_time_on_every_thread(lanes_worker: Any) -> None:
    worker, pipe, runtime = lanes_worker
    for rid in range(6):  # one client, one request at a time
        worker.jobs.put(_job(rid))
        assert _answers(pipe, 1) == {rid: [f"out:x{rid}-0"]}
    for rid in range(100, 108):  # eight at once: fewer than two shares of 16
        worker.jobs.put(_job(rid))
    assert len(_answers(pipe, 8)) == 8
    assert {c.thread for c in runtime.calls} == {"serve-main"}
    assert {c.threads for c in runtime.calls} == {2}


def test_a_heavy_load_runs_two_single_threaded_batches_at_once(lanes_worker: Any) -> None:
    worker, pipe, runtime = lanes_worker
    rids = list(range(64))
    for rid in rids:  # a burst, then a closed loop of 32 clients for a while
        worker.jobs.put(_job(rid))
    answered = _answers(pipe, 64)
    assert sorted(answered) == rids and all(answered[r] == [f"out:x{r}-0"] for r in rids)
    main = [c for c in runtime.calls if c.thread == "serve-main"]
    second = [c for c in runtime.calls if c.thread == "lane-1"]
    assert second, f"no batch ran on the second lane: {runtime.calls}"
    assert all(c.threads == 1 for c in second)
    beside = [m for m in main if any(s.start < m.end and m.start < s.end for s in second)]
    assert beside, "the two lanes never ran at the same time"
    assert all(m.threads == 1 for m in beside if any(s.start <= m.start < s.end for s in second))
    assert max(c.items for c in runtime.calls) <= 48


def test_cancelled_requests_do_not_reach_either_lane(lanes_worker: Any) -> None:
    worker, pipe, runtime = lanes_worker
    worker.cancelled.update(range(10, 20))
    for rid in range(40):
        worker.jobs.put(_job(rid))
    answered = _answers(pipe, 30)
    assert sorted(answered) == [r for r in range(40) if not 10 <= r < 20]
    assert sum(c.items for c in runtime.calls) == 30  # dropped before the model, on either lane
    time.sleep(0.1)
    assert pipe.messages.empty()


# --- end to end: the real server, the official client -----------------------------------------------------------
def _long(n: int) -> str:
    # > the tiny embedder's 128 tokens, with different words at each end: left and right truncation differ
    return f"the cat runs {n} " * 40 + f"a city sleeps {n} " * 40


def test_answers_under_load_on_two_lanes_equal_the_serial_answers(server: EndpointServer) -> None:
    server.create("lanes2", "tests/tiny-embedder", threads=2, max_batch_size=64)
    server.create("lanes1", "tests/tiny-embedder", threads=2, lanes=1, max_batch_size=64)
    server.wait_ready("lanes2")
    server.wait_ready("lanes1")
    info2 = httpx.get(f"{server.endpoint_url('lanes2')}/info", timeout=30).json()
    info1 = httpx.get(f"{server.endpoint_url('lanes1')}/info", timeout=30).json()
    assert info2["runtime"]["lanes"] == 2 and info1["runtime"]["lanes"] == 1

    two = InferenceClient(base_url=server.endpoint_url("lanes2"), timeout=60)
    one = InferenceClient(base_url=server.endpoint_url("lanes1"), timeout=60)
    cases = [(_long(n) if n % 3 else f"sentence number {n}", "left" if n % 2 else "right") for n in range(96)]
    serial = [
        np.asarray(one.feature_extraction(text, truncation_direction=side)) for text, side in cases[:12]
    ]

    def call(case: tuple[str, str]) -> np.ndarray:
        text, side = case
        return np.asarray(two.feature_extraction(text, truncation_direction=side))  # type: ignore[arg-type]

    with ThreadPoolExecutor(32) as pool:
        loaded = list(pool.map(call, cases))
    for got, want in zip(loaded[:12], serial, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    for n, (text, side) in enumerate(cases):
        twin = next(m for m, c in enumerate(cases) if c == (text, side))
        np.testing.assert_allclose(loaded[n], loaded[twin], atol=1e-5)
    left, right = (
        cases[1],
        (cases[1][0], "right"),
    )  # the side is honoured under load, not mixed up between lanes
    assert not np.allclose(call(left), call(right), atol=1e-3)
    metrics = httpx.get(f"{server.endpoint_url('lanes2')}/metrics", timeout=30).text
    assert "modelyard_inference_batch_size_count" in metrics


def test_lanes_out_of_range_is_refused_in_the_hubs_error_format(server: EndpointServer) -> None:
    for bad in (0, 65, "2", True):
        resp = httpx.post(
            server.api, json={"name": "badlanes", "repo_id": "tests/tiny-embedder", "lanes": bad}, timeout=30
        )
        assert resp.status_code in (400, 422), resp.text
        assert resp.headers.get("x-error-code"), resp.headers
        assert "lanes" in resp.json()["error"]


def test_one_runtime_called_from_two_lanes_keeps_each_calls_truncation_side(
    tiny_dirs: dict[str, Any],
) -> None:
    """The runtime as two lanes use it: the same EmbeddingRuntime from two threads at once, sides alternating (the
    tokenizer's truncation side is shared state; without the runtime's lock the calls would take each other's)."""
    from modelyard.inference.requests import OP_EMBED
    from modelyard.inference.runtimes.embeddings import EmbeddingRuntime

    runtime = EmbeddingRuntime(tiny_dirs["sentence-similarity"], "sentence-similarity")
    texts = [_long(n) for n in range(8)]
    want = {side: runtime.run(OP_EMBED, texts, {"truncation_direction": side}) for side in ("left", "right")}
    assert not np.allclose(want["left"][0], want["right"][0], atol=1e-3)
    errors: list[str] = []

    def lane(side: str) -> None:
        torch.set_num_threads(1)
        for _ in range(200):
            try:
                got = runtime.run(OP_EMBED, texts, {"truncation_direction": side})
            except (
                Exception
            ) as exc:  # e.g. the tokenizer's "Already borrowed" when two threads change it at once
                errors.append(f"{side}: {exc!r}")
                continue
            if not all(np.allclose(g, w, atol=1e-5) for g, w in zip(got, want[side], strict=True)):
                errors.append(f"{side}: the other side's vectors")

    lanes = [threading.Thread(target=lane, args=(side,)) for side in ("left", "right")]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a race shows up within the 400 calls
    try:
        for thread in lanes:
            thread.start()
        for thread in lanes:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, f"{len(errors)} calls went wrong (of 400), e.g. {errors[:3]}"
