"""Lifecycle: lazy load with 503 + estimated_time, keep-alive unload, LRU eviction under a memory budget,
pause/resume/delete, crash recovery and load failures, on a live server with real worker processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from inference.conftest import EndpointServer, start_server

pytestmark = pytest.mark.timeout(300)

# each tiny BERT holds ~120 kB of parameters: a 0.3 MB budget fits two of them, not three
BUDGET_MB = 0.3
NO_WAIT = {"X-Wait-For-Model": "false"}  # requests wait for a loading model by default; these want the 503


@pytest.fixture(scope="module")
def lserver(tiny_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointServer]:
    empty = tmp_path_factory.mktemp("not-a-model")
    (empty / "README.md").write_text("no weights here\n")
    srv = start_server(
        "--local",
        f"t/cls={tiny_dirs['text-classification']}",
        "--local",
        f"t/mlm={tiny_dirs['fill-mask']}",
        "--local",
        f"t/ner={tiny_dirs['token-classification']}",
        "--local",
        f"t/broken={empty}",
        "--memory-budget-mb",
        str(BUDGET_MB),
        "--threads",
        "1",
    )
    yield srv
    srv.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_state(srv: EndpointServer, name: str, state: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = srv.state(name)
        if data["state"] == state:
            return data
        time.sleep(0.1)
    raise AssertionError(f"{name} never became {state}: {data}")


def _delete(srv: EndpointServer, name: str) -> None:
    assert httpx.delete(f"{srv.api}/{name}").status_code == 200


def test_load_on_first_request_answers_503_with_estimated_time(lserver: EndpointServer) -> None:
    created = lserver.create("lazy", "t/cls", load=False)
    assert created["state"] == "unloaded"
    url = lserver.endpoint_url("lazy")
    assert httpx.get(url + "/health").status_code == 503
    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(base_url=url, headers=NO_WAIT).text_classification("hello")
    resp = info.value.response
    assert resp.status_code == 503
    assert resp.json()["estimated_time"] > 0
    assert int(resp.headers["retry-after"]) >= 1
    assert "loading" in resp.json()["error"]
    waited = InferenceClient(base_url=url, headers={"X-Wait-For-Model": "true"}).text_classification("hello")
    assert len(waited) == 3
    assert httpx.get(url + "/health").status_code == 200
    _delete(lserver, "lazy")


def test_keep_alive_unloads_an_idle_model(lserver: EndpointServer) -> None:
    lserver.create("short", "t/cls", keep_alive_s=1)
    pid = int(lserver.wait_ready("short")["pid"])
    url = lserver.endpoint_url("short")
    assert httpx.post(url, json={"inputs": "hi"}).status_code == 200
    _wait_state(lserver, "short", "unloaded", timeout=15)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the worker process ends when the model is unloaded"
    again = httpx.post(url, json={"inputs": "hi"}, headers=NO_WAIT)
    assert again.status_code == 503  # reloading on demand
    _delete(lserver, "short")


def test_lru_eviction_under_memory_budget(lserver: EndpointServer) -> None:
    lserver.create("a", "t/cls", keep_alive_s=None)
    lserver.create("b", "t/mlm", keep_alive_s=None)
    lserver.wait_ready("a")
    b_pid = int(lserver.wait_ready("b")["pid"])
    assert httpx.post(lserver.endpoint_url("b"), json={"inputs": "a [MASK] b"}).status_code == 200
    assert httpx.post(lserver.endpoint_url("a"), json={"inputs": "x"}).status_code == 200  # b is now LRU
    lserver.create("c", "t/ner", keep_alive_s=None)
    lserver.wait_ready("c")
    _wait_state(lserver, "b", "unloaded")
    assert lserver.state("a")["state"] == "ready"
    metrics = httpx.get(lserver.url + "/endpoints/-/metrics").text
    assert 'modelyard_inference_unloads_total{endpoint="b",reason="evicted"} 1' in metrics
    deadline = time.monotonic() + 10
    while _alive(b_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(b_pid)
    for name in ("a", "b", "c"):
        _delete(lserver, name)


def test_pause_resume_delete(lserver: EndpointServer) -> None:
    lserver.create("p", "t/cls")
    pid = int(lserver.wait_ready("p")["pid"])
    url = lserver.endpoint_url("p")
    paused = httpx.post(f"{lserver.api}/p/pause").json()
    assert paused["state"] == "paused"
    resp = httpx.post(url, json={"inputs": "hi"})
    assert resp.status_code == 503
    assert resp.headers["x-error-code"] == "EndpointPaused"
    assert httpx.get(url + "/health").status_code == 503
    assert not _alive(pid)
    assert httpx.post(f"{lserver.api}/p/resume").json()["state"] in ("loading", "ready")
    lserver.wait_ready("p")
    assert httpx.post(url, json={"inputs": "hi"}).status_code == 200
    listed = {e["name"]: e for e in httpx.get(lserver.api).json()["endpoints"]}
    assert listed["p"]["task"] == "text-classification"
    new_pid = int(listed["p"]["pid"])
    _delete(lserver, "p")
    assert httpx.post(url, json={"inputs": "hi"}).status_code == 404
    assert httpx.get(f"{lserver.api}/p").status_code == 404
    deadline = time.monotonic() + 10
    while _alive(new_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(new_pid)


def test_worker_crash_is_survived(lserver: EndpointServer) -> None:
    lserver.create("crashy", "t/cls")
    pid = int(lserver.wait_ready("crashy")["pid"])
    url = lserver.endpoint_url("crashy")
    os.kill(pid, signal.SIGKILL)
    _wait_state(lserver, "crashy", "unloaded")
    assert httpx.post(url, json={"inputs": "hi"}, headers=NO_WAIT).status_code == 503
    new_pid = int(lserver.wait_ready("crashy")["pid"])
    assert new_pid != pid
    assert httpx.post(url, json={"inputs": "hi"}).status_code == 200
    _delete(lserver, "crashy")


def test_load_failure_is_reported(lserver: EndpointServer) -> None:
    lserver.create("broken", "t/broken")
    state = _wait_state(lserver, "broken", "failed", timeout=60)
    assert "infer the task" in str(state["error"])
    resp = httpx.post(lserver.endpoint_url("broken"), json={"inputs": "hi"})
    assert resp.status_code == 500
    assert resp.headers["x-error-code"] == "ModelLoadFailed"
    _delete(lserver, "broken")


def test_management_api_validation(lserver: EndpointServer) -> None:
    bad = httpx.post(lserver.api, json={"repo_id": "t/cls", "name": "Bad Name"})
    assert bad.status_code == 422
    assert httpx.post(lserver.api, json={"repo_id": "t/cls", "task": "dance"}).status_code == 422
    assert httpx.post(lserver.api, json={"repo_id": "t/cls", "bogus": 1}).status_code == 422
    lserver.create("dup", "t/cls", load=False)
    again = httpx.post(lserver.api, json={"repo_id": "t/cls", "name": "dup"})
    assert again.status_code == 409
    _delete(lserver, "dup")
