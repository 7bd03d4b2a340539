"""OpenAI-compatible routes (real ``openai`` client), chat via InferenceClient, batching, auth, errors, metrics."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import numpy as np
import openai
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from inference.conftest import PRIVATE_TOKEN, EndpointServer

pytestmark = pytest.mark.timeout(300)


def _openai(server: EndpointServer, name: str) -> openai.OpenAI:
    server.wait_ready(name)
    return openai.OpenAI(base_url=server.endpoint_url(name) + "/v1", api_key="unused", max_retries=0)


def test_openai_embeddings_float_and_base64(server: EndpointServer) -> None:
    client = _openai(server, "embeddings")
    texts = ["a cat runs", "the city sleeps", "bob reads a book"]
    default = client.embeddings.create(model="tiny", input=texts)  # the client asks for base64 by default
    floats = client.embeddings.create(model="tiny", input=texts, encoding_format="float")
    assert [d.index for d in default.data] == [0, 1, 2]
    a = np.array([d.embedding for d in default.data])
    b = np.array([d.embedding for d in floats.data])
    assert a.shape == (3, 32)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a[0], a[1])
    hf = InferenceClient(base_url=server.endpoint_url("embeddings")).feature_extraction("a cat runs")
    np.testing.assert_allclose(b[0], hf[0], atol=1e-5)
    raw = httpx.post(
        server.endpoint_url("embeddings") + "/v1/embeddings",
        json={"input": "a cat runs", "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, b[0], atol=1e-6)


def test_openai_embeddings_on_non_embedding_model_is_rejected(server: EndpointServer) -> None:
    client = _openai(server, "text-classification")
    with pytest.raises(openai.UnprocessableEntityError):
        client.embeddings.create(model="x", input="hello")


def test_openai_chat_non_streamed_and_streamed(server: EndpointServer) -> None:
    client = _openai(server, "text-generation")
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    full = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12)  # type: ignore[arg-type]
    text = full.choices[0].message.content
    assert text and full.choices[0].finish_reason == "length"
    assert full.usage is not None and full.usage.completion_tokens == 12
    stream = client.chat.completions.create(
        model="tiny",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 3, "tokens arrive as separate SSE events"
    assert "".join(pieces) == text
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["length"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12
    other = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "what is paris"}],
        max_tokens=12,  # type: ignore[list-item]
    )
    assert other.choices[0].message.content != text


def test_inference_client_chat_completion_stream(server: EndpointServer) -> None:
    server.wait_ready("text-generation")
    client = InferenceClient(base_url=server.endpoint_url("text-generation"))
    messages = [{"role": "user", "content": "hello"}]
    whole = client.chat_completion(messages, max_tokens=8)
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat_completion(messages, max_tokens=8, stream=True)
    )
    assert streamed == whole.choices[0].message.content


def test_chat_on_model_without_chat_template_is_rejected(server: EndpointServer) -> None:
    client = _openai(server, "summarization")
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])


def test_concurrent_requests_are_batched_and_answers_match(server: EndpointServer) -> None:
    server.wait_ready("embeddings")
    url = server.endpoint_url("embeddings")
    texts = [f"sentence number {i} about a cat in paris" + " very" * (i % 5) for i in range(24)]
    with httpx.Client(timeout=60) as client:
        sequential = [client.post(url, json={"inputs": t}).json()[0] for t in texts]

    def batch_count() -> float:
        metrics = httpx.get(url + "/metrics").text
        line = next(
            ln for ln in metrics.splitlines() if ln.startswith("modelyard_inference_batch_size_count")
        )
        return float(line.split()[-1])

    before = batch_count()

    async def fire() -> list[list[float]]:
        async with httpx.AsyncClient(timeout=60) as client:
            responses = await asyncio.gather(*(client.post(url, json={"inputs": t}) for t in texts))
        assert all(r.status_code == 200 for r in responses)
        return [r.json()[0] for r in responses]

    concurrent = asyncio.run(fire())
    batches = batch_count() - before
    assert batches < len(texts) / 2, f"{len(texts)} concurrent requests ran in {batches} batches"
    np.testing.assert_allclose(np.array(concurrent), np.array(sequential), atol=1e-5)


def test_malformed_inputs_get_422(server: EndpointServer) -> None:
    server.wait_ready("text-classification")
    url = server.endpoint_url("text-classification")
    for body in (
        b"not json",
        b'{"no_inputs": 1}',
        b'{"inputs": 12}',
        b'{"inputs": "x", "parameters": {"top_k": "a"}}',
    ):
        resp = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422, body
        assert resp.json()["error"]
        assert resp.headers["x-error-code"] == "InvalidInput"
    server.wait_ready("zero-shot-classification")
    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(base_url=server.endpoint_url("zero-shot-classification")).zero_shot_classification(
            "text", candidate_labels=[]
        )
    assert info.value.response.status_code == 422


def test_model_error_is_a_clear_500_and_the_worker_survives(server: EndpointServer) -> None:
    state = server.wait_ready("question-answering")
    url = server.endpoint_url("question-answering")
    long_question = " ".join(["who is the person that runs"] * 10)
    resp = httpx.post(
        url,
        json={
            "inputs": {"question": long_question, "context": "alice runs"},
            "parameters": {"max_seq_len": 16},
        },
    )
    assert resp.status_code == 500
    assert resp.json()["error_type"] == "model_error"
    assert resp.headers["x-error-code"] == "ModelError"
    ok = httpx.post(url, json={"inputs": {"question": "who runs", "context": "alice runs in paris"}})
    assert ok.status_code == 200
    assert server.state("question-answering")["pid"] == state["pid"]


def test_private_endpoint_needs_a_token(server: EndpointServer) -> None:
    server.wait_ready("private", token=PRIVATE_TOKEN)
    url = server.endpoint_url("private")
    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(base_url=url).text_classification("hello")
    assert info.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(base_url=url, token="wrong").text_classification("hello")
    assert info.value.response.status_code == 403
    assert httpx.get(url + "/health").status_code == 401
    out = InferenceClient(base_url=url, token=PRIVATE_TOKEN).text_classification("hello")
    assert len(out) == 3
    listed = httpx.get(server.api).json()["endpoints"]
    assert "private" not in {e["name"] for e in listed}
    listed = httpx.get(server.api, headers={"Authorization": f"Bearer {PRIVATE_TOKEN}"}).json()["endpoints"]
    assert "private" in {e["name"] for e in listed}
    # the public endpoints stay public on the same server
    assert InferenceClient(base_url=server.endpoint_url("text-classification")).text_classification("x")


def test_health_info_metrics(server: EndpointServer) -> None:
    server.wait_ready("text-classification")
    url = server.endpoint_url("text-classification")
    client = InferenceClient(base_url=url, provider="hf-inference")
    assert client.health_check()
    info = client.get_endpoint_info()
    assert info["model_pipeline_tag"] == "text-classification"
    assert info["model_id"] == "tests/tiny-classifier"
    assert info["runtime"]["labels"] == ["NEGATIVE", "POSITIVE", "NEUTRAL"]
    assert info["runtime"]["graph"] == "torchscript"  # the checked trace is on by default
    client.text_classification("hello")
    metrics = httpx.get(url + "/metrics").text
    assert 'modelyard_inference_requests_total{endpoint="text-classification",status="200"}' in metrics
    assert 'modelyard_inference_loaded{endpoint="text-classification"} 1' in metrics
    assert "modelyard_inference_batch_size_bucket" in metrics
    assert 'endpoint="fill-mask"' not in metrics
    everything = httpx.get(server.url + "/endpoints/-/metrics").text
    assert 'endpoint="fill-mask"' in everything


def test_unknown_endpoint_is_404(server: EndpointServer) -> None:
    resp = httpx.post(server.endpoint_url("nope"), json={"inputs": "x"})
    assert resp.status_code == 404
    assert resp.headers["x-error-code"] == "EndpointNotFound"


def test_overflow_gets_429_with_retry_after_at_once(server: EndpointServer) -> None:
    server.create("tg-small-queue", "tests/tiny-llama", max_queue=1)
    server.wait_ready("tg-small-queue")
    url = server.endpoint_url("tg-small-queue")

    async def go() -> tuple[list[httpx.Response], float]:
        async with httpx.AsyncClient(timeout=120) as client:
            slow = asyncio.create_task(
                client.post(url, json={"inputs": "the cat", "parameters": {"max_new_tokens": 2000}})
            )
            deadline = time.monotonic() + 30
            while server.state("tg-small-queue")["queue_size"] < 1:  # the slow one is accepted
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            started = time.monotonic()
            rejected = await client.post(url, json={"inputs": "the dog", "parameters": {"max_new_tokens": 2}})
            elapsed = time.monotonic() - started
            return [await slow, rejected], elapsed

    (slow, rejected), elapsed = asyncio.run(go())
    assert slow.status_code == 200
    assert rejected.status_code == 429
    assert rejected.json()["error_type"] == "overloaded"
    assert int(rejected.headers["retry-after"]) >= 1
    assert elapsed < 1.0, "overflow is rejected at once, not queued"


def test_client_disconnect_stops_a_streamed_generation(server: EndpointServer) -> None:
    server.create("tg-cancel", "tests/tiny-llama")
    server.wait_ready("tg-cancel")
    url = server.endpoint_url("tg-cancel")
    body = {"inputs": "the cat", "parameters": {"max_new_tokens": 4000}, "stream": True}
    started = time.monotonic()
    with httpx.stream("POST", url, json=body, timeout=60) as resp:
        lines = resp.iter_lines()
        assert next(lines).startswith("data:")
    # the worker notices the cancellation at the next token and is free again
    quick = httpx.post(url, json={"inputs": "a dog", "parameters": {"max_new_tokens": 2}}, timeout=60)
    assert quick.status_code == 200
    elapsed = time.monotonic() - started
    full = time.monotonic()
    httpx.post(url, json={"inputs": "the cat", "parameters": {"max_new_tokens": 4000}}, timeout=120)
    full = time.monotonic() - full
    assert elapsed < full / 2, (elapsed, full)
