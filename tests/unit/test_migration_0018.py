"""Migration 0018 (git: raw commits, file modes, tag objects) upgrades and downgrades on SQLite, keeping rows."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from modelyard.db import Database, migrate


def _columns(db: Database, table: str) -> set[str]:
    with db.read() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def test_0018_up_down_up(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision(db)
        assert {"raw"} <= _columns(db, "commits")
        assert {"mode"} <= _columns(db, "commit_files")
        assert {"tag_raw"} <= _columns(db, "refs")
        cfg = migrate.alembic_config(db)
        command.downgrade(cfg, "0017")
        assert "raw" not in _columns(db, "commits")
        assert "mode" not in _columns(db, "commit_files")
        assert "tag_raw" not in _columns(db, "refs")
        command.upgrade(cfg, "head")
        assert "raw" in _columns(db, "commits")
    finally:
        db.dispose()
