"""Two hubs on one PostgreSQL database (two replicas): commits to one branch, sent to both at once, are all kept.

A commit reads the branch head, writes a commit on it and moves the branch; on SQLite ``BEGIN IMMEDIATE`` lets one
writer in at a time, across processes. On PostgreSQL the same guarantee comes from a transaction-level advisory
lock taken by every write transaction (db/__init__.py): without it, two replicas read the same head and the
second branch move drops the first, acknowledged, commit."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from _postgres import PgCluster

pytestmark = pytest.mark.postgres


def test_concurrent_commits_through_two_replicas_are_all_kept(
    pg_cluster: PgCluster, hub_factory: Any, tmp_path: Path
) -> None:
    url = pg_cluster.create_database("two_replicas")
    shared = {"database_url": url, "blob_url": f"file://{tmp_path / 'blobs'}"}  # one database, one store
    a = hub_factory(**shared)
    b = hub_factory(**shared)  # alice exists already: b made new tokens
    a.api().create_repo("alice/shared")
    errors: list[BaseException] = []

    def push(hub: Any, tag: str) -> None:
        api = hub.api()
        try:
            for i in range(6):
                api.upload_file(
                    path_or_fileobj=f"{tag} {i}\n".encode(),
                    path_in_repo=f"{tag}/{i}.txt",
                    repo_id="alice/shared",
                )
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [
        threading.Thread(target=push, args=(h, f"{name}{t}"))
        for h, name in ((a, "a"), (b, "b"))
        for t in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    expected = {f"{h}{t}/{i}.txt" for h in "ab" for t in range(2) for i in range(6)}
    for hub in (a, b):
        files = set(hub.api().list_repo_files("alice/shared")) - {".gitattributes"}
        assert files == expected, f"lost: {sorted(expected - files)}"
        assert len(hub.api().list_repo_commits("alice/shared")) == len(expected) + 1
