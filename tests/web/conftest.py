"""Web UI fixtures: repos with cards, weights and data files on the session hub (tests/conftest.py).

`web_repos` is built once per upload path ("xet": the default client, "lfs"), so every web and viewer test runs
on content that arrived through Xet and on content that arrived through LFS.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from _transfer import TRANSFERS, assert_arrived, transfer_mode
from _xet_client import parquet_bytes, safetensors_bytes

CARD = """---
license: mit
library_name: transformers
pipeline_tag: text-classification
language: [en, fr]
datasets: [acme/reviews]
base_model: google/bert-tiny
tags: [sentiment, web-test]
widget:
- text: I love this!
---
# Sentiment model

Some **bold** text and a [safe link](https://example.com).

<script>window.__pwned = 1</script>
<img src="x" onerror="window.__pwned = 2">
[click me](javascript:window.__pwned=3)

| col a | col b |
|-------|-------|
| 1     | 2     |
"""

DATASET_CARD = """---
license: cc-by-4.0
task_categories: [text-classification]
language: [en]
---
# Reviews dataset
"""


@dataclass
class WebRepos:
    model: str
    dataset: str
    private: str
    url: str
    token: str
    transfer: str  # how the client uploaded the weights and data files: "xet" or "lfs"


@pytest.fixture(scope="session", params=TRANSFERS)
def web_repos(live_server: Any, request: pytest.FixtureRequest) -> WebRepos:
    with transfer_mode(request.param) as mode:
        return _make_web_repos(live_server, mode)


def _make_web_repos(live_server: Any, mode: str) -> WebRepos:
    from huggingface_hub import CommitOperationAdd

    api = live_server.api()
    tag = uuid.uuid4().hex[:6]
    model, dataset, private = f"alice/sentiment-{tag}", f"alice/reviews-{tag}", f"alice/secret-{tag}"
    api.create_repo(model)
    weights = safetensors_bytes({"w": ("F32", [10, 20]), "b": ("F32", [20]), "e": ("F16", [5, 4])}, tag=mode)
    api.create_commit(
        model,
        operations=[
            CommitOperationAdd("README.md", CARD.encode()),
            CommitOperationAdd("config.json", json.dumps({"model_type": "bert", "hidden_size": 20}).encode()),
            CommitOperationAdd("model.safetensors", weights),
        ],
        commit_message="Add weights and card",
    )
    api.create_commit(
        model,
        operations=[
            CommitOperationAdd(
                "config.json", json.dumps({"model_type": "bert", "hidden_size": 32}, indent=1).encode()
            ),
        ],
        commit_message="Bump hidden size",
    )
    api.create_repo(dataset, repo_type="dataset")
    parquet_data = parquet_bytes(100, tag=mode)
    csv = "text,label\n" + "".join(f"review number {i},{i % 2}\n" for i in range(120))
    jsonl = "".join(json.dumps({"text": f"test review {i}", "label": i % 2}) + "\n" for i in range(30))
    api.create_commit(
        dataset,
        repo_type="dataset",
        operations=[
            CommitOperationAdd("README.md", DATASET_CARD.encode()),
            CommitOperationAdd("data/train.csv", csv.encode()),
            CommitOperationAdd("data/test.jsonl", jsonl.encode()),
            CommitOperationAdd("data/validation.parquet", parquet_data),
        ],
        commit_message="Add data",
    )
    api.create_repo(private, private=True)
    for data in (weights, parquet_data):  # the viewer, previews and parameter counts read what `mode` stored
        assert_arrived(live_server, hashlib.sha256(data).hexdigest(), mode)
    return WebRepos(model, dataset, private, live_server.url, live_server.alice, mode)
