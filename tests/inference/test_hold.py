"""Hold instead of 503: a request to an endpoint whose model is loading (first use, after an idle or manual unload)
waits for it by default, up to the server's wait timeout; `X-Wait-For-Model: false` (or `0`, or
`{"options": {"wait_for_model": false}}`) gets 503 ModelLoading with `estimated_time` at once. Real standalone
servers, real worker processes, the stock InferenceClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from inference.conftest import EndpointServer, start_server

pytestmark = pytest.mark.timeout(300)

NO_WAIT = {"X-Wait-For-Model": "false"}


@pytest.fixture(scope="module")
def holding(tiny_model_dir: Path) -> Iterator[EndpointServer]:
    """A server with the default wait timeout (120 s)."""
    srv = start_server("--local", f"t/cls={tiny_model_dir}", "--threads", "1")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def impatient(tiny_model_dir: Path) -> Iterator[EndpointServer]:
    """A server that holds a request 10 ms at most: no tiny model loads that fast."""
    srv = start_server("--local", f"t/cls={tiny_model_dir}", "--threads", "1", "--wait-timeout", "0.01")
    yield srv
    srv.stop()


def _unload(srv: EndpointServer, name: str) -> None:
    resp = httpx.post(f"{srv.api}/{name}/unload", timeout=30)
    assert resp.status_code == 200, resp.text
    assert srv.state(name)["state"] == "unloaded"


def _wait_state(srv: EndpointServer, name: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.state(name)["state"] == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never became {state}: {srv.state(name)}")


def test_a_plain_client_call_waits_for_a_cold_model(holding: EndpointServer) -> None:
    holding.create("cold", "t/cls", load=False)
    url = holding.endpoint_url("cold")
    try:
        assert holding.state("cold")["state"] == "unloaded"
        out = InferenceClient(base_url=url).text_classification("the cat is happy today")  # no header: waits
        assert {o.label for o in out} == {"NEGATIVE", "POSITIVE"}
        assert holding.state("cold")["state"] == "ready"

        _unload(holding, "cold")  # scale to zero, as after an idle keep-alive or a restart
        with ThreadPoolExecutor(4) as pool:  # concurrent callers all wait for the one load
            answers = list(
                pool.map(lambda t: InferenceClient(base_url=url).text_classification(t), ["a"] * 4)
            )
        assert all(len(a) == 2 for a in answers)
        assert holding.state("cold")["state"] == "ready"
    finally:
        httpx.delete(f"{holding.api}/cold", timeout=30)


@pytest.mark.parametrize(
    "headers,body",
    [
        (NO_WAIT, {"inputs": "hi"}),
        ({"X-Wait-For-Model": "0"}, {"inputs": "hi"}),
        ({}, {"inputs": "hi", "options": {"wait_for_model": False}}),
    ],
    ids=["header-false", "header-0", "options-false"],
)
def test_callers_who_ask_not_to_wait_get_503_with_estimated_time(
    holding: EndpointServer, headers: dict[str, str], body: dict[str, object]
) -> None:
    holding.create("nowait", "t/cls")
    url = holding.endpoint_url("nowait")
    try:
        holding.wait_ready("nowait")
        _unload(holding, "nowait")
        resp = httpx.post(url, json=body, headers=headers, timeout=30)
        assert resp.status_code == 503, resp.text
        assert resp.headers["x-error-code"] == "ModelLoading"
        assert resp.json()["estimated_time"] > 0
        assert int(resp.headers["retry-after"]) >= 1
        # the refused request started the load; once it is done the same no-wait call is answered
        holding.wait_ready("nowait")
        assert httpx.post(url, json=body, headers=headers, timeout=30).status_code == 200
    finally:
        httpx.delete(f"{holding.api}/nowait", timeout=30)


def test_no_wait_through_the_client(holding: EndpointServer) -> None:
    holding.create("nowait-client", "t/cls", load=False)
    url = holding.endpoint_url("nowait-client")
    try:
        with pytest.raises(HfHubHTTPError) as info:
            InferenceClient(base_url=url, headers=NO_WAIT).text_classification("hello")
        assert info.value.response.status_code == 503
        assert info.value.response.json()["estimated_time"] > 0
        assert InferenceClient(base_url=url).text_classification("hello")  # waits for the load it started
    finally:
        httpx.delete(f"{holding.api}/nowait-client", timeout=30)


def test_an_idle_unloaded_endpoint_serves_the_next_plain_call(holding: EndpointServer) -> None:
    holding.create("idle", "t/cls", keep_alive_s=0.5)
    url = holding.endpoint_url("idle")
    try:
        holding.wait_ready("idle")
        _wait_state(holding, "idle", "unloaded", timeout=20)
        out = InferenceClient(base_url=url).text_classification("a dog was sad again")
        assert len(out) == 2
    finally:
        httpx.delete(f"{holding.api}/idle", timeout=30)


def test_a_paused_endpoint_is_not_held(holding: EndpointServer) -> None:
    holding.create("paused", "t/cls")
    url = holding.endpoint_url("paused")
    try:
        holding.wait_ready("paused")
        assert httpx.post(f"{holding.api}/paused/pause", timeout=30).status_code == 200
        started = time.monotonic()
        resp = httpx.post(url, json={"inputs": "hi"}, timeout=30)
        assert resp.status_code == 503
        assert resp.headers["x-error-code"] == "EndpointPaused"
        assert time.monotonic() - started < 5
    finally:
        httpx.delete(f"{holding.api}/paused", timeout=30)


def test_a_wait_past_the_timeout_answers_503_cleanly(impatient: EndpointServer) -> None:
    impatient.create("slow", "t/cls", load=False)
    url = impatient.endpoint_url("slow")
    try:
        resp = httpx.post(url, json={"inputs": "hi"}, timeout=30)  # waits 10 ms, then gives up
        assert resp.status_code == 503, resp.text
        assert resp.headers["x-error-code"] == "ModelLoading"
        assert "still loading" in resp.json()["error"]
        assert resp.json()["estimated_time"] > 0
        assert int(resp.headers["retry-after"]) >= 1
        impatient.wait_ready("slow")  # the load went on; the server is fine
        assert httpx.post(url, json={"inputs": "hi"}, timeout=30).status_code == 200
    finally:
        httpx.delete(f"{impatient.api}/slow", timeout=30)
