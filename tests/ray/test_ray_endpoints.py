# ruff: noqa: F811  (the ray_cluster fixture is imported, then named as a parameter)
"""Endpoints on a local Ray cluster (`inference_backend = "ray"`): each endpoint is a Ray Serve application that the
hub calls through its DeploymentHandle; the stock `InferenceClient` gets the same answers as from the local backend
(a second hub replica on the same database serves the same endpoint with its own worker process); concurrent
requests are batched by `@serve.batch`; pause/unload/delete remove the Serve application; callers the hub refuses
never reach Ray; a third replica attaches to the running application instead of deploying again."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _ray_cluster import ray_cluster  # noqa: F401  (the session's Ray cluster)
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from conftest import Hub  # the root conftest (tests/ray has no __init__.py: it would shadow `ray`)

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

TEXT = "the cat is happy today"


def apps() -> dict[str, str]:
    from ray import serve

    return {name: str(s.status) for name, s in serve.status().applications.items()}


def describe(name: str) -> dict[str, Any]:
    from ray import serve

    info: dict[str, Any] = serve.get_app_handle(f"modelyard-{name}").describe.remote().result(timeout_s=60)
    return info


def api(hub: Hub, path: str = "") -> str:
    return f"{hub.url}/endpoints/-/api/endpoints{path}"


def wait_ready(hub: Hub, name: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(api(hub, f"/{name}"), headers=hub.auth(), timeout=30)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["state"] == "ready":
            return body
        assert body["state"] in ("loading", "unloaded"), body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


@pytest.fixture(scope="module")
def ray_hub(ray_cluster: Any, hub_factory: Any) -> Hub:
    hub: Hub = hub_factory(inference_backend="ray", ray_address=ray_cluster.address)
    return hub


@pytest.fixture(scope="module")
def model(ray_hub: Hub, tiny_model_dir: Path) -> str:
    """A private tiny text classifier of alice's."""
    api = ray_hub.api()
    api.create_repo("ray-clf", private=True)
    api.upload_folder(folder_path=tiny_model_dir, repo_id="alice/ray-clf")
    return "alice/ray-clf"


def replica(hub_factory: Any, of: Hub, **settings: Any) -> Hub:
    """Another hub replica on `of`'s database, blob store and secret."""
    s = of.settings
    other: Hub = hub_factory(
        database_url=s.resolved_database_url,
        blob_url=s.resolved_blob_url,
        secret_key=s.resolved_secret(),
        **settings,
    )
    return other


def test_endpoint_on_ray_answers_like_the_local_backend(
    ray_cluster: Any, ray_hub: Hub, model: str, hub_factory: Any
) -> None:
    hub = ray_hub
    r = httpx.post(
        api(hub),
        json={"name": "ray-clf", "repo_id": model, "max_batch_size": 16, "max_wait_ms": 100},
        headers=hub.auth(),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    started = time.monotonic()
    body = wait_ready(hub, "ray-clf")
    took = time.monotonic() - started
    print(f"\nfirst Ray endpoint ready in {took:.1f}s; cluster RSS {ray_cluster.rss_mb():.0f} MB")
    assert "modelyard-ray-clf" in apps()
    info = describe("ray-clf")
    import ray

    assert info["node_id"] in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert info["task"] == "text-classification" and info["load_error"] is None
    assert body["pid"] == info["pid"]  # the replica's pid, not a local worker's

    url = f"{hub.url}/endpoints/ray-clf"
    on_ray = InferenceClient(model=url, token=hub.alice).text_classification(TEXT)
    assert {o.label for o in on_ray} == {"NEGATIVE", "POSITIVE"}

    # a second replica on the same database, local backend: it sees the endpoint and loads it itself
    local = replica(hub_factory, hub)
    r = httpx.get(api(local), headers=local.auth(), timeout=30)
    assert "ray-clf" in [e["name"] for e in r.json()["endpoints"]]
    # it loads on demand: 503 while loading, then the answer
    on_local = wait_answer(InferenceClient(model=f"{local.url}/endpoints/ray-clf", token=local.alice))
    assert [o.label for o in on_local] == [o.label for o in on_ray]
    assert [o.score for o in on_local] == pytest.approx([o.score for o in on_ray], abs=1e-5)
    # feature extraction over the raw API: the same numbers too
    body_ray = httpx.post(url, json={"inputs": [TEXT, "a dog was sad"]}, headers=hub.auth(), timeout=60)
    body_local = httpx.post(
        f"{local.url}/endpoints/ray-clf",
        json={"inputs": [TEXT, "a dog was sad"]},
        headers=local.auth(),
        timeout=60,
    )
    assert body_ray.status_code == body_local.status_code == 200, body_ray.text
    got, want = body_ray.json(), body_local.json()
    assert [[x["label"] for x in row] for row in got] == [[x["label"] for x in row] for row in want]

    # concurrent requests travel in batches (@serve.batch on the replica)
    before = len(describe("ray-clf")["batches"])
    client = InferenceClient(model=url, token=hub.alice)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda i: client.text_classification(f"{TEXT} {i}"), range(32)))
    assert len(outs) == 32 and all(len(o) == 2 for o in outs)
    sizes = describe("ray-clf")["batches"][before:]
    print(f"batch sizes: {sizes}")
    assert sum(sizes) == 32 and max(sizes) > 1
    metrics = httpx.get(f"{url}/metrics", headers=hub.auth(), timeout=30).text
    assert "modelyard_inference_batch_size" in metrics

    # a third replica with the Ray backend attaches to the running application (no second deployment)
    third = replica(hub_factory, hub, inference_backend="ray", ray_address=ray_cluster.address)
    out = InferenceClient(model=f"{third.url}/endpoints/ray-clf", token=third.alice)
    r = httpx.post(
        f"{third.url}/endpoints/ray-clf", json={"inputs": TEXT}, headers=third.auth(), params={}, timeout=60
    )
    assert r.status_code in (200, 503), r.text  # 503: loading (attaching), then it answers
    assert [o.label for o in wait_answer(out)] == [o.label for o in on_ray]
    assert describe("ray-clf")["pid"] == info["pid"]


