"""The row caches on PostgreSQL: keyed on the db_version counter every write transaction increments, so a value
cached by one replica is never used after another replica (or a CLI command) committed."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from _postgres import PgCluster
from modelyard.db import Database, migrate
from modelyard.db.cache import VersionedCache

pytestmark = pytest.mark.postgres


def _db(pg_cluster: PgCluster) -> tuple[Database, Database]:
    url = pg_cluster.create_database(f"cache_{uuid.uuid4().hex[:8]}")
    first = Database(url)
    migrate.upgrade(first)
    return first, Database(url)


def _name(db: Database) -> str:
    with db.read() as conn:
        return str(conn.exec_driver_sql("SELECT value FROM server_secrets WHERE name = 'probe'").scalar())


def test_a_commit_on_another_replica_empties_the_cache(pg_cluster: PgCluster) -> None:
    a, b = _db(pg_cluster)
    try:
        with b.transaction() as conn:
            conn.exec_driver_sql(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ('probe', 'one', now())"
            )
        cache: VersionedCache[str, str] = VersionedCache(a)
        loads = []

        def load() -> str:
            loads.append(1)
            return _name(a)

        assert cache.get_or_load("k", load) == "one"
        assert cache.get_or_load("k", load) == "one"
        assert len(loads) == 1, "not cached on PostgreSQL"
        v = a.version()
        assert v is not None
        with b.transaction() as conn:  # "another replica" writes
            conn.exec_driver_sql("UPDATE server_secrets SET value = 'two' WHERE name = 'probe'")
        assert a.version() == v + 1
        assert cache.get_or_load("k", load) == "two"
        assert len(loads) == 2
        with pytest.raises(RuntimeError), b.transaction():  # a rolled-back write changes nothing
            raise RuntimeError("rolled back")
        assert a.version() == v + 1
        assert cache.get_or_load("k", load) == "two" and len(loads) == 2
    finally:
        a.dispose()
        b.dispose()


def test_no_counter_before_the_migration_means_no_cache(pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database(f"cache_{uuid.uuid4().hex[:8]}")
    db = Database(url)
    try:
        assert db.version() is None  # the table does not exist: every read goes to the database
        with db.transaction() as conn:  # and writes still work
            conn.execute(sa.text("SELECT 1"))
        migrate.upgrade(db)
        first = db.version()
        assert first is not None
        with db.transaction():
            pass
        assert db.version() == first + 1
    finally:
        db.dispose()


def test_concurrent_callers_share_a_bounded_set_of_connections(pg_cluster: PgCluster) -> None:
    a, b = _db(pg_cluster)
    try:
        seen: list[int | None] = []

        def call() -> None:
            for _ in range(50):
                seen.append(a.version())

        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen) == 800 and any(v is not None for v in seen)
        assert len({v for v in seen if v is not None}) == 1
        assert a._pg_open <= 8
    finally:
        a.dispose()
        b.dispose()
