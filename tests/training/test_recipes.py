"""The training recipes run as `python -m modelyard.training.run` subprocesses against a live hub (the job
runner and the training route are tested end to end in test_e2e): fine-tune, push with a card, result.json,
progress events, resume after a kill, clear errors for bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.training._data import (
    push_chat_dataset,
    push_image_dataset,
    push_ner_dataset,
    push_pairs_dataset,
    push_scored_pairs_dataset,
    push_sentiment_dataset,
    push_tiny_bert,
    push_tiny_causal_lm,
    push_tiny_vit,
)

from conftest import Hub

PREFIX = "MODELYARD_PROGRESS "


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def _env(hub: Hub, recipe: dict[str, Any], job_dir: Path, resume: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MODELYARD_RECIPE": json.dumps(recipe),
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": hub.alice,
            "MODELYARD_JOB_DIR": str(job_dir),
            "HF_HOME": str(job_dir / "hf-home"),
            "OMP_NUM_THREADS": "2",
        }
    )
    env.pop("HF_HUB_CACHE", None)
    env.pop("HF_DATASETS_CACHE", None)
    env.pop("MODELYARD_RESUME", None)
    if resume:
        env["MODELYARD_RESUME"] = "1"
    return env


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], job_dir: Path) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.job_dir = job_dir
        self.events = [
            json.loads(line[len(PREFIX) :]) for line in proc.stdout.splitlines() if line.startswith(PREFIX)
        ]

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.job_dir / "result.json").read_text())
        return data

    def losses(self) -> list[float]:
        return [e["loss"] for e in self.events if e.get("phase") == "train" and "loss" in e]


def run_recipe(
    hub: Hub, recipe: dict[str, Any], job_dir: Path, resume: bool = False, timeout: float = 240
) -> Run:
    job_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.training.run"],
        env=_env(hub, recipe, job_dir, resume),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(job_dir),
    )
    return Run(proc, job_dir)


def _local(hub: Hub, repo_id: str) -> str:
    """A local snapshot (the in-process HF libraries point at the session hub, not this one)."""
    path: str = hub.api().snapshot_download(repo_id)
    return path


def _ok(run: Run) -> None:
    assert run.rc == 0, f"stdout:\n{run.stdout[-4000:]}\nstderr:\n{run.stderr[-4000:]}"


@pytest.fixture(scope="module")
def bert(training_hub: Hub) -> str:
    return push_tiny_bert(training_hub, f"alice/{_name('tiny-bert')}")


def test_text_classification_learns_and_pushes_card(training_hub: Hub, bert: str, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    data = push_sentiment_dataset(
        training_hub, f"alice/{_name('sentiment')}", n=300, text_column="review", label_column="sentiment"
    )
    out = f"alice/{_name('sentiment-bert')}"
    recipe = {
        "task": "text-classification",
        "base_model": bert,
        "dataset": data,
        "output_repo": out,
        "columns": {"text": "review", "label": "sentiment"},
        "eval_fraction": 0.2,
        "early_stopping_patience": 2,
        "hyperparameters": {
            "epochs": 3,
            "learning_rate": 3e-3,
            "batch_size": 16,
            "logging_steps": 5,
            "max_length": 32,
        },
    }
    run = run_recipe(training_hub, recipe, tmp_path)
    _ok(run)
    result = run.result
    assert result["repo"] == out and not result["adapter"]
    assert result["metrics"]["accuracy"] > 0.9, result
    phases = [e.get("phase") for e in run.events]
    assert phases[0] == "load" and "train" in phases and "eval" in phases and phases[-1] == "done"
    train_events = [e for e in run.events if e.get("phase") == "train" and "loss" in e]
    assert train_events and all(
        {"step", "max_steps", "epoch", "learning_rate"} <= set(e) for e in train_events
    )
    assert any("eta_seconds" in e for e in train_events)
    assert any("accuracy" in e.get("eval", {}) for e in run.events if e.get("phase") == "eval")
    api = training_hub.api()
    assert api.repo_info(out).sha == result["revision"]
    files = set(api.list_repo_files(out))
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= files
    card = ModelCard.load(training_hub.api().hf_hub_download(out, "README.md"))
    meta = card.data.to_dict()
    assert meta["base_model"] == bert and meta["datasets"] == [data]
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-classification"
    assert meta["license"] == "apache-2.0"
    results = meta["model-index"][0]["results"][0]
    assert results["task"]["type"] == "text-classification" and results["dataset"]["name"] == data
    acc = [x for x in results["metrics"] if x["type"] == "accuracy"]
    assert acc and acc[0]["value"] > 0.9
    for section in (
        "## Intended uses & limitations",
        "## Bias, risks, and limitations",
        "### Training hyperparameters",
        "### Training results",
        "### Framework versions",
        "- learning_rate: 0.003",
        "- early_stopping_patience: 2",
        "- transformers ",
    ):
        assert section in card.text, section
    # the pushed model predicts label names
    from transformers import pipeline

    clf = pipeline("text-classification", model=_local(training_hub, out))
    assert clf("the cat is great today")[0]["label"] == "positive"
    assert clf("the dog was terrible again")[0]["label"] == "negative"


def test_lora_sft_lowers_loss_and_adapter_loads(training_hub: Hub, tmp_path: Path) -> None:
    base = push_tiny_causal_lm(training_hub, f"alice/{_name('tiny-llama')}")
    data = push_chat_dataset(training_hub, f"alice/{_name('chat')}", n=120)
    out = f"alice/{_name('chat-lora')}"
    recipe = {
        "task": "text-generation",
        "base_model": base,
        "dataset": data,
        "output_repo": out,
        "private": True,
        "hyperparameters": {
            "epochs": 2,
            "learning_rate": 2e-2,
            "batch_size": 8,
            "logging_steps": 2,
            "max_length": 64,
            "lora_r": 8,
            "lora_alpha": 16,
        },
    }
    run = run_recipe(training_hub, recipe, tmp_path)
    _ok(run)
    losses = run.losses()
    assert len(losses) >= 3 and losses[-1] < losses[0] - 0.3, losses
    assert run.result["adapter"] is True
    api = training_hub.api()
    assert api.model_info(out).private
    files = set(api.list_repo_files(out))
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= files, files
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    meta = ModelCard.load(training_hub.api().hf_hub_download(out, "README.md")).data.to_dict()
    assert meta["library_name"] == "peft" and meta["base_model"] == base and "lora" in meta["tags"]
    model = AutoModelForCausalLM.from_pretrained(_local(training_hub, base))
    tuned = PeftModel.from_pretrained(model, _local(training_hub, out))
    assert any("lora_A" in name for name, _ in tuned.named_parameters())


def test_token_classification(training_hub: Hub, bert: str, tmp_path: Path) -> None:
    data = push_ner_dataset(training_hub, f"alice/{_name('ner')}", n=160)
    out = f"alice/{_name('ner-bert')}"
    recipe = {
        "task": "token-classification",
        "base_model": bert,
        "dataset": data,
        "output_repo": out,
        "hyperparameters": {"epochs": 2, "learning_rate": 3e-3, "batch_size": 16, "logging_steps": 5},
    }
    run = run_recipe(training_hub, recipe, tmp_path)
    _ok(run)
    assert {"f1", "precision", "recall", "accuracy", "loss"} <= set(run.result["metrics"])
    config = json.loads(Path(training_hub.api().hf_hub_download(out, "config.json")).read_text())
    assert set(config["id2label"].values()) == {"O", "B-LOC", "B-PER"}


@pytest.mark.parametrize("kind", ["pairs", "scored"])
def test_sentence_similarity(training_hub: Hub, bert: str, tmp_path: Path, kind: str) -> None:
    if kind == "pairs":
        data = push_pairs_dataset(training_hub, f"alice/{_name('pairs')}", n=100, triplets=True)
        columns: dict[str, str] = {}
        metric = "cosine_accuracy"
    else:
        data = push_scored_pairs_dataset(training_hub, f"alice/{_name('scored')}", n=100)
        columns = {"anchor": "sentence1", "positive": "sentence2", "score": "score"}
        metric = "spearman_cosine"
    out = f"alice/{_name('st')}"
    recipe = {
        "task": "sentence-similarity",
        "base_model": bert,
        "dataset": data,
        "output_repo": out,
        "columns": columns,
        "hyperparameters": {"epochs": 1, "learning_rate": 1e-3, "batch_size": 16, "logging_steps": 2},
    }
    run = run_recipe(training_hub, recipe, tmp_path)
    _ok(run)
    assert metric in run.result["metrics"], run.result
    files = set(training_hub.api().list_repo_files(out))
    assert {"modules.json", "config_sentence_transformers.json", "README.md"} <= files, files
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(_local(training_hub, out))
    assert model.encode(["the cat is good"]).shape[0] == 1


def test_image_classification(training_hub: Hub, tmp_path: Path) -> None:
    base = push_tiny_vit(training_hub, f"alice/{_name('tiny-vit')}")
    data = push_image_dataset(training_hub, f"alice/{_name('images')}", n=60)
    out = f"alice/{_name('vit-colors')}"
    recipe = {
        "task": "image-classification",
        "base_model": base,
        "dataset": data,
        "output_repo": out,
        "eval_fraction": 0.2,
        "hyperparameters": {"epochs": 2, "learning_rate": 3e-3, "batch_size": 8, "logging_steps": 2},
    }
    run = run_recipe(training_hub, recipe, tmp_path)
    _ok(run)
    assert "accuracy" in run.result["metrics"]
    config = json.loads(Path(training_hub.api().hf_hub_download(out, "config.json")).read_text())
    assert set(config["id2label"].values()) == {"red", "blue"}
    assert "preprocessor_config.json" in training_hub.api().list_repo_files(out)


def test_resume_after_kill(training_hub: Hub, bert: str, tmp_path: Path) -> None:
    data = push_sentiment_dataset(training_hub, f"alice/{_name('sentiment')}", n=200)
    out = f"alice/{_name('resumed')}"
    recipe = {
        "task": "text-classification",
        "base_model": bert,
        "dataset": data,
        "output_repo": out,
        "hyperparameters": {
            "max_steps": 40,
            "eval_steps": 5,
            "batch_size": 8,
            "logging_steps": 5,
            "learning_rate": 1e-3,
        },
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.training.run"],
        env=_env(training_hub, recipe, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=str(tmp_path),
        start_new_session=True,
    )
    checkpoints = tmp_path / "checkpoints"
    try:
        deadline = time.monotonic() + 180
        while not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "result.json").exists()
    saved = max(int(p.parent.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*/trainer_state.json"))
    assert saved < 40
    run = run_recipe(training_hub, recipe, tmp_path, resume=True)
    _ok(run)
    assert "Resuming from checkpoint-" in run.stdout
    steps = [e["step"] for e in run.events if e.get("phase") == "train" and "loss" in e]
    assert steps and min(steps) > 5 and steps[-1] == 40, steps
    assert run.result["repo"] == out


def test_bad_inputs_fail_with_one_line(training_hub: Hub, bert: str, tmp_path: Path) -> None:
    data = push_sentiment_dataset(training_hub, f"alice/{_name('sentiment')}", n=40, text_column="review")
    recipe = {
        "task": "text-classification",
        "base_model": bert,
        "dataset": data,
        "output_repo": f"alice/{_name('never')}",
        "columns": {"text": "body"},
    }
    run = run_recipe(training_hub, recipe, tmp_path / "a")
    assert run.rc == 1
    assert run.stderr.strip().splitlines() == [
        "error: column 'body' (text) not in split 'train'; columns: review, label"
    ]
    run = run_recipe(
        training_hub, {**recipe, "columns": {"text": "review"}, "eval_split": "test"}, tmp_path / "b"
    )
    assert (
        run.rc == 1
        and run.stderr.strip().splitlines()[-1] == f"error: dataset {data} has no split 'test'; splits: train"
    )
    run = run_recipe(
        training_hub,
        {**recipe, "columns": {"text": "review"}, "base_model": "alice/no-such-model"},
        tmp_path / "d",
    )
    lines = run.stderr.strip().splitlines()
    assert run.rc == 1 and lines[-1].startswith("error: cannot load alice/no-such-model"), run.stderr
    assert "Traceback" not in run.stderr
    run = run_recipe(training_hub, {**recipe, "task": "nope"}, tmp_path / "c")
    assert run.rc == 1 and run.stderr.strip().startswith("error: invalid recipe: 'task' must be one of")
    assert not training_hub.api().repo_exists(recipe["output_repo"])


def test_lora_merged_model_is_pushed_whole(training_hub: Hub, tmp_path: Path) -> None:
    base = push_tiny_causal_lm(training_hub, f"alice/{_name('tiny-llama')}")
    data = push_chat_dataset(training_hub, f"alice/{_name('chat')}", n=40)
    out = f"acme/{_name('chat-merged')}"
    recipe = {
        "task": "text-generation",
        "base_model": base,
        "dataset": data,
        "output_repo": out,
        "merge_adapter": True,
        "hyperparameters": {"max_steps": 4, "batch_size": 8, "logging_steps": 1, "max_length": 64},
    }
    run = run_recipe(training_hub, recipe, tmp_path)
    _ok(run)
    assert run.result["adapter"] is False and run.result["repo"] == out
    files = set(training_hub.api().list_repo_files(out))
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    } <= files and "adapter_config.json" not in files
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM

    meta = ModelCard.load(training_hub.api().hf_hub_download(out, "README.md")).data.to_dict()
    assert meta["library_name"] == "transformers" and meta["license"] == "mit"
    model = AutoModelForCausalLM.from_pretrained(_local(training_hub, out))
    assert not any("lora" in name for name, _ in model.named_parameters())
