"""Continuous batching of text generation: requests join and leave the running batch at every decoding step.

A standalone server with the tiny Llama (tests/inference/tiny_models.py), driven by the real ``openai`` client and
``InferenceClient``: concurrent greedy streams give what each request gives alone, a late request starts streaming
before the running ones finish, stop sequences / max_tokens / logprobs, the token budget (422 over it, waiting
under it) and a client disconnect returning its tokens to the budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from huggingface_hub import InferenceClient

from inference import tiny_models
from inference.conftest import EndpointServer, start_server

pytestmark = pytest.mark.timeout(300)

PROMPTS = [
    "hello there",
    "the quick brown fox",
    "a",
    "once upon a time in a land far away",
    "what is the capital of france",
    "x y z",
    "tell me a story about a cat and a dog",
    "bob reads a book",
]


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointServer]:
    model_dir = tiny_models.build_causal_lm(tmp_path_factory.mktemp("continuous") / "llama")
    srv = start_server("--local", f"tests/tiny-llama={model_dir}", "--threads", "1")
    try:
        srv.create("llm", "tests/tiny-llama")
        srv.create("llm-budget", "tests/tiny-llama", max_batch_tokens=4100)
        srv.wait_ready("llm")
        srv.wait_ready("llm-budget")
        yield srv
    finally:
        srv.stop()


def _openai(server: EndpointServer, name: str = "llm") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.endpoint_url(name) + "/v1", api_key="unused", max_retries=0, timeout=120
    )


def _messages(prompt: str) -> Any:
    return [{"role": "user", "content": prompt}]


def _stream_chat(client: openai.OpenAI, prompt: str, max_tokens: int, **kw: Any) -> dict[str, Any]:
    """One streamed chat: text, finish reason, and the times of its first and last content chunk."""
    started = time.monotonic()
    pieces: list[str] = []
    first = last = None
    reason = None
    for chunk in client.chat.completions.create(
        model="tiny", messages=_messages(prompt), max_tokens=max_tokens, stream=True, **kw
    ):
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content:
            now = time.monotonic()
            first = first or now
            last = now
            pieces.append(choice.delta.content)
        reason = choice.finish_reason or reason
    return {"text": "".join(pieces), "reason": reason, "first": first, "last": last, "started": started}


def test_concurrent_streams_equal_lone_runs(llm: EndpointServer) -> None:
    client = _openai(llm)
    alone = [_stream_chat(client, p, 48)["text"] for p in PROMPTS]
    assert len(set(alone)) == len(PROMPTS) and all(alone)
    results: list[dict[str, Any]] = [{} for _ in PROMPTS]
    barrier = threading.Barrier(len(PROMPTS))

    def one(i: int) -> None:
        barrier.wait()
        results[i] = _stream_chat(client, PROMPTS[i], 48)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r["text"] for r in results] == alone  # per-sequence caches: batched greedy == lone greedy
    assert all(r["reason"] == "length" for r in results)
    # all eight were decoding at the same time (one at a time, each would end before the next starts)
    assert max(r["first"] for r in results) < min(r["last"] for r in results)


def test_late_request_joins_running_batch(llm: EndpointServer) -> None:
    client = _openai(llm)
    short_alone = _stream_chat(client, "bob reads a book", 4)["text"]
    long_results: list[dict[str, Any]] = [{} for _ in range(3)]
    started = threading.Event()
    tokens_seen = [0]

    def long(i: int) -> None:
        pieces = []
        first = None
        for chunk in client.chat.completions.create(
            model="tiny", messages=_messages(PROMPTS[i]), max_tokens=220, stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.monotonic()
                pieces.append(chunk.choices[0].delta.content)
                tokens_seen[0] += 1
                if tokens_seen[0] >= 15:
                    started.set()
        long_results[i] = {"text": "".join(pieces), "first": first, "end": time.monotonic()}

    threads = [threading.Thread(target=long, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    assert started.wait(60)
    late = _stream_chat(client, "bob reads a book", 4)
    for t in threads:
        t.join(120)
    assert late["text"] == short_alone
    # the long rows lived through a join, a leave and cache-buffer regrowths (> 64 positions): still lone greedy
    assert [r["text"] for r in long_results] == [
        _stream_chat(client, PROMPTS[i], 220)["text"] for i in range(3)
    ]
    ended_first = min(r["end"] for r in long_results)
    assert late["first"] is not None and late["first"] < ended_first  # streamed while the others still ran
    assert late["last"] < ended_first  # ... and left the batch before them


def test_stop_sequences_max_tokens_and_logprobs_openai(llm: EndpointServer) -> None:
    client = _openai(llm)
    full = client.chat.completions.create(
        model="tiny", messages=_messages("hello there"), max_tokens=20, logprobs=True, top_logprobs=2
    )
    choice = full.choices[0]
    text = choice.message.content or ""
    assert choice.finish_reason == "length"
    assert full.usage is not None and full.usage.completion_tokens == 20
    assert choice.logprobs is not None and choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert len(entries) == 20
    for entry in entries:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob
        assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-5  # greedy: the chosen one is the best
    plain = client.chat.completions.create(model="tiny", messages=_messages("hello there"), max_tokens=20)
    assert plain.choices[0].message.content == text and plain.choices[0].logprobs is None

    # a stop string from the middle of the greedy answer cuts it there; finish_reason "stop"
    k = next(
        i
        for i in range(3, len(text) - 2)
        if text[i : i + 2].isascii() and text[i : i + 2].isalnum() and text.find(text[i : i + 2]) == i
    )
    stop = text[k : k + 2]
    cut = client.chat.completions.create(
        model="tiny", messages=_messages("hello there"), max_tokens=20, stop=[stop]
    )
    assert cut.choices[0].message.content == text[:k]
    assert cut.choices[0].finish_reason == "stop"
    streamed = _stream_chat(client, "hello there", 20, stop=stop)
    assert streamed["text"] == text[:k] and streamed["reason"] == "stop"

    # streamed logprobs arrive with the chunks
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=_messages("hello there"),
            max_tokens=6,
            stream=True,
            logprobs=True,
            top_logprobs=1,
        )
    )
    streamed_entries = [
        e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content or []
    ]
    assert [round(e.logprob, 4) for e in streamed_entries] == [round(e.logprob, 4) for e in entries[:6]]
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="tiny", messages=_messages("hi"), max_tokens=5, top_logprobs=2)


def test_text_generation_stream_details_inference_client(llm: EndpointServer) -> None:
    client = InferenceClient(base_url=llm.endpoint_url("llm"))
    expected = client.text_generation("the cat", max_new_tokens=10, details=True)
    assert expected.details is not None and expected.details.finish_reason == "length"
    events = list(client.text_generation("the cat", max_new_tokens=10, stream=True, details=True))
    assert len(events) == 10
    assert events[-1].generated_text == expected.generated_text
    assert events[-1].details is not None and events[-1].details.finish_reason == "length"
    assert events[-1].details.generated_tokens == 10
    streamed_logprobs = [e.token.logprob for e in events]
    assert all(lp <= 0 for lp in streamed_logprobs) and any(lp < 0 for lp in streamed_logprobs)
    assert [round(t.logprob, 4) for t in expected.details.tokens] == [
        round(lp, 4) for lp in streamed_logprobs
    ]
    text = expected.generated_text
    k = next(
        i
        for i in range(2, len(text) - 1)
        if text[i].isascii() and text[i].isalnum() and text.find(text[i]) == i
    )
    stopped = client.text_generation("the cat", max_new_tokens=10, stop=[text[k]], details=True)
    assert stopped.generated_text == text[:k]
    assert stopped.details is not None and stopped.details.finish_reason == "stop_sequence"
    pieces = list(client.text_generation("the cat", max_new_tokens=10, stop=[text[k]], stream=True))
    assert "".join(pieces) == text[:k]


def test_token_budget_refuses_and_disconnect_frees_it(llm: EndpointServer) -> None:
    client = _openai(llm, "llm-budget")  # max_batch_tokens=4100
    assert llm.state("llm-budget")["config"]["max_batch_tokens"] == 4100
    info = httpx.get(llm.endpoint_url("llm-budget") + "/info", timeout=30).json()
    assert info["max_batch_total_tokens"] == 4100 and info["runtime"]["continuous_batching"] is True
    bad = httpx.post(
        llm.api, json={"name": "bad", "repo_id": "tests/tiny-llama", "max_batch_tokens": 0}, timeout=30
    )
    assert bad.status_code == 422 and "max_batch_tokens" in bad.json()["error"]
    for stream in (False, True):
        with pytest.raises(openai.UnprocessableEntityError) as info:
            client.chat.completions.create(
                model="tiny", messages=_messages("hello there " * 100), max_tokens=4096, stream=stream
            )
        assert "max_batch_tokens" in info.value.response.json()["error"]

    # A reserves ~4010 of the 4100 tokens; B (~110) has to wait until A leaves the batch
    a = client.chat.completions.create(
        model="tiny", messages=_messages("hello there"), max_tokens=4000, stream=True
    )
    a_started = time.monotonic()
    seen = 0
    for chunk in a:
        if chunk.choices and chunk.choices[0].delta.content is not None:
            seen += 1
            if seen >= 20:
                break
    rate = seen / (time.monotonic() - a_started)  # A's tokens per second: it needs ~4000 / rate more seconds
    b_result: dict[str, Any] = {}

    def b() -> None:
        b_result.update(_stream_chat(client, "bob reads a book", 100))

    thread = threading.Thread(target=b)
    thread.start()
    time.sleep(0.5)
    closed = time.monotonic()
    a.close()  # the client goes away: A leaves the batch and its tokens return to the budget
    thread.join(60)
    assert b_result.get("reason") == "length"
    waited = b_result["last"] - closed
    assert waited < min(10.0, 0.5 * (4000 - seen) / rate), (waited, rate)
    assert b_result["first"] > closed  # it could only start once A was gone
