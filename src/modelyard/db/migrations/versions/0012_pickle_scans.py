"""pickle scans of uploaded files: one verdict per content sha256 (hub/pickles.py)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pickle_scans",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("imports", sa.Text(), nullable=True),
        sa.Column("scanner", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_pickle_scans")),
    )
    with op.batch_alter_table("pickle_scans", schema=None) as batch_op:
        batch_op.create_index("ix_pickle_scans_status", ["status", "queued_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pickle_scans", schema=None) as batch_op:
        batch_op.drop_index("ix_pickle_scans_status")
    op.drop_table("pickle_scans")
