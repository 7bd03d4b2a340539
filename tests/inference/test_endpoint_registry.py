"""The endpoint registry (table inference_endpoints, migration 0020): endpoint definitions live in the database,
so every hub replica on it sees every endpoint (created, paused, resumed, updated, deleted on another one); an older
hub's `endpoints.json` is imported once; the migration upgrades and downgrades on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from conftest import Hub, start_server
from modelyard.db import Database
from modelyard.db import migrate as migrate_mod
from modelyard.inference.config import EndpointConfig
from modelyard.inference.registry import EndpointRegistry

pytestmark = pytest.mark.timeout(300)


def api(hub: Hub, path: str = "") -> str:
    return f"{hub.url}/endpoints/-/api/endpoints{path}"


def names(hub: Hub, token: str | None = None) -> list[str]:
    r = httpx.get(api(hub), headers=hub.auth(token), timeout=30)
    assert r.status_code == 200, r.text
    return [e["name"] for e in r.json()["endpoints"]]


def state(hub: Hub, name: str) -> str:
    r = httpx.get(api(hub, f"/{name}"), headers=hub.auth(), timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.fixture(scope="module")
def pair(hub_factory: Any, tiny_model_dir: Path) -> tuple[Hub, Hub]:
    """Two hub replicas on one database, blob store and secret (a private tiny classifier of alice's)."""
    a: Hub = hub_factory()
    s = a.settings
    b: Hub = hub_factory(
        database_url=s.resolved_database_url, blob_url=s.resolved_blob_url, secret_key=s.resolved_secret()
    )
    a.api().create_repo("reg-clf", private=True)
    a.api().upload_folder(folder_path=tiny_model_dir, repo_id="alice/reg-clf")
    return a, b


def test_every_replica_sees_every_endpoint(pair: tuple[Hub, Hub]) -> None:
    a, b = pair
    body = {"name": "reg-one", "repo_id": "alice/reg-clf", "load": False}
    r = httpx.post(api(a), json=body, headers=a.auth(), timeout=30)
    assert r.status_code == 201, r.text
    assert "reg-one" in names(b) and state(b, "reg-one") == "unloaded"
    # the name is taken on every replica
    r = httpx.post(api(b), json=body, headers=b.auth(), timeout=30)
    assert r.status_code == 409, r.text
    # bob sees it on neither (private model), nor can he pause it
    assert "reg-one" not in names(a, a.bob) and "reg-one" not in names(b, b.bob)
    assert httpx.post(api(b, "/reg-one/pause"), headers=b.auth(b.bob), timeout=30).status_code == 404
    # created on A, served by B (loaded on demand there)
    client = InferenceClient(model=f"{b.url}/endpoints/reg-one", token=b.alice)
    deadline = time.monotonic() + 180
    while True:
        try:
            out = client.text_classification("the cat is happy today")
            break
        except HfHubHTTPError as e:
            assert e.response.status_code == 503 and time.monotonic() < deadline, e
            time.sleep(0.5)
    assert {o.label for o in out} == {"NEGATIVE", "POSITIVE"}
    assert state(b, "reg-one") == "ready" and state(a, "reg-one") == "unloaded"
    # paused on A: B stops serving it
    assert httpx.post(api(a, "/reg-one/pause"), headers=a.auth(), timeout=30).status_code == 200
    eventually(lambda: state(b, "reg-one") == "paused")
    r = httpx.post(f"{b.url}/endpoints/reg-one", json={"inputs": "hi"}, headers=b.auth(), timeout=30)
    assert r.status_code != 200 and "paused" in r.text
    # resumed on B: A sees it resumed
    assert httpx.post(api(b, "/reg-one/resume"), headers=b.auth(), timeout=30).status_code == 200
    eventually(lambda: state(a, "reg-one") != "paused")
    # deleted on B: gone on A too
    assert httpx.delete(api(b, "/reg-one"), headers=b.auth(), timeout=30).status_code in (200, 204)
    eventually(lambda: "reg-one" not in names(a))
    assert httpx.get(api(a, "/reg-one"), headers=a.auth(), timeout=30).status_code == 404
    assert (
        httpx.post(f"{a.url}/endpoints/reg-one", json={"inputs": "hi"}, headers=a.auth()).status_code == 404
    )


def test_the_hub_endpoint_api_lists_endpoints_of_other_replicas(pair: tuple[Hub, Hub]) -> None:
    a, b = pair
    r = httpx.post(
        api(a), json={"name": "reg-two", "repo_id": "alice/reg-clf", "load": False}, headers=a.auth()
    )
    assert r.status_code == 201, r.text
    try:
        r = httpx.get(f"{b.url}/v2/endpoint/alice", headers=b.auth(), timeout=30)
        assert r.status_code == 200, r.text
        assert "reg-two" in [e["name"] for e in r.json()["items"]]
        r = httpx.get(f"{b.url}/v2/endpoint/alice", headers=b.auth(b.bob), timeout=30)
        assert "reg-two" not in [e["name"] for e in r.json().get("items", [])]
    finally:
        httpx.delete(api(a, "/reg-two"), headers=a.auth(), timeout=30)


def test_a_state_file_is_imported_once(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    data.mkdir()
    rows = [
        {"config": EndpointConfig("old-one", "alice/old").to_dict(), "paused": False},
        {"config": EndpointConfig("old-two", "alice/old", max_batch_size=4).to_dict(), "paused": True},
        {"config": {"name": "BAD NAME", "repo_id": "alice/old"}, "paused": False},  # invalid: skipped
    ]
    (data / "endpoints.json").write_text(json.dumps({"endpoints": rows}))
    with start_server(data) as hub:
        hub.services.accounts  # noqa: B018  (the hub is up)
        registry = EndpointRegistry(hub.services.db)
        got = {row.config.name: row for row in registry.all()}
        assert set(got) == {"old-one", "old-two"}
        assert got["old-two"].paused and got["old-two"].config.max_batch_size == 4
        assert not (data / "endpoints.json").exists() and (data / "endpoints.json.imported").is_file()
        # the admin-less alice cannot see endpoints of a repo that does not exist; the rows are there all the same
        assert registry.get("old-one") is not None and registry.get("nope") is None
        # taken names are refused by the registry itself
        assert registry.insert(EndpointConfig("old-one", "alice/other")) is False


def _migrate_down_up(url: str) -> None:
    db = Database(url)
    try:
        migrate_mod.upgrade(db)
        assert "inference_endpoints" in db.table_names()
        registry = EndpointRegistry(db)
        assert registry.insert(EndpointConfig("mig", "alice/m"))
        cfg = migrate_mod.alembic_config(db)
        command.downgrade(cfg, "0019")
        assert "inference_endpoints" not in db.table_names()
        command.upgrade(cfg, "head")
        assert "inference_endpoints" in db.table_names() and registry.all() == []
    finally:
        db.dispose()


def test_migration_0020_sqlite(tmp_path: Path) -> None:
    _migrate_down_up(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_migration_0020_postgres(pg_cluster: Any) -> None:
    _migrate_down_up(pg_cluster.create_database("registry_migration"))
