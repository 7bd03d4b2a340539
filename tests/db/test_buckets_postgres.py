"""Buckets on PostgreSQL (migration 0007, LIKE escaping, aggregates): the client workflow works as on SQLite."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from _postgres import PgCluster
from e2e.test_buckets import TRICKY, expected_tree

pytestmark = pytest.mark.postgres


def test_buckets_on_postgres(pg_cluster: PgCluster, hub_factory: Any, tmp_path: Path) -> None:
    # a database of its own: the tests/db session one already has the test users
    url = pg_cluster.create_database(f"buckets_{uuid.uuid4().hex[:8]}")
    hub = hub_factory(database_url=url, tree_page_size=2)
    assert hub.services.db.engine.dialect.name == "postgresql"
    api = hub.api()
    bid = api.create_bucket("pg-bucket", private=True).bucket_id
    data = os.urandom(200_000)
    api.batch_bucket_files(
        bid, add=[(data, "a_%/big.bin"), (b"x", "a_%/sub/x.txt"), (b"y", "ab/y.txt"), (b"z", "A_%.txt")]
    )
    info = api.bucket_info(bid)
    assert (info.total_files, info.size) == (4, 200_003)
    assert [x.path for x in api.list_bucket_tree(bid)] == ["A_%.txt", "a_%", "ab"]
    assert [x.path for x in api.list_bucket_tree(bid, prefix="a_%", recursive=True)] == [
        "a_%/big.bin",
        "a_%/sub/x.txt",
    ]
    assert [x.path for x in api.get_bucket_paths_info(bid, ["ab/y.txt", "nope"])] == ["ab/y.txt"]
    api.download_bucket_files(bid, [("a_%/big.bin", tmp_path / "big.bin")])
    assert (tmp_path / "big.bin").read_bytes() == data
    api.copy_files(f"hf://buckets/{bid}/ab/y.txt", f"hf://buckets/{bid}/copy.txt")
    api.batch_bucket_files(bid, delete=["ab/y.txt"])
    api.move_bucket(bid, "acme/pg-moved")
    assert api.bucket_info("acme/pg-moved").total_files == 4
    assert "acme/pg-moved" not in [b.id for b in hub.api(hub.bob).list_buckets(namespace="acme")]  # private
    api.delete_bucket("acme/pg-moved")

    # listings page and fold folders in code-point order, as on SQLite (the path column's "C" collation)
    tricky = api.create_bucket("pg-tricky").bucket_id
    api.batch_bucket_files(tricky, add=[(p.encode(), p) for p in TRICKY])
    for prefix in ("", "d", "d/", "e"):
        for recursive in (False, True):
            got = [
                (x.path, x.type)
                for x in api.list_bucket_tree(tricky, prefix=prefix or None, recursive=recursive)
            ]
            assert got == expected_tree(TRICKY, prefix, recursive), (prefix, recursive)
