"""Fixtures: tiny models built once per session, and real endpoint servers on loopback (port 0)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from inference import tiny_models

PRIVATE_TOKEN = "secret-token-for-tests"
READY_TIMEOUT = 180.0


@dataclass
class EndpointServer:
    """A running ``python -m modelyard.server.inference_app`` process."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.url}/endpoints/-/api/endpoints"

    def endpoint_url(self, name: str) -> str:
        return f"{self.url}/endpoints/{name}"

    def create(self, name: str, repo_id: str, token: str | None = None, **config: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = httpx.post(
            self.api, json={"name": name, "repo_id": repo_id, **config}, headers=headers, timeout=30
        )
        assert resp.status_code == 201, resp.text
        data: dict[str, Any] = resp.json()
        return data

    def state(self, name: str, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = httpx.get(f"{self.api}/{name}", headers=headers, timeout=30)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def wait_ready(
        self, name: str, token: str | None = None, timeout: float = READY_TIMEOUT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.state(name, token)
            if data["state"] == "ready":
                return data
            if data["state"] == "failed":
                raise AssertionError(f"endpoint {name} failed: {data['error']}\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"endpoint {name} not ready after {timeout}s: {data}\n{self.log()}")

    def log(self) -> str:
        return "".join(self.output[-80:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(*args: str) -> EndpointServer:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard.server.inference_app",
            "--port",
            "0",
            "--log-level",
            "warning",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    output: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("MODELYARD_INFERENCE_LISTENING"):
            url = line.split()[1]
            break
    if url is None:
        proc.kill()
        raise AssertionError("server did not start:\n" + "".join(output))
    server = EndpointServer(proc, url, output)

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    for _ in range(100):
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return server


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_models.build_all(tmp_path_factory.mktemp("tiny-models"))


#: endpoint name → (repo id, model kind, extra config) served by the shared session server.
TASK_ENDPOINTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "text-classification": ("tests/tiny-classifier", "text-classification", {}),
    "token-classification": ("tests/tiny-ner", "token-classification", {}),
    "question-answering": ("tests/tiny-qa", "question-answering", {}),
    "fill-mask": ("tests/tiny-mlm", "fill-mask", {}),
    "zero-shot-classification": ("tests/tiny-nli", "zero-shot-classification", {}),
    "embeddings": ("tests/tiny-embedder", "sentence-similarity", {"max_wait_ms": 30}),
    "summarization": ("tests/tiny-summarizer", "summarization", {}),
    "translation": ("tests/tiny-translator", "translation", {}),
    "text2text": ("tests/tiny-t5", "text2text-generation", {}),
    "text-generation": ("tests/tiny-llama", "text-generation", {}),
    "asr": ("tests/tiny-wav2vec2", "automatic-speech-recognition", {}),
    "image-classification": ("tests/tiny-vit", "image-classification", {}),
    "private": ("tests/private-classifier", "text-classification", {}),
}


@pytest.fixture(scope="session")
def server(tiny_dirs: dict[str, Path]) -> Iterator[EndpointServer]:
    """One standalone server holding an endpoint per task (all loading in parallel from the start)."""
    args: list[str] = []
    for repo, kind, _ in TASK_ENDPOINTS.values():
        args += ["--local", f"{repo}={tiny_dirs[kind]}"]
    args += ["--token", PRIVATE_TOKEN, "--private", "tests/private-classifier", "--threads", "1"]
    srv = start_server(*args)
    try:
        for name, (repo, _, extra) in TASK_ENDPOINTS.items():
            token = PRIVATE_TOKEN if name == "private" else None
            srv.create(name, repo, token=token, **extra)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def endpoint(server: EndpointServer, request: pytest.FixtureRequest) -> str:
    """URL of the (ready) endpoint named by the test's ``endpoint_name`` parameter."""
    name: str = request.param
    server.wait_ready(name, token=PRIVATE_TOKEN if name == "private" else None)
    return server.endpoint_url(name)
