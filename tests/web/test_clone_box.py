"""The "Clone repository" box on model, dataset and Space pages: exact git/hf commands, private repos."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest
from tests.web._http import web_client

BOX = re.compile(r'<details class="clone-box" id="clone-box">(.*?)</details>', re.S)


def clone_box(page: str) -> str:
    m = BOX.search(page)
    assert m is not None, "no clone box on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1)))


@pytest.fixture(scope="module")
def repos(live_server: Any) -> dict[str, str]:
    api = live_server.api()
    suffix = uuid.uuid4().hex[:6]
    out = {
        "model": f"alice/clone-model-{suffix}",
        "dataset": f"alice/clone-data-{suffix}",
        "space": f"alice/clone-space-{suffix}",
        "private": f"alice/clone-private-{suffix}",
    }
    api.create_repo(out["model"])
    api.create_repo(out["dataset"], repo_type="dataset")
    api.create_repo(out["space"], repo_type="space", space_sdk="static")
    api.create_repo(out["private"], private=True)
    return out


def test_clone_box_on_model_dataset_and_space_pages(live_server: Any, repos: dict[str, str]) -> None:
    hub = live_server
    cases = [
        (f"/{repos['model']}", f"{hub.url}/{repos['model']}", f"hf download {repos['model']}\n"),
        (
            f"/datasets/{repos['dataset']}",
            f"{hub.url}/datasets/{repos['dataset']}",
            f"hf download {repos['dataset']} --repo-type dataset",
        ),
        (
            f"/spaces/{repos['space']}",
            f"{hub.url}/spaces/{repos['space']}",
            f"hf download {repos['space']} --repo-type space",
        ),
    ]
    for path, url, hf in cases:
        r = httpx.get(hub.url + path)
        assert r.status_code == 200, (path, r.status_code)
        box = clone_box(r.text)
        assert f"git lfs install\ngit clone {url}\n" in box, box
        assert f"GIT_LFS_SKIP_SMUDGE=1 git clone {url}\n" in box
        assert f"HF_ENDPOINT={hub.url} {hf}" in box + "\n"
        host = hub.url.split("://", 1)[1]
        assert f"http://<user>:<token>@{host}/{url.split(host + '/', 1)[1]}" in box  # anonymous: placeholders
        assert f'data-clone-url="{url}"' in r.text
        assert "This repository is private" not in box


def test_clone_box_follows_the_public_url(live_server: Any, repos: dict[str, str]) -> None:
    """The commands name the hub's public URL (here the Host the client used; `public_url` when configured)."""
    r = httpx.get(f"{live_server.url}/{repos['model']}", headers={"host": "hub.example.org:8443"})
    assert r.status_code == 200
    assert f"git clone http://hub.example.org:8443/{repos['model']}\n" in clone_box(r.text)


def test_clone_box_of_a_private_repo(live_server: Any, repos: dict[str, str]) -> None:
    hub = live_server
    rid = repos["private"]
    alice, _ = web_client(hub.url, hub.alice)
    try:
        r = alice.get(f"/{rid}")
    finally:
        alice.close()
    assert r.status_code == 200
    box = clone_box(r.text)
    assert f"git clone {hub.url}/{rid}\n" in box
    assert "This repository is private" in box
    host = hub.url.split("://", 1)[1]
    assert f"http://alice:<token>@{host}/{rid}" in box  # her name, never a token
    assert hub.alice not in r.text
    bob, _ = web_client(hub.url, hub.bob)
    try:
        r = bob.get(f"/{rid}")
    finally:
        bob.close()
    assert r.status_code == 404  # the error page may repeat the address asked for, nothing of the repo
    assert "clone-box" not in r.text and "git clone" not in r.text
    r = httpx.get(f"{hub.url}/{rid}")
    assert r.status_code == 404 and "clone-box" not in r.text and "git clone" not in r.text
