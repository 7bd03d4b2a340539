"""access control: fine-grained and expiring tokens, org member roles and settings, repo creators

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=8), type_=sa.String(length=16))
        batch_op.add_column(sa.Column("scopes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("default_private", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.drop_column("created_by")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("default_private")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
        batch_op.alter_column("role", existing_type=sa.String(length=16), type_=sa.String(length=8))
