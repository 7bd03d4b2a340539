"""Web UI fixtures: repos with cards, weights and data files on the session hub (tests/conftest.py)."""

from __future__ import annotations

import io
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

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


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    sizes = {"F32": 4, "F16": 2, "I64": 8}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


def parquet_bytes(n: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    tbl = pa.table({"id": list(range(n)), "text": [f"parquet row {i}" for i in range(n)]})
    pq.write_table(tbl, buf, row_group_size=40)
    return buf.getvalue()


@dataclass
class WebRepos:
    model: str
    dataset: str
    private: str
    url: str
    token: str


@pytest.fixture(scope="session")
def web_repos(live_server: Any) -> WebRepos:
    from huggingface_hub import CommitOperationAdd

    api = live_server.api()
    tag = uuid.uuid4().hex[:6]
    model, dataset, private = f"alice/sentiment-{tag}", f"alice/reviews-{tag}", f"alice/secret-{tag}"
    api.create_repo(model)
    weights = safetensors_bytes({"w": ("F32", [10, 20]), "b": ("F32", [20]), "e": ("F16", [5, 4])})
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
    csv = "text,label\n" + "".join(f"review number {i},{i % 2}\n" for i in range(120))
    jsonl = "".join(json.dumps({"text": f"test review {i}", "label": i % 2}) + "\n" for i in range(30))
    api.create_commit(
        dataset,
        repo_type="dataset",
        operations=[
            CommitOperationAdd("README.md", DATASET_CARD.encode()),
            CommitOperationAdd("data/train.csv", csv.encode()),
            CommitOperationAdd("data/test.jsonl", jsonl.encode()),
            CommitOperationAdd("data/validation.parquet", parquet_bytes(100)),
        ],
        commit_message="Add data",
    )
    api.create_repo(private, private=True)
    return WebRepos(model, dataset, private, live_server.url, live_server.alice)
