"""xet CAS index

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xet_xorbs",
        sa.Column("xorb_hash", sa.String(length=64), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("num_chunks", sa.Integer(), nullable=False),
        sa.Column("unpacked_size", sa.BigInteger(), nullable=False),
        sa.Column("stored_size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_meta", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("xorb_hash", name=op.f("pk_xet_xorbs")),
    )
    op.create_table(
        "xet_shards",
        sa.Column("shard_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("num_files", sa.Integer(), nullable=False),
        sa.Column("num_xorbs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shard_sha256", name=op.f("pk_xet_shards")),
    )
    op.create_table(
        "xet_shard_xorbs",
        sa.Column("shard_sha256", sa.String(length=64), nullable=False),
        sa.Column("xorb_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("shard_sha256", "xorb_hash", name=op.f("pk_xet_shard_xorbs")),
    )
    with op.batch_alter_table("xet_shard_xorbs", schema=None) as batch_op:
        batch_op.create_index("ix_xet_shard_xorbs_xorb", ["xorb_hash"], unique=False)
    op.create_table(
        "xet_files",
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("num_terms", sa.Integer(), nullable=False),
        sa.Column("terms", sa.LargeBinary(), nullable=False),
        sa.Column("shard_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file_hash", name=op.f("pk_xet_files")),
    )
    with op.batch_alter_table("xet_files", schema=None) as batch_op:
        batch_op.create_index("ix_xet_files_sha256", ["sha256"], unique=False)
    op.create_table(
        "xet_dedup_chunks",
        sa.Column("chunk_hash", sa.String(length=64), nullable=False),
        sa.Column("xorb_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chunk_hash", name=op.f("pk_xet_dedup_chunks")),
    )


def downgrade() -> None:
    op.drop_table("xet_dedup_chunks")
    with op.batch_alter_table("xet_files", schema=None) as batch_op:
        batch_op.drop_index("ix_xet_files_sha256")
    op.drop_table("xet_files")
    with op.batch_alter_table("xet_shard_xorbs", schema=None) as batch_op:
        batch_op.drop_index("ix_xet_shard_xorbs_xorb")
    op.drop_table("xet_shard_xorbs")
    op.drop_table("xet_shards")
    op.drop_table("xet_xorbs")
