"""Card metadata in info, list filters/sort/pagination, likes and safetensors counts, through huggingface_hub."""

from __future__ import annotations

from typing import Any

import httpx
from tests.web.conftest import WebRepos


def test_model_info_card_and_safetensors(live_server: Any, web_repos: WebRepos) -> None:
    info = live_server.api().model_info(web_repos.model)
    assert info.pipeline_tag == "text-classification"
    assert info.library_name == "transformers"
    assert {"sentiment", "web-test", "en", "license:mit", "dataset:acme/reviews"} <= set(info.tags)
    assert info.card_data is not None and info.card_data["base_model"] == "google/bert-tiny"
    assert info.card_data["widget"] == [{"text": "I love this!"}]
    assert info.safetensors is not None
    assert info.safetensors.parameters == {"F32": 220, "F16": 20}
    assert info.safetensors.total == 240
    assert info.sha and info.last_modified and info.private is False
    assert {s.rfilename for s in info.siblings or []} >= {"README.md", "config.json", "model.safetensors"}


def test_list_models_filters_and_sort(live_server: Any, web_repos: WebRepos) -> None:
    api = live_server.api()
    name = web_repos.model.split("/")[1]
    ids = [m.id for m in api.list_models(search=name)]
    assert ids == [web_repos.model]
    assert web_repos.model in [m.id for m in api.list_models(filter=["web-test", "license:mit"])]
    assert web_repos.model in [
        m.id for m in api.list_models(filter="language:fr", pipeline_tag="text-classification")
    ]
    assert web_repos.model not in [m.id for m in api.list_models(filter="language:de")]
    assert [m.id for m in api.list_models(author="alice", search=name, filter="transformers")] == [
        web_repos.model
    ]
    full = next(iter(api.list_models(search=name, full=True, cardData=True)))
    assert full.card_data is not None and full.siblings
    r = httpx.get(f"{web_repos.url}/api/models", params={"search": name, "expand": ["safetensors", "likes"]})
    assert r.json()[0]["safetensors"]["total"] == 240
    assert set(r.json()[0]) == {"_id", "id", "safetensors", "likes"}
    ds = [
        d.id
        for d in api.list_datasets(
            filter="task_categories:text-classification", search=web_repos.dataset.split("/")[1]
        )
    ]
    assert ds == [web_repos.dataset]
    for sort in ("downloads", "likes", "lastModified", "createdAt"):
        assert list(api.list_models(sort=sort, limit=3))


def test_pagination_link_and_private(live_server: Any, web_repos: WebRepos) -> None:
    auth = live_server.auth()
    r = httpx.get(f"{web_repos.url}/api/models", params={"author": "alice", "limit": 1}, headers=auth)
    assert len(r.json()) == 1 and 'rel="next"' in r.headers["link"]
    nxt = r.headers["link"].split(">")[0][1:]
    assert nxt.startswith("http://") and "author=alice" in nxt
    assert r.json() != httpx.get(nxt, headers=auth).json()
    name = web_repos.private.split("/")[1]
    assert [m.id for m in live_server.api(token=False).list_models(search=name)] == []
    assert [m.id for m in live_server.api().list_models(search=name)] == [web_repos.private]


def test_likes(live_server: Any, web_repos: WebRepos) -> None:
    url, repo = web_repos.url, web_repos.model
    auth = {"authorization": f"Bearer {live_server.bob}"}
    assert httpx.post(f"{url}/api/models/{repo}/like").status_code == 401
    r = httpx.post(f"{url}/api/models/{repo}/like", headers=auth)
    assert r.status_code == 200 and r.json()["likes"] == 1
    httpx.post(f"{url}/api/models/{repo}/like", headers=auth)  # idempotent
    assert live_server.api().model_info(repo).likes == 1
    assert repo in live_server.api().list_liked_repos("bob").models
    assert [u.username for u in live_server.api().list_repo_likers(repo)] == ["bob"]
    assert httpx.delete(f"{url}/api/models/{repo}/like", headers=auth).json()["likes"] == 0
    assert live_server.api().list_liked_repos("bob").total == 0


def test_download_counter(live_server: Any, web_repos: WebRepos) -> None:
    before = live_server.api().model_info(web_repos.model).downloads
    httpx.get(f"{web_repos.url}/{web_repos.model}/resolve/main/config.json")
    assert live_server.api().model_info(web_repos.model).downloads == before + 1
