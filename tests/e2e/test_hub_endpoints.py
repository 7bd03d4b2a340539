"""Issue 3 on the hub: a model repo becomes an endpoint under /endpoints, loaded from the hub's own storage,
used with the real InferenceClient; private repos need a token that can read them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError


def wait_ready(url: str, token: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/health", headers={"authorization": f"Bearer {token}"})
        if r.status_code == 200:
            return
        assert r.status_code == 503, r.text
        time.sleep(0.3)
    raise AssertionError("endpoint did not become ready")


def test_private_repo_endpoint_on_the_hub(live_server: Any, repo_name: str, tiny_model_dir: Path) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name, private=True)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=f"alice/{repo_name}")
    mgmt = f"{hub.url}/endpoints/-/api/endpoints"
    body = {"repo_id": f"alice/{repo_name}", "name": repo_name, "task": "text-classification"}

    # somebody who cannot read the private repo cannot deploy it either; reading is not enough to deploy
    r = httpx.post(mgmt, json=body, headers=hub.auth(hub.bob))
    assert r.status_code == 404, r.text
    r = httpx.post(mgmt, json=body, headers=hub.auth(hub.alice_read))
    assert r.status_code == 403, r.text
    r = httpx.post(mgmt, json=body, headers=hub.auth())
    assert r.status_code == 201, r.text
    try:
        url = f"{hub.url}/endpoints/{repo_name}"
        wait_ready(url, hub.alice)
        out = InferenceClient(base_url=url, token=hub.alice).text_classification("the cat is happy today")
        assert out and {o.label for o in out} <= {"NEGATIVE", "POSITIVE"}
        assert abs(sum(o.score for o in out) - 1.0) < 1e-3
        for token in (hub.bob, None):
            with pytest.raises(HfHubHTTPError) as e:
                InferenceClient(base_url=url, token=token).text_classification("hello")
            assert e.value.response.status_code == 404
        # reading is not managing: a read-only token may call the endpoint but not pause or delete it
        r = httpx.post(f"{mgmt}/{repo_name}/pause", headers=hub.auth(hub.alice_read))
        assert r.status_code == 403, r.text
        assert InferenceClient(base_url=url, token=hub.alice_read).text_classification("hello")
        listed = httpx.get(mgmt, headers=hub.auth()).json()
        assert any(
            ep["name"] == repo_name for ep in (listed["endpoints"] if isinstance(listed, dict) else listed)
        )
    finally:
        httpx.delete(f"{mgmt}/{repo_name}", headers=hub.auth())
