"""Migration 0019 (task queue, replicas, shared secret) upgrades and downgrades on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from modelyard.db import Database, migrate

TABLES = {"tasks", "replicas", "server_secrets"}


def _up_down_up(db: Database) -> None:
    migrate.upgrade(db)
    assert set(db.table_names()) >= TABLES
    with db.read() as conn:
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("tasks")}
    assert "ix_tasks_due" in indexes
    cfg = migrate.alembic_config(db)
    command.downgrade(cfg, "0018")
    assert not TABLES & set(db.table_names())
    command.upgrade(cfg, "head")
    assert set(db.table_names()) >= TABLES
    assert migrate.current_revision(db) == migrate.head_revision(db)


def test_0019_up_down_up_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        _up_down_up(db)
    finally:
        db.dispose()


def test_0019_up_down_up_postgres(pg_cluster: Any) -> None:
    import uuid

    db = Database(pg_cluster.create_database(f"m19_{uuid.uuid4().hex[:8]}"))
    try:
        _up_down_up(db)
    finally:
        db.dispose()
