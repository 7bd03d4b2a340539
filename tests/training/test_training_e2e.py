"""No-code fine-tuning end to end on a hub running jobs: a recipe posted to `POST /api/training/alice` runs as a
job (the hub's own environment), pushes the model with its card, and — with `deploy` — becomes an endpoint that
answers. Bad recipes are refused before any job exists."""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient, ModelCard
from tests.training._data import (
    push_chat_dataset,
    push_sentiment_dataset,
    push_tiny_bert,
    push_tiny_causal_lm,
)

from conftest import Hub

pytestmark = pytest.mark.timeout(900)

TERMINAL = {"COMPLETED", "CANCELED", "ERROR", "DELETED"}


def submit(hub: Hub, body: dict[str, Any], token: str | None = None, ns: str = "alice") -> httpx.Response:
    return httpx.post(f"{hub.url}/api/training/{ns}", json=body, headers=hub.auth(token), timeout=60)


def job(hub: Hub, job_id: str, ns: str = "alice") -> dict[str, Any]:
    r = httpx.get(f"{hub.url}/api/jobs/{ns}/{job_id}", headers=hub.auth(), timeout=30)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def wait_done(hub: Hub, job_id: str, timeout: float = 600, ns: str = "alice") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = job(hub, job_id, ns)
        if info["status"]["stage"] in TERMINAL:
            return info
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not end in {timeout}s: {job(hub, job_id, ns)['status']}")


def logs(hub: Hub, job_id: str) -> str:
    try:
        return "\n".join(str(x) for x in hub.api().fetch_job_logs(job_id=job_id, namespace="alice"))
    except Exception as e:  # only for failure messages
        return f"(no logs: {e})"


def progress_events(hub: Hub, job_id: str, ns: str = "alice") -> list[dict[str, Any]]:
    """Every progress event of an ended job, from its SSE stream (history first; the hub ends the stream)."""
    events: list[dict[str, Any]] = []
    event = "message"
    url = f"{hub.url}/api/jobs/{ns}/{job_id}/events"
    with httpx.stream("GET", url, headers=hub.auth(), timeout=httpx.Timeout(30, read=60)) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "progress":
                    events.append(data)
            elif not line:
                event = "message"
    return events


def job_count(hub: Hub) -> int:
    r = httpx.get(f"{hub.url}/api/jobs/alice", headers=hub.auth(), timeout=30)
    assert r.status_code == 200, r.text
    return len(r.json())


@pytest.fixture(scope="module")
def data(training_hub: Hub) -> Hub:
    push_tiny_bert(training_hub, "alice/e2e-bert")
    push_sentiment_dataset(training_hub, "alice/e2e-sentiment", n=400)
    push_tiny_causal_lm(training_hub, "alice/e2e-llama")
    push_chat_dataset(training_hub, "alice/e2e-chat", n=120)
    return training_hub


def sentiment_recipe(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "text-classification",
        "base_model": "alice/e2e-bert",
        "dataset": "alice/e2e-sentiment",
        "output_repo": "alice/e2e-sentiment-bert",
        "hyperparameters": {"epochs": 6, "learning_rate": 1e-3, "batch_size": 16, "logging_steps": 5},
        "eval_fraction": 0.2,
    }
    body.update(over)
    return body


