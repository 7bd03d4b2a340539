"""Demo content for newcomers: a user with a token, a small model repo with a card, and a dataset."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from modelyard.errors import Conflict, RepoExists
from modelyard.hub.commits import AddFile, CommitRequest
from modelyard.hub.gitobjects import blob_sha1
from modelyard.server.services import Services
from modelyard.types import RepoType

log = logging.getLogger("modelyard.seed")

MODEL_CARD = """---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
language: [en]
tags: [demo, tiny]
---
# demo/tiny-classifier

A tiny demo repository seeded by `modelyard serve --seed`.

## Intended uses & limitations
This is not a useful model: its weights are a placeholder. Use it to explore the hub.

## Bias, risks and limitations
None measured; do not use it for decisions about people.
"""

DATASET_CARD = """---
license: cc-by-4.0
task_categories: [text-classification]
language: [en]
configs:
- config_name: default
  data_files: data/train.csv
---
# demo/reviews

A tiny CSV of product reviews with a sentiment label.
"""


def _commit(
    svc: Services, repo_type: RepoType, ns: str, name: str, files: dict[str, bytes], title: str
) -> None:
    principal = _principal(svc, ns)
    repo = svc.repos.get(repo_type, ns, name, principal)
    req = CommitRequest(summary=title, seen_header=True)
    for path, data in files.items():
        info = svc.store.put_bytes(data)
        req.operations.append(AddFile(path, info.sha256, info.size, blob_sha1(data)))
        if path == "README.md":
            req.readme_text = data.decode()
    svc.files.commit(principal, repo, "main", req)


def _principal(svc: Services, user: str):  # type: ignore[no-untyped-def]
    from modelyard.hub.accounts import Principal

    acc = svc.accounts.get(user)
    return Principal(acc, "seed", "write", svc.accounts.orgs_of(acc.id))


def seed_demo(svc: Services) -> None:
    try:
        svc.accounts.create("demo", "Demo User")
    except Conflict:
        return  # already seeded
    token = svc.accounts.create_token("demo", "seed", "write")
    Path(svc.settings.data_dir, "demo-token").write_text(token + "\n")
    who = _principal(svc, "demo")
    try:
        svc.repos.create(who, RepoType.MODEL, "tiny-classifier")
        svc.repos.create(who, RepoType.DATASET, "reviews")
    except RepoExists:
        return
    config = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
        "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
    }
    _commit(
        svc,
        RepoType.MODEL,
        "demo",
        "tiny-classifier",
        {"README.md": MODEL_CARD.encode(), "config.json": json.dumps(config, indent=2).encode()},
        "Add card and config",
    )
    rows = [
        "text,label",
        "great product,positive",
        "terrible support,negative",
        "works as described,positive",
        "broke after a day,negative",
        "would buy again,positive",
    ]
    _commit(
        svc,
        RepoType.DATASET,
        "demo",
        "reviews",
        {"README.md": DATASET_CARD.encode(), "data/train.csv": ("\n".join(rows) + "\n").encode()},
        "Add reviews",
    )
    log.warning(
        "Seeded demo user 'demo'; its write token is in %s", Path(svc.settings.data_dir, "demo-token")
    )
