"""Per-endpoint ``dtype``: bfloat16 weights and dynamic int8, with the accuracy check at load."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient

from inference import tiny_models
from inference.conftest import EndpointServer, start_server

TEXTS = ["a cat runs", "the city sleeps at night", "numbers 1 2 3"]


@pytest.fixture(scope="module")
def dtype_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointServer]:
    root = tmp_path_factory.mktemp("dtype-models")
    embedder = tiny_models.build_bert(root / "embedder", "sentence-similarity")
    classifier = tiny_models.build_bert(root / "classifier", "text-classification")
    mlm = tiny_models.build_bert(root / "mlm", "fill-mask")
    llm = tiny_models.build_causal_lm(root / "llm")
    srv = start_server(
        "--local",
        f"tests/embedder={embedder}",
        "--local",
        f"tests/classifier={classifier}",
        "--local",
        f"tests/mlm={mlm}",
        "--local",
        f"tests/llm={llm}",
        "--threads",
        "1",
    )
    try:
        yield srv
    finally:
        srv.stop()


def _wait(server: EndpointServer, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        data = server.state(name)
        if data["state"] in ("ready", "failed"):
            return data
        time.sleep(0.1)
    raise AssertionError(f"{name} neither ready nor failed: {data}\n{server.log()}")


def _ensure(server: EndpointServer, name: str, repo_id: str, **config: Any) -> None:
    """Create the endpoint unless an earlier test of this module did (each test can run alone)."""
    if httpx.get(f"{server.api}/{name}", timeout=30).status_code == 404:
        server.create(name, repo_id, **config)


def _info(server: EndpointServer, name: str) -> dict[str, Any]:
    resp = httpx.get(f"{server.endpoint_url(name)}/info", timeout=30)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _vectors(server: EndpointServer, name: str) -> np.ndarray:
    client = InferenceClient(base_url=server.endpoint_url(name), timeout=60)
    out: np.ndarray = client.feature_extraction(TEXTS)  # type: ignore[arg-type]
    return out


def test_bfloat16_embeddings_close_to_float32(dtype_server: EndpointServer) -> None:
    _ensure(dtype_server, "emb-fp32", "tests/embedder", task="feature-extraction")
    dtype_server.create("emb-bf16", "tests/embedder", task="feature-extraction", dtype="bfloat16")
    assert _wait(dtype_server, "emb-fp32")["state"] == "ready"
    state = _wait(dtype_server, "emb-bf16")
    assert state["state"] == "ready", (state.get("error"), state)
    ref, got = _vectors(dtype_server, "emb-fp32"), _vectors(dtype_server, "emb-bf16")
    assert got.shape == ref.shape == (3, 32)
    assert got.dtype == np.float32  # responses stay float32 whatever the weights are
    cosines = (ref * got).sum(axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    assert cosines.min() >= 0.99
    assert not np.array_equal(ref, got)  # the weights really are bfloat16: the vectors moved a little

    info, ref_info = _info(dtype_server, "emb-bf16")["runtime"], _info(dtype_server, "emb-fp32")["runtime"]
    assert info["dtype"] == "bfloat16"
    assert ref_info["dtype"] == "float32"
    check = info["dtype_check"]
    assert check["metric"] == "min_cosine"
    assert check["threshold"] == 0.99
    assert 0.99 <= check["value"] <= 1.0 + 1e-6
    assert info["memory_bytes"] < 0.55 * ref_info["memory_bytes"]  # 2 bytes a weight (int buffers stay)


def test_unknown_dtype_is_422(dtype_server: EndpointServer) -> None:
    for body, message in (
        ({"dtype": "float8"}, "dtype must be one of float32, bfloat16, int8"),
        ({"dtype": 16}, "Invalid type for 'dtype'"),
        ({"dtype": "int8", "dtype_threshold": 1.5}, "dtype_threshold must be in [0, 1]"),
        ({"dtype": "int8", "dtype_threshold": "high"}, "Invalid type for 'dtype_threshold'"),
    ):
        resp = httpx.post(
            dtype_server.api, json={"name": "bad-dtype", "repo_id": "tests/embedder", **body}, timeout=30
        )
        assert resp.status_code == 422, (body, resp.text)
        assert message in resp.json()["error"]
    assert httpx.get(f"{dtype_server.api}/bad-dtype", timeout=30).status_code == 404


def test_int8_reports_its_figure_or_fails_the_check(dtype_server: EndpointServer) -> None:
    # a bar it passes: the endpoint loads and /info gives the figure
    dtype_server.create(
        "emb-int8", "tests/embedder", task="feature-extraction", dtype="int8", dtype_threshold=0.5
    )
    state = _wait(dtype_server, "emb-int8")
    assert state["state"] == "ready", (state.get("error"), state)
    check = _info(dtype_server, "emb-int8")["runtime"]["dtype_check"]
    assert _info(dtype_server, "emb-int8")["runtime"]["dtype"] == "int8"
    assert check["threshold"] == 0.5
    assert 0.5 <= check["value"] < 1.0  # int8 weights never reproduce float32 exactly
    assert _vectors(dtype_server, "emb-int8").shape == (3, 32)
    _ensure(dtype_server, "emb-fp32", "tests/embedder", task="feature-extraction")
    assert _wait(dtype_server, "emb-fp32")["state"] == "ready"
    ref_memory = _info(dtype_server, "emb-fp32")["runtime"]["memory_bytes"]
    assert 0.2 * ref_memory < _info(dtype_server, "emb-int8")["runtime"]["memory_bytes"] < ref_memory

    # a bar above that figure: the load fails with the accuracy error, and requests say so
    dtype_server.create(
        "emb-int8-strict", "tests/embedder", task="feature-extraction", dtype="int8", dtype_threshold=1.0
    )
    state = _wait(dtype_server, "emb-int8-strict")
    assert state["state"] == "failed", state
    assert "failed the accuracy check" in state["error"]
    assert "min_cosine" in state["error"]
    resp = httpx.post(dtype_server.endpoint_url("emb-int8-strict"), json={"inputs": "a cat"}, timeout=30)
    assert resp.status_code >= 400
    assert "accuracy check" in resp.text


def test_bfloat16_text_classification(dtype_server: EndpointServer) -> None:
    # the tiny random classifier moves by a few points of probability in bfloat16 (above the default 0.02 bar):
    # a lower bar lets it load, and its answers stay within what the check measured
    dtype_server.create("cls-fp32", "tests/classifier")
    dtype_server.create("cls-bf16", "tests/classifier", dtype="bfloat16", dtype_threshold=0.9)
    assert _wait(dtype_server, "cls-fp32")["state"] == "ready"
    state = _wait(dtype_server, "cls-bf16")
    assert state["state"] == "ready", (state.get("error"), state)
    ref = InferenceClient(base_url=dtype_server.endpoint_url("cls-fp32")).text_classification(
        "a cat runs", top_k=3
    )
    got = InferenceClient(base_url=dtype_server.endpoint_url("cls-bf16")).text_classification(
        "a cat runs", top_k=3
    )
    ref_scores = {r.label: r.score for r in ref}
    assert 0 < max(abs(r.score - ref_scores[r.label]) for r in got) <= 0.1
    info = _info(dtype_server, "cls-bf16")["runtime"]
    assert info["dtype"] == "bfloat16"
    assert info["dtype_check"]["metric"] == "1-max_prob_diff"
    assert 0.9 <= info["dtype_check"]["value"] < 1.0


def test_bfloat16_causal_lm_chat_and_its_check(dtype_server: EndpointServer) -> None:
    """A causal LM in bfloat16: the check compares next-token probabilities on the probe texts; the endpoint
    then answers chat (continuous batching, float32 sampling over bfloat16 logits) and streamed generation."""
    # the tiny random Llama's sharp distributions move by ~4 points of probability in bfloat16 (above the default
    # 0.02 bar): a lower bar lets it load, as for the classifier above
    _ensure(
        dtype_server, "llm-bf16", "tests/llm", task="text-generation", dtype="bfloat16", dtype_threshold=0.9
    )
    state = _wait(dtype_server, "llm-bf16")
    assert state["state"] == "ready", (state.get("error"), state)
    info = _info(dtype_server, "llm-bf16")["runtime"]
    assert info["dtype"] == "bfloat16"
    assert info["dtype_check"]["metric"] == "1-max_prob_diff"
    assert 0.9 <= info["dtype_check"]["value"] < 1.0
    client = InferenceClient(base_url=dtype_server.endpoint_url("llm-bf16"), timeout=60)
    out = client.chat_completion([{"role": "user", "content": "hello there"}], max_tokens=8, temperature=0)
    assert out.choices[0].message.content
    assert out.usage.completion_tokens == 8
    pieces = list(client.text_generation("the city", max_new_tokens=6, stream=True, details=True))
    assert len(pieces) == 6 and all(p.token.logprob <= 0 for p in pieces)


def test_causal_lm_refused_below_its_threshold(dtype_server: EndpointServer) -> None:
    """int8 with a bar no converted model meets: the load fails with the figure, nothing is served."""
    dtype_server.create("llm-int8", "tests/llm", task="text-generation", dtype="int8", dtype_threshold=1.0)
    state = _wait(dtype_server, "llm-int8")
    assert state["state"] == "failed", state
    assert "failed the accuracy check at load" in state["error"] and "1-max_prob_diff" in state["error"]
    resp = httpx.post(f"{dtype_server.endpoint_url('llm-int8')}", json={"inputs": "hi"}, timeout=30)
    assert resp.status_code >= 400


def test_dtype_on_a_task_without_support_fails_clearly(dtype_server: EndpointServer) -> None:
    dtype_server.create("mlm-bf16", "tests/mlm", task="fill-mask", dtype="bfloat16")
    state = _wait(dtype_server, "mlm-bf16")
    assert state["state"] == "failed", state
    assert "not supported for fill-mask" in state["error"]


def test_float32_default_is_unchanged(dtype_server: EndpointServer, tmp_path: Path) -> None:
    data = dtype_server.create("emb-default", "tests/embedder", task="feature-extraction")
    assert data.get("config", data).get("dtype", "float32") == "float32"
    assert _wait(dtype_server, "emb-default")["state"] == "ready"
    info = _info(dtype_server, "emb-default")["runtime"]
    assert info["dtype"] == "float32"
    assert "dtype_check" not in info


def test_cli_and_deploy_form_carry_the_dtype(live_server: Any, repo_name: str, tiny_model_dir: Path) -> None:
    from click.testing import CliRunner
    from tests.web._http import web_client

    from modelyard.cli.deploy import deploy

    hub = live_server
    hub.api().create_repo(repo_name)
    hub.api().upload_folder(folder_path=tiny_model_dir, repo_id=f"alice/{repo_name}")
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    cli_name, form_name = f"{repo_name}-cli"[:63], f"{repo_name}-web"[:63]
    try:
        args = [f"alice/{repo_name}", "--hub", hub.url, "--token", hub.alice, "--name", cli_name, "--no-wait"]
        result = CliRunner().invoke(deploy, [*args, "--dtype", "bfloat16"])
        assert result.exit_code == 0, result.output
        got = httpx.get(f"{mgmt}/{cli_name}", headers=hub.auth(), timeout=30).json()
        assert got["config"]["dtype"] == "bfloat16"
        bad = CliRunner().invoke(deploy, [*args, "--dtype", "float8"])
        assert bad.exit_code != 0 and "float8" in bad.output

        alice, token = web_client(hub.url, hub.alice)
        url = f"/alice/{repo_name}/deploy"
        page = alice.get(url)
        assert page.status_code == 200 and 'name="dtype"' in page.text
        base = {"csrf_token": token, "name": form_name, "task": "", "revision": "main", "keep_alive_s": "300"}
        r = alice.post(url, data={**base, "dtype": "float8"})
        assert r.status_code == 422 and "dtype must be one of" in r.text, r.text[:300]
        assert 'value="float8"' not in r.text  # the select offers the known values only
        r = alice.post(url, data={**base, "dtype": "int8"})
        assert r.status_code == 303, r.text[:300]
        got = httpx.get(f"{mgmt}/{form_name}", headers=hub.auth(), timeout=30).json()
        assert got["config"]["dtype"] == "int8"
    finally:
        for name in (cli_name, form_name):
            httpx.delete(f"{mgmt}/{name}", headers=hub.auth(), timeout=30)