def wait_answer(client: InferenceClient, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.text_classification(TEXT)
        except HfHubHTTPError as e:
            if e.response.status_code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_refused_callers_never_reach_ray(ray_hub: Hub, model: str) -> None:
    hub = ray_hub
    url = f"{hub.url}/endpoints/ray-clf"
    wait_ready(hub, "ray-clf")
    calls = describe("ray-clf")["calls"]
    anonymous = httpx.post(url, json={"inputs": TEXT}, timeout=30)
    bob = httpx.post(url, json={"inputs": TEXT}, headers=hub.auth(hub.bob), timeout=30)
    bad = httpx.post(url, json={"inputs": TEXT}, headers=hub.auth("hf_guessed_token_123"), timeout=30)
    assert anonymous.status_code in (401, 404) and bob.status_code == 404 and bad.status_code == 401
    with pytest.raises(HfHubHTTPError):
        InferenceClient(model=url, token=hub.bob).text_classification(TEXT)
    # bob may not manage it either
    r = httpx.post(api(hub, "/ray-clf/pause"), headers=hub.auth(hub.bob), timeout=30)
    assert r.status_code == 404
    r = httpx.delete(api(hub, "/ray-clf"), headers=hub.auth(hub.alice_read), timeout=30)
    assert r.status_code in (401, 403)
    assert describe("ray-clf")["calls"] == calls
    assert "modelyard-ray-clf" in apps()


def test_pause_resume_unload_and_delete_map_to_serve(ray_hub: Hub, model: str) -> None:
    hub = ray_hub
    url = f"{hub.url}/endpoints/ray-clf"
    wait_ready(hub, "ray-clf")
    r = httpx.post(api(hub, "/ray-clf/pause"), headers=hub.auth(), timeout=60)
    assert r.status_code == 200 and r.json()["state"] == "paused", r.text
    assert "modelyard-ray-clf" not in apps()
    r = httpx.post(url, json={"inputs": TEXT}, headers=hub.auth(), timeout=30)
    assert r.status_code in (400, 409, 503) and "paused" in r.text
    r = httpx.post(api(hub, "/ray-clf/resume"), headers=hub.auth(), timeout=60)
    assert r.status_code == 200, r.text
    wait_ready(hub, "ray-clf")
    assert "modelyard-ray-clf" in apps()
    assert InferenceClient(model=url, token=hub.alice).text_classification(TEXT)
    # scale to zero: the application goes; the next request deploys it again
    r = httpx.post(api(hub, "/ray-clf/unload"), headers=hub.auth(), timeout=60)
    assert r.status_code == 200 and "modelyard-ray-clf" not in apps()
    assert wait_answer(InferenceClient(model=url, token=hub.alice))
    assert "modelyard-ray-clf" in apps()
    r = httpx.delete(api(hub, "/ray-clf"), headers=hub.auth(), timeout=60)
    assert r.status_code in (200, 204), r.text
    assert "modelyard-ray-clf" not in apps()
    assert httpx.post(url, json={"inputs": TEXT}, headers=hub.auth(), timeout=30).status_code == 404


def test_text_generation_streams_through_ray(ray_hub: Hub) -> None:
    """Streaming on the Ray backend: the replica generates to the end, the hub replays the tokens as a stream."""
    from tests.training._data import push_tiny_causal_lm

    hub = ray_hub
    push_tiny_causal_lm(hub, "alice/ray-llm")
    r = httpx.post(
        api(hub),
        json={"name": "ray-llm", "repo_id": "alice/ray-llm", "task": "text-generation"},
        headers=hub.auth(),
    )
    assert r.status_code == 201, r.text
    try:
        wait_ready(hub, "ray-llm")
        client = InferenceClient(model=f"{hub.url}/endpoints/ray-llm", token=hub.alice)
        whole = client.text_generation("the cat", max_new_tokens=8, do_sample=False, details=True)
        events = list(
            client.text_generation("the cat", max_new_tokens=8, do_sample=False, stream=True, details=True)
        )
        assert len(events) == 8  # one event per token (random weights: token texts may be partial bytes)
        assert [e.token.id for e in events] == [t.id for t in whole.details.tokens]
        chunks = list(
            client.chat_completion(
                [{"role": "user", "content": "hi"}], max_tokens=6, stream=True, temperature=0
            )
        )
        assert len(chunks) > 1
        assert describe("ray-llm")["calls"] >= 3
    finally:
        httpx.delete(api(hub, "/ray-llm"), headers=hub.auth(), timeout=60)
    assert "modelyard-ray-llm" not in apps()
