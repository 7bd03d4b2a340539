"""Collections through huggingface_hub 2.4's HfApi (create, get, update, delete, items, list_collections), the
`hf collections` CLI and the web pages; attacker side: bob, a read token, no token, private collections and
items that point at private repos."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError


def _title() -> str:
    return f"Coll {uuid.uuid4().hex[:8]}"


def _status(exc: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    return exc.value.response.status_code


def test_collection_lifecycle(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name)
    api.create_repo(repo_name, repo_type="dataset")
    title = _title()
    c = api.create_collection(title, description="My picks")
    assert (
        c.slug.startswith(f"alice/{title.lower().replace(' ', '-')}-") and len(c.slug.rsplit("-", 1)[1]) == 24
    )
    assert c.url == f"{hub.url}/collections/{c.slug}" and c.private is False and c.items == []
    assert c.description == "My picks" and c.theme and c.upvotes == 0
    # exists_ok: the 409 carries the existing slug
    with pytest.raises(HfHubHTTPError) as e:
        api.create_collection(title)
    assert _status(e) == 409
    assert api.create_collection(title, exists_ok=True).slug == c.slug

    c = api.add_collection_item(c.slug, f"alice/{repo_name}", "model", note="the best")
    c = api.add_collection_item(c.slug, f"alice/{repo_name}", "dataset")
    c = api.add_collection_item(c.slug, "2307.09288", "paper")
    other = api.create_collection(_title())
    c = api.add_collection_item(c.slug, other.slug, "collection")
    api.create_bucket(f"alice/{repo_name}")
    c = api.add_collection_item(c.slug, f"alice/{repo_name}", "bucket")
    assert [(i.item_type, i.item_id) for i in c.items] == [
        ("model", f"alice/{repo_name}"),
        ("dataset", f"alice/{repo_name}"),
        ("paper", "2307.09288"),
        ("collection", other.slug),
        ("bucket", f"alice/{repo_name}"),
    ]
    assert c.items[0].note == "the best" and [i.position for i in c.items] == [0, 1, 2, 3, 4]
    with pytest.raises(HfHubHTTPError) as e:
        api.add_collection_item(c.slug, f"alice/{repo_name}", "model")
    assert _status(e) == 409
    api.add_collection_item(c.slug, f"alice/{repo_name}", "model", exists_ok=True)

    paper = c.items[2]
    api.update_collection_item(c.slug, paper.item_object_id, note="Llama 2", position=0)
    got = api.get_collection(c.slug)
    assert got.items[0].item_id == "2307.09288" and got.items[0].note == "Llama 2"
    api.delete_collection_item(c.slug, paper.item_object_id)
    api.delete_collection_item(c.slug, paper.item_object_id, missing_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_collection_item(c.slug, paper.item_object_id)
    assert _status(e) == 404
    assert "2307.09288" not in [i.item_id for i in api.get_collection(c.slug).items]

    upd = api.update_collection_metadata(c.slug, title=title + " v2", description="d2", theme="green")
    assert upd.title == title + " v2" and upd.description == "d2" and upd.theme == "green"
    assert upd.slug.endswith(c.slug.rsplit("-", 1)[1]) and upd.slug != c.slug
    assert api.get_collection(c.slug).title == title + " v2"  # the old slug still finds it (by its id)

    listed = list(api.list_collections(owner="alice", item=f"models/alice/{repo_name}"))
    assert [x.slug for x in listed] == [upd.slug]
    assert len(listed[0].items) <= 4
    assert upd.slug in [x.slug for x in api.list_collections(owner="alice", sort="lastModified", limit=50)]
    assert len(list(api.list_collections(owner="alice", limit=1))) == 1
    assert list(api.list_collections(owner="bob")) == [] or all(
        x.owner["name"] == "bob" for x in api.list_collections(owner="bob")
    )
    # a deleted repo leaves the collections it was in
    api.delete_repo(repo_name, repo_type="dataset")
    assert [i.item_type for i in api.get_collection(c.slug).items] == ["model", "collection", "bucket"]

    api.delete_collection(c.slug)
    api.delete_collection(c.slug, missing_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        api.get_collection(c.slug)
    assert _status(e) == 404


def test_collection_org_namespace_and_position(live_server: Any) -> None:
    api = live_server.api()
    a = api.create_collection(_title(), namespace="acme")
    b = api.create_collection(_title(), namespace="acme")
    assert a.slug.startswith("acme/") and b.position == 0
    moved = api.update_collection_metadata(a.slug, position=0)
    assert moved.position == 0 and api.get_collection(b.slug).position == 1
    with pytest.raises(HfHubHTTPError) as e:  # bob is not in acme
        live_server.api(live_server.bob).create_collection(_title(), namespace="acme")
    assert _status(e) == 403
    for c in (a, b):
        api.delete_collection(c.slug)


def test_collection_bad_input(live_server: Any) -> None:
    hub = live_server
    api = hub.api()
    c = api.create_collection(_title())
    url = f"{hub.url}/api/collections/{c.slug}"
    cases = [
        ("POST", f"{hub.url}/api/collections", {"title": ""}),
        ("POST", f"{hub.url}/api/collections", {"title": 5}),
        ("POST", f"{hub.url}/api/collections", {"title": "x" * 500}),
        ("POST", f"{hub.url}/api/collections", {"title": "ok", "private": "yes"}),
        ("PATCH", url, {"theme": "rainbow"}),
        ("PATCH", url, {"position": -1}),
        ("POST", url + "/items", {"item": {"id": "x", "type": "bucketz"}}),
        ("POST", url + "/items", {"item": "alice/x"}),
        ("POST", url + "/items", {"item": {"id": "not-a-paper", "type": "paper"}}),
        ("POST", url + "/items", {"item": {"id": c.slug, "type": "collection"}}),
    ]
    for method, u, body in cases:
        r = httpx.request(method, u, json=body, headers=hub.auth())
        assert r.status_code in (400, 422), (method, u, body, r.status_code, r.text)
        assert r.headers["x-error-code"] and "error" in r.json()
    r = httpx.get(f"{hub.url}/api/collections?sort=nope")
    assert r.status_code == 400
    r = httpx.get(f"{hub.url}/api/collections/alice/not-a-slug")
    assert r.status_code == 404 and r.headers["x-error-code"] == "NotFound"
    api.delete_collection(c.slug)


# --- attacker side ----------------------------------------------------------------------------------------
def test_private_collection_is_invisible(live_server: Any) -> None:
    hub = live_server
    api = hub.api()
    secret = api.create_collection(_title(), private=True)
    bob = hub.api(hub.bob)
    anon = hub.api(False)
    for other in (bob, anon):
        with pytest.raises(HfHubHTTPError) as e:
            other.get_collection(secret.slug)
        assert _status(e) == 404
        assert secret.slug not in [x.slug for x in other.list_collections(owner="alice")]
    r = httpx.get(f"{hub.url}/api/collections/{secret.slug}")
    assert r.status_code == 404 and secret.title not in r.text
    # same answer as for a collection that does not exist (no oracle)
    fake = secret.slug[:-24] + "0" * 24
    r2 = httpx.get(f"{hub.url}/api/collections/{fake}")
    assert (r2.status_code, r2.headers["x-error-code"]) == (r.status_code, r.headers["x-error-code"])
    with pytest.raises(HfHubHTTPError) as e:
        bob.delete_collection(secret.slug)
    assert _status(e) == 404
    with pytest.raises(HfHubHTTPError) as e:
        bob.add_collection_item(secret.slug, "alice/x", "model")
    assert _status(e) == 404
    # the owner (and only the owner) sees it; making it public shows it
    assert api.get_collection(secret.slug).private is True
    assert secret.slug in [x.slug for x in api.list_collections(owner="alice")]
    api.update_collection_metadata(secret.slug, private=False)
    assert bob.get_collection(secret.slug).private is False
    api.delete_collection(secret.slug)


def test_other_users_cannot_change_a_collection(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api = hub.api()
    c = api.create_collection(_title())
    api.create_repo(repo_name)
    c = api.add_collection_item(c.slug, f"alice/{repo_name}", "model")
    item = c.items[0].item_object_id
    for token, status in ((hub.bob, 403), (hub.alice_read, 403), (False, 401)):
        other = hub.api(token)
        calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("update_collection_metadata", (c.slug,), {"title": "pwned"}),
            ("delete_collection", (c.slug,), {}),
            ("add_collection_item", (c.slug, "2307.09288", "paper"), {}),
            ("update_collection_item", (c.slug, item), {"note": "pwned"}),
            ("delete_collection_item", (c.slug, item), {}),
        ]
        for method, args, kwargs in calls:
            with pytest.raises(HfHubHTTPError) as e:
                getattr(other, method)(*args, **kwargs)
            assert _status(e) == status, (token, e.value)
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(hub.alice_read).create_collection(_title())
    assert _status(e) == 403
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(False).create_collection(_title(), namespace="alice")
    assert _status(e) == 401
    got = api.get_collection(c.slug)
    assert got.title == c.title and len(got.items) == 1 and got.items[0].note is None
    api.delete_collection(c.slug)


def test_private_items_do_not_leak(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name, private=True)
    public_repo = repo_name + "-pub"
    api.create_repo(public_repo)
    hidden = api.create_collection(_title(), private=True)
    api.create_bucket(f"alice/{repo_name}", private=True)
    c = api.create_collection(_title())
    api.add_collection_item(c.slug, f"alice/{repo_name}", "bucket")
    api.add_collection_item(c.slug, f"alice/{repo_name}", "model", note="secret note")
    api.add_collection_item(c.slug, f"alice/{public_repo}", "model")
    c = api.add_collection_item(c.slug, hidden.slug, "collection")
    assert len(c.items) == 4  # the owner sees everything
    bob = hub.api(hub.bob)
    for viewer in (bob, hub.api(False)):
        seen = viewer.get_collection(c.slug)
        assert [i.item_id for i in seen.items] == [f"alice/{public_repo}"]
        listed = [x for x in viewer.list_collections(owner="alice") if x.slug == c.slug]
        assert [i.item_id for i in listed[0].items] == [f"alice/{public_repo}"]
        # filtering by a private item answers nothing (not even which collections hold it)
        assert list(viewer.list_collections(item=f"models/alice/{repo_name}")) == []
        assert list(viewer.list_collections(item=f"collections/{hidden.slug}")) == []
        assert list(viewer.list_collections(item=f"buckets/alice/{repo_name}")) == []
    for token in ("", hub.bob):
        raw = httpx.get(f"{hub.url}/api/collections/{c.slug}", headers=hub.auth(token) if token else {}).text
        raw += httpx.get(f"{hub.url}/api/collections?owner=alice").text
        assert repo_name + '"' not in raw and "secret note" not in raw and hidden.slug not in raw
        page = httpx.get(f"{hub.url}/collections/{c.slug}").text
        assert f"alice/{repo_name}<" not in page and "secret note" not in page and public_repo in page
    # bob cannot add alice's private repo (or private collection) to his own collection: 404 as if missing
    mine = bob.create_collection(_title())
    for item_id, kind in (
        (f"alice/{repo_name}", "model"),
        (hidden.slug, "collection"),
        (f"alice/{repo_name}", "bucket"),
    ):
        with pytest.raises(HfHubHTTPError) as e:
            bob.add_collection_item(mine.slug, item_id, kind)
        assert _status(e) == 404
    with pytest.raises(HfHubHTTPError) as e:
        bob.add_collection_item(mine.slug, "alice/does-not-exist", "model")
    assert _status(e) == 404
    # once alice makes the repo public, it shows
    api.update_repo_settings(f"alice/{repo_name}", private=False)
    assert len(bob.get_collection(c.slug).items) == 2
    for slug in (c.slug, hidden.slug):
        api.delete_collection(slug)
    bob.delete_collection(mine.slug)


# --- web pages ----------------------------------------------------------------------------------------------
def test_collection_web_pages(live_server: Any, repo_name: str) -> None:
    hub = live_server
    api = hub.api()
    api.create_repo(repo_name)
    c = api.create_collection(_title(), description="Handpicked <b>stuff</b>")
    api.add_collection_item(c.slug, f"alice/{repo_name}", "model", note="<script>alert(1)</script>")
    secret = api.create_collection(_title(), private=True)
    r = httpx.get(f"{hub.url}/collections/{c.slug}")
    assert r.status_code == 200 and c.title in r.text and f"alice/{repo_name}" in r.text
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text and "<b>stuff" not in r.text
    assert "script-src" in r.headers["content-security-policy"]
    listing = httpx.get(f"{hub.url}/collections/alice")
    assert listing.status_code == 200 and c.title in listing.text and secret.title not in listing.text
    user = httpx.get(f"{hub.url}/alice")
    assert c.title in user.text and secret.title not in user.text
    r = httpx.get(f"{hub.url}/collections/{secret.slug}")
    assert r.status_code == 404 and secret.title not in r.text
    assert httpx.get(f"{hub.url}/collections/alice/nope").status_code == 404
    for slug in (c.slug, secret.slug):
        api.delete_collection(slug)


# --- CLI ----------------------------------------------------------------------------------------------------
def test_hf_collections_cli(live_server: Any, repo_name: str, tmp_path: Any) -> None:
    hub = live_server
    hub.api().create_repo(repo_name)
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_IMPLICIT_TOKEN"}
    env.update(HF_TOKEN=hub.alice, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path))
    hf = [sys.executable, "-m", "huggingface_hub.cli.hf"]

    def run(*args: str) -> str:
        out = subprocess.run([*hf, *args], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    title = _title()
    run("collections", "create", title)
    slug = next(x.slug for x in hub.api().list_collections(owner="alice") if x.title == title)
    run("collections", "add-item", slug, f"alice/{repo_name}", "model")
    assert title in run("collections", "ls", "--owner", "alice", "--format", "json")
    assert f"alice/{repo_name}" in run("collections", "info", slug, "--format", "json")
    run("collections", "delete", slug)
    assert title not in run("collections", "ls", "--owner", "alice", "--format", "json")
