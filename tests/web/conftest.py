"""Web UI fixtures: repos with cards, weights and data files on the session hub (tests/conftest.py).

`web_repos` is built once per upload path ("xet": the default client, "lfs"), so every web and viewer test runs
on content that arrived through Xet and on content that arrived through LFS.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.spaces.conftest import spaces_hub  # noqa: F401  (the Spaces hub: tests/web/test_spaces_*.py)

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


def _browser_page(browser: Any, viewport: dict[str, int], **options: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=viewport, **options)
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # the pages' strict CSP must not block anything they use (inline handlers, inline styles, ...)
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    ctx.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; skipped (saying why) when either is missing."""
    from tests.web._browser import ARGS, CHROMIUM

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev group)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized page (1440x900); JavaScript errors and CSP violations fail the test."""
    from tests.web._browser import DESKTOP

    yield from _browser_page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page (390x844, touch); JavaScript errors and CSP violations fail the test."""
    from tests.web._browser import PHONE

    yield from _browser_page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
