"""git over HTTP: raw commit objects of pushed commits, file modes, annotated tag objects

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("commits", sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.add_column("commit_files", sa.Column("mode", sa.Integer(), nullable=True))
    op.add_column("refs", sa.Column("tag_raw", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refs") as batch:
        batch.drop_column("tag_raw")
    with op.batch_alter_table("commit_files") as batch:
        batch.drop_column("mode")
    with op.batch_alter_table("commits") as batch:
        batch.drop_column("raw")
