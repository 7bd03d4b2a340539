"""discovery: repo_tags index for filters, likes by repo; on SQLite an FTS5 trigram index of repo ids

The FTS5 table `repo_search` (external content: repos.key_lower) is kept in sync by triggers, so no Python
code has to maintain it. It is SQLite-only; on other databases `hub.search` falls back to LIKE.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repo_tags",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_repo_tags_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "tag", name=op.f("pk_repo_tags")),
    )
    with op.batch_alter_table("repo_tags", schema=None) as batch_op:
        batch_op.create_index("ix_repo_tags_tag", ["tag", "repo_id"], unique=False)
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.create_index("ix_likes_repo", ["repo_id"], unique=False)
    _backfill()
    if op.get_bind().dialect.name == "sqlite":
        for stmt in FTS_UP:
            op.execute(stmt)


FTS_UP = [
    "CREATE VIRTUAL TABLE repo_search USING fts5(key_lower, tokenize='trigram', content='repos', content_rowid='id')",
    "CREATE TRIGGER repo_search_ai AFTER INSERT ON repos BEGIN "
    "INSERT INTO repo_search(rowid, key_lower) VALUES (new.id, new.key_lower); END",
    "CREATE TRIGGER repo_search_ad AFTER DELETE ON repos BEGIN "
    "INSERT INTO repo_search(repo_search, rowid, key_lower) VALUES ('delete', old.id, old.key_lower); END",
    "CREATE TRIGGER repo_search_au AFTER UPDATE OF key_lower ON repos BEGIN "
    "INSERT INTO repo_search(repo_search, rowid, key_lower) VALUES ('delete', old.id, old.key_lower); "
    "INSERT INTO repo_search(rowid, key_lower) VALUES (new.id, new.key_lower); END",
    "INSERT INTO repo_search(repo_search) VALUES ('rebuild')",
]
FTS_DOWN = [
    "DROP TRIGGER IF EXISTS repo_search_ai",
    "DROP TRIGGER IF EXISTS repo_search_ad",
    "DROP TRIGGER IF EXISTS repo_search_au",
    "DROP TABLE IF EXISTS repo_search",
]


def _as_list(v: object) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in v if x is not None] if isinstance(v, list) else [str(v)]


def _keys(
    tags: list[str], card: dict[str, object], pipeline_tag: str | None, library: str | None
) -> set[str]:
    """A frozen copy of hub.cards.index_keys (migrations must not import the hub layer)."""
    keys = set(tags)
    for lang in _as_list(card.get("language")):
        keys |= {lang, f"language:{lang}"}
    keys |= {f"license:{x}" for x in _as_list(card.get("license"))}
    for t in _as_list(card.get("task_categories")):
        keys |= {t, f"task_categories:{t}"}
    if library:
        keys |= {library, f"library:{library}"}
    if pipeline_tag:
        keys |= {pipeline_tag, f"pipeline_tag:{pipeline_tag}"}
    return {k[:200] for k in keys if k}


def _backfill() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, tags, card_data, pipeline_tag, library_name FROM repos")).all()
    table = sa.table("repo_tags", sa.column("repo_id", sa.Integer), sa.column("tag", sa.String))
    values = []
    for r in rows:
        tags = json.loads(r.tags) if r.tags else []
        card = json.loads(r.card_data) if r.card_data else {}
        card = card if isinstance(card, dict) else {}
        values += [{"repo_id": r.id, "tag": k} for k in _keys(tags, card, r.pipeline_tag, r.library_name)]
    if values:
        op.bulk_insert(table, values)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for stmt in FTS_DOWN:
            op.execute(stmt)
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.drop_index("ix_likes_repo")
    with op.batch_alter_table("repo_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_repo_tags_tag")
    op.drop_table("repo_tags")
