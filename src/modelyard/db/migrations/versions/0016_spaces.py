"""Spaces: settings (sleep time, hardware, paused), encrypted secrets and variables per Space repo

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "space_settings",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("sleep_time", sa.Integer(), nullable=True),
        sa.Column("hardware", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("dev_mode", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_space_settings_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", name=op.f("pk_space_settings")),
    )
    op.create_table(
        "space_secrets",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_space_secrets_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "key", name=op.f("pk_space_secrets")),
    )
    op.create_table(
        "space_variables",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_space_variables_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "key", name=op.f("pk_space_variables")),
    )


def downgrade() -> None:
    op.drop_table("space_variables")
    op.drop_table("space_secrets")
    op.drop_table("space_settings")
