"""Issue 10 §2, metadata speed: what every from_pretrained asks first (HEAD /resolve, model_info) never waits for
a writer, a counted download writes nothing on the request path, and the row caches behind them are never stale
(a new commit, a revoked token -- also revoked by another process --, a private repo, a deleted repo).

Throughput itself is measured by bench/metadata_bench.py (docs/benchmarks.md), not here: 2 shared CPU cores make
a wall-clock bound flaky.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from _postgres import on_postgres
from conftest import Hub, start_server
from modelyard.server.services import Services
from modelyard.types import RepoType

CONFIG = b'{"model_type": "bert"}'


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with start_server(tmp_path_factory.mktemp("metadata-hub")) as h:
        yield h


def _repo(hub: Hub, name: str, private: bool = False) -> str:
    repo_id = f"alice/{name}"
    api = hub.api()
    api.create_repo(repo_id, private=private)
    api.upload_file(path_or_fileobj=CONFIG, path_in_repo="config.json", repo_id=repo_id)
    return repo_id


def test_reads_do_not_wait_for_a_writer(hub: Hub) -> None:
    """A write transaction held open (a long commit) must not stall HEAD /resolve or model_info: reads run
    beside it (SQLite WAL). Before, every read began with BEGIN IMMEDIATE and queued behind the writer."""
    repo_id = _repo(hub, "while-writing")
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with hub.services.db.transaction():
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    assert holding.wait(5)
    try:
        with httpx.Client(base_url=hub.url, headers=hub.auth(), timeout=30) as c:
            start = time.monotonic()
            head = c.head(f"/{repo_id}/resolve/main/config.json")
            info = c.get(f"/api/models/{repo_id}")
            missing = c.head(f"/{repo_id}/resolve/main/generation_config.json")
            elapsed = time.monotonic() - start
    finally:
        release.set()
        t.join(10)
    assert head.status_code == 200 and info.status_code == 200 and missing.status_code == 404
    assert elapsed < 3.0, f"reads waited {elapsed:.1f} s for a writer"


@pytest.mark.skipif(on_postgres(), reason="watches commits with SQLite's PRAGMA data_version on the .db file")
def test_a_counted_download_writes_nothing_on_the_request_path(hub: Hub) -> None:
    repo_id = _repo(hub, "counted")
    api = hub.api()
    before = api.model_info(repo_id).downloads
    watcher = sqlite3.connect(make_url(hub.settings.resolved_database_url).database or "")
    try:  # PRAGMA data_version changes when any other connection commits
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        for _ in range(3):
            r = httpx.get(f"{hub.url}/{repo_id}/resolve/main/config.json", headers=hub.auth())
            assert r.status_code == 200 and r.content == CONFIG
        committed = watcher.execute("PRAGMA data_version").fetchone()[0] != version
        assert not committed, "a counted download committed to the database on the request path"
        assert api.model_info(repo_id).downloads == before + 3  # the pending counts are visible at once
        assert hub.services.repos.flush_downloads() >= 1
        assert watcher.execute("PRAGMA data_version").fetchone()[0] != version
        assert api.model_info(repo_id).downloads == before + 3  # written once, not counted twice
    finally:
        watcher.close()


def test_download_counts_survive_a_shutdown(tmp_path: Path) -> None:
    with start_server(tmp_path / "hub") as h:
        repo_id = _repo(h, "shutdown")
        for _ in range(2):
            assert httpx.get(f"{h.url}/{repo_id}/resolve/main/config.json").status_code == 200
        settings = h.settings
    svc = Services.build(settings)
    try:
        assert svc.repos.get(RepoType.MODEL, "alice", "shutdown", None).downloads == 2
    finally:
        svc.close()


def _head(hub: Hub, repo_id: str, token: str | None, path: str = "config.json") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.head(f"{hub.url}/{repo_id}/resolve/main/{path}", headers=headers)


def test_a_new_commit_is_seen_at_once(hub: Hub) -> None:
    repo_id = _repo(hub, "fresh")
    first = _head(hub, repo_id, hub.alice)
    assert _head(hub, repo_id, hub.alice).headers["etag"] == first.headers["etag"]  # now cached
    assert _head(hub, repo_id, hub.alice, "new.json").status_code == 404  # a cached miss
    hub.api().upload_file(path_or_fileobj=b'{"v": 2}', path_in_repo="config.json", repo_id=repo_id)
    hub.api().upload_file(path_or_fileobj=b"{}", path_in_repo="new.json", repo_id=repo_id)
    second = _head(hub, repo_id, hub.alice)
    assert second.headers["etag"] != first.headers["etag"]
    assert second.headers["x-repo-commit"] != first.headers["x-repo-commit"]
    assert _head(hub, repo_id, hub.alice, "new.json").status_code == 200
    assert hub.api().model_info(repo_id).sha == second.headers["x-repo-commit"]


def test_private_rows_are_cached_but_never_shown_to_others(hub: Hub) -> None:
    repo_id = _repo(hub, "secret", private=True)
    for _ in range(2):  # alice warms every cache: repo row, revision, entry, principal
        assert _head(hub, repo_id, hub.alice).status_code == 200
        assert hub.api().model_info(repo_id).private is True
    for token in (hub.bob, None):
        r = _head(hub, repo_id, token)
        assert r.status_code == 404 and "x-repo-commit" not in r.headers and "etag" not in r.headers
        headers = {"authorization": f"Bearer {token}"} if token else {}
        r = httpx.get(f"{hub.url}/api/models/{repo_id}", headers=headers)
        assert r.status_code == 404 and "secret" not in r.text.replace(repo_id, "")
    hub.api().update_repo_settings(repo_id, private=False)
    assert _head(hub, repo_id, hub.bob).status_code == 200  # made public: seen at once
    hub.api().update_repo_settings(repo_id, private=True)
    assert _head(hub, repo_id, hub.bob).status_code == 404  # and private again at once
    hub.api().delete_repo(repo_id)
    assert _head(hub, repo_id, hub.alice).status_code == 404


def test_a_revoked_token_stops_at_once(hub: Hub) -> None:
    repo_id = _repo(hub, "revoked", private=True)
    acc = hub.services.accounts
    token = acc.create_token("alice", "short-lived", "read")
    assert _head(hub, repo_id, token).status_code == 200
    assert _head(hub, repo_id, token).status_code == 200  # cached principal
    acc.revoke_token("alice", "short-lived")
    assert _head(hub, repo_id, token).status_code == 401


def test_a_token_revoked_by_another_process_stops_at_once(hub: Hub) -> None:
    """`modelyard tokens revoke` runs in its own process: the server's caches still see its commit."""
    repo_id = _repo(hub, "revoked-cli", private=True)
    token = hub.services.accounts.create_token("alice", "cli-revoked", "read")
    assert _head(hub, repo_id, token).status_code == 200
    assert _head(hub, repo_id, token).status_code == 200
    env: dict[str, Any] = {**os.environ, "MODELYARD_DATA_DIR": hub.settings.data_dir}
    if hub.settings.database_url:
        env["MODELYARD_DATABASE_URL"] = hub.settings.database_url
    out = subprocess.run(
        [sys.executable, "-m", "modelyard", "tokens", "revoke", "alice", "cli-revoked"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Revoked 1" in out.stdout
    assert _head(hub, repo_id, token).status_code == 401
