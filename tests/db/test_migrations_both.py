"""Every alembic migration, on SQLite and on PostgreSQL: up to head, down one step at a time to base, up again;
after each upgrade the schema is exactly ``db/schema.py``'s metadata (alembic's autogenerate comparison)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from _postgres import PgCluster
from modelyard.db import Database, migrate
from modelyard.db.schema import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"migrations_{tmp_path.name.replace('-', '_').lower()[:40]}")
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """As migrations/env.py (not importable outside alembic): skip SQLite's FTS5 index of migration 0003."""
    return not (type_ == "table" and (name or "").startswith("repo_search"))


def _revisions(db: Database) -> list[str]:
    """Oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config(db))
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def _tables(db: Database) -> set[str]:
    return {t for t in db.table_names() if include_name(t, "table", None)}


def _schema_diff(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name, "render_as_batch": True}
        )
        return list(compare_metadata(ctx, metadata))


def test_every_migration_up_down_up(db: Database) -> None:
    revisions = _revisions(db)
    assert revisions[0] == "0001" and len(revisions) == len(set(revisions))
    cfg = migrate.alembic_config(db)

    migrate.upgrade(db)
    assert migrate.current_revision(db) == revisions[-1] == migrate.head_revision(db)
    assert _schema_diff(db) == []
    assert _tables(db) == set(metadata.tables) | {"alembic_version"}

    for below in reversed([None, *revisions[:-1]]):  # one step at a time: each downgrade() on its own
        command.downgrade(cfg, "-1")
        assert migrate.current_revision(db) == below
    assert _tables(db) <= {"alembic_version"}, "downgrade to base left tables behind"

    migrate.upgrade(db)
    assert migrate.current_revision(db) == revisions[-1]
    assert _schema_diff(db) == []