def test_text_classification_trains_pushes_deploys_and_answers(data: Hub) -> None:
    hub = data
    r = submit(hub, sentiment_recipe(deploy=True))
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["kind"] == "training" and info["dockerImage"] == "modelyard/train"
    assert info["labels"] == {
        "modelyard-training": "text-classification",
        "output": "alice/e2e-sentiment-bert",
    }
    assert info["recipe"]["deploy"] is True and info["status"]["stage"] in ("SCHEDULING", "RUNNING")
    assert "MODELYARD_RECIPE" in info["environment"]
    done = wait_done(hub, info["id"])
    assert done["status"]["stage"] == "COMPLETED", (done["status"], logs(hub, info["id"]))
    result = done["result"]
    assert result["repo"] == "alice/e2e-sentiment-bert"
    assert result["metrics"]["accuracy"] > 0.9, result["metrics"]

    with tempfile.TemporaryDirectory() as tmp:
        readme = hub.api().hf_hub_download("alice/e2e-sentiment-bert", "README.md", local_dir=tmp)
        card = ModelCard.load(Path(readme))
    assert card.data.base_model == "alice/e2e-bert"
    assert "alice/e2e-sentiment" in (card.data.datasets or [])
    index = card.data.to_dict()["model-index"]
    metrics = {m["type"]: m["value"] for m in index[0]["results"][0]["metrics"]}
    assert metrics["accuracy"] > 0.9

    # deploy: the hook creates the endpoint right after the job ends and records its name
    deadline = time.monotonic() + 60
    while "endpoint" not in result and "endpoint_error" not in result and time.monotonic() < deadline:
        time.sleep(0.5)
        result = job(hub, info["id"])["result"]
    assert result.get("endpoint") == "e2e-sentiment-bert", result
    client = InferenceClient(
        base_url=f"{hub.url}/endpoints/{result['endpoint']}", token=hub.alice, timeout=120
    )
    try:
        for text, label in (
            ("the cat is great today", "positive"),
            ("my friend was terrible again", "negative"),
        ):
            out = client.text_classification(text)
            assert max(out, key=lambda o: o.score).label == label, (text, out)
        # trained again into the same repo: the same endpoint (unloaded, so its next call loads the new weights)
        again = submit(
            hub, sentiment_recipe(deploy=True, hyperparameters={"epochs": 1, "learning_rate": 1e-3})
        )
        assert again.status_code == 200, again.text
        assert wait_done(hub, again.json()["id"])["status"]["stage"] == "COMPLETED"
        deadline = time.monotonic() + 60
        second = job(hub, again.json()["id"])["result"]
        while "endpoint" not in second and "endpoint_error" not in second and time.monotonic() < deadline:
            time.sleep(0.5)
            second = job(hub, again.json()["id"])["result"]
        assert second.get("endpoint") == "e2e-sentiment-bert", second
        assert client.text_classification("the cat is great today")
    finally:
        httpx.delete(f"{hub.url}/endpoints/-/api/endpoints/{result['endpoint']}", headers=hub.auth())


def test_lora_sft_lowers_the_loss_and_the_adapter_loads(data: Hub) -> None:
    hub = data
    body = {
        "task": "text-generation",
        "base_model": "alice/e2e-llama",
        "dataset": "alice/e2e-chat",
        "output_repo": "alice/e2e-llama-lora",
        "hyperparameters": {
            "epochs": 4,
            "learning_rate": 2e-2,
            "batch_size": 8,
            "logging_steps": 2,
            "lora_r": 8,
        },
    }
    r = submit(hub, body)
    assert r.status_code == 200, r.text
    done = wait_done(hub, r.json()["id"])
    assert done["status"]["stage"] == "COMPLETED", (done["status"], logs(hub, r.json()["id"]))
    assert done["result"]["adapter"] is True
    losses = [
        e["loss"] for e in progress_events(hub, r.json()["id"]) if isinstance(e.get("loss"), int | float)
    ]
    assert len(losses) >= 3, losses
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    # LoRA (r=8) on a random tiny Llama (byte-level vocab ~400: chance ≈ ln 400 ≈ 6.0) learns slowly but steadily
    assert last < first * 0.95 and last < first - 0.25, losses
    assert sum(a > b for a, b in itertools.pairwise(losses)) >= 0.6 * (len(losses) - 1), losses

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    api = hub.api()
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = api.snapshot_download("alice/e2e-llama", local_dir=f"{tmp}/base")
        adapter_dir = api.snapshot_download("alice/e2e-llama-lora", local_dir=f"{tmp}/adapter")
        assert (Path(adapter_dir) / "adapter_config.json").exists()
        base = AutoModelForCausalLM.from_pretrained(base_dir)
        model = PeftModel.from_pretrained(base, adapter_dir)
        ids = torch.tensor([[1, 5, 6, 7]])
        with torch.no_grad():
            tuned = model(ids).logits
            with model.disable_adapter():
                plain = model(ids).logits
        assert not torch.allclose(tuned, plain)  # the trained adapter changes the model


BAD = [
    ("missing column", {"columns": {"text": "txt"}}, None, 422, "available: text, label"),
    ("unknown base model", {"base_model": "alice/nope"}, None, 404, "alice/nope"),
    ("missing split", {"eval_split": "validation"}, None, 422, "available: train"),
    ("read token", {}, "alice_read", 403, "read-only"),
    ("bob into alice", {"output_repo": "bob/x"}, "bob", 403, "namespace 'alice'"),
    ("foreign output repo", {"output_repo": "bob/x"}, None, 403, "bob/x"),
]


@pytest.mark.parametrize(("case", "over", "token", "status", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_recipes_fail_before_any_job(
    data: Hub, case: str, over: dict[str, Any], token: str | None, status: int, text: str
) -> None:
    hub = data
    before = job_count(hub)
    r = submit(hub, sentiment_recipe(**over), token=getattr(hub, token) if token else None)
    assert r.status_code == status, r.text
    assert text in r.json()["error"]
    assert job_count(hub) == before
