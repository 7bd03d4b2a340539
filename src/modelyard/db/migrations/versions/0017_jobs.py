"""Jobs: runs (one-off and from schedules, training recipes too) and scheduled jobs

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("initiator_id", sa.Integer(), nullable=True),
        sa.Column("token_role", sa.String(length=16), nullable=False),
        sa.Column("token_grants", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("secret_nonce", sa.LargeBinary(length=12), nullable=True),
        sa.Column("secret_data", sa.LargeBinary(), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("scheduled_job_id", sa.String(length=24), nullable=True),
        sa.Column("recipe", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"], ["accounts.id"], name=op.f("fk_jobs_namespace_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["initiator_id"], ["accounts.id"], name=op.f("fk_jobs_initiator_id_accounts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_namespace_id"), "jobs", ["namespace_id"])
    op.create_index(op.f("ix_jobs_stage"), "jobs", ["stage"])
    op.create_index(op.f("ix_jobs_scheduled_job_id"), "jobs", ["scheduled_job_id"])
    op.create_index(op.f("ix_jobs_created_at"), "jobs", ["created_at"])
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("initiator_id", sa.Integer(), nullable=True),
        sa.Column("token_role", sa.String(length=16), nullable=False),
        sa.Column("token_grants", sa.Text(), nullable=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("secret_nonce", sa.LargeBinary(length=12), nullable=True),
        sa.Column("secret_data", sa.LargeBinary(), nullable=True),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("suspend", sa.Boolean(), nullable=False),
        sa.Column("concurrency", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("last_job_id", sa.String(length=24), nullable=True),
        sa.Column("last_job_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["accounts.id"],
            name=op.f("fk_scheduled_jobs_namespace_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["initiator_id"],
            ["accounts.id"],
            name=op.f("fk_scheduled_jobs_initiator_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_jobs")),
    )
    op.create_index(op.f("ix_scheduled_jobs_namespace_id"), "scheduled_jobs", ["namespace_id"])
    op.create_index(op.f("ix_scheduled_jobs_next_run_at"), "scheduled_jobs", ["next_run_at"])


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
    op.drop_table("jobs")
